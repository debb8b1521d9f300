"""Candidates judged against a measured baseline: tests, differential check, timeout, signature."""

from __future__ import annotations

import time

import pytest

from tests.workflows.code_session.project import (
    FAST,
    LOOPS_FOREVER,
    NEW_SIGNATURE,
    SUBTLY_WRONG,
    WRONG,
)

SIGNATURE = "def find_duplicates(items)"


def test_baseline_records_inputs_from_tests_and_benchmark(measured):
    _, baseline, _ = measured
    assert baseline.tests["passed"] == 3 and baseline.tests["ok"]
    # three test calls (one raising) plus the benchmark's input
    assert baseline.records["kept"] == 4
    assert baseline.timing.median > 0 and baseline.timing.samples == 3
    assert baseline.profile[0]["function"] == "find_duplicates"
    assert any("items[:i]" in row["text"] for row in baseline.line_profile)
    assert baseline.warnings == []


def test_faster_candidate_passes_with_a_measured_speedup(measured):
    evaluator, baseline, text = measured
    verdict = evaluator.evaluate(text, FAST, baseline, SIGNATURE)
    assert verdict.passed, verdict.reason
    assert verdict.tests["passed"] == 3 and verdict.diff["compared"] == 4
    assert verdict.speedup.value > 1


def test_wrong_candidate_is_caught_by_the_tests(measured):
    evaluator, baseline, text = measured
    verdict = evaluator.evaluate(text, WRONG, baseline, SIGNATURE)
    assert verdict.failed_at == "tests"
    assert "test_repeats_in_order_of_first_repeat" in verdict.reason
    assert verdict.timing is None


def test_subtly_wrong_candidate_is_caught_only_by_the_differential_check(measured):
    evaluator, baseline, text = measured
    verdict = evaluator.evaluate(text, SUBTLY_WRONG, baseline, SIGNATURE)
    assert verdict.tests["ok"], "the tests alone should not notice"
    assert verdict.failed_at == "differential check"
    assert "the results differ at result[0]: the original has" in verdict.reason


def test_candidate_raising_where_the_original_returned_is_a_difference(measured):
    evaluator, baseline, text = measured
    raising = FAST.replace(
        "    seen = set()",
        "    if len(items) > 100:\n        raise ValueError('too long')\n    seen = set()",
    )
    verdict = evaluator.evaluate(text, raising, baseline, SIGNATURE)
    assert verdict.failed_at == "differential check"
    assert "but this version raised ValueError: too long" in verdict.reason


def test_infinite_loop_is_killed_by_the_timeout(measured):
    evaluator, baseline, text = measured
    started = time.perf_counter()
    verdict = evaluator.evaluate(text, LOOPS_FOREVER, baseline, SIGNATURE)
    assert verdict.failed_at == "tests"
    assert "timed out" in verdict.reason
    assert time.perf_counter() - started < 15


def test_changed_signature_is_refused_before_running(measured):
    evaluator, baseline, text = measured
    verdict = evaluator.evaluate(text, NEW_SIGNATURE, baseline, SIGNATURE)
    assert verdict.failed_at == "validation"
    assert "changes the signature" in verdict.reason and "key=..." in verdict.reason


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("def find_duplicates(items)\n    return []\n", "does not parse"),
        ("def other(items):\n    return []\n", "must define a function named"),
    ],
)
def test_invalid_code_is_refused(measured, source, words):
    evaluator, baseline, text = measured
    verdict = evaluator.evaluate(text, source, baseline, SIGNATURE)
    assert verdict.failed_at == "validation" and words in verdict.reason


def test_memory_hog_fails_under_the_memory_limit(measured):
    evaluator, baseline, text = measured
    hog = "def find_duplicates(items):\n    block = bytearray(8 * 1024 ** 3)\n    return []\n"
    verdict = evaluator.evaluate(text, hog, baseline, SIGNATURE)
    assert not verdict.passed
    assert "MemoryError" in verdict.reason or "memory" in verdict.reason
