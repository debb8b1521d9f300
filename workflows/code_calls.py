"""Written code of a workflow's program runs only in the sandbox, one call per run.

A workflow whose program has trainable functions (the answer parser of
prompt tuning and of the agent) calls them on every example. Once an
optimizer (or a loaded checkpoint) has changed such a function, its source is
an LLM's: :func:`sandbox_code` makes every call of it a run of
``code_calls_program.py`` under :func:`~workflows.isolation.run_isolated`
with the user's time limit. Arguments go in and the return value comes back
as plain data; the host never defines the function, and an error, an exit,
a crash or a timeout of the call becomes the call's exception (so the
example scores 0 with that as feedback). The program's original code keeps
running in the host.

Each call costs one sandbox start (tens of milliseconds; ``bench_sandbox.py``
measures it, against well under 1 ms for the original parser in the host); identical
calls of the same source are answered from a small memory of earlier
results (a timeout is not remembered), so scoring the validation set again
after a step that left a function as it was starts no sandbox.
"""

from __future__ import annotations

import json
import sys
import threading
import types
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from trace_engine.code import CodeParameter
from trace_engine.errors import TraceEngineError
from workflows.isolation import Job, Limits, plain, run_isolated
from workflows.isolation.candidate import CandidateError, rebuilt_exception

PROGRAM = "workflows.code_calls_program"
REMEMBERED_CALLS = 512
DEFAULT_CALL_TIMEOUT = 10.0
_SELF_NAMES = ("self", "cls")


class CodeTimeout(TraceEngineError, TimeoutError):
    """A sandboxed call of written code did not finish within the time limit."""


def sandbox_code(parameters: Iterable[Any], timeout: float) -> int:
    """Run the written code of every code parameter in ``parameters`` in the sandbox,
    each call limited to ``timeout`` seconds; the number of parameters changed."""
    runner = SandboxRunner(timeout)
    count = 0
    for parameter in parameters:
        if isinstance(parameter, CodeParameter):
            parameter.run_through(runner)
            count += 1
    return count


class SandboxRunner:
    """A :data:`trace_engine.code.CodeRunner` that calls code through the sandbox."""

    def __init__(self, timeout: float):
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self.timeout = float(timeout)

    def __call__(self, parameter: CodeParameter, source: str) -> SandboxedFunction:
        return SandboxedFunction(parameter, source, self.timeout)


def _namespace(parameter: CodeParameter) -> tuple[dict[str, str], Any]:
    """What the code may use of its defining module: its modules (by import name) and
    its plain constants, plus the original closure's plain values."""
    module = sys.modules.get(parameter.module)
    modules: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, value in [*vars(module or types.ModuleType("_")).items(), *parameter.closure.items()]:
        if name.startswith("__"):
            continue
        if isinstance(value, types.ModuleType):
            modules[name] = value.__name__
            continue
        try:
            values[name] = plain.encode(value)
        except plain.NotPlainData:
            continue
    return modules, {"dict": [[name, value] for name, value in values.items()]}


class SandboxedFunction:
    """The written function of one source, called in a fresh sandbox each time."""

    def __init__(self, parameter: CodeParameter, source: str, timeout: float):
        self.name = parameter.fn_name
        self.timeout = timeout
        self._takes_self = parameter.signature.split("(", 1)[1].startswith(_SELF_NAMES)
        modules, values = _namespace(parameter)
        self._request = {
            "module": parameter.module,
            "name": parameter.fn_name,
            "source": source,
            "modules": modules,
            "values": values,
        }
        self._remembered: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._takes_self and args and not _is_plain(args[0]):
            args = (None, *args[1:])  # the instance stays in the host; the code sees None
        try:
            encoded = {"args": plain.encode(list(args)), "kwargs": plain.encode(kwargs)}
        except plain.NotPlainData as exc:
            raise CandidateError(
                f"`{self.name}` runs sandboxed and takes only plain data; it was passed {exc}"
            ) from None
        key = json.dumps(encoded, sort_keys=True)
        with self._lock:
            reply = self._remembered.get(key)
        if reply is None:
            reply = self._run(encoded)
            with self._lock:
                self._remembered[key] = reply
                while len(self._remembered) > REMEMBERED_CALLS:
                    self._remembered.popitem(last=False)
        return self._answer(reply)

    def _run(self, encoded: dict[str, Any]) -> dict[str, Any]:
        request = json.dumps({**self._request, **encoded}).encode("utf-8")
        job = Job(PROGRAM, input=request, bare_packages=("workflows", "trace_engine"), site=False)
        outcome = run_isolated(job, Limits(wall_s=self.timeout))
        if outcome.timed_out:
            raise CodeTimeout(
                f"`{self.name}` did not finish within {self.timeout:g}s (an infinite loop, "
                f"or far too slow?); it ran sandboxed at the level {outcome.level}"
            )
        results = [m["result"] for m in outcome.messages() if isinstance(m, dict) and "result" in m]
        if not results or not isinstance(results[-1], dict):
            tail = " | ".join([x for x in outcome.output.splitlines() if x.strip()][-2:])
            raise CandidateError(
                f"the sandboxed call of `{self.name}` ended without a result "
                f"({outcome.describe_end()}){': ' + tail if tail else ''}"
            )
        return results[-1]

    def _answer(self, reply: dict[str, Any]) -> Any:
        if "returned" in reply:
            try:
                return plain.decode(reply["returned"])
            except (ValueError, TypeError) as exc:
                raise CandidateError(f"`{self.name}` sent a malformed reply: {exc}") from None
        message = str(reply.get("message", ""))
        line = reply.get("line")
        if type(line) is int:
            message += f" (line {line} of {self.name})"
        raise rebuilt_exception(str(reply.get("raised", "")), message)


def _is_plain(value: Any) -> bool:
    try:
        plain.encode(value)
    except plain.NotPlainData:
        return False
    return True
