"""Route requests between two ways of asking one model, for the whole run's objective.

A direct answer is cheap; working it out step by step costs more tokens but
solves harder questions. Both answer a training set once, a calibrated success
predictor learns from those logs, and three policies are tuned on them: minimum
cost-of-pass of the run (total cost / total successes), most successes within a
cost budget, and least cost above a success floor. Each is then replayed on
held-out questions beside the single backends.

Uses the embedded local model unless $TRACE_ENGINE_LLM names another backend.
Run: python examples/router_objectives.py
"""

import random
import re

from agents.router import (
    Backend,
    RoutedLLM,
    SuccessPredictor,
    collect_outcomes,
    evaluate_backends,
    evaluate_policy,
    fit_max_success,
    fit_min_cost,
    fit_min_cost_of_pass,
    format_results,
)
from trace_engine.llm import get_llm


def question(rng: random.Random, hard: bool) -> tuple[str, str]:
    """One-step sums (easy) and three-step totals (hard), with their answers."""
    if not hard:
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        return f"What is {a} + {b}?", str(a + b)
    boxes, per, sold = rng.randint(3, 9), rng.randint(3, 9), rng.randint(1, 9)
    text = f"A shop has {boxes} boxes of {per} pens and sells {sold} pens. How many are left?"
    return text, str(boxes * per - sold)


def last_number(text: str, target: str) -> bool:
    found = re.findall(r"-?\d+", text)
    return bool(found) and found[-1] == target


rng = random.Random(0)
train = [question(rng, hard=i % 2 == 1) for i in range(16)]
test = [question(rng, hard=i % 2 == 1) for i in range(16)]
llm = get_llm()
backends = [
    Backend("direct", llm, system="Reply with the number only.", options={"max_tokens": 8}),
    Backend(
        "steps",
        llm,
        system="Work it out in short steps, then end with 'Answer: <number>'.",
        options={"max_tokens": 96},
    ),
]
train_logs = collect_outcomes(backends, train, grader=last_number, workers=1)
test_logs = collect_outcomes(backends, test, grader=last_number, workers=1)
predictor = SuccessPredictor().fit([o for row in train_logs for o in row.values()])
for name, report in predictor.train_calibration.items():
    print(f"calibration of P(success) for {name} (held-out folds of train): {report}")

middle = sum(predictor.mean_cost.values()) / 2
policies = {
    "run cost-of-pass": fit_min_cost_of_pass(predictor, train_logs),
    "success in budget": fit_max_success(predictor, train_logs, budget=middle),
    "cost above floor": fit_min_cost(predictor, train_logs, floor=0.9),
}
results = evaluate_backends(test_logs)
for name, policy in policies.items():
    print(f"{name}: {policy.describe()}")
    results.append(evaluate_policy(name, policy, test_logs))
print(format_results(results))

router = RoutedLLM(backends, policies["run cost-of-pass"])
reply = router.complete("A shop has 4 boxes of 6 pens and sells 5 pens. How many are left?")
print(f"routed to {router.log[-1].chosen}: {reply.text.strip().splitlines()[-1]}")
