"""Timings that decide acceptance: the original and a candidate, alternately, in fresh processes.

Each round runs the original and the candidate once each, in fresh sandboxed
processes (the ``bench`` task of :mod:`sandboxed`), their order swapped every
round, each with the benchmark evaluated ``loops`` times. The host takes each process's CPU time
itself (``wait4``, see :mod:`workflows.isolation`), so nothing the measured
code reports enters a timing; start-up (imports and setup, measured by
zero-loop processes of each side before the first and after the last round)
is subtracted. First, uncounted runs of each side size its loop count so
that its benchmark part lasts about ``sample_s``. Per round, the speedup is
the original's time per call over the candidate's, both measured under the
same machine load; over the rounds the median is the speedup and the
quartiles its range.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from workflows.code_session.measure import Speedup, Timing, TimingError

MAX_LOOPS = 10_000_000
MIN_MEASURABLE_S = 0.002
SIZING_TRIES = 4
GROW_TRIES = 3
GROWTH = 20
SIDES = ("original", "candidate")


@dataclass(frozen=True)
class Comparison:
    """The original's and the candidate's time per call over the same rounds, and the speedup."""

    original: Timing
    candidate: Timing
    speedup: Speedup


RunSample = Callable[[str, int], float]
"""``(which, loops) -> CPU seconds`` of one fresh process; ``which`` is original or candidate."""


def compare_alternately(
    run: RunSample, rounds: int, first_loops: int, sample_s: float = 0.4
) -> Comparison:
    """Time both sides over ``rounds`` alternated rounds, after sizing each side's loops.

    Start-up (a zero-loop process of each side) is measured before the first
    round and after the last; each side's mean start-up is subtracted from its
    runs. When start-up noise swamps most rounds, the rounds are run again with
    four times the loops (up to ``GROW_TRIES`` times) before giving up.
    """
    loops = {"original": first_loops, "candidate": first_loops}
    start_up = {which: [run(which, 0)] for which in SIDES}
    for which in SIDES:
        loops[which] = _sized(run, which, loops[which], start_up[which][0], sample_s)
    for _ in range(GROW_TRIES):
        measured = {which: [] for which in SIDES}
        for number in range(rounds):
            for which in SIDES if number % 2 == 0 else SIDES[::-1]:
                measured[which].append(run(which, loops[which]))
        for which in SIDES[::-1]:
            start_up[which].append(run(which, 0))
        per_call, ratios = _per_round(measured, start_up, loops)
        if len(ratios) >= max(1, (rounds + 1) // 2):
            return Comparison(
                original=Timing.from_samples(per_call["original"], loops["original"]),
                candidate=Timing.from_samples(per_call["candidate"], loops["candidate"]),
                speedup=Speedup.from_ratios(ratios),
            )
        loops = {which: min(MAX_LOOPS, count * 4) for which, count in loops.items()}
    raise TimingError(
        "the benchmark is too short to time against process start-up, even with "
        f"{loops['original'] // 4} loops; give a --bench that does more work"
    )


def _per_round(
    measured: dict[str, list[float]], start_up: dict[str, list[float]], loops: dict[str, int]
) -> tuple[dict[str, list[float]], list[float]]:
    """Each side's time per call in every usable round, and the rounds' speedups."""
    base = {which: sum(values) / len(values) for which, values in start_up.items()}
    per_call: dict[str, list[float]] = {which: [] for which in SIDES}
    ratios = []
    for number in range(len(measured["original"])):
        times = {which: (measured[which][number] - base[which]) / loops[which] for which in SIDES}
        if min(times.values()) <= 0:
            continue
        for which, value in times.items():
            per_call[which].append(value)
        ratios.append(times["original"] / times["candidate"])
    return per_call, ratios


def _sized(run: RunSample, which: str, loops: int, start_up: float, sample_s: float) -> int:
    """The loop count whose benchmark part takes about ``sample_s``, grown from ``loops``
    until a run is long enough to measure (a quarter of ``sample_s``)."""
    for _ in range(SIZING_TRIES):
        spent = run(which, loops) - start_up
        if spent >= sample_s / 4 or loops >= MAX_LOOPS:
            break
        loops = min(MAX_LOOPS, loops * min(GROWTH, math.ceil(sample_s / max(spent, 0.01))))
    per_call = max(spent, MIN_MEASURABLE_S) / loops
    return min(MAX_LOOPS, max(1, math.ceil(sample_s / per_call)))
