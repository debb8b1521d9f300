"""Repair a buggy function from its unit tests (run in a subprocess with a timeout).

Uses the embedded local model unless $TRACE_ENGINE_LLM names another backend.
Run: python examples/code_repair.py
"""

from optimizers import OptoPrime
from trace_engine.llm import check_llm, get_llm
from workflows.code_repair import CodeRepair, RepairTask
from workflows.trainer import Trainer

task = RepairTask(
    name="median",
    entry_point="median",
    code=(
        "def median(values):\n"
        '    """The median of a non-empty list of numbers."""\n'
        "    values = sorted(values)\n"
        "    return values[len(values) // 2]\n"
    ),
    tests=(
        "def check(candidate):\n"
        "    assert candidate([3, 1, 2]) == 2\n"
        "    assert candidate([4, 1, 3, 2]) == 2.5\n"
        "    assert candidate([5]) == 5\n"
    ),
)

repair = CodeRepair([task], timeout=5)
print("before:", repair.test("median").summary())
llm = get_llm()
check_llm(llm)  # one clear line if the model is not usable, before any work
optimizer = OptoPrime(repair.parameters(), llm)
Trainer(
    repair,
    optimizer,
    [task],
    val=[task],
    evaluate=repair.evaluate,
    epochs=3,
    stop_at_score=1.0,
).fit()
print("after:", repair.test("median").summary())
print(repair.code["median"].data)
