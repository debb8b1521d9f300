"""Timing and profiling of the benchmark expression, and how timings compare.

Timings are taken by the host, never reported by the timed code: a sandboxed
run evaluates the expression ``loops`` times (after one warm-up call) and the
host reads the CPU time of that run's whole process tree (``wait4``, see
:class:`workflows.isolation.Outcome`). One sample is the difference between a
run with ``loops`` calls and a run with none, divided by ``loops``, so the
start-up, imports and setup cancel out; ``loops`` grows until that difference
is long enough to measure, then ``repeat`` pairs give a median and quartiles.
The same procedure times the original and every candidate. Profiles are taken
inside the sandbox and only inform the optimizer.
"""

from __future__ import annotations

import cProfile
import io
import linecache
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import CodeType
from typing import Any

from trace_engine.errors import TraceEngineError


@dataclass(frozen=True)
class Timing:
    """Seconds per call of the benchmark expression over ``samples`` repeats."""

    median: float
    q1: float
    q3: float
    minimum: float
    maximum: float
    samples: int
    loops: int

    @classmethod
    def from_samples(cls, per_call: list[float], loops: int) -> Timing:
        ordered = sorted(per_call)
        if len(ordered) >= 2:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            q1 = q3 = ordered[0]
        return cls(
            median=statistics.median(ordered),
            q1=q1,
            q3=q3,
            minimum=ordered[0],
            maximum=ordered[-1],
            samples=len(ordered),
            loops=loops,
        )

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median."""
        return (self.q3 - self.q1) / self.median if self.median > 0 else 0.0

    def describe(self) -> str:
        return f"{format_seconds(self.median)} per call (±{self.spread * 50:.0f}%, {self.samples} samples)"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Speedup:
    """How many times faster than the original: a central value and a range.

    From alternated timing (``rounds`` > 0): the median and quartiles of the
    per-round ratios. ``low`` is the bound a candidate must clear to be accepted.
    """

    value: float
    low: float
    high: float
    rounds: int = 0

    @classmethod
    def from_ratios(cls, ratios: list[float]) -> Speedup:
        """Median and quartiles of per-round speedups."""
        ordered = sorted(ratios)
        if len(ordered) >= 2:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            q1 = q3 = ordered[0]
        return cls(value=statistics.median(ordered), low=q1, high=q3, rounds=len(ordered))

    def describe(self) -> str:
        over = f" over {self.rounds} alternated rounds" if self.rounds else ""
        return f"{self.value:.2f}x (range {self.low:.2f}x-{self.high:.2f}x{over})"

    def as_dict(self) -> dict:
        return asdict(self)


def format_seconds(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


class TimingError(TraceEngineError, RuntimeError):
    """A timed run did not complete, so there is no timing."""


MIN_DIFFERENCE_S = 0.1
"""The least CPU time the timed calls of one sample must take, whatever ``min_sample_s``
says: process start-up varies by a few milliseconds, and must not dominate a sample."""
MAX_LOOPS = 1_000_000
FLOOR_S = 1e-6
"""A difference below this (noise) counts as this much, so no timing is zero."""


def time_in_processes(
    cpu_seconds: Callable[[int], float],
    repeat: int,
    min_sample_s: float,
    max_total_s: float,
) -> Timing:
    """Time the benchmark from outside: ``cpu_seconds(loops)`` runs it ``loops`` times
    (plus one warm-up call) in a fresh sandboxed process and returns the CPU time the
    host measured for that run (raising :class:`TimingError` when it failed).
    Samples after the first stop once ``max_total_s`` have passed.
    """
    target = max(min_sample_s, MIN_DIFFERENCE_S)
    empty = cpu_seconds(0)
    loops = 1
    while True:
        took = cpu_seconds(loops) - empty
        if took >= target or loops >= MAX_LOOPS:
            break
        if took < target / 10:
            loops *= 10
        else:
            loops = max(loops + 1, int(loops * target * 1.2 / took))
        loops = min(loops, MAX_LOOPS)
    samples = [max(took, FLOOR_S) / loops]
    started = time.perf_counter()
    while len(samples) < repeat and time.perf_counter() - started < max_total_s:
        if len(samples) % 2:
            without, timed = cpu_seconds(0), cpu_seconds(loops)
        else:
            timed, without = cpu_seconds(loops), cpu_seconds(0)
        samples.append(max(timed - without, FLOOR_S) / loops)
    return Timing.from_samples(samples, loops)


def profile_expression(expression: str, namespace: dict, top: int = 8) -> list[dict]:
    """cProfile one evaluation of ``expression``; the ``top`` entries by own time."""
    profiler = cProfile.Profile()
    code = compile(expression, "<benchmark>", "eval")
    profiler.enable()
    try:
        eval(code, namespace)
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (filename, line, fn), (_cc, calls, own, cumulative, _callers) in stats.stats.items():
        if (
            filename == "<benchmark>"
            or "_lsprof.Profiler" in fn
            or fn == "<built-in method builtins.eval>"
        ):
            continue
        rows.append(
            {
                "function": fn,
                "where": f"{_short_path(filename)}:{line}",
                "calls": calls,
                "own_s": own,
                "cumulative_s": cumulative,
            }
        )
    rows.sort(key=lambda r: r["own_s"], reverse=True)
    return rows[:top]


def _short_path(filename: str) -> str:
    return filename.replace("\\", "/").rsplit("/", 1)[-1]


def own_function(fn: Any, filename: str, name: str, max_depth: int = 32) -> Any:
    """The user's own function under ``fn``'s decorators, or None when it cannot be found.

    Follows ``__wrapped__`` (``functools.wraps``, networkx's ``argmap`` and
    ``_dispatchable``) and a ``__func__``/``orig_func`` link until it reaches a
    function whose code is ``name`` defined in ``filename``.
    """
    target = os.path.realpath(filename)
    current = fn
    for _ in range(max_depth):
        code = getattr(current, "__code__", None)
        if (
            isinstance(code, CodeType)
            and code.co_name == name
            and os.path.realpath(code.co_filename) == target
        ):
            return current
        following = None
        for link in ("__wrapped__", "__func__", "orig_func"):
            following = getattr(current, link, None)
            if following is not None and following is not current:
                break
            following = None
        if following is None:
            return None
        current = following
    return None


def line_profile(
    expression: str, namespace: dict, code: CodeType, top: int = 6, max_events: int = 200_000
) -> list[dict]:
    """Time spent on each line of the function whose code object is ``code`` during one evaluation.

    Pure Python (``sys.settrace``), so it is slow; it runs once, on the benchmark, and
    stops recording after ``max_events`` line events.
    Lines are numbered from the first line of the function's code (1), and come with their text.
    """
    hits: dict[int, int] = {}
    spent: dict[int, float] = {}
    state: dict[Any, tuple[int, float]] = {}

    events = [0]

    def local(frame: Any, event: str, arg: Any) -> Any:
        events[0] += 1
        if events[0] > max_events:
            return None
        now = time.perf_counter()
        previous = state.get(frame)
        if previous is not None:
            spent[previous[0]] = spent.get(previous[0], 0.0) + now - previous[1]
        if event == "line":
            hits[frame.f_lineno] = hits.get(frame.f_lineno, 0) + 1
            state[frame] = (frame.f_lineno, time.perf_counter())
        elif event == "return":
            state.pop(frame, None)
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code is code and events[0] <= max_events else None

    compiled = compile(expression, "<benchmark>", "eval")
    sys.settrace(calls)
    try:
        eval(compiled, namespace)
    finally:
        sys.settrace(None)
    total = sum(spent.values()) or 1.0
    rows = [
        {
            "line": line - code.co_firstlineno + 1,
            "text": linecache.getline(code.co_filename, line).strip(),
            "hits": hits.get(line, 0),
            "seconds": seconds,
            "share": seconds / total,
        }
        for line, seconds in spent.items()
    ]
    rows.sort(key=lambda r: r["seconds"], reverse=True)
    return rows[:top]
