import pytest

from optimizers.replies import ReplyError, read_reply
from optimizers.schemas import suggestion_schema
from optimizers.values import convert, format_code, value_schema
from trace_engine import Choices, InvalidUpdate, bundle, node


@pytest.mark.parametrize(
    "text",
    [
        '{"reasoning": "r", "suggestion": {"x": 5}}',
        'Sure!\n```json\n{"reasoning": "r", "suggestion": {"x": 5}}\n```\nHope that helps.',
        '{"reasoning": "r", "suggestion": {"x": 5}} and then some trailing words',
        "{'reasoning': 'r', 'suggestion': {'x': 5},}",
        '{"reasoning": "r", "x": 5}',
    ],
    ids=["plain", "fenced", "trailing", "single-quotes", "flattened"],
)
def test_tolerant_parsing_of_good_and_sloppy_replies(text):
    reply = read_reply(text, names=["x"])
    assert reply.suggestion == {"x": 5}
    assert reply.reasoning == "r" and not reply.terminated


def test_terminate_only_when_it_is_the_whole_reply():
    assert read_reply(" TERMINATE. ").terminated
    assert read_reply("`terminate`").terminated
    reply = read_reply('{"reasoning": "TERMINATE", "suggestion": {"x": 1}}', names=["x"])
    assert not reply.terminated and reply.suggestion == {"x": 1}
    with pytest.raises(ReplyError):
        read_reply("I think we should TERMINATE now")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "not JSON"),
        ("no json here at all", "not JSON"),
        ("[1, 2, 3]", "JSON object"),
        ('{"reasoning": "r", "suggestion": [1, 2]}', "'suggestion' must be an object"),
        ('{"reasoning": "r", "suggestion": "x=5"}', "'suggestion' must be an object"),
    ],
)
def test_malformed_replies_raise_reply_error(text, message):
    with pytest.raises(ReplyError, match=message):
        read_reply(text, names=["x"])


def test_backend_parsed_json_is_used_when_present():
    reply = read_reply("garbage", {"reasoning": "ok", "suggestion": {"x": 2}, "answer": 42})
    assert reply.suggestion == {"x": 2} and reply.answer == "42"


@pytest.mark.parametrize(
    "start, value, expected",
    [
        (3, "5", 5),
        (3, 5.0, 5),
        (3, " 7 ", 7),
        (1.5, 2, 2.0),
        (1.5, "2.25", 2.25),
        (True, "false", False),
        (True, 1, True),
        ("text", 12, "12"),
        ([1], "[1, 2]", [1, 2]),
        ((1, 2), [3, 4], (3, 4)),
        ({"a": 1}, "{'b': 2}", {"b": 2}),
        (None, {"any": "thing"}, {"any": "thing"}),
    ],
)
def test_values_are_converted_to_the_parameters_type(start, value, expected):
    p = node(start, trainable=True, name="conv")
    converted = convert(p, value)
    assert converted == expected and type(converted) is type(expected)


@pytest.mark.parametrize(
    "start, value, reason",
    [
        (3, 2.5, "whole number"),
        (3, "five", "cannot use"),
        (3, True, "expected a number"),
        (1.5, float("inf"), "not finite"),
        (1.5, [1], "expected a number"),
        (True, "maybe", "true or false"),
        ("text", {"a": 1}, "expected text"),
        ([1], {"a": 1}, "expected a JSON array"),
        ({"a": 1}, "not json", "cannot use"),
    ],
)
def test_unconvertible_values_are_refused_with_a_reason(start, value, reason):
    p = node(start, trainable=True, name="conv_bad")
    with pytest.raises(InvalidUpdate, match=reason):
        convert(p, value)


def test_code_is_unfenced_dedented_undecorated_and_unescaped():
    fenced = "```python\n    @bundle(trainable=True)\n    def f(a):\n    \treturn a + 1   \n\n\n\n    \n```"
    assert format_code(fenced, "f") == "def f(a):\n    return a + 1\n"
    escaped = "def f(a):\\n    return a * 2"
    assert format_code(escaped, "f") == "def f(a):\n    return a * 2\n"
    keeps_imports = "import math\n\ndef f(a):\n    return math.floor(a)\n"
    assert format_code(keeps_imports, "f") == keeps_imports


def test_schemas_carry_names_and_json_types():
    @bundle(trainable=True)
    def schema_fn(a):
        return a

    n = node(1, trainable=True, name="schema_n")
    mode = node("a", trainable=True, name="schema_mode", constraint=Choices(["a", "b"]))
    code = schema_fn.parameters()[0]
    assert value_schema(n) == {"type": "integer"}
    assert value_schema(mode) == {"enum": ["a", "b"]}
    assert value_schema(code) == {"type": "string"}
    schema = suggestion_schema([n, mode, code])
    suggestion = schema["properties"]["suggestion"]
    assert suggestion["additionalProperties"] is False
    assert set(suggestion["properties"]) == {"schema_n", "schema_mode", code.name}
    assert suggestion["required"] == ["schema_n", "schema_mode", code.name]
    assert schema["required"] == ["reasoning", "suggestion"]
