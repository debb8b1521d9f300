"""``RoutedLLM``: several backends behind one :class:`~trace_engine.llm.base.LLM`.

Each request goes to the backend(s) its policy picks; the caller sees one
``Completion`` (the accepted answer, with the usage and USD cost of every try).
Every request is logged as a :class:`RouteRecord` with its cost in the
router's :class:`~agents.router.cost.CostModel` unit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.router.backends import Backend
from agents.router.cost import CostModel
from agents.router.policies import RoutingPolicy
from trace_engine.llm.base import LLM, Completion, Message, Usage, normalize_messages


def request_text(messages: Sequence[Message]) -> str:
    """The text a policy sees: every message's content, in order."""
    return "\n".join(m["content"] for m in messages)


@dataclass
class RouteRecord:
    """How one request was served."""

    request: str
    tried: list[str]
    chosen: str
    cost: float
    escalated: bool
    note: str = ""
    errors: list[str] = field(default_factory=list)


class RoutedLLM(LLM):
    """An LLM that forwards each request to backends chosen by ``policy``.

    Backends are :class:`Backend` objects or ``(name, llm)`` pairs; at least two,
    with distinct names, every one the policy names among them. A backend that
    fails in the middle of a cascade is skipped (the error is recorded); a
    failure of the last backend tried is raised.
    """

    backend = "router"

    def __init__(
        self,
        backends: Sequence[Backend | tuple[str, Any]],
        policy: RoutingPolicy,
        *,
        cost_model: CostModel | None = None,
    ):
        made = [b if isinstance(b, Backend) else Backend(b[0], b[1]) for b in backends]
        if len(made) < 2:
            raise ValueError(
                f"a router needs at least two backends, got {len(made)}; "
                "call the backend directly instead"
            )
        names = [b.name for b in made]
        if len(set(names)) != len(names):
            raise ValueError(f"backend names must be distinct, got {names}")
        unknown = sorted(policy.backends() - set(names))
        if unknown:
            raise ValueError(f"the policy names unknown backend(s) {unknown}; have {names}")
        self.backends = {b.name: b for b in made}
        self.policy = policy
        self.cost_model = cost_model or CostModel()
        self.model = "+".join(names)
        self.log: list[RouteRecord] = []
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        return "router(" + ",".join(b.llm.fingerprint for b in self.backends.values()) + ")"

    def complete(self, messages: str | Sequence[Message], **options: Any) -> Completion:
        msgs = normalize_messages(messages)
        text = request_text(msgs)
        route = self.policy.route(text)
        start = time.perf_counter()
        usage, usd, cost = Usage(), 0.0, 0.0
        tried: list[str] = []
        errors: list[str] = []
        result: Completion | None = None
        cached = True
        for i, name in enumerate(route.order):
            last = i == len(route.order) - 1
            tried.append(name)
            try:
                reply = self.backends[name].complete(msgs, **options)
            except Exception as exc:
                if last:
                    self._record(text, tried, name, cost, route.note, errors + [repr(exc)])
                    raise
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            usage, usd = usage + reply.usage, usd + reply.cost
            cost += self.cost_model.of(name, reply)
            cached = cached and reply.cached
            result = reply
            if last or self.policy.accept(text, name, reply.text):
                break
        self._record(text, tried, tried[-1], cost, route.note, errors)
        return Completion(
            texts=list(result.texts),
            usage=usage,
            cost=usd,
            latency=time.perf_counter() - start,
            backend=self.backend,
            model=tried[-1],
            cached=cached,
        )

    def _record(self, text, tried, chosen, cost, note, errors) -> None:
        record = RouteRecord(text, list(tried), chosen, cost, len(tried) > 1, note, list(errors))
        with self._lock:
            self.log.append(record)

    def share(self, backend: str) -> float:
        """Share of logged requests answered by ``backend``."""
        with self._lock:
            if not self.log:
                return 0.0
            return sum(r.chosen == backend for r in self.log) / len(self.log)
