"""OPRO and TextGrad: code variables as fenced code blocks, other values as JSON."""

import json

import pytest

from optimizers import OPRO, TextGrad
from optimizers.prompts import OPRO_SYSTEM_PROMPT as SYSTEM_PROMPT
from optimizers.prompts import UPDATE_PROMPT
from optimizers.schemas import suggestion_schema
from trace_engine import bundle, node
from trace_engine.llm import CallableLLM

FIXED = "It must divide.\n```python\ndef halve(x):\n    return x / 2\n```"
HALVED = 'def halve(x):\n    """Returns half of x."""\n    return x / 2\n'


class Recorder:
    """A scripted backend that records each call's messages and JSON schema."""

    def __init__(self, reply):
        self.calls: list[tuple[list[dict[str, str]], dict | None]] = []
        recorder = self

        class Spy(CallableLLM):
            def complete(self, messages, **options):
                recorder.calls.append((messages, options.get("json_schema")))
                return super().complete(messages, **options)

        self.llm = Spy(reply)


def _halve():
    """A fresh trainable ``halve`` (each test changes its code)."""

    @bundle(trainable=True)
    def halve(x):
        """Returns half of x."""
        return x

    return halve


def _scale():
    @bundle(trainable=True)
    def scale(x, factor):
        """Scales x."""
        return x

    return scale


def _answers(*replies):
    """Replies in order, the last one repeated."""
    given = []

    def reply(messages):
        given.append(messages)
        return replies[min(len(given), len(replies)) - 1]

    return reply


def test_the_prompts_for_values_are_the_ones_measured_before_code_blocks():
    assert SYSTEM_PROMPT == (
        "You find better values for the variables of a program. You see earlier values\n"
        "with their score or feedback. Propose new values that do better than all of them\n"
        "and differ from them. Reply with one JSON object only:\n"
        '{"reasoning": "<one short sentence>", "suggestion": {"<variable name>": <new value>}}\n'
        "Write each value in its type. For a (code) variable, write the complete function."
    )
    assert UPDATE_PROMPT == (
        "You improve one variable of a program using feedback about it. Reply with JSON only:\n"
        '{"reasoning": "<one short sentence>", "value": <the new value, in the variable\'s type>}\n'
        "For a (code) variable, write the complete new function from its def line, "
        "same name and arguments."
    )


def test_opro_values_only_keeps_its_prompt_and_schema():
    x = node(1, trainable=True, name="opro_code_values_x")
    recorder = Recorder(_answers(json.dumps({"reasoning": "r", "suggestion": {x.name: 2}})))
    opt = OPRO([x], recorder.llm)
    opt.backward(x + 0, 0.5)
    assert opt.step().applied == {x.name: 2}
    [(messages, schema)] = recorder.calls
    assert messages[0]["content"] == SYSTEM_PROMPT and schema == suggestion_schema([x])


# OPRO ---------------------------------------------------------------------------
def test_opro_asks_for_a_code_block_without_a_schema_when_all_variables_are_code():
    halve = _halve()
    param = halve.parameters()[0]
    recorder = Recorder(_answers(FIXED))
    opt = OPRO([param], recorder.llm)
    opt.backward(halve(4), "expected 2")
    result = opt.step()
    assert result.applied == {param.name: HALVED} and result.reasoning == "It must divide."
    [(messages, schema)] = recorder.calls
    assert schema is None
    assert "```python code block" in messages[0]["content"] and "JSON" not in messages[0]["content"]
    assert halve(4).data == 2


def test_opro_mixed_makes_a_json_call_then_a_code_call_that_sees_its_choice():
    scale = _scale()
    code = scale.parameters()[0]
    factor = node(1, trainable=True, name="opro_mixed_factor")
    recorder = Recorder(
        _answers(
            json.dumps({"reasoning": "factor 3", "suggestion": {factor.name: 3}}),
            "Multiply.\n```python\ndef scale(x, factor):\n    return x * factor\n```",
        )
    )
    opt = OPRO([code, factor], recorder.llm)
    opt.backward(scale(2, factor), "expected 6")
    result = opt.step()
    assert set(result.applied) == {code.name, factor.name} and result.calls == 2
    assert result.reasoning == "factor 3\nMultiply."
    (json_call, schema), (code_call, code_schema) = recorder.calls
    assert schema == suggestion_schema([factor]) and code_schema is None
    assert "Leave out the (code) variables" in json_call[0]["content"]
    assert "```python code block" in code_call[0]["content"]
    assert f'#Chosen values\n{{"{factor.name}": 3}}' in code_call[1]["content"]
    assert scale(2, factor).data == 6


def test_opro_a_reply_without_code_fails_the_step_and_changes_nothing():
    halve = _halve()
    param = halve.parameters()[0]
    before = param.data
    opt = OPRO([param], Recorder(_answers("You should divide x by two.")).llm)
    opt.backward(halve(4), "expected 2")
    result = opt.step()
    assert result.error_type == "ReplyError" and "no code block" in result.error
    assert param.data == before


def test_opro_still_reads_code_in_an_old_style_json_reply():
    halve = _halve()
    param = halve.parameters()[0]
    old = {"reasoning": "r", "suggestion": {param.name: "def halve(x):\n    return x / 2"}}
    opt = OPRO([param], Recorder(_answers(json.dumps(old))).llm)
    opt.backward(halve(4), "expected 2")
    assert opt.step().applied == {param.name: HALVED}


# TextGrad -----------------------------------------------------------------------
def _textgrad_llm(*updates):
    """Critiques every asked input; answers the update calls from ``updates`` in order."""
    answer = _answers(*updates)

    def reply(messages):
        user = messages[-1]["content"]
        if user.startswith("Step:"):
            asked = user.rsplit("Give feedback for: ", 1)[1].split(", ")
            return json.dumps({arg: f"critique of {arg}" for arg in asked})
        return answer(messages)

    return Recorder(reply)


def _updates(recorder):
    return [(m, s) for m, s in recorder.calls if not m[-1]["content"].startswith("Step:")]


def test_textgrad_asks_for_a_code_block_without_a_schema_when_all_variables_are_code():
    halve = _halve()
    param = halve.parameters()[0]
    recorder = _textgrad_llm(FIXED)
    opt = TextGrad([param], recorder.llm)
    opt.backward(halve(4), "expected 2")
    result = opt.step()
    assert result.applied == {param.name: HALVED}
    assert result.reasoning == f"{param.name}: It must divide."
    [(messages, schema)] = _updates(recorder)
    assert schema is None
    assert "```python code block" in messages[0]["content"] and "JSON" not in messages[0]["content"]
    assert messages[1]["content"].startswith(f"Variable: {param.name} (code)")
    assert "def halve(x):" in messages[1]["content"]
    assert halve(4).data == 2


def test_textgrad_mixed_asks_for_values_first_then_code_shown_the_chosen_values():
    scale = _scale()
    code = scale.parameters()[0]
    factor = node(1, trainable=True, name="tg_mixed_factor")
    recorder = _textgrad_llm(
        json.dumps({"reasoning": "factor 3", "value": 3}),
        "Multiply.\n```python\ndef scale(x, factor):\n    return x * factor\n```",
    )
    opt = TextGrad([code, factor], recorder.llm)
    opt.backward(scale(2, factor), "expected 6")
    result = opt.step()
    assert set(result.applied) == {code.name, factor.name}
    assert result.reasoning == f"{factor.name}: factor 3\n{code.name}: Multiply."
    (value_call, schema), (code_call, code_schema) = _updates(recorder)
    assert value_call[0]["content"] == UPDATE_PROMPT and schema["required"] == [
        "reasoning",
        "value",
    ]
    assert code_schema is None and "```python code block" in code_call[0]["content"]
    assert f'#Chosen values\n{{"{factor.name}": 3}}' in code_call[1]["content"]
    assert scale(2, factor).data == 6


def test_textgrad_a_reply_without_code_fails_the_step_and_changes_nothing():
    halve = _halve()
    param = halve.parameters()[0]
    before = param.data
    opt = TextGrad([param], _textgrad_llm("You should divide x by two.").llm)
    opt.backward(halve(4), "expected 2")
    result = opt.step()
    assert result.error_type == "ReplyError" and "no code block" in result.error
    assert param.data == before


@pytest.mark.parametrize("wrapper", ["value", "suggestion"])
def test_textgrad_still_reads_code_in_an_old_style_json_reply(wrapper):
    halve = _halve()
    param = halve.parameters()[0]
    new = "def halve(x):\n    return x / 2"
    old = (
        {"reasoning": "r", "value": new}
        if wrapper == "value"
        else {"suggestion": {param.name: new}}
    )
    opt = TextGrad([param], _textgrad_llm(json.dumps(old)).llm)
    opt.backward(halve(4), "expected 2")
    assert opt.step().applied == {param.name: HALVED}
