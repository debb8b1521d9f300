"""What a call sent to another process takes with it, and what comes back.

A call of :meth:`RayExecutor.map <trace_engine.ray_executor.RayExecutor.map>`
runs in a Ray worker on copies of what it refers to (pickled with cloudpickle).
Three kinds of objects must not simply be copied, because the caller's own
objects have to see the effects:

* the caller's **parameters** (``map(..., parameters=...)``): the worker gets one
  copy of each; every copy found in the result (an output node's parents, a
  parameter returned as is) is replaced, on the way back, by the caller's
  original, matched by identity, so the returned graph reaches the caller's
  parameters and ``backward`` feeds them;
* **meters**: what the call's LLM requests are accounted in the worker is
  recorded (:func:`~trace_engine.llm.meter.recording`) and replayed on the
  caller's meters, under the caller's tags;
* **budgets** (those active in the caller's context and any an LLM holds): the
  worker checks a copy holding what was left when the call was sent, and what
  the copy spent is added to the caller's budget when the result arrives. Calls
  running at once each see that remainder, so together they can overshoot a
  limit by what they spend at the same time; the next call made after their
  results arrive is refused.

LLM backends built from a spec are rebuilt in the worker from that spec (see
:meth:`trace_engine.llm.base.LLM.__reduce_ex__`); a cached LLM opens the cache
there. Pickle is used only between this process and its own workers, never to
read a file.
"""

from __future__ import annotations

import io
import pickle
import traceback
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from trace_engine.errors import TraceEngineError
from trace_engine.llm.meter import Budget, Meter, MeterEvent, active_budgets, get_meter, recording
from trace_engine.nodes import Node


class NotSendable(TraceEngineError):
    """The function or an item cannot be pickled for another process."""


def _budget_figures(budget: Budget) -> dict[str, Any]:
    spent = budget.spent
    return {
        "limits": (budget.max_usd, budget.max_tokens, budget.max_calls),
        "spent": {
            "calls": spent.calls,
            "prompt_tokens": spent.prompt_tokens,
            "completion_tokens": spent.completion_tokens,
            "cost": spent.cost,
        },
    }


@dataclass
class Outgoing:
    """The caller's side: pickles calls and items, reads replies."""

    parameters: Sequence[Node] = ()
    budgets: list[Budget] = field(default_factory=list)
    meters: list[Meter] = field(default_factory=list)

    def __post_init__(self) -> None:
        for p in self.parameters:
            if not isinstance(p, Node):
                raise TypeError(f"parameters must be nodes, got {type(p).__name__}")
        self._parameter_index = {id(p): i for i, p in enumerate(self.parameters)}
        for budget in active_budgets():
            self._index(self.budgets, budget)

    @staticmethod
    def _index(found: list, obj: Any) -> int:
        for i, known in enumerate(found):
            if known is obj:
                return i
        found.append(obj)
        return len(found) - 1

    def _persistent_id(self, obj: Any) -> tuple | None:
        index = self._parameter_index.get(id(obj))
        if index is not None and obj is self.parameters[index]:
            return ("parameter", index)
        if isinstance(obj, Budget):
            return ("budget", self._index(self.budgets, obj))
        if isinstance(obj, Meter):
            return ("meter", -1 if obj is get_meter() else self._index(self.meters, obj))
        return None

    def dumps(self, obj: Any, what: str) -> bytes:
        """``obj`` pickled (cloudpickle) with the caller's own objects left as references."""
        import cloudpickle

        buffer = io.BytesIO()
        pickler = cloudpickle.CloudPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = self._persistent_id  # type: ignore[method-assign]
        try:
            pickler.dump(obj)
        except Exception as exc:
            raise NotSendable(
                f"{what} cannot be sent to another process ({type(exc).__name__}: {exc}); "
                "give LLMs as spec strings or get_llm(...) so workers can build them, "
                "and keep open files, locks and connections out of the work"
            ) from exc
        return buffer.getvalue()

    def shared(self) -> bytes:
        """What every call needs besides the call itself: the parameters (copied once
        per call in the worker), the budgets' figures, how many meters there are.
        Call after pickling the function and the items (they register budgets)."""
        import cloudpickle

        return cloudpickle.dumps(
            (
                list(self.parameters),
                [_budget_figures(b) for b in self.budgets],
                len(self.meters),
            )
        )

    def read_reply(self, reply: bytes) -> Reply:
        """The worker's reply, with its parameter copies replaced by the originals."""
        reader = pickle.Unpickler(io.BytesIO(reply))
        reader.persistent_load = self._load  # type: ignore[method-assign]
        return reader.load()

    def _load(self, pid: tuple) -> Any:
        kind, index = pid
        if kind == "parameter":
            return self.parameters[index]
        if kind == "meter":
            return get_meter() if index == -1 else self.meters[index]
        raise pickle.UnpicklingError(f"unknown reference {pid!r} in a worker's reply")

    def settle(self, reply: Reply) -> None:
        """Account in this context what the call spent: meter events and budget spending."""
        for event in reply.events:
            event.meter.replay([event])
        for budget, spent in zip(self.budgets, reply.budget_spent):
            budget.add_spent(**spent)


@dataclass
class Reply:
    """What a worker sends back for one call."""

    value: Any = None
    error: BaseException | None = None
    error_text: str = ""
    """``Type: message`` and the worker's traceback (always set when the call raised)."""
    events: list[MeterEvent] = field(default_factory=list)
    budget_spent: list[dict[str, Any]] = field(default_factory=list)


class Incoming:
    """The worker's side of one call: rebuilds what was sent, runs it, packs the reply."""

    def __init__(self, shared: bytes):
        parameters, budgets, meters = pickle.loads(shared)
        self.parameters: list[Node] = parameters
        self._parameter_index = {id(p): i for i, p in enumerate(parameters)}
        self.budgets = []
        self.snapshots = []
        for figures in budgets:
            budget = Budget(*figures["limits"])
            budget.add_spent(**figures["spent"])
            self.budgets.append(budget)
            self.snapshots.append(figures["spent"])
        self.meters = [Meter() for _ in range(meters)]

    def loads(self, blob: bytes) -> Any:
        reader = pickle.Unpickler(io.BytesIO(blob))
        reader.persistent_load = self._load  # type: ignore[method-assign]
        return reader.load()

    def _load(self, pid: tuple) -> Any:
        kind, index = pid
        if kind == "parameter":
            return self.parameters[index]
        if kind == "budget":
            return self.budgets[index]
        if kind == "meter":
            return get_meter() if index == -1 else self.meters[index]
        raise pickle.UnpicklingError(f"unknown reference {pid!r} from the caller")

    def run(self, fn_blob: bytes, item_blob: bytes) -> bytes:
        """Call the function on the item under the caller's budgets; the reply, pickled."""
        reply = Reply()
        with ExitStack() as stack:
            for budget in self.budgets:
                stack.enter_context(budget.active())
            events = stack.enter_context(recording())
            try:
                fn, item = self.loads(fn_blob), self.loads(item_blob)
                reply.value = fn(item)
            except BaseException as exc:  # the caller decides; a worker must answer
                reply.error = exc
                reply.error_text = "".join(traceback.format_exception(exc))
        own = {id(m) for m in (get_meter(), *self.meters)}
        reply.events = [e for e in events if id(e.meter) in own]  # not meters made by the call
        reply.budget_spent = [
            _spent_since(b, before) for b, before in zip(self.budgets, self.snapshots)
        ]
        return self._dumps(reply)

    def _persistent_id(self, obj: Any) -> tuple | None:
        index = self._parameter_index.get(id(obj))
        if index is not None:
            return ("parameter", index)
        if isinstance(obj, Meter):
            for i, m in enumerate(self.meters):
                if obj is m:
                    return ("meter", i)
            return ("meter", -1)
        return None

    def _dumps(self, reply: Reply) -> bytes:
        import cloudpickle

        try:
            return self._pickle(reply, cloudpickle)
        except Exception as exc:
            what = "its error" if reply.error is not None else "its result"
            text = reply.error_text or f"{type(exc).__name__}: {exc}"
            failed = Reply(
                error=None,
                error_text=f"{what} could not be sent back ({type(exc).__name__}: {exc})\n{text}",
                events=reply.events,
                budget_spent=reply.budget_spent,
            )
            return self._pickle(failed, cloudpickle)

    def _pickle(self, reply: Reply, cloudpickle) -> bytes:
        buffer = io.BytesIO()
        pickler = cloudpickle.CloudPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = self._persistent_id  # type: ignore[method-assign]
        pickler.dump(reply)
        return buffer.getvalue()


def _spent_since(budget: Budget, before: dict[str, Any]) -> dict[str, Any]:
    spent = budget.spent
    return {
        "calls": spent.calls - before["calls"],
        "prompt_tokens": spent.prompt_tokens - before["prompt_tokens"],
        "completion_tokens": spent.completion_tokens - before["completion_tokens"],
        "cost": spent.cost - before["cost"],
    }


def run_call(shared: bytes, fn_blob: bytes, item_blob: bytes) -> bytes:
    """The body of one Ray task (imported by the worker by name)."""
    return Incoming(shared).run(fn_blob, item_blob)
