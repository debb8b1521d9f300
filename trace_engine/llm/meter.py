"""Token, cost and latency accounting, and budgets.

Every call made through :func:`trace_engine.llm.get_llm` reports to a
:class:`Meter` (by default the process-wide one from :func:`get_meter`).

How a caller reads the usage of its own calls:

* per call: the returned ``Completion`` carries ``usage``, ``cost``, ``latency``
  and ``cached``. A cached completion repeats the figures of the original call;
  nothing was spent on it now (``cached=True``).
* per block of code: ``with get_meter().tag("optoprime") as used: ...`` collects
  the calls made inside the block (in this thread or async task) into ``used``,
  a :class:`UsageStats`, and also totals them under the tag in ``meter.by_tag()``.
  Calls made from worker threads are not in the block's context; wrap the LLM
  with :func:`trace_engine.llm.tagged` to tag them wherever they run.

A :class:`Budget` stops a run before a call that would cross one of its limits.
"""

from __future__ import annotations

import contextvars
import math
import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace

from trace_engine.errors import TraceEngineError
from trace_engine.llm.base import Usage


@dataclass
class UsageStats:
    """Totals over a set of calls. ``calls`` are requests that reached a backend."""

    calls: int = 0
    cache_hits: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    wall_time: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add_call(self, usage: Usage, cost: float, seconds: float) -> None:
        self.calls += 1
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost += cost
        self.wall_time += seconds

    def as_dict(self) -> dict:
        return {**asdict(self), "total_tokens": self.total_tokens}


@dataclass(frozen=True)
class MeterEvent:
    """One accounted request: a call (``usage``, ``cost``, ``seconds``), a cache hit,
    or an error (``seconds``); ``tags``: the meter tags it was made under inside a
    :func:`recording` (so that :meth:`Meter.replay` can put it under the same ones)."""

    meter: Meter
    kind: str
    backend: str
    usage: Usage | None = None
    cost: float = 0.0
    seconds: float = 0.0
    tags: tuple[str, ...] = ()

    def add_to(self, stats: UsageStats) -> None:
        if self.kind == "call":
            stats.add_call(self.usage or Usage(), self.cost, self.seconds)
        elif self.kind == "hit":
            stats.cache_hits += 1
        else:
            stats.errors += 1
            stats.wall_time += self.seconds


@dataclass
class _Recorder:
    outer: tuple
    events: list[MeterEvent] = field(default_factory=list)


_recorder: contextvars.ContextVar[_Recorder | None] = contextvars.ContextVar(
    "trace_engine_llm_recorder", default=None
)


@contextmanager
def recording() -> Iterator[list[MeterEvent]]:
    """Collect every request any meter accounts inside the block (this context), in
    order, to be replayed on another process's meters (see :mod:`trace_engine.ray_executor`)."""
    recorder = _Recorder(_scopes.get())
    token = _recorder.set(recorder)
    try:
        yield recorder.events
    finally:
        _recorder.reset(token)


@dataclass
class _Scope:
    name: str
    owner: object
    """The meter whose tag opened the scope: only its calls count in the scope."""
    stats: UsageStats = field(default_factory=UsageStats)


_scopes: contextvars.ContextVar[tuple[_Scope, ...]] = contextvars.ContextVar(
    "trace_engine_llm_scopes", default=()
)


class Meter:
    """Thread-safe totals of every call: overall, per backend and per caller tag."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = UsageStats()
        self._backends: dict[str, UsageStats] = {}
        self._tags: dict[str, UsageStats] = {}

    @contextmanager
    def tag(self, name: str) -> Iterator[UsageStats]:
        """Attribute calls made inside the block to ``name``; yields the block's own stats.

        Tags nest; each call counts once under the innermost tag in ``by_tag()``
        and in the stats of every enclosing block.
        """
        scope = _Scope(str(name), self)
        token = _scopes.set((*_scopes.get(), scope))
        try:
            yield scope.stats
        finally:
            _scopes.reset(token)

    def record_call(self, backend: str, usage: Usage, cost: float, seconds: float) -> None:
        """Account one successful backend call."""
        self._record(MeterEvent(self, "call", backend, usage, cost, seconds))

    def record_hit(self, backend: str) -> None:
        """Account one request answered from the cache (nothing spent)."""
        self._record(MeterEvent(self, "hit", backend))

    def record_error(self, backend: str, seconds: float) -> None:
        """Account one failed backend call."""
        self._record(MeterEvent(self, "error", backend, seconds=seconds))

    def _record(self, event: MeterEvent) -> None:
        scopes = [s for s in _scopes.get() if s.owner is self]
        with self._lock:
            targets = [self._total, self._backends.setdefault(event.backend, UsageStats())]
            if scopes:
                targets.append(self._tags.setdefault(scopes[-1].name, UsageStats()))
                targets.extend(s.stats for s in scopes)
            for stats in targets:
                event.add_to(stats)
        recorder = _recorder.get()
        if recorder is not None:
            opened = _scopes.get()[len(recorder.outer) :]
            recorder.events.append(
                replace(event, tags=tuple(s.name for s in opened if s.owner is self))
            )

    def replay(self, events: Iterable[MeterEvent]) -> None:
        """Account calls recorded elsewhere (another process) as if made here and now:
        under the tags open in this context, plus the tags each was made under there."""
        for event in events:
            with ExitStack() as tags:
                for name in event.tags:
                    tags.enter_context(self.tag(name))
                self._record(replace(event, meter=self, tags=()))

    @property
    def total(self) -> UsageStats:
        """A copy of the overall totals."""
        with self._lock:
            return UsageStats(**asdict(self._total))

    def by_backend(self) -> dict[str, UsageStats]:
        """Copies of the totals per backend id (``backend:model``)."""
        with self._lock:
            return {k: UsageStats(**asdict(v)) for k, v in self._backends.items()}

    def by_tag(self) -> dict[str, UsageStats]:
        """Copies of the totals per caller tag."""
        with self._lock:
            return {k: UsageStats(**asdict(v)) for k, v in self._tags.items()}

    def reset(self) -> None:
        with self._lock:
            self._total = UsageStats()
            self._backends.clear()
            self._tags.clear()

    def summary(self) -> str:
        """A short human-readable report, one line per backend."""
        lines = [_line("total", self.total)]
        lines += [_line(name, s) for name, s in sorted(self.by_backend().items())]
        return "\n".join(lines)


def _line(name: str, s: UsageStats) -> str:
    return (
        f"{name}: {s.calls} calls, {s.cache_hits} cache hits, {s.errors} errors, "
        f"{s.prompt_tokens}+{s.completion_tokens} tokens, ${s.cost:.4f}, {s.wall_time:.1f}s"
    )


_default_meter = Meter()


def get_meter() -> Meter:
    """The process-wide meter that every LLM from ``get_llm`` reports to."""
    return _default_meter


class BudgetExceeded(TraceEngineError, RuntimeError):
    """A call was refused because it would cross a :class:`Budget` limit.

    Deliberately not an ``LLMError``: code that skips failed proposals must not
    swallow the signal that the run is out of budget.
    """


class BudgetNotEnforceable(BudgetExceeded):
    """A USD budget on a backend whose price is unknown: refused, not silently ignored."""


def unpriced_budget_message(backend_id: str, model: str) -> str:
    """One line: why a USD budget cannot apply to ``backend_id`` and what to do."""
    from trace_engine.llm.pricing import price_hint

    return (
        f"a USD budget cannot be enforced on {backend_id}: its price is unknown, so its calls "
        f"count $0; {price_hint(model)}, or limit tokens or calls instead"
    )


@dataclass(frozen=True)
class Estimate:
    """What a call is expected to spend at most (tokens, USD)."""

    tokens: int
    cost: float


class Budget:
    """Limits on spending. ``None`` means unlimited.

    Before each call the call's estimate (prompt tokens approximated from its
    text, plus ``max_tokens`` x ``n`` completion tokens) is reserved; a call whose
    reservation would cross a limit raises :class:`BudgetExceeded` and is not
    made. After the call the reservation is replaced by the actual usage. Pass
    ``max_tokens`` on calls for a hard guarantee: without it, the completion's
    length is unknown beforehand and the last call may overshoot.
    Thread-safe; one budget may be shared by several LLMs.
    """

    def __init__(
        self,
        max_usd: float | None = None,
        max_tokens: int | None = None,
        max_calls: int | None = None,
    ):
        for name, value in (
            ("max_usd", max_usd),
            ("max_tokens", max_tokens),
            ("max_calls", max_calls),
        ):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"Budget {name} must be a finite number >= 0, got {value}")
        self.max_usd = max_usd
        self.max_tokens = max_tokens
        self.max_calls = max_calls
        self._lock = threading.Lock()
        self.spent = UsageStats()
        self._reserved_tokens = 0
        self._reserved_cost = 0.0
        self._reserved_calls = 0

    def reserve(self, estimate: Estimate) -> Estimate:
        """Reserve room for one call or raise :class:`BudgetExceeded`."""
        with self._lock:
            calls = self.spent.calls + self._reserved_calls + 1
            tokens = self.spent.total_tokens + self._reserved_tokens + estimate.tokens
            cost = self.spent.cost + self._reserved_cost + estimate.cost
            if self.max_calls is not None and calls > self.max_calls:
                raise BudgetExceeded(f"call budget exhausted: {self.max_calls} calls allowed")
            if self.max_tokens is not None and tokens > self.max_tokens:
                raise BudgetExceeded(
                    f"token budget: this call may need ~{estimate.tokens} tokens but only "
                    f"{self.max_tokens - (tokens - estimate.tokens)} of {self.max_tokens} are left"
                )
            if self.max_usd is not None and cost > self.max_usd + 1e-12:
                raise BudgetExceeded(
                    f"USD budget: this call may cost ~${estimate.cost:.4f} but only "
                    f"${self.max_usd - (cost - estimate.cost):.4f} of ${self.max_usd:.4f} is left"
                )
            self._reserved_calls += 1
            self._reserved_tokens += estimate.tokens
            self._reserved_cost += estimate.cost
            return estimate

    def add_spent(
        self,
        *,
        calls: int = 0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost: float = 0.0,
    ) -> None:
        """Count spending made outside this process, e.g. by a resumed run's earlier
        sessions, so that the limits hold over the run's whole life."""
        with self._lock:
            self.spent.calls += calls
            self.spent.prompt_tokens += prompt_tokens
            self.spent.completion_tokens += completion_tokens
            self.spent.cost += cost

    def settle(
        self, reservation: Estimate, usage: Usage | None, cost: float, seconds: float
    ) -> None:
        """Replace a reservation by what the call spent (``usage=None``: it failed)."""
        with self._lock:
            self._reserved_calls -= 1
            self._reserved_tokens -= reservation.tokens
            self._reserved_cost -= reservation.cost
            if usage is not None:
                self.spent.add_call(usage, cost, seconds)

    @property
    def remaining(self) -> dict[str, float | int | None]:
        """What is left of each limit (``None`` for unlimited)."""
        with self._lock:
            return {
                "usd": None if self.max_usd is None else self.max_usd - self.spent.cost,
                "tokens": None
                if self.max_tokens is None
                else self.max_tokens - self.spent.total_tokens,
                "calls": None if self.max_calls is None else self.max_calls - self.spent.calls,
            }

    @contextmanager
    def active(self) -> Iterator[Budget]:
        """Apply this budget to every metered call made inside the block (this context)."""
        token = _budgets.set((*_budgets.get(), self))
        try:
            yield self
        finally:
            _budgets.reset(token)

    def __repr__(self) -> str:
        return (
            f"Budget(max_usd={self.max_usd}, max_tokens={self.max_tokens}, "
            f"max_calls={self.max_calls}, spent={self.spent})"
        )


_budgets: contextvars.ContextVar[tuple[Budget, ...]] = contextvars.ContextVar(
    "trace_engine_llm_budgets", default=()
)


def active_budgets() -> tuple[Budget, ...]:
    """Budgets applied to the current context with :meth:`Budget.active`."""
    return _budgets.get()
