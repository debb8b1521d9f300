"""What an optimizer's call asks for: the JSON schema of its reply and the room it needs.

The schema sent with a JSON call lists exactly the trainable variables with
their JSON types, so a backend that enforces schemas (llama.cpp grammars,
OpenAI structured output) cannot suggest changes to inputs or invent names.
"""

from __future__ import annotations

from typing import Any

from optimizers.problem import estimate_tokens
from optimizers.values import value_schema
from trace_engine import CodeParameter, Parameter

REASONING_CHARS = 600
"""Longest reasoning the schema allows: keeps small models from rambling."""
REQUIRE_ALL_UP_TO = 4
"""With at most this many variables, the schema asks for a value for each of them."""


def suggestion_schema(parameters: list[Parameter]) -> dict[str, Any]:
    """The reply's JSON schema: suggestion keys limited to ``parameters``' names and types."""
    suggestion: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: value_schema(p) for p in parameters},
        "additionalProperties": False,
    }
    if len(parameters) <= REQUIRE_ALL_UP_TO:
        suggestion["required"] = [p.name for p in parameters]
    return {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string", "maxLength": REASONING_CHARS},
            "suggestion": suggestion,
            "answer": {"type": "string"},
        },
        "required": ["reasoning", "suggestion"],
        "additionalProperties": False,
    }


def reply_tokens(parameters: list[Parameter]) -> int:
    """Room for a reply: the reasoning plus each value, code and text given extra room."""
    room = 250
    for p in parameters:
        size = estimate_tokens(p.data if isinstance(p.data, str) else repr(p.data))
        room += 2 * size + 40 if isinstance(p, CodeParameter) or isinstance(p.data, str) else 30
    return min(room, 4000)
