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

from trace_engine.executors import ExecutorError
from trace_engine.llm.meter import Budget, Meter, MeterEvent, active_budgets, get_meter, recording
from trace_engine.nodes import Node


class NotSendable(ExecutorError):
    """The function or an item cannot be pickled for another process."""


_SPENT = ("calls", "prompt_tokens", "completion_tokens", "cost")


def _spent(budget: Budget) -> dict[str, Any]:
    return {name: getattr(budget.spent, name) for name in _SPENT}


class _Side:
    """One end of the exchange: its parameters, budgets and meters are pickled as
    references (``("parameter", i)``, ...) that the other end resolves to its own."""

    register = False
    """Whether a budget or meter met while pickling joins the lists (the caller's side)."""

    def __init__(self, parameters: Sequence[Node], budgets: list[Budget], meters: list[Meter]):
        self.parameters = list(parameters)
        self.budgets = budgets
        self.meters = meters
        self._parameter_index = {id(p): i for i, p in enumerate(self.parameters)}

    def _position(self, found: list, obj: Any) -> int | None:
        for i, known in enumerate(found):
            if known is obj:
                return i
        if not self.register:
            return None
        found.append(obj)
        return len(found) - 1

    def _persistent_id(self, obj: Any) -> tuple | None:
        index = self._parameter_index.get(id(obj))
        if index is not None:
            return ("parameter", index)
        if isinstance(obj, Meter):
            index = None if obj is get_meter() else self._position(self.meters, obj)
            return ("meter", -1 if index is None else index)
        if isinstance(obj, Budget):
            index = self._position(self.budgets, obj)
            return None if index is None else ("budget", index)
        return None

    def _persistent_load(self, pid: tuple) -> Any:
        kind, index = pid
        if kind == "meter":
            return get_meter() if index == -1 else self.meters[index]
        if kind in ("parameter", "budget"):
            return (self.parameters if kind == "parameter" else self.budgets)[index]
        raise pickle.UnpicklingError(f"unknown reference {pid!r}")

    def dumps(self, obj: Any) -> bytes:
        """``obj`` pickled with cloudpickle, this side's own objects as references."""
        import cloudpickle

        buffer = io.BytesIO()
        pickler = cloudpickle.CloudPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = self._persistent_id  # type: ignore[method-assign]
        pickler.dump(obj)
        return buffer.getvalue()

    def loads(self, blob: bytes) -> Any:
        """What the other side pickled, its references resolved to this side's objects."""
        reader = pickle.Unpickler(io.BytesIO(blob))
        reader.persistent_load = self._persistent_load  # type: ignore[method-assign]
        return reader.load()


class Outgoing(_Side):
    """The caller's side: pickles the function and the items, reads the replies."""

    register = True

    def __init__(self, parameters: Sequence[Node] = ()):
        for p in parameters:
            if not isinstance(p, Node):
                raise TypeError(f"parameters must be nodes, got {type(p).__name__}")
        super().__init__(parameters, list(active_budgets()), [])

    def send(self, obj: Any, what: str) -> bytes:
        """``obj`` pickled for a worker, or :class:`NotSendable` naming ``what``."""
        try:
            return self.dumps(obj)
        except Exception as exc:
            raise NotSendable(
                f"{what} cannot be sent to another process ({type(exc).__name__}: {exc}); "
                "give LLMs as spec strings or get_llm(...) so workers can build them, "
                "and keep open files, locks and connections out of the work"
            ) from exc

    def shared(self) -> bytes:
        """What every call needs besides the call itself: the parameters (copied once
        per call in the worker), each budget's limits and spending, how many meters.
        Call after pickling the function and the items (they register budgets)."""
        import cloudpickle

        budgets = [((b.max_usd, b.max_tokens, b.max_calls), _spent(b)) for b in self.budgets]
        return cloudpickle.dumps((self.parameters, budgets, len(self.meters)))

    def read_reply(self, reply: bytes) -> Reply:
        """The worker's reply, with its parameter copies replaced by the originals."""
        return self.loads(reply)

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


class Incoming(_Side):
    """The worker's side of one call: rebuilds what was sent, runs it, packs the reply."""

    def __init__(self, shared: bytes):
        parameters, budgets, meters = pickle.loads(shared)
        copies = []
        for limits, spent in budgets:
            budget = Budget(*limits)
            budget.add_spent(**spent)
            copies.append(budget)
        super().__init__(parameters, copies, [Meter() for _ in range(meters)])
        self.snapshots = [spent for _, spent in budgets]

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
            {k: _spent(b)[k] - before[k] for k in _SPENT}
            for b, before in zip(self.budgets, self.snapshots)
        ]
        try:
            return self.dumps(reply)
        except Exception as exc:
            what = "its error" if reply.error is not None else "its result"
            text = reply.error_text or f"{type(exc).__name__}: {exc}"
            failed = Reply(
                error_text=f"{what} could not be sent back ({type(exc).__name__}: {exc})\n{text}",
                events=reply.events,
                budget_spent=reply.budget_spent,
            )
            return self.dumps(failed)


def run_call(shared: bytes, fn_blob: bytes, item_blob: bytes) -> bytes:
    """The body of one Ray task (imported by the worker by name)."""
    return Incoming(shared).run(fn_blob, item_blob)
