import math

import pytest

from agents.router import (
    Backend,
    CascadePolicy,
    CostModel,
    CostOfPassPolicy,
    FixedPolicy,
    LLMJudge,
    Outcome,
    RoutedLLM,
    SuccessPredictor,
    ThresholdPolicy,
    collect_outcomes,
    cost_of_pass,
    cost_of_pass_from,
    evaluate_backends,
    evaluate_policy,
    format_results,
    matches,
    plot_cost_quality,
)
from trace_engine.llm.base import LLM, Completion, Usage


def _answer(prompt: str) -> str:
    return prompt.rsplit("#", 1)[-1].strip()


def cheap(messages):
    prompt = messages[-1]["content"]
    return _answer(prompt) if prompt.startswith("easy") else "dunno"


def strong(messages):
    return "Thinking it through.\n" + _answer(messages[-1]["content"])


def grader(text, target):
    return text.strip().splitlines()[-1].strip() == target


def _tasks(n=20):
    tasks = []
    for i in range(n):
        kind = "easy short" if i % 2 == 0 else "hard long multi step puzzle with many words"
        tasks.append((f"{kind} q{i} # {i}", str(i)))
    return tasks


def _backends():
    return [Backend("cheap", cheap), Backend("strong", strong)]


def _predictor(**options):
    table = collect_outcomes(_backends(), _tasks(), grader=grader)
    return SuccessPredictor(**options).fit([o for row in table for o in row.values()]), table


def test_cost_of_pass_arithmetic():
    assert cost_of_pass(10.0, 0.5) == 20.0
    assert cost_of_pass(3.0, 1.0) == 3.0
    assert math.isinf(cost_of_pass(1.0, 0.0))
    assert cost_of_pass_from([1, 2, 3, 2], [True, False, True, False]) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        cost_of_pass(1.0, 1.5)
    model = CostModel({"cot": (1.0, 4.0)})
    done = Completion(["x"], usage=Usage(100, 10), cost=0.5)
    assert model.of("cot", done) == 140.0
    assert model.of("other", done) == 110.0
    assert CostModel(unit="usd").of("other", done) == 0.5


def test_router_needs_two_backends_and_known_names():
    with pytest.raises(ValueError, match="at least two backends"):
        RoutedLLM([Backend("cheap", cheap)], FixedPolicy("cheap"))
    with pytest.raises(ValueError, match="unknown backend"):
        RoutedLLM(_backends(), FixedPolicy("gpt"))
    with pytest.raises(ValueError, match="distinct"):
        RoutedLLM([Backend("a", cheap), Backend("a", strong)], FixedPolicy("a"))


def test_routed_llm_is_an_llm_and_fixed_policy_routes():
    router = RoutedLLM(_backends(), FixedPolicy("strong"))
    assert isinstance(router, LLM)
    reply = router.complete("hard q1 # 1")
    assert reply.text.endswith("1") and reply.model == "strong" and reply.backend == "router"
    assert router.log[-1].chosen == "strong" and router.log[-1].cost > 0


def test_threshold_policy_sends_hard_requests_to_strong_backend():
    predictor, _ = _predictor()
    policy = ThresholdPolicy(predictor, "cheap", "strong", threshold=0.5)
    router = RoutedLLM(_backends(), policy)
    assert router.complete("easy short q99 # 99").model == "cheap"
    assert router.complete("hard long multi step puzzle with many words q98 # 98").model == "strong"


def test_calibration_hits_target_share():
    predictor, _ = _predictor()
    policy = ThresholdPolicy(predictor, "cheap", "strong")
    requests = [f"{'easy short ' * (i % 5)}hard q{i} {'x' * i} # {i}" for i in range(40)]
    probs = [p["cheap"] for p in predictor.predict(requests)]
    assert len(set(probs)) == len(probs)
    for share in (0.0, 0.1, 0.25, 0.5, 0.9, 1.0):
        policy.calibrate(requests, share)
        routed = [policy.route(r).order[0] for r in requests]
        assert routed.count("strong") == round(share * len(requests))


def test_cascade_escalates_on_failed_check():
    policy = CascadePolicy(["cheap", "strong"], matches(r"^\d+$"))
    router = RoutedLLM(_backends(), policy)
    easy = router.complete("easy short q2 # 2")
    assert easy.model == "cheap" and not router.log[-1].escalated
    hard = router.complete("hard puzzle q3 # 3")
    assert hard.model == "strong" and router.log[-1].tried == ["cheap", "strong"]
    assert hard.usage.total_tokens > easy.usage.total_tokens


def test_cascade_skips_a_failing_backend_and_records_it():
    def broken(messages):
        raise RuntimeError("backend down")

    router = RoutedLLM(
        [Backend("cheap", broken), Backend("strong", strong)],
        CascadePolicy(["cheap", "strong"], matches(".")),
    )
    assert router.complete("easy q1 # 1").model == "strong"
    assert "backend down" in router.log[-1].errors[0]


def test_llm_judge_verdicts():
    judge = LLMJudge(
        lambda m: (
            '{"acceptable": true}' if "Answer:\n4" in m[-1]["content"] else '{"acceptable": false}'
        )
    )
    assert judge("2+2?", "4") and not judge("2+2?", "5")
    assert not LLMJudge(lambda m: "hmm")("2+2?", "4")


class _Fixed:
    """A predictor stand-in with the same prediction for every request."""

    def __init__(self, p, mean_cost=None):
        self.p = dict(p)
        self.mean_cost = dict(mean_cost or {name: 1.0 for name in p})

    def predict_one(self, text):
        return dict(self.p)


def test_cost_of_pass_policy_and_quality_floor():
    predictor, table = _predictor()
    policy = CostOfPassPolicy(predictor)
    assert policy.route("easy short q50 # 50").order == ["cheap"]
    assert policy.route("hard long multi step puzzle with many words q51 # 51").order == ["strong"]
    fixed = _Fixed({"cheap": 0.9, "strong": 0.995})
    strict = CostOfPassPolicy(fixed, quality_floor=0.99, costs={"cheap": 1, "strong": 2})
    assert CostOfPassPolicy(fixed, costs={"cheap": 1, "strong": 2}).route("x").order == ["cheap"]
    assert strict.route("x").order == ["strong"]
    impossible = CostOfPassPolicy(
        SuccessPredictor().fit([Outcome("a", "cheap", False, 1), Outcome("a", "strong", False, 2)]),
        quality_floor=0.5,
    )
    assert "fallback" in impossible.route("a").note


def test_report_metrics_and_plot(tmp_path):
    predictor, table = _predictor()
    per_backend = evaluate_backends(table)
    by = {r.name: r for r in per_backend}
    assert by["cheap"].success_rate == 0.5 and by["strong"].success_rate == 1.0
    routed = evaluate_policy("cost-of-pass", CostOfPassPolicy(predictor), table)
    assert routed.success_rate == 1.0
    assert routed.cost_of_pass < min(r.cost_of_pass for r in per_backend)
    assert routed.shares == {"cheap": 0.5, "strong": 0.5}
    text = format_results([*per_backend, routed])
    assert "cost-of-pass" in text
    plot_cost_quality([*per_backend, routed], tmp_path / "router.png", curve=per_backend)
    assert (tmp_path / "router.png").stat().st_size > 1000


def test_best_of_n_backend_votes():
    answers = iter(["7", "8", "7"])
    voter = Backend("vote", lambda m: next(answers), samples=3)
    assert voter.complete("q").text == "7"
