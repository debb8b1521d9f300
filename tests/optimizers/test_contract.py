"""One contract for every optimizer: the call protocol, the accounting, backward's
score, the protocol loops depend on, and which errors a step records."""

import inspect
import json

import pytest

from optimizers import (
    OPRO,
    NoFeedback,
    OptimizerProtocol,
    OptoPrime,
    OptoPrimeMulti,
    StepOutcome,
    TextGrad,
)
from optimizers.prompts import CHOSEN_TITLE
from tests.workflows.fakes import ScriptedOptimizer
from trace_engine import InvalidUpdate, bundle, node
from trace_engine.llm import (
    Budget,
    BudgetExceeded,
    CallableLLM,
    Completion,
    LLMError,
    LLMWrapper,
    Metered,
    Usage,
    get_meter,
)

OPTIMIZERS = [OptoPrime, OPRO, TextGrad]

FIXED = "Scale it.\n```python\ndef scale(v):\n    return v * 3\n```"


class Spy(CallableLLM):
    """Records each call's system prompt, user text and whether it had a JSON schema."""

    def __init__(self, fn):
        super().__init__(fn)
        self.calls = []

    def complete(self, messages, **options):
        self.calls.append((messages[0]["content"], messages[-1]["content"], options))
        return super().complete(messages, **options)


def _mixed_reply(name):
    return lambda messages: _reply_for(name, messages)


def _reply_for(name, messages):
    user = messages[-1]["content"]
    if user.startswith("Step:"):  # a TextGrad critique
        asked = user.rsplit("Give feedback for: ", 1)[1].split(", ")
        return json.dumps({a: "change it" for a in asked})
    if "```python" in messages[0]["content"]:
        return FIXED
    if '"value"' in messages[0]["content"]:  # a TextGrad value update
        return json.dumps({"reasoning": "r", "value": 7})
    return json.dumps({"reasoning": "r", "suggestion": {name: 7}})


def _mixed_problem(name):
    factor = node(2, trainable=True, name=name)

    @bundle(trainable=True)
    def scale(v):
        """Scale v."""
        return v * 2

    return factor, scale, scale(factor)


@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_values_come_from_a_json_call_then_code_from_a_code_call_shown_the_choice(cls):
    factor, scale, y = _mixed_problem(f"factor_{cls.__name__}")
    llm = Spy(_mixed_reply(factor.name))
    opt = cls([factor, *scale.parameters()], llm)
    opt.backward(y, "should be 21")
    result = opt.step()
    assert result.ok, result.error
    assert factor.data == 7 and "v * 3" in scale.parameters()[0].data
    updates = [c for c in llm.calls if not c[1].startswith("Step:")]
    (json_system, _, json_options), (code_system, code_user, code_options) = updates
    assert json_options.get("json_schema") and "```python" not in json_system
    assert code_options.get("json_schema") is None and "```python" in code_system
    assert CHOSEN_TITLE in code_user and f'"{factor.name}": 7' in code_user


@pytest.mark.parametrize("cls", [*OPTIMIZERS, OptoPrimeMulti])
def test_every_optimizer_and_the_trainers_fake_satisfy_the_protocol(cls):
    x = node(1, trainable=True, name="proto_x")
    options = {"select": "majority"} if cls is OptoPrimeMulti else {}
    for candidate in (cls([x], lambda m: "TERMINATE", **options), ScriptedOptimizer([x])):
        assert isinstance(candidate, OptimizerProtocol)
        backward = inspect.signature(candidate.backward).parameters
        assert backward["score"].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_backward_takes_a_score_and_zero_feedback_forgets_it(cls):
    x = node(1, trainable=True, name="score_x")
    opt = cls([x], lambda m: "TERMINATE")
    opt.backward(x + 1, "meh", score=0.25)
    opt.backward(x + 2, {"score": 0.75})
    assert opt.feedback_score == 0.5
    opt.zero_feedback()
    assert opt.feedback_score is None
    with pytest.raises(TypeError, match="score must be a number"):
        opt.backward(x + 1, "meh", score="high")


def _raising(exc):
    def reply(messages):
        raise exc

    return reply


@pytest.mark.parametrize("cls", OPTIMIZERS)
@pytest.mark.parametrize("exc", [LLMError("server down", backend="test"), InvalidUpdate("refused")])
def test_a_step_records_the_errors_it_expects(cls, exc):
    x = node(1, trainable=True, name="expect_x")
    opt = cls([x], _raising(exc))
    opt.backward(x * 2, "bigger")
    result = opt.step()
    assert isinstance(result, StepOutcome)
    assert result.error_type == type(exc).__name__ and x.data == 1 and opt.history == [result]


@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_a_step_records_an_unreadable_reply(cls):
    x = node(1, trainable=True, name="unreadable_x")
    opt = cls([x], lambda m: "no idea")
    opt.backward(x * 2, "bigger")
    result = opt.step()
    assert result.error_type == "ReplyError" and x.data == 1


@pytest.mark.parametrize("cls", OPTIMIZERS)
@pytest.mark.parametrize(
    "exc", [KeyboardInterrupt(), ZeroDivisionError("a bug"), BudgetExceeded("out of budget")]
)
def test_interrupts_budgets_and_bugs_propagate_and_change_nothing(cls, exc):
    a = node(1, trainable=True, name="prop_a")
    b = node(1, trainable=True, name="prop_b")
    opt = cls([a, b], _raising(exc))
    opt.backward(a + b, "bigger")
    with pytest.raises(type(exc)):
        opt.step()
    assert (a.data, b.data) == (1, 1) and opt.history == []


def test_a_step_before_any_feedback_propagates():
    x = node(1, trainable=True, name="nofeedback_x")
    with pytest.raises(NoFeedback):
        OPRO([x], lambda m: "TERMINATE").step()


class Canned(LLMWrapper):
    """A cache: a repeated request is answered with ``cached=True``, not sent on."""

    def __init__(self, inner):
        super().__init__(inner)
        self.seen = {}

    def complete(self, messages, **options):
        key = json.dumps(messages)
        if key in self.seen:
            done = self.seen[key]
            return Completion(done.text, done.usage, cost=done.cost, cached=True)
        self.seen[key] = self.inner.complete(messages, **options)
        return self.seen[key]


def test_one_accounting_path_counts_each_call_once_and_cache_hits_as_free():
    x = node(1, trainable=True, name="acct_x")
    reply = json.dumps({"reasoning": "r", "suggestion": {"acct_x": 1}})
    metered = Metered(CallableLLM(lambda m: reply))
    own, active = Budget(max_calls=10), Budget(max_calls=10)
    opt = OptoPrime([x], Canned(metered), budget=own, resample=0)
    with active.active():
        for _ in range(2):
            opt.zero_feedback()
            opt.backward(x * 2, "keep it")
            opt.step()
    first, second = opt.history
    assert (first.calls, second.calls) == (1, 1)
    assert first.usage.prompt_tokens > 0 and second.usage == Usage()
    assert own.spent.calls == 1 and active.spent.calls == 1
    assert opt.meter.total.calls == 1 and opt.meter.total.cache_hits == 1


def test_an_optimizers_calls_do_not_leak_into_another_meters_tag():
    x = node(1, trainable=True, name="leak_x")
    opt = OptoPrime([x], lambda m: json.dumps({"reasoning": "r", "suggestion": {"leak_x": 2}}))
    opt.backward(x * 2, "bigger")
    with get_meter().tag("someone else") as outer:
        assert opt.step().calls == 1
    assert outer.calls == 0 and opt.meter.total.calls == 1


def test_textgrad_memory_shows_a_variables_earlier_values_and_critiques():
    x = node(1, trainable=True, name="tgmem_x")
    updates = iter([2, 3])

    def llm(messages):
        user = messages[-1]["content"]
        if user.startswith("Step:"):
            asked = user.rsplit("Give feedback for: ", 1)[1].split(", ")
            return json.dumps({a: f"critique {x.data}" for a in asked})
        return json.dumps({"reasoning": "r", "value": next(updates)})

    spy = Spy(llm)
    opt = TextGrad([x], spy, memory_size=1)
    for _ in range(2):
        opt.zero_feedback()
        opt.backward(x * 2, "bigger")
        assert opt.step().ok
    assert x.data == 3
    last_update = spy.calls[-1][1]
    assert "Earlier values" in last_update and "critique 1" in last_update
    assert "Earlier values" not in spy.calls[1][1]
    fresh = TextGrad([x], spy, memory_size=1)
    fresh.load_state_dict(json.loads(json.dumps(opt.state_dict())))
    assert fresh.memory == opt.memory
