"""A small optimizer following the optimizers' contract, driven by a scripted LLM; a
process that holds a run directory's lock.

The trainer tests use it instead of the real optimizers so they test the loop,
not an optimizer: each step asks the scripted LLM for a new value of every
parameter that received feedback and applies what it answers.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trace_engine import feedback_graph, zero_feedback
from trace_engine.errors import InvalidUpdate
from trace_engine.llm.base import Usage, as_llm


@dataclass
class FakeStepResult:
    proposed: dict[str, Any] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    reasoning: str = ""
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    calls: int = 0
    error: str | None = None
    error_type: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def changed(self) -> bool:
        return bool(self.applied)


class ScriptedOptimizer:
    """Asks ``llm`` (anything ``as_llm`` accepts) for each parameter's next value."""

    def __init__(self, parameters, llm=None, *, parse=lambda text: text):
        self.parameters = list(parameters)
        self.llm = as_llm(llm)
        self.parse = parse
        self.history: list[dict[str, Any]] = []
        self.outputs = []

    def zero_feedback(self) -> None:
        zero_feedback(self.outputs)
        self.outputs = []

    def backward(self, output, feedback, *, score=None) -> None:
        output.backward(feedback)
        self.outputs.append(output)

    def step(self) -> FakeStepResult:
        graph = feedback_graph(self.parameters, self.outputs)
        feedback = [f for fs in graph.feedback.values() for f in fs]
        result = FakeStepResult()
        for p in graph.parameters:
            prompt = f"step {len(self.history)} {p.name}={p.data!r} feedback={feedback!r}"
            completion = self.llm.complete(prompt)
            result.calls += 1
            result.usage = result.usage + completion.usage
            result.cost += completion.cost
            value = self.parse(completion.text)
            result.proposed[p.name] = value
            try:
                p.set(value)
                result.applied.append(p.name)
            except InvalidUpdate as exc:
                result.rejected[p.name] = str(exc)
        self.history.append({"applied": result.applied, "feedback": len(feedback)})
        return result

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = list(state["history"])


@contextmanager
def lock_held_elsewhere(directory: Path) -> Iterator[None]:
    """Another process holds the run lock of ``directory`` for the block."""
    script = f"""
        import sys
        from workflows.run_lock import run_lock
        with run_lock({str(directory)!r}):
            print("locked", flush=True)
            sys.stdin.readline()
        """
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.communicate("\n", timeout=30)
