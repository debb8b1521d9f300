"""From a suggested value to a value a parameter will accept.

An LLM answers in JSON, so a suggestion arrives as a JSON type. Here it is given
back the parameter's own type (``"5"`` or ``5.0`` for an int, a list for a tuple,
a JSON text for a dict, ...), code is cleaned up (fences, stray indentation,
decorators, doubly escaped newlines) and formatted, new code that leaves out the
function's docstring gets the current docstring back (it is the function's
specification: a rewrite that drops it would hide the task from every later
step), and the JSON schema telling a backend which types to produce is built. Anything that cannot be converted raises
:class:`~trace_engine.errors.InvalidUpdate` with the reason.
"""

from __future__ import annotations

import ast
import json
import math
import re
import textwrap
from typing import Any

from trace_engine import Choices, CodeParameter, InvalidUpdate, Parameter
from trace_engine.llm import parse_json_lenient
from trace_engine.source import find_function, first_line

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_+-]*[ \t]*\n(.*?)\n?```\s*$", re.DOTALL)
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}
_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    tuple: "array",
    dict: "object",
}


def type_label(param: Parameter) -> str:
    """How a parameter's type is named in prompts: ``code``, ``int``, ``str``, ..."""
    return "code" if isinstance(param, CodeParameter) else type(param.data).__name__


def value_schema(param: Parameter) -> dict[str, Any]:
    """The JSON schema of one suggested value (``{}`` accepts any JSON value)."""
    if isinstance(param, CodeParameter):
        return {"type": "string"}
    if isinstance(param.constraint, Choices) and all(
        isinstance(o, (str, int, float, bool)) for o in param.constraint.options
    ):
        return {"enum": list(param.constraint.options)}
    kind = _JSON_TYPES.get(type(param.data))
    return {"type": kind} if kind else {}


def convert(param: Parameter, value: Any) -> Any:
    """``value`` in ``param``'s type, or ``InvalidUpdate`` saying why it cannot be."""
    if isinstance(param, CodeParameter):
        if not isinstance(value, str):
            raise InvalidUpdate(f"expected the function's source as a string, got {_kind(value)}")
        return keep_docstring(format_code(value, param.fn_name), param.data, param.fn_name)
    current = param.data
    target = type(current)
    if current is None or target not in _JSON_TYPES:
        return value
    try:
        converted = _CONVERTERS[target](value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidUpdate(f"cannot use {_preview(value)} as {target.__name__}: {exc}") from None
    return converted


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("expected true or false")


def _to_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"expected a number, got {_kind(value)}")
    number = float(value.strip()) if isinstance(value, str) else value
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError("the number is not finite")
    return number


def _to_int(value: Any) -> int:
    number = _to_number(value)
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError("it is not a whole number")
        number = int(number)
    return number


def _to_float(value: Any) -> float:
    return float(_to_number(value))


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return json.dumps(value)
    raise TypeError(f"expected text, got {_kind(value)}")


def _structured(value: Any, kind: type) -> Any:
    if isinstance(value, str):
        value = parse_json_lenient(value)
    if isinstance(value, (list, tuple)) and kind in (list, tuple):
        return kind(value)
    if isinstance(value, dict) and kind is dict:
        return value
    raise TypeError(f"expected a JSON {_JSON_TYPES[kind]}, got {_kind(value)}")


_CONVERTERS = {
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    str: _to_str,
    list: lambda v: _structured(v, list),
    tuple: lambda v: _structured(v, tuple),
    dict: lambda v: _structured(v, dict),
}


def format_code(source: str, fn_name: str) -> str:
    """Normalize suggested source: unfenced, dedented, decorators of ``fn_name`` removed,
    tabs expanded, trailing spaces and runs of blank lines trimmed, one final newline.

    Source written with literal ``\\n`` sequences instead of line breaks (a common
    small-model slip when writing code inside JSON) is unescaped first.
    """
    fenced = _FENCE.match(source)
    if fenced:
        source = fenced.group(1)
    if "\n" not in source.strip() and "\\n" in source:
        source = source.replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"')
    source = textwrap.dedent(source.expandtabs(4)).strip("\n")
    lines = [line.rstrip() for line in source.splitlines()]
    lines = _without_decorators(lines, fn_name)
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip("\n") + "\n"


def docstring_node(definition: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Expr | None:
    """The statement holding the function's docstring, or ``None`` when it has none."""
    first = definition.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first
    return None


def keep_docstring(source: str, previous: str, fn_name: str) -> str:
    """``source`` with ``previous``'s docstring of ``fn_name`` put back if ``source`` has none.

    Left as it is when either does not parse, ``source`` has a docstring of its
    own, its body starts on the ``def`` line, or the docstring cannot be re-indented.
    """
    new, old = find_function(source, fn_name), find_function(previous, fn_name)
    if new is None or old is None or docstring_node(new) is not None:
        return source
    docstring = docstring_node(old)
    body = new.body[0]
    if docstring is None or body.lineno == new.lineno:
        return source
    old_lines = previous.splitlines()[docstring.lineno - 1 : docstring.end_lineno]
    lines = source.splitlines()
    indent = lines[body.lineno - 1][: body.col_offset]
    quoted = textwrap.indent(textwrap.dedent("\n".join(old_lines)), indent)
    first = min([body.lineno] + [d.lineno for d in getattr(body, "decorator_list", [])])
    result = "\n".join(lines[: first - 1] + quoted.splitlines() + lines[first - 1 :]) + "\n"
    return result if find_function(result, fn_name) is not None else source


def _without_decorators(lines: list[str], fn_name: str) -> list[str]:
    definition = find_function("\n".join(lines), fn_name)
    if definition is None or not definition.decorator_list:
        return lines
    return lines[: first_line(definition) - 1] + lines[definition.lineno - 1 :]


def jsonable(value: Any) -> Any:
    """``value`` if JSON can hold it, else its ``repr`` (for state dicts and memory)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value
