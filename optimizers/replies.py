"""Reading an optimizer LLM's reply, whether or not a schema constrained it.

A backend that enforces the JSON schema returns clean JSON; others wrap it in
code fences, add prose, use single quotes, or drop the ``suggestion`` wrapper.
``TERMINATE`` means "no change" only when it is the whole reply, never when the
word merely appears inside one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from trace_engine.errors import TraceEngineError
from trace_engine.llm import parse_json_lenient

TERMINATE = "TERMINATE"


class ReplyError(TraceEngineError, ValueError):
    """The reply holds no usable answer; nothing is changed."""


@dataclass
class Reply:
    """What an optimizer reply says: why, a free-text answer, and new values by name."""

    reasoning: str = ""
    answer: str = ""
    suggestion: dict[str, Any] = field(default_factory=dict)
    terminated: bool = False


def is_terminate(text: str) -> bool:
    """True when the whole reply is the word TERMINATE (quotes, backticks, a period allowed)."""
    return text.strip().strip("\"'`.").strip().upper() == TERMINATE


def read_object(text: str, parsed: Any = None) -> dict[str, Any]:
    """The JSON object in a reply: ``parsed`` when the backend parsed it, else found leniently."""
    value = parsed
    if not isinstance(value, dict):
        try:
            value = parse_json_lenient(text)
        except ValueError as exc:
            raise ReplyError(f"the reply is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ReplyError(f"the reply must be a JSON object, got a JSON {type(value).__name__}")
    return value


def read_reply(text: str, parsed: Any = None, names: Collection[str] = ()) -> Reply:
    """Read ``{"reasoning", "answer", "suggestion": {name: value}}``.

    When ``suggestion`` is missing but top-level keys are variable ``names``,
    those keys are taken as the suggestion (small models often flatten it).
    """
    if is_terminate(text):
        return Reply(terminated=True)
    value = read_object(text, parsed)
    suggestion = value.get("suggestion")
    if suggestion is None:
        suggestion = {k: v for k, v in value.items() if k in names}
    if not isinstance(suggestion, dict):
        raise ReplyError(
            "'suggestion' must be an object mapping variable names to new values, "
            f"got a JSON {type(suggestion).__name__}"
        )
    return Reply(
        reasoning=_text(value.get("reasoning")),
        answer=_text(value.get("answer")),
        suggestion=suggestion,
    )


def merge_replies(replies: Sequence[Reply]) -> Reply:
    """One reply from the replies of a step's calls (values, functions, drafts)."""
    if not replies:
        return Reply()
    if len(replies) == 1:
        return replies[0]
    return Reply(
        reasoning="\n".join(r.reasoning for r in replies if r.reasoning),
        answer=next((r.answer for r in replies if r.answer), ""),
        suggestion={k: v for r in replies for k, v in r.suggestion.items()},
        terminated=all(r.terminated for r in replies),
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)
