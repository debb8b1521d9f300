"""End to end with the embedded local model: short on purpose (a few calls, few tokens)."""

import pytest

from agents.dynaicl import Example, generate_labels
from agents.router import Backend, CascadePolicy, RoutedLLM, matches

pytestmark = pytest.mark.local_model


@pytest.fixture(scope="module")
def local():
    from trace_engine.llm.registry import get_llm

    return get_llm()


def test_short_dynaicl_label_run(local, tmp_path):
    pool = [Example("12 @ 34", "1234"), Example("56 @ 78", "5678")]
    train = [Example("21 @ 43", "2143"), Example("10 + 5", "15")]
    labels = generate_labels(
        local,
        "Compute the result. Reply with the number only.",
        train,
        pool,
        task_id="local-smoke",
        grid=(0, 1),
        demo_sets=1,
        max_tokens=6,
        workers=1,
        path=tmp_path / "labels.jsonl",
        progress=False,
    )
    assert len(labels.records) == 2
    assert all(set(r.accuracy) == {0, 1} for r in labels.records)
    assert all(label in (0, 1, None) for label in labels.labels(1.0))


def test_one_routed_call(local):
    direct = Backend(
        "direct", local, system="Reply with the number only.", options={"max_tokens": 6}
    )
    careful = Backend(
        "careful", local, system="Think briefly, then give the number.", options={"max_tokens": 24}
    )
    router = RoutedLLM([direct, careful], CascadePolicy(["direct", "careful"], matches(r"\d")))
    reply = router.complete("What is 7 + 5?")
    assert reply.backend == "router" and reply.text
    assert router.log[-1].tried[0] == "direct"
    assert reply.usage.completion_tokens > 0


def test_dynaicl_token_estimate_is_what_the_model_counts(local):
    from agents.dynaicl import DemoSelector, DynaICL, KStarController, run_plan

    class Constant(KStarController):
        grid = (0, 1)

        def predict_proba(self, texts):
            import numpy as np

            return np.tile([0.5, 0.5, 0.0], (len(texts), 1))

    pool = [Example("12 @ 34", "1234"), Example("56 @ 78", "5678")]
    dyn = DynaICL(
        "Reply with the number only.", Constant(), DemoSelector(pool), cost="tokens", llm=local
    )
    assert dyn.exact_tokens
    plan = dyn.uniform(["21 @ 43"], 1)
    _, real, _ = run_plan(local, plan, ["2143"], max_tokens=1, workers=1)
    assert plan.allocation.total_cost == real
