"""Code variables: replies with fenced code blocks, docstrings kept, OptoPrime's code calls."""

import json

import pytest

from optimizers import OptoPrime
from optimizers.code_replies import code_blocks, code_reply_format, read_code_reply
from optimizers.replies import ReplyError
from optimizers.values import keep_docstring
from trace_engine import CodeParameter, bundle, node


def _code(fn_name: str, name: str | None = None) -> CodeParameter:
    return CodeParameter(
        f"def {fn_name}(a):\n    pass\n",
        fn_name=fn_name,
        signature=f"def {fn_name}(a)",
        module=__name__,
        name=name or f"__code_{fn_name}",
    )


def test_a_block_defining_the_function_is_that_functions_code():
    inc = _code("inc")
    reply = read_code_reply(
        "It returns None; it must add one.\n```python\ndef inc(a):\n    return a + 1\n```\n"
        "That should pass.",
        [inc],
    )
    assert reply.suggestion == {inc.name: "def inc(a):\n    return a + 1\n"}
    assert reply.reasoning == "It returns None; it must add one." and not reply.terminated


def test_blocks_go_to_their_functions_and_the_last_block_of_one_function_wins():
    text = (
        "Old:\n```python\ndef inc(a):\n    pass\n```\nNew:\n```py\ndef inc(a):\n    return a + 1\n```\n"
        "```python\ndef dec(a):\n    return a - 1\n```\n```python\nprint(inc(1))\n```"
    )
    inc, dec = _code("inc"), _code("dec")
    reply = read_code_reply(text, [inc, dec])
    assert reply.suggestion == {
        inc.name: "def inc(a):\n    return a + 1\n",
        dec.name: "def dec(a):\n    return a - 1\n",
    }


def test_labels_tell_apart_variables_of_one_function_name():
    first, second = _code("run", "label_run"), _code("run", "label_run_b")
    text = (
        f"{second.name}:\n```python\ndef run(a):\n    return 2\n```\n"
        f"For {first.name}:\n```python\ndef run(a):\n    return 1\n```"
    )
    reply = read_code_reply(text, [first, second])
    assert reply.suggestion == {
        first.name: "def run(a):\n    return 1\n",
        second.name: "def run(a):\n    return 2\n",
    }
    with pytest.raises(ReplyError, match="none matched to one of"):
        read_code_reply("```python\ndef run(a):\n    return 3\n```", [first, second])


def test_an_unclosed_last_block_runs_to_the_end_of_the_reply():
    [block] = code_blocks("Fix:\n```python\ndef inc(a):\n    return a + 1\n")
    assert block.code == "def inc(a):\n    return a + 1\n" and block.label == "Fix:"


def test_a_code_block_that_does_not_parse_is_still_passed_on_for_validation():
    inc = _code("inc")
    reply = read_code_reply("```python\ndef inc(a):\n    return (a +\n```", [inc])
    assert reply.suggestion == {inc.name: "def inc(a):\n    return (a +\n"}


@pytest.mark.parametrize(
    "lead_in", ["(code) __code_inc:\n", "Here is the new function:\n\n", "from math import floor\n"]
)
def test_prose_echoed_at_the_top_of_a_block_is_dropped_only_when_it_breaks_parsing(lead_in):
    inc = _code("inc")
    reply = read_code_reply(f"```python\n{lead_in}def inc(a):\n    return a + 1\n```", [inc])
    kept = lead_in if lead_in.startswith("from") else ""
    assert reply.suggestion == {inc.name: f"{kept}def inc(a):\n    return a + 1\n"}


def test_json_replies_and_terminate_are_still_read():
    param = _code("inc")
    as_json = json.dumps({"reasoning": "r", "suggestion": {param.name: "def inc(a): ..."}})
    assert read_code_reply(as_json, [param]).suggestion == {param.name: "def inc(a): ..."}
    assert read_code_reply("TERMINATE", [param]).terminated


@pytest.mark.parametrize(
    "text, message",
    [
        ("I would add one to a.", "no code block"),
        ("```python\ndef other(a):\n    return a\n```", "none matched to one of"),
        ("Here {'a': 1} is an example", "no code block"),
    ],
    ids=["prose", "other-function", "stray-dict"],
)
def test_replies_without_code_for_the_variables_raise_reply_error(text, message):
    with pytest.raises(ReplyError, match=message):
        read_code_reply(text, [_code("inc")])


def test_the_reply_format_asks_for_labels_only_with_several_functions():
    assert "name on the line" not in code_reply_format([_code("inc")])
    assert "name on the line" in code_reply_format([_code("inc"), _code("dec")])
    assert "TERMINATE" not in code_reply_format([_code("inc")])


PREVIOUS = 'def f(a):\n    """Add one.\n\n    >>> f(1)\n    2\n    """\n    pass\n'


@pytest.mark.parametrize(
    "new, expected",
    [
        (
            "def f(a):\n    return a + 1\n",
            'def f(a):\n    """Add one.\n\n    >>> f(1)\n    2\n    """\n    return a + 1\n',
        ),
        (
            "def f(a):\n  return a + 1\n",
            'def f(a):\n  """Add one.\n\n  >>> f(1)\n  2\n  """\n  return a + 1\n',
        ),
        (
            'def f(a):\n    "Mine."\n    return a + 1\n',
            'def f(a):\n    "Mine."\n    return a + 1\n',
        ),
        ("def f(a): return a + 1\n", "def f(a): return a + 1\n"),
        ("def f(a):\n    return (\n", "def f(a):\n    return (\n"),
    ],
    ids=["dropped", "other-indent", "own-docstring", "one-line", "unparseable"],
)
def test_new_code_without_a_docstring_gets_the_old_one_back(new, expected):
    assert keep_docstring(new, PREVIOUS, "f") == expected


def _halve():
    """A fresh trainable ``halve`` (each test changes its code)."""

    @bundle(trainable=True)
    def halve(x):
        """Returns half of x."""
        return x

    return halve


def test_optoprime_asks_for_code_blocks_without_a_schema_when_all_variables_are_code(scripted):
    halve = _halve()
    param = halve.parameters()[0]
    llm = scripted("It must divide.\n```python\ndef halve(x):\n    return x / 2\n```")
    opt = OptoPrime([param], llm)
    opt.backward(halve(4), "expected 2")
    result = opt.step()
    assert result.applied == {
        param.name: 'def halve(x):\n    """Returns half of x."""\n    return x / 2\n'
    }
    assert result.reasoning == "It must divide." and result.calls == 1
    system = llm.prompts[0][0]["content"]
    assert "```python code block" in system and "JSON" not in system
    assert halve(4).data == 2


def test_mixed_problems_make_a_json_call_then_a_code_call_that_sees_its_choice(scripted):
    @bundle(trainable=True)
    def scale(x, factor):
        """Scales x."""
        return x

    factor = node(1, trainable=True, name="mixed_factor")
    code = scale.parameters()[0]
    llm = scripted(
        json.dumps({"reasoning": "factor 3", "suggestion": {"mixed_factor": 3}}),
        "Multiply.\n```python\ndef scale(x, factor):\n    return x * factor\n```",
    )
    opt = OptoPrime([code, factor], llm)
    opt.backward(scale(2, factor), "expected 6")
    result = opt.step()
    assert set(result.applied) == {"mixed_factor", code.name} and result.calls == 2
    assert result.reasoning == "factor 3\nMultiply."
    json_call, code_call = llm.prompts
    assert "Leave out the (code) variables" in json_call[0]["content"]
    assert (
        "#Chosen values" in code_call[1]["content"]
        and '"mixed_factor": 3' in code_call[1]["content"]
    )
    assert scale(2, factor).data == 6


def test_a_code_reply_without_code_fails_the_step_and_changes_nothing(scripted):
    halve = _halve()
    param = halve.parameters()[0]
    before = param.data
    opt = OptoPrime([param], scripted("You should divide x by two."))
    opt.backward(halve(4), "expected 2")
    result = opt.step()
    assert not result.ok and result.error_type == "ReplyError" and "no code block" in result.error
    assert param.data == before


class _OptionsSpy:
    """A scripted backend that also records each call's temperature and seed."""

    def __init__(self, *replies: str):
        from trace_engine.llm import CallableLLM

        self.replies = list(replies)
        self.options: list[tuple[float, int | None]] = []
        spy = self

        class Spy(CallableLLM):
            def complete(self, messages, **options):
                spy.options.append((options.get("temperature"), options.get("seed")))
                return super().complete(messages, **options)

        self.llm = Spy(lambda messages: self.replies[min(len(self.options), len(self.replies)) - 1])


REPEAT = "Same.\n```python\ndef halve(x):\n    return x\n```"
FIXED = "Divide.\n```python\ndef halve(x):\n    return x / 2\n```"


def test_a_reply_that_changes_nothing_is_asked_for_again_at_a_higher_temperature():
    halve = _halve()
    param = halve.parameters()[0]
    spy = _OptionsSpy(REPEAT, FIXED)
    opt = OptoPrime([param], spy.llm)
    opt.backward(halve(4), "expected 2")
    result = opt.step()
    assert result.changed and result.calls == 2 and halve(4).data == 2
    assert spy.options[0] == (0.0, None)
    assert spy.options[1][0] == 0.8 and isinstance(spy.options[1][1], int)
    assert result.details["resampled"] == ["no change"]


@pytest.mark.parametrize(
    "first, why",
    [
        ("No idea.", "unreadable"),
        ("```python\ndef halve(x):\n    return (\n```", "rejected: "),
    ],
    ids=["unreadable", "rejected"],
)
def test_unreadable_or_rejected_replies_are_asked_for_again(first, why):
    halve = _halve()
    param = halve.parameters()[0]
    spy = _OptionsSpy(first, FIXED)
    opt = OptoPrime([param], spy.llm)
    opt.backward(halve(4), "expected 2")
    result = opt.step()
    assert result.changed and result.calls == 2
    assert result.details["resampled"][0].startswith(why)


def test_resample_zero_and_terminate_make_one_call():
    halve = _halve()
    param = halve.parameters()[0]
    spy = _OptionsSpy(REPEAT, FIXED)
    opt = OptoPrime([param], spy.llm, resample=0)
    opt.backward(halve(4), "expected 2")
    result = opt.step()
    assert not result.changed and result.calls == 1 and "resampled" not in result.details
    opt = OptoPrime([param], _OptionsSpy("TERMINATE", FIXED).llm)
    opt.backward(halve(4), "expected 2")
    assert opt.step().terminated and opt.history[-1].calls == 1
    with pytest.raises(ValueError, match="resample"):
        OptoPrime([param], spy.llm, resample=-1)
