"""DynaICL budgets in the backend's own tokens, calibrated accuracy, and matching uniform k."""

import numpy as np
import pytest

from agents.dynaicl import (
    AccuracyController,
    DemoSelector,
    DynaICL,
    generate_labels,
    run_plan,
    train_controller,
)
from tests.agents.toy_task import toy_example, toy_hurt_example, toy_llm, toy_pool
from trace_engine.llm.base import LLM, Completion, Usage, normalize_messages
from trace_engine.llm.metered import estimate_prompt_tokens
from trace_engine.llm.wrapper import LLMWrapper, token_counter

GRID = (0, 1, 2, 4)


class TokenizingToy(LLM):
    """The toy model behind a chat template: every message costs a header, the
    call a default system prompt, and each word one token."""

    backend = "toy"
    model = "toy-tokenizer"

    def count_tokens(self, messages) -> int:
        msgs = normalize_messages(messages)
        return 19 + sum(5 + len(m["content"].split()) for m in msgs)

    def complete(self, messages, **options) -> Completion:
        msgs = normalize_messages(messages)
        return Completion(
            texts=[toy_llm(msgs)],
            usage=Usage(self.count_tokens(msgs), 1),
            backend=self.backend,
            model=self.model,
        )


class Passthrough(LLMWrapper):
    def complete(self, messages, **options):
        return self.inner.complete(messages, **options)


def _labels(n=60):
    train = [
        toy_hurt_example(i, 1) if i % 3 == 0 else toy_example(i, 4 if i % 3 == 1 else 0)
        for i in range(n)
    ]
    return generate_labels(
        toy_llm, "Answer.", train, toy_pool(), task_id="toy", grid=GRID, progress=False
    )


def test_token_costs_are_what_the_backend_counts_under_its_wrappers():
    model = Passthrough(TokenizingToy())
    assert token_counter(model) == model.inner.count_tokens
    controller = train_controller(_labels())
    dyn = DynaICL(
        "Answer.", controller, DemoSelector(toy_pool(), "random"), cost="tokens", llm=model
    )
    assert dyn.exact_tokens
    xs = [toy_example(100 + i, [0, 4][i % 2]) for i in range(6)]
    targets = [e.target for e in xs]
    for plan in (
        dyn.uniform([e.input for e in xs], 4),
        dyn.plan([e.input for e in xs], budget=200),
    ):
        _, real, _ = run_plan(model, plan, targets, workers=1)
        assert plan.allocation.total_cost == real
    # the character estimate misses the template: it is not what the model counts
    rough = DynaICL("Answer.", controller, DemoSelector(toy_pool(), "random"), cost="tokens")
    assert not rough.exact_tokens
    plan = rough.uniform([e.input for e in xs], 0)
    assert plan.allocation.total_cost != run_plan(model, plan, targets, workers=1)[1]
    assert plan.allocation.total_cost == sum(
        estimate_prompt_tokens([{"role": "user", "content": p}]) for p in plan.prompts
    )
    with pytest.raises(ValueError, match="not both"):
        DynaICL("A.", controller, dyn.selector, llm=model, count_tokens=len)


def test_a_backend_without_a_tokenizer_falls_back_to_the_estimate():
    assert token_counter(Passthrough(TokenizingToy())) is not None
    controller = train_controller(_labels(30))
    dyn = DynaICL("A.", controller, DemoSelector(toy_pool(), "random"), cost="tokens", llm=toy_llm)
    assert not dyn.exact_tokens


def test_calibrated_predictions_match_held_out_rates():
    labels = _labels(90)
    raw = AccuracyController(GRID, "toy", calibration=None).fit_labels(labels)
    calibrated = AccuracyController(GRID, "toy").fit_labels(labels)
    assert raw.train_calibration is None
    report = calibrated.train_calibration
    assert report.mean_predicted == pytest.approx(report.mean_observed, abs=0.03)
    test = generate_labels(
        toy_llm,
        "Answer.",
        [toy_hurt_example(500 + i, 1) if i % 2 else toy_example(500 + i, 4) for i in range(20)],
        toy_pool(),
        task_id="toy",
        grid=GRID,
        progress=False,
    )
    assert calibrated.calibration_on(test).ece < 0.2
    with pytest.raises(ValueError, match="grid"):
        AccuracyController((0, 1), "toy").calibration_on(test)


def test_match_uniform_costs_no_more_and_unreachable_targets_are_said_up_front():
    controller = train_controller(_labels())
    dyn = DynaICL("Answer.", controller, DemoSelector(toy_pool(), "random"))
    test = [toy_hurt_example(300 + i, 1) for i in range(2)]
    test += [toy_example(310 + i, 4) for i in range(2)] + [
        toy_example(320 + i, 0) for i in range(2)
    ]
    xs, targets = [e.input for e in test], [e.target for e in test]
    uniform = dyn.uniform(xs, 4)
    matched = dyn.plan(xs, match_uniform=4)
    assert matched.allocation.total_cost < uniform.allocation.total_cost
    assert matched.allocation.expected_accuracy >= uniform.allocation.expected_accuracy - 1e-9
    assert matched.allocation.ks[:2] == [0, 0]  # demos hurt these: never bought
    assert 0 < matched.allocation.spread < 0.5
    real = run_plan(toy_llm, matched, targets, workers=1)[0]
    assert real >= run_plan(toy_llm, uniform, targets, workers=1)[0]
    hopeless = dyn.plan(xs, min_accuracy=1.0)
    assert not hopeless.allocation.met and "out of reach" in hopeless.allocation.note
    with pytest.raises(ValueError, match="not in the grid"):
        dyn.plan(xs, match_uniform=3)
    with pytest.raises(ValueError, match="exactly one"):
        dyn.plan(xs, match_uniform=4, budget=10)
    assert np.isclose(
        dyn.uniform(xs, 0).allocation.expected_accuracy,
        controller.expected_accuracy(xs)[:, 0].mean(),
    )


def test_matching_a_uniform_k_says_so_when_no_input_can_do_with_fewer_demos():
    """Outcomes independent of the inputs: the controller cannot tell which inputs need the
    demos, so matching uniform k=2 must not gamble on dropping them; it says why."""
    rng = np.random.default_rng(3)
    words = ["north", "south", "east", "west", "left", "right", "step", "turn"]
    texts = [" ".join(rng.choice(words, size=6)) for _ in range(120)]
    accuracy = [{0: float(rng.random() < 0.5), 2: float(rng.random() < 0.7)} for _ in texts]
    controller = AccuracyController((0, 2), "noise").fit(texts, accuracy)
    dyn = DynaICL("Answer.", controller, DemoSelector(toy_pool(), "random"))
    xs = [" ".join(rng.choice(words, size=6)) for _ in range(40)]
    matched = dyn.plan(xs, match_uniform=2)
    assert matched.allocation.ks == [2] * len(xs)
    assert "no saving" in matched.allocation.note
    assert controller.gain_slopes == {2: 0.0}
