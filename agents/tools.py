"""Tools an agent can call: a function, a trainable description, and a time limit.

A tool never breaks the agent's loop: an exception or a timeout becomes an
error observation the model reads on its next step. A timed-out call keeps
running in a daemon thread (Python cannot kill a thread) but its result is
dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trace_engine import Module, node


@dataclass
class ToolResult:
    """What one call returned (``output``) or why it failed (``error``)."""

    output: str
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def observation(self) -> str:
        return self.output if self.ok else f"error: {self.error}"


class Tool(Module):
    """``fn(argument: str) -> Any`` with a name, a description the optimizer may rewrite,
    and ``timeout`` seconds per call."""

    def __init__(
        self,
        name: str,
        fn: Callable[[str], Any],
        description: str,
        *,
        timeout: float = 10.0,
        trainable: bool = True,
        max_output_chars: int = 2000,
    ):
        if not name or not name.replace("_", "").isalnum():
            raise ValueError(f"tool name must be a word (letters, digits, _), got {name!r}")
        if name == "finish":
            raise ValueError("'finish' is reserved for the final answer")
        if not callable(fn):
            raise TypeError(f"tool {name!r} needs a callable, got {type(fn).__name__}")
        if timeout <= 0:
            raise ValueError(f"tool {name!r} timeout must be > 0 seconds, got {timeout}")
        self.name = name
        self.description = node(
            description,
            trainable=trainable,
            name=f"{name}_description",
            description=f"what the agent is told about the {name!r} tool",
        )
        self._fn = fn
        self._timeout = timeout
        self._max_output_chars = max_output_chars

    def run(self, argument: str) -> ToolResult:
        """Call the tool; exceptions and timeouts come back as a failed :class:`ToolResult`."""
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = self._fn(argument)
            except BaseException as exc:  # the agent must see any failure as an observation
                box["error"] = f"{type(exc).__name__}: {exc}"

        start = time.perf_counter()
        worker = threading.Thread(target=target, name=f"tool-{self.name}", daemon=True)
        worker.start()
        worker.join(self._timeout)
        seconds = time.perf_counter() - start
        if worker.is_alive():
            return ToolResult("", f"tool {self.name!r} timed out after {self._timeout:g}s", seconds)
        if "error" in box:
            return ToolResult("", f"tool {self.name!r} raised {box['error']}", seconds)
        text = str(box.get("value"))
        if len(text) > self._max_output_chars:
            text = text[: self._max_output_chars] + " ...[truncated]"
        return ToolResult(text, "", seconds)
