"""What a unit-check report says about where a check failed."""

from workflows.unit_checks import run_tests

CODE = "def half(n):\n    if n == 6:\n        return 1 / 0\n    return n // 2\n"


def test_a_check_failing_inside_a_loop_names_the_line_in_the_loop():
    tests = (
        "def check(candidate):\n"
        "    assert candidate(2) == 1\n"
        "    for n in (4, 8):\n"
        "        assert candidate(n) == n // 2 + 1\n"
    )
    report = run_tests(CODE, tests, "half", timeout=60)
    assert report.status == "failed" and report.passed == 1
    [failure] = report.failures
    assert failure["check"] == "assert candidate(n) == n // 2 + 1 (inside `for n in (4, 8): ...`)"


def test_an_error_in_the_candidate_names_its_line():
    tests = "def check(candidate):\n    assert candidate(6) == 3\n"
    report = run_tests(CODE, tests, "half", timeout=60)
    [failure] = report.failures
    assert failure["kind"] == "error"
    assert (
        "ZeroDivisionError" in failure["message"] and "line 3: return 1 / 0" in failure["message"]
    )
