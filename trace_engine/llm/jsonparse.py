"""Tolerant JSON extraction from model output.

Small models wrap JSON in code fences, add a sentence after it, use single
quotes or write Python literals (``True``, ``None``, trailing commas). This
module finds the first JSON value in such text instead of failing on it.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import Any

_FENCE = re.compile(r"```[ \t]*[A-Za-z0-9_+-]*[ \t]*\n?(.*?)```", re.DOTALL)
_PY_NAMES = {"true": "True", "false": "False", "null": "None"}
_MAX_CANDIDATES = 32


def parse_json_lenient(text: str) -> Any:
    """Return the first JSON value found in ``text``.

    Tries, in order: the whole text as JSON; the contents of each fenced code
    block; then each ``{`` or ``[`` in the text, parsed as JSON (ignoring what
    follows the value) or as a Python literal (single quotes, ``True``/``None``,
    ``true``/``null``, trailing commas, tuples become lists). Raw line breaks and
    tabs inside strings are accepted (models write multi-line values that way).

    Raises ``ValueError`` naming the problem when nothing in the text parses.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_json_lenient expects str, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise ValueError("no JSON found: the text is empty")
    try:
        return json.loads(stripped, strict=False)
    except ValueError:
        pass
    for block in _FENCE.findall(stripped):
        value = _first_value(block.strip())
        if value is not _NOTHING:
            return value
    value = _first_value(stripped)
    if value is not _NOTHING:
        return value
    preview = stripped if len(stripped) <= 200 else stripped[:200] + "..."
    raise ValueError(f"no JSON object or array could be parsed from the text: {preview!r}")


def parse_samples(texts: list[str]) -> list[Any]:
    """Parse each sample leniently; a sample that does not parse becomes ``None``."""
    out = []
    for text in texts:
        try:
            out.append(parse_json_lenient(text))
        except ValueError:
            out.append(None)
    return out


def with_schema_instruction(messages: list[dict], schema: dict) -> list[dict]:
    """``messages`` with an instruction to answer with JSON matching ``schema``.

    For backends that cannot enforce a schema: the answer is then parsed with
    :func:`parse_json_lenient`.
    """
    note = (
        "Reply with only a JSON value that conforms to this JSON schema, no other text:\n"
        + json.dumps(schema)
    )
    if messages and messages[0]["role"] == "system":
        return [
            {"role": "system", "content": messages[0]["content"] + "\n\n" + note},
            *messages[1:],
        ]
    return [{"role": "system", "content": note}, *messages]


_NOTHING = object()


def _first_value(text: str) -> Any:
    try:
        return json.loads(text, strict=False)
    except ValueError:
        pass
    decoder = json.JSONDecoder(strict=False)
    for start in _candidate_starts(text):
        try:
            return decoder.raw_decode(text, start)[0]
        except ValueError:
            pass
        end = _matching_close(text, start)
        if end is None:
            continue
        try:
            return _to_json_types(ast.literal_eval(_pythonize(text[start : end + 1])))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return _NOTHING


def _candidate_starts(text: str) -> Iterator[int]:
    count = 0
    for i, ch in enumerate(text):
        if ch in "{[":
            yield i
            count += 1
            if count >= _MAX_CANDIDATES:
                return


def _matching_close(text: str, start: int) -> int | None:
    """Index of the bracket closing the one at ``start``, skipping quoted strings."""
    depth = 0
    quote = None
    i = start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _pythonize(text: str) -> str:
    """Rewrite JSON's ``true``/``false``/``null`` outside strings as Python names."""
    out = []
    quote = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            out.append(ch)
        elif ch.isalpha():
            j = i
            while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            out.append(_PY_NAMES.get(word, word))
            i = j
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _to_json_types(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_to_json_types(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json_types(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(f"{type(value).__name__} is not a JSON type")
