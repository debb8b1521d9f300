"""Run-level routing objectives, tuned on scripted backends' logged outcomes."""

import hashlib
import math

import pytest

from agents.router import (
    Backend,
    CostModel,
    CostOfPassPolicy,
    SuccessPredictor,
    TradeoffPolicy,
    collect_outcomes,
    evaluate_backends,
    evaluate_policy,
    fit_max_success,
    fit_min_cost,
    fit_min_cost_of_pass,
)
from agents.router.objectives import choose


def _answer(prompt: str) -> str:
    return prompt.rsplit("#", 1)[-1].strip()


def cheap(messages):
    prompt = messages[-1]["content"]
    return _answer(prompt) if prompt.startswith("easy") else "dunno"


def strong(messages):
    prompt = messages[-1]["content"]
    if prompt.startswith("lost"):
        # a long shot: right about one time in five
        digest = hashlib.sha256(prompt.encode()).digest()[0]
        return _answer(prompt) if digest % 5 == 0 else "dunno"
    return _answer(prompt)


def grader(text, target):
    return text.strip() == target


KINDS = (
    "easy short sum",
    "hard multi step puzzle with several clauses",
    "lost cause riddle nobody solves reliably",
)


def _tasks(n, start=0, kinds=KINDS):
    return [(f"{kinds[i % len(kinds)]} q{i} # {i}", str(i)) for i in range(start, start + n)]


PRICES = CostModel({"cheap": (1.0, 1.0), "strong": (2.0, 2.0)})


def _tables(kinds=KINDS, backends=None):
    backends = backends or [Backend("cheap", cheap), Backend("strong", strong)]
    train = collect_outcomes(backends, _tasks(90, 0, kinds), grader=grader, cost_model=PRICES)
    test = collect_outcomes(backends, _tasks(90, 1000, kinds), grader=grader, cost_model=PRICES)
    predictor = SuccessPredictor().fit([o for row in train for o in row.values()])
    return predictor, train, test


def test_min_run_cost_of_pass_beats_every_single_backend_and_per_request_policy():
    predictor, train, test = _tables()
    policy = fit_min_cost_of_pass(predictor, train)
    assert policy.fixed is None and "total cost / total successes" in policy.objective
    routed = evaluate_policy("run", policy, test)
    singles = evaluate_backends(test)
    assert routed.cost_of_pass < min(r.cost_of_pass for r in singles)
    assert 0 < routed.shares["strong"] < 1
    # the long shots are not worth the strong backend's price for the run
    assert policy.route("lost cause riddle nobody solves reliably q5000 # 5000").order == ["cheap"]
    assert policy.route("hard multi step puzzle with several clauses q5001 # 5001").order == [
        "strong"
    ]
    per_request = evaluate_policy("per request", CostOfPassPolicy(predictor), test)
    assert routed.cost_of_pass < per_request.cost_of_pass


def test_no_gain_on_train_routes_everything_to_the_best_single_backend():
    # the strong backend solves everything the cheap one does: routing can only add cost
    predictor, train, test = _tables(kinds=("easy short sum", "easy short sum too"))
    policy = fit_min_cost_of_pass(predictor, train)
    assert policy.fixed == "cheap" and "no routing gain on train" in policy.note
    assert evaluate_policy("run", policy, test).shares == {"cheap": 1.0}
    assert policy.describe().endswith("every request to cheap)")


def test_hopeless_requests_go_to_the_cheapest_backend():
    costs = {"strong": 10.0, "cheap": 1.0}
    assert choose({"cheap": 0.01, "strong": 0.04}, costs, lam=1000.0, hopeless=0.05) == "cheap"
    assert choose({"cheap": 0.01, "strong": 0.5}, costs, lam=1000.0, hopeless=0.05) == "strong"
    assert choose({"cheap": 0.01, "strong": 0.5}, costs, lam=1.0, hopeless=0.05) == "cheap"

    class Doomed:
        mean_cost = costs

        def predict_one(self, text):
            return {"cheap": 0.01, "strong": 0.04}

    per_request = CostOfPassPolicy(Doomed())
    assert per_request.route("x").order == ["cheap"]
    assert TradeoffPolicy(Doomed(), costs, 1e6, objective="test").route("x").order == ["cheap"]


def test_budget_and_success_floor_objectives():
    predictor, train, test = _tables()
    cheap_cost, strong_cost = predictor.mean_cost["cheap"], predictor.mean_cost["strong"]
    budget = (cheap_cost + strong_cost) / 2
    policy = fit_max_success(predictor, train, budget)
    assert policy.fixed is None and policy.train.mean_cost <= budget
    assert "<= " in policy.objective
    by = {r.name: r for r in evaluate_backends(train)}
    assert policy.train.success_rate > by["cheap"].success_rate
    with pytest.raises(ValueError, match="below what even the cheapest backend"):
        fit_max_success(predictor, train, cheap_cost / 2)
    roomy = fit_max_success(predictor, train, strong_cost * 2)
    assert roomy.train.success_rate >= by["strong"].success_rate

    floor = fit_min_cost(predictor, train, 0.6)
    assert floor.met and floor.train.success_rate >= 0.6
    assert floor.train.mean_cost < by["strong"].mean_cost
    unreachable = fit_min_cost(predictor, train, 0.99)
    assert not unreachable.met and "out of reach" in unreachable.note
    with pytest.raises(ValueError, match="floor"):
        fit_min_cost(predictor, train, 1.5)


def test_predictor_is_calibrated_on_held_out_folds_and_keeps_them():
    predictor, train, test = _tables()
    requests = [next(iter(row.values())).request for row in train]
    held = predictor.held_out(requests)
    assert set(held[0]) == {"cheap", "strong"}
    report = predictor.train_calibration["cheap"]
    assert report.mean_predicted == pytest.approx(report.mean_observed, abs=0.05)
    test_report = predictor.calibration_on([o for row in test for o in row.values()])
    assert test_report["cheap"].ece < 0.2 and not math.isnan(test_report["strong"].brier)
    with pytest.raises(KeyError, match="no logged outcome"):
        predictor.held_out(["never seen"])


def test_backend_rewrite_changes_what_is_sent():
    seen = []

    def model(messages):
        seen.append(messages[-1]["content"])
        return "ok"

    backend = Backend("shots", model, rewrite=lambda text: f"Example: 1\n\n{text}")
    backend.complete([{"role": "system", "content": "s"}, {"role": "user", "content": "q"}])
    assert seen == ["Example: 1\n\nq"]


class _Logged:
    """A predictor stand-in: held-out predictions read from a table of request -> p."""

    def __init__(self, p, mean_cost):
        self.p, self.mean_cost = p, mean_cost

    def held_out(self, texts):
        return [dict(self.p[t]) for t in texts]

    def predict_one(self, text):
        return dict(self.p[text])


def _logged(helped: int, n: int = 20):
    """Cheap solves half the requests; strong (1.5x the cost) also solves ``helped`` more."""
    from agents.router import Outcome

    table, p = [], {}
    for i in range(n):
        request = f"r{i}"
        cheap_ok, strong_ok = i < n // 2, i < n // 2 + helped
        table.append(
            {
                "cheap": Outcome(request, "cheap", cheap_ok, 1.0),
                "strong": Outcome(request, "strong", strong_ok, 1.5),
            }
        )
        p[request] = {"cheap": 0.9 if cheap_ok else 0.1, "strong": 0.9 if strong_ok else 0.1}
    return _Logged(p, {"cheap": 1.0, "strong": 1.5}), table


def test_a_gain_of_one_success_on_train_is_not_trusted():
    predictor, table = _logged(helped=1)
    policy = fit_min_cost_of_pass(predictor, table)
    assert policy.fixed == "cheap" and "not reliable" in policy.note
    predictor, table = _logged(helped=6)
    assert fit_min_cost_of_pass(predictor, table).fixed is None
