import json

import pytest

from optimizers import OPRO, TextGrad
from optimizers.textgrad import aggregate
from trace_engine import StateError, bundle, node
from trace_engine.llm import Budget, BudgetExceeded


def test_opro_shows_history_sorted_worst_first_and_applies(scripted, suggest_reply):
    x = node(1, trainable=True, name="opro_x", description="a guess")
    llm = scripted(suggest_reply(opro_x=2), suggest_reply(opro_x=3), suggest_reply(opro_x=4))
    opt = OPRO([x], llm)
    for score in (0.9, 0.1, 0.5):
        opt.zero_feedback()
        opt.backward(x + 0, f"score was {score}", score=score)
        assert opt.step().ok
    assert x.data == 4
    prompt = llm.last_user
    assert "opro_x (int) - a guess" in prompt
    order = [prompt.index(f'{{"opro_x": {v}}}') for v in (2, 3, 1)]
    assert order == sorted(order)  # scores 0.1, 0.5, 0.9: worst first
    assert "score: 0.9" in prompt and "#Graph" not in prompt and "#Code" not in prompt


def test_opro_reads_numeric_and_dict_feedback_as_scores(scripted, suggest_reply):
    x = node(1, trainable=True, name="opro_num")
    opt = OPRO([x], scripted(suggest_reply(opro_num=2)), higher_is_better=False)
    opt.backward(x * 1, {"score": 3.5, "note": "too slow"})
    opt.step()
    assert opt.trajectory[0]["score"] == 3.5
    opt.zero_feedback()
    opt.backward(x * 1, 7)
    opt.step()
    assert opt.trajectory[-1]["score"] == 7.0
    assert "lower score" in opt.messages()[1]["content"]


def test_opro_state_round_trip_and_bad_state(scripted, suggest_reply):
    x = node(1, trainable=True, name="opro_state")
    opt = OPRO([x], scripted(suggest_reply(opro_state=2)))
    opt.backward(x + 1, 0.3)
    opt.step()
    state = json.loads(json.dumps(opt.state_dict()))
    fresh = OPRO([x], scripted("TERMINATE"))
    fresh.load_state_dict(state)
    assert fresh.trajectory == opt.trajectory
    with pytest.raises(StateError, match="trajectory"):
        fresh.load_state_dict({**state, "trajectory": [1]})


def _critic(messages):
    user = messages[-1]["content"]
    if user.startswith("Step:"):
        asked = user.rsplit("Give feedback for: ", 1)[1].split(", ")
        return json.dumps({arg: f"critique of {arg}" for arg in asked})
    return json.dumps({"reasoning": "apply the critique", "value": 5})


def test_textgrad_walks_backward_asks_per_input_and_aggregates():
    x = node(1, trainable=True, name="tg_x")
    twice = x + x  # one node used twice: two critiques to aggregate
    y = twice * 3
    prompts = []

    def llm(messages):
        prompts.append(messages[-1]["content"])
        return _critic(messages)

    opt = TextGrad([x], llm)
    opt.backward(y, "y should be 30")
    result = opt.step()
    assert x.data == 5 and result.applied == {"tg_x": 5}
    assert prompts[0].startswith(f"Step: {y.name} = multiply(x={twice.name}")
    assert "Feedback on the result: y should be 30" in prompts[0]
    assert prompts[1].startswith(f"Step: {twice.name} = add(x=tg_x, y=tg_x)")
    assert "Give feedback for: x, y" in prompts[1]
    assert result.details["gradients"]["tg_x"] == "1. critique of x\n2. critique of y"
    assert prompts[2].startswith("Variable: tg_x (int)") and "1. critique of x" in prompts[2]
    assert result.calls == 3


def test_textgrad_caps_backward_calls_on_long_chains():
    x = node(0, trainable=True, name="tg_chain")
    y = x
    for _ in range(50):
        y = y + 1
    calls = []

    def llm(messages):
        calls.append(messages)
        return _critic(messages)

    opt = TextGrad([x], llm, max_backward_calls=4)
    opt.backward(y, "too small")
    result = opt.step()
    assert result.ok and result.calls == 5 and len(calls) == 5


def test_textgrad_repairs_code_with_a_whole_function():
    @bundle(trainable=True)
    def tg_add(a, b):
        """Returns a + b."""
        return a - b

    param = tg_add.parameters()[0]

    def llm(messages):
        user = messages[-1]["content"]
        if user.startswith("Step:"):
            return json.dumps({"__code": "use + instead of -"})
        assert "def tg_add(a, b):" in user and "use + instead of -" in user
        return json.dumps({"reasoning": "r", "value": "def tg_add(a, b):\n    return a + b"})

    opt = TextGrad([param], llm)
    opt.backward(tg_add(2, 3), "expected 5")
    assert opt.step().changed and tg_add(2, 3).data == 5


def test_textgrad_budget_exceeded_mid_step_changes_nothing():
    a = node(1, trainable=True, name="tg_budget_a")
    b = node(1, trainable=True, name="tg_budget_b")
    y = a + b
    opt = TextGrad([a, b], _critic, budget=Budget(max_calls=2))
    opt.backward(y, "bigger")
    with pytest.raises(BudgetExceeded, match="call budget"):
        opt.step()
    assert (a.data, b.data) == (1, 1) and opt.meter.total.calls == 2 and opt.history == []


def test_textgrad_reply_without_value_is_an_error():
    x = node(1, trainable=True, name="tg_novalue")

    def llm(messages):
        if messages[-1]["content"].startswith("Step:"):
            return '{"a": "more"}'
        return '{"reasoning": "forgot the value"}'

    opt = TextGrad([x], llm)
    opt.backward(x + 1, "bigger")
    result = opt.step()
    assert result.error_type == "ReplyError" and "no 'value'" in result.error and x.data == 1


def test_aggregate_and_bad_options():
    assert aggregate(["only"]) == "only"
    assert aggregate(["a", "b"]) == "1. a\n2. b"
    x = node(1, trainable=True, name="tg_opts")
    with pytest.raises(ValueError, match="max_backward_calls"):
        TextGrad([x], _critic, max_backward_calls=-1)
    with pytest.raises(ValueError, match="memory_size"):
        OPRO([x], _critic, memory_size=0)
