"""Alternated timing: both sides in every round, order swapped, start-up subtracted, load shared."""

from __future__ import annotations

import pytest

from workflows.code_session.alternated import compare_alternately
from workflows.code_session.measure import TimingError

PER_CALL = {"original": 0.01, "candidate": 0.004}
START_UP = 0.3


class DriftingMachine:
    """CPU seconds of a process whose machine gets ``drift`` busier with every process started."""

    def __init__(self, per_call=PER_CALL, drift=1.04):
        self.per_call = per_call
        self.drift = drift
        self.load = 1.0
        self.runs: list[tuple[str, int]] = []

    def __call__(self, which: str, loops: int) -> float:
        self.runs.append((which, loops))
        self.load *= self.drift
        return self.load * (START_UP + self.per_call[which] * loops)


def test_original_and_candidate_alternate_within_every_round():
    machine = DriftingMachine()
    compare_alternately(machine, rounds=4, first_loops=10)
    runs = machine.runs
    assert [loops for _, loops in runs[:2] + runs[-2:]] == [0, 0, 0, 0], "start-up, both sides"
    counted = runs[-10:-2]
    pairs = [counted[i : i + 2] for i in range(0, len(counted), 2)]
    assert all(loops > 0 for _, loops in counted) and runs[-11][1] > 0, "sizing runs first"
    assert all({which for which, _ in pair} == {"original", "candidate"} for pair in pairs)
    assert [pair[0][0] for pair in pairs] == ["original", "candidate", "original", "candidate"]


def test_the_speedup_holds_under_drifting_load_where_one_early_baseline_would_not():
    machine = DriftingMachine()
    comparison = compare_alternately(machine, rounds=5, first_loops=10)
    true = PER_CALL["original"] / PER_CALL["candidate"]
    assert comparison.speedup.rounds == 5
    assert comparison.speedup.low <= comparison.speedup.value <= comparison.speedup.high
    assert abs(comparison.speedup.value / true - 1) < 0.1
    # timing the original once at the start and the candidate after the session's other
    # processes, as before, puts the load change straight into the ratio
    early = DriftingMachine()
    original = early("original", 40) - early("original", 0)
    for _ in range(20):
        early("original", 0)
    candidate = early("candidate", 100) - early("candidate", 0)
    assert abs((original / 40) / (candidate / 100) / true - 1) > 0.3


def test_each_side_is_sized_to_a_measurable_sample():
    comparison = compare_alternately(
        DriftingMachine(drift=1.0), rounds=3, first_loops=5, sample_s=0.4
    )
    assert comparison.original.loops == pytest.approx(0.4 / 0.01, rel=0.2)
    assert comparison.candidate.loops > comparison.original.loops


def test_a_benchmark_lost_in_start_up_noise_is_refused():
    def noise_only(which: str, loops: int) -> float:
        return 0.3 if loops else 0.31

    with pytest.raises(TimingError, match="too short to time against process start-up, even"):
        compare_alternately(noise_only, rounds=4, first_loops=1)
