"""Code repair: stubs from HumanEval, sandboxed tests, feedback, and a scripted optimization."""

from __future__ import annotations

import pytest

from tests.workflows.fakes import ScriptedOptimizer
from workflows.code_repair import (
    CodeRepair,
    RepairTask,
    humaneval_task,
    humaneval_tasks,
    load_repair_tasks,
)
from workflows.datasets import DatasetError, load_humaneval
from workflows.trainer import Trainer
from workflows.unit_checks import run_tests

ADD_TESTS = (
    "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(0, 0) == 0\n"
)


SUB_TESTS = "def check(candidate):\n    assert candidate(3, 1) == 2\n"


def add_task(code="def add(a, b):\n    return a - b\n"):
    return RepairTask("add", "add", code, ADD_TESTS)


def test_a_stub_keeps_signature_docstring_and_setup():
    task = humaneval_task(load_humaneval([10])[0])
    assert "def is_palindrome" in task.setup
    assert task.code.startswith("def make_palindrome(string: str) -> str:")
    assert task.code.rstrip().endswith("pass")
    repair = CodeRepair([task])
    assert repair.function("HumanEval/10")("ab").data is None


def test_reference_solutions_pass_their_official_tests():
    for problem in load_humaneval([0, 10, 32, 38]):
        task = humaneval_task(problem, start="reference")
        report = run_tests(task.code, task.tests, task.entry_point, setup=task.setup)
        assert report.solved, (problem.task_id, report.summary())


def test_feedback_says_what_was_returned_and_expected():
    repair = CodeRepair([add_task()])
    evaluation = repair.evaluate(repair.tasks["add"])
    assert evaluation.score == 0.5
    assert "1 of 2 checks passed" in evaluation.feedback
    assert "got -1, expected 3" in evaluation.feedback
    assert evaluation.output.parents[0] is repair.code["add"]


def test_the_feedback_on_a_stub_asks_for_a_body_from_the_docstring():
    repair = CodeRepair([add_task('def add(a, b):\n    """Adds a and b."""\n    pass\n')])
    feedback = repair.evaluate(repair.tasks["add"]).feedback
    assert "`add` has no implementation yet" in feedback and "its docstring" in feedback
    assert "0 of 2 checks passed" in feedback and "got None, expected 3" in feedback


def test_errors_report_the_failing_line():
    repair = CodeRepair([add_task("def add(a, b):\n    x = 1\n    return a / 0\n")])
    feedback = repair.evaluate(repair.tasks["add"]).feedback
    assert "ZeroDivisionError" in feedback and "line 3: return a / 0" in feedback


def test_a_candidate_that_loops_forever_is_killed_and_reported():
    repair = CodeRepair([add_task("def add(a, b):\n    while True:\n        pass\n")], timeout=1.5)
    evaluation = repair.evaluate(repair.tasks["add"])
    assert evaluation.score == 0.0
    assert "timed out after 1.5s" in evaluation.feedback
    assert "assert candidate(1, 2) == 3" in evaluation.feedback


def test_a_candidate_that_exits_the_process_is_reported():
    repair = CodeRepair([add_task("def add(a, b):\n    import os\n    os._exit(4)\n")])
    feedback = repair.evaluate(repair.tasks["add"]).feedback
    assert "the process running `add` exited (status 4)" in feedback


def test_scripted_optimizer_repairs_the_function(tmp_path):
    repair = CodeRepair([add_task()])
    fixed = "def add(a, b):\n    return a + b\n"
    optimizer = ScriptedOptimizer(repair.parameters(), lambda messages: fixed)
    result = Trainer(
        repair,
        optimizer,
        list(repair.tasks.values()),
        val=list(repair.tasks.values()),
        evaluate=repair.evaluate,
        max_steps=3,
        epochs=3,
        stop_at_score=1.0,
        checkpoint_dir=tmp_path,
        workflow="code_repair",
        progress=False,
    ).fit()
    assert result.status == "target_reached" and result.steps == 1
    assert repair.function("add")(2, 5).data == 7
    assert repair.test("add").solved


def test_several_tasks_are_optimized_one_per_step():
    tasks = humaneval_tasks([23, 53])
    repair = CodeRepair(tasks)
    answers = {
        "strlen": "def strlen(string: str) -> int:\n    return len(string)\n",
        "add": "def add(x: int, y: int):\n    return x + y\n",
    }

    def llm(messages):
        text = messages[-1]["content"]
        return next(code for name, code in answers.items() if f"__code_{name}" in text)

    optimizer = ScriptedOptimizer(repair.parameters(), llm)
    result = Trainer(
        repair,
        optimizer,
        tasks,
        val=tasks,
        evaluate=repair.evaluate,
        batch_size=1,
        epochs=2,
        shuffle=False,
        stop_at_score=1.0,
        progress=False,
        parallel=2,
    ).fit()
    assert result.best_score == 1.0 and result.steps == 2
    assert [r["calls"] for r in result.history[1:]] == [1, 1]


def test_repair_tasks_from_jsonl(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text(
        '{"name": "adder", "entry_point": "add", "code": "def add(a, b):\\n    return a - b\\n", '
        '"tests": "def check(candidate):\\n    assert candidate(1, 2) == 3\\n"}\n'
    )
    (task,) = load_repair_tasks(path)
    assert (task.name, task.entry_point) == ("adder", "add")
    path.write_text('{"entry_point": "add", "code": "def add(:", "tests": "def check(c): pass"}\n')
    with pytest.raises(DatasetError, match=r"tasks.jsonl:1: 'code' does not parse"):
        load_repair_tasks(path)
    path.write_text('{"code": "def f(): pass", "tests": "def check(c): pass"}\n')
    with pytest.raises(DatasetError, match="missing 'entry_point'"):
        load_repair_tasks(path)


def test_score_tests_candidate_code_once_per_function_and_code(monkeypatch):
    import workflows.code_repair as code_repair

    repair = CodeRepair(
        [add_task(), RepairTask("sub", "sub", "def sub(a, b):\n    return a - b\n", SUB_TESTS)]
    )
    runs = []
    real = code_repair.run_tests
    monkeypatch.setattr(
        code_repair, "run_tests", lambda code, *a, **k: runs.append(code) or real(code, *a, **k)
    )
    fixed = {repair.code["add"].name: "def add(a, b):\n    return a + b\n"}
    assert repair.score({}) == (0.5 + 1.0) / 2
    assert repair.score(fixed) == 1.0
    assert repair.score(fixed) == 1.0 and len(runs) == 3
    assert repair.code["add"].data == "def add(a, b):\n    return a - b\n"


def test_evaluate_test_and_score_of_one_code_share_one_run_and_new_code_is_tested(monkeypatch):
    import workflows.code_repair as code_repair

    repair = CodeRepair([add_task()])
    task = repair.tasks["add"]
    runs = []
    real = code_repair.run_tests
    monkeypatch.setattr(
        code_repair, "run_tests", lambda code, *a, **k: runs.append(code) or real(code, *a, **k)
    )
    evaluation = repair.evaluate(task)
    assert evaluation.score == 0.5 and "got -1, expected 3" in evaluation.feedback
    report = repair.test("add")
    assert report.status == "failed" and (report.passed, report.total) == (1, 2)
    assert "got -1, expected 3" in report.summary()
    assert repair.score({}) == 0.5 and repair.evaluate(task).score == 0.5
    assert len(runs) == 1
    repair.code["add"].set("def add(a, b):\n    return a + b\n")
    assert repair.evaluate(task).score == 1.0 and repair.test("add").solved
    assert len(runs) == 2
    repair.code["add"].set("def add(a, b):\n    return b - a\n")
    assert repair.test("add").summary() == "1 of 2 checks passed\nfailed: assert candidate(1, 2) == 3 -- got 1, expected 3"
    assert len(runs) == 3


def test_parallel_scores_of_one_code_run_its_tests_once_and_timeouts_are_not_kept(monkeypatch):
    import threading
    import time

    import workflows.code_repair as code_repair
    from workflows.unit_checks import TestReport

    repair = CodeRepair([add_task()])
    runs = []

    def slow_tests(code, *args, **kwargs):
        runs.append(code)
        time.sleep(0.05)
        status = "timeout" if "while True" in code else "passed"
        return TestReport(status=status, passed=int(status == "passed"), total=1)

    monkeypatch.setattr(code_repair, "run_tests", slow_tests)
    fixed = {repair.code["add"].name: "def add(a, b):\n    return a + b\n"}
    threads = [threading.Thread(target=repair.score, args=(fixed,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert runs.count(fixed[repair.code["add"].name]) == 1
    looping = {repair.code["add"].name: "def add(a, b):\n    while True:\n        pass\n"}
    assert repair.score(looping) == 0.0 and repair.score(looping) == 0.0
    assert runs.count(looping[repair.code["add"].name]) == 2
