import asyncio

import pytest

from trace_engine.llm import LLM, CallableLLM, Completion, Usage, as_llm, normalize_messages
from trace_engine.llm.metered import Metered


def test_callable_is_wrapped_and_returns_completion():
    llm = as_llm(lambda msgs: "hi " + msgs[-1]["content"])
    assert isinstance(llm, CallableLLM)
    c = llm.complete("there", n=2)
    assert isinstance(c, Completion)
    assert c.texts == ["hi there", "hi there"] and c.text == "hi there"
    assert c.usage.total_tokens > 0 and c.cost == 0.0 and not c.cached
    assert c.json is None


def test_schema_answers_are_parsed_and_failures_become_none():
    replies = iter(['```json\n{"a": 1}\n```', "not json"])
    c = as_llm(lambda msgs: next(replies)).complete("q", n=2, json_schema={"type": "object"})
    assert c.parsed == [{"a": 1}, None]
    assert c.json == {"a": 1}


def test_callable_must_return_str():
    with pytest.raises(TypeError, match="must return str"):
        as_llm(lambda msgs: 3).complete("q")


def test_as_llm_keeps_llms_and_rejects_other_things():
    llm = CallableLLM(lambda m: "x")
    assert as_llm(llm) is llm
    with pytest.raises(TypeError):
        as_llm(42)


def test_as_llm_spec_string_goes_through_the_registry():
    llm = as_llm("openai-compatible:http://127.0.0.1:9/v1#tiny")
    assert llm.id == "openai-compatible:tiny"


@pytest.mark.parametrize(
    "bad, err",
    [
        ([], ValueError),
        ([{"content": "x"}], TypeError),
        ([{"role": "robot", "content": "x"}], ValueError),
    ],
)
def test_normalize_messages_rejects_bad_shapes(bad, err):
    with pytest.raises(err):
        normalize_messages(bad)


def test_usage_adds_up():
    assert Usage(1, 2) + Usage(3, 4) == Usage(4, 6)
    assert Usage(4, 6).total_tokens == 10


def test_acomplete_runs_through_wrappers():
    llm = Metered(as_llm(lambda msgs: "async ok"))
    c = asyncio.run(llm.acomplete("q"))
    assert c.text == "async ok"


def test_wrappers_are_transparent_about_identity(scripted):
    inner = scripted(model="mini", price=0.5)
    outer = Metered(inner)
    assert outer.id == "scripted:mini" and outer.backend == "scripted" and outer.model == "mini"
    assert outer.cost_of(Usage(1, 1)) == 1.0
    assert outer.unwrap() is inner
    assert isinstance(outer, LLM)
