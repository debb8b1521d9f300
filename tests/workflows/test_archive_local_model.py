"""ArchiveSearch end to end: two HumanEval functions from stubs with the embedded model.

Candidates run only through the sandbox runner, via ``workflows.code_repair``;
a candidate's cell is its test status and how many checks it passes.
"""

import pytest

from optimizers import OptoPrime
from optimizers.archive import ArchiveSearch, Outcome
from trace_engine.llm import Budget
from workflows.code_repair import CodeRepair, humaneval_tasks

pytestmark = pytest.mark.local_model


def repair_evaluation(repair: CodeRepair, name: str):
    """``evaluate(assignment)`` for one task: the archive has set the code already."""
    task = repair.tasks[name]

    def evaluate(assignment):
        found = repair.evaluate(task)
        descriptor = [found.details["status"], found.details["passed"]]
        return Outcome(found.score, found.feedback, descriptor, found.output)

    return evaluate


@pytest.mark.parametrize("task_id", ["HumanEval/2", "HumanEval/4"])
def test_archive_search_solves_a_humaneval_function_from_its_stub(task_id):
    from trace_engine.llm import get_llm

    [task] = humaneval_tasks([task_id])
    repair = CodeRepair([task], timeout=10.0)
    param = repair.parameter(task.name)
    llm = get_llm(cache=False)
    optimizer = OptoPrime([param], llm, budget=Budget(max_calls=4), max_tokens=300)
    archive = ArchiveSearch(optimizer, repair_evaluation(repair, task.name), stop_at=1.0)
    status = archive.run(3)
    best = archive.best
    assert status == "solved", archive.state_dict()["cells"]
    assert best.score == 1.0 and param.data == best.values[param.name]
    assert repair.test(task.name).solved  # checked again in the sandbox
    start = next(c for c in archive.candidates.values() if c.origin == "start")
    assert start.score < 1.0 and best.origin in ("expand", "merge", "crossover")
