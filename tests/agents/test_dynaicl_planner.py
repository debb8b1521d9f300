import pytest

from agents.dynaicl import (
    DemoSelector,
    DynaICL,
    DynaICLPrompt,
    EmptyDemoPool,
    Example,
    MetaController,
    compare,
    few_shot_prompt,
    format_table,
    generate_labels,
    plot_report,
)
from tests.agents.toy_task import toy_example, toy_llm, toy_pool
from trace_engine import ExecutionError, feedback_graph

GRID = (0, 1, 2, 4)


def _trained():
    train = [toy_example(i, [0, 0, 4][i % 3]) for i in range(30)]
    labels = generate_labels(
        toy_llm, "Answer.", train, toy_pool(), task_id="toy", grid=GRID, demo_sets=1, progress=False
    )
    controller = MetaController(GRID, "toy").fit(labels.inputs(), labels.labels(1.0))
    return DynaICL("Answer.", controller, DemoSelector(toy_pool(), "random", seed=1))


def test_selector_similar_random_and_errors():
    pool = [Example("cat sat", "1"), Example("dog ran", "2"), Example("cat sat down", "3")]
    similar = DemoSelector(pool, "similar")
    assert similar.select("cat sat on mat", 1) == [pool[0]] or similar.select(
        "cat sat on mat", 1
    ) == [pool[2]]
    assert [d.target for d in similar.select("cat sat", 2)] == ["2", "3"]
    rnd = DemoSelector(pool, "random", seed=3)
    assert rnd.select("x", 2) == rnd.select("x", 2)
    with pytest.raises(EmptyDemoPool):
        DemoSelector([], "random")
    with pytest.raises(ValueError, match="only 2"):
        similar.select("cat sat", 3)
    with pytest.raises(ValueError, match="unknown demo strategy"):
        DemoSelector(pool, "best")


def test_plan_within_budget_gives_demos_to_hard_inputs():
    dyn = _trained()
    xs = [toy_example(100 + i, need).input for i, need in enumerate([0, 4, 0, 4, 0, 4])]
    plan = dyn.plan(xs, budget=12)
    assert plan.allocation.total_cost <= 12
    assert plan.allocation.ks == [0, 4, 0, 4, 0, 4]
    assert all(p.count("Input:") == k + 1 for p, k in zip(plan.prompts, plan.allocation.ks))
    tokens = DynaICL("Answer.", dyn.controller, dyn.selector, cost="tokens")
    zero_cost = tokens.costs(xs)[:, 0].sum()
    tight = tokens.plan(xs, budget=zero_cost + 1)
    assert tight.allocation.ks == [0] * 6
    with pytest.raises(ValueError, match="zero-shot cost"):
        tokens.plan(xs, budget=zero_cost - 1)
    accurate = dyn.plan(xs, min_accuracy=0.9)
    assert accurate.allocation.met and accurate.allocation.ks == [0, 4, 0, 4, 0, 4]


def test_compare_report_table_and_plot(tmp_path):
    dyn = _trained()
    test = [toy_example(200 + i, need) for i, need in enumerate([0, 4, 0, 0, 4, 0])]
    rows = compare(toy_llm, dyn, test, uniform_ks=[0, 4], min_accuracies=[0.85])
    by = {(r.method, r.setting): r for r in rows}
    assert by[("uniform", "k=0")].accuracy == pytest.approx(4 / 6)
    assert by[("uniform", "k=4")].accuracy == 1.0
    assert by[("dynaicl", "budget=24 demos")].accuracy == 1.0
    dyn_row = by[("dynaicl", "min_acc=0.85")]
    assert dyn_row.accuracy == 1.0 and dyn_row.demos == 8
    assert dyn_row.prompt_tokens < by[("uniform", "k=4")].prompt_tokens
    table = format_table(rows)
    assert "uniform" in table and "dynaicl" in table
    plot_report(rows, tmp_path / "dynaicl.png")
    assert (tmp_path / "dynaicl.png").stat().st_size > 1000


def test_few_shot_prompt_is_traced():
    out = few_shot_prompt("Do it.", [("a", "1"), ("b", "2")], "c", 1)
    assert out.data == "Do it.\n\nInput: a\nOutput: 1\n\nInput: c\nOutput:"
    assert out.op_name == "few_shot_prompt"
    with pytest.raises(ExecutionError, match="only 2"):
        few_shot_prompt("Do it.", [("a", "1"), ("b", "2")], "c", 3)


def test_dynaicl_prompt_module_threshold_is_trainable():
    dyn = _trained()
    module = DynaICLPrompt("Answer.", dyn.controller, dyn.selector, threshold=0.5, llm=toy_llm)
    names = dict(module.named_parameters())
    assert set(names) == {"instruction", "threshold"}
    hard = toy_example(300, 4).input
    answer = module.answer(hard)
    assert answer.data == "a300"
    answer.backward("correct")
    graph = feedback_graph(module.parameters(), [answer])
    assert module.threshold in graph.nodes and module.instruction in graph.nodes
    module.threshold.set(0.0)
    assert module(hard).data.count("Input:") == 1
    with pytest.raises(ValueError):
        module.threshold.set(1.5)
    assert module.threshold.data == 0.0
