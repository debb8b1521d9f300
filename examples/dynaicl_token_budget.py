"""DynaICL on a tiny task: demonstrations only where they help, budgets in the model's tokens.

Half the inputs are sums the model answers zero-shot; the other half use a
made-up operator, ``a # b`` (the digits of a, then of b), that only
demonstrations explain. Labels from a training split train the calibrated
accuracy controller; on held-out inputs DynaICL then matches the accuracy
predicted for the uniform number of demonstrations that did best on training,
at fewer prompt tokens. Token costs are counted with the model's own tokenizer
when it has one (the embedded model does), so the estimate is what it bills.

Uses the embedded local model unless $TRACE_ENGINE_LLM names another backend.
Run: python examples/dynaicl_token_budget.py
"""

import random
import tempfile
from pathlib import Path

from agents.dynaicl import (
    DemoSelector,
    DynaICL,
    Example,
    generate_labels,
    load_controller,
    run_plan,
    train_controller,
)
from trace_engine.llm import get_llm

INSTRUCTION = "Answer with the result only."
GRID = (0, 2)


def example(rng: random.Random, needs_demos: bool) -> Example:
    a, b = rng.randint(11, 99), rng.randint(11, 99)
    if needs_demos:
        return Example(f"{a} # {b}", f"{a}{b}")
    return Example(f"{a} + {b}", str(a + b))


rng = random.Random(1)
pool = [example(rng, i % 2 == 1) for i in range(8)]
train = [example(rng, i % 2 == 1) for i in range(24)]
test = [example(rng, i % 2 == 1) for i in range(12)]
llm = get_llm()
selector = DemoSelector(pool, "similar")


def label(examples: list[Example]):
    """The model's answers to ``examples`` with each k of the grid (similar demos)."""
    return generate_labels(
        llm,
        INSTRUCTION,
        examples,
        pool,
        task_id="sum-or-join",
        grid=GRID,
        selector=selector,
        max_tokens=6,
        workers=1,
        progress=False,
    )


labels = label(train)
controller = train_controller(labels)
print(f"controller calibration (held-out folds of train): {controller.train_calibration}")
accuracy = labels.mean_accuracy()
best_k = max(GRID, key=lambda k: (accuracy[k], -k))
print(f"train accuracy per k: {accuracy}; best uniform k: {best_k}")

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "controller.json"
    controller.save(path)  # plain JSON: loading it runs no code
    controller = load_controller(path, task_id="sum-or-join", grid=GRID)

dynaicl = DynaICL(INSTRUCTION, controller, selector, cost="tokens", llm=llm)
print(f"token counts from the model's own tokenizer: {dynaicl.exact_tokens}")
xs, targets = [e.input for e in test], [e.target for e in test]
test_labels = label(test)  # labels of held-out inputs, to check the calibration
print(f"controller calibration on the test inputs: {controller.calibration_on(test_labels)}")
for name, plan in (
    (f"uniform k={best_k}", dynaicl.uniform(xs, best_k)),
    ("DynaICL", dynaicl.plan(xs, match_uniform=best_k)),
):
    acc, tokens, _ = run_plan(llm, plan, targets, max_tokens=6, workers=1)
    print(
        f"{name}: accuracy {acc:.2f} (expected {plan.allocation.expected_accuracy:.2f} "
        f"± {plan.allocation.spread:.2f}), prompt tokens {tokens} real, "
        f"{plan.allocation.total_cost:.0f} estimated, demos per input {plan.allocation.ks}"
    )
