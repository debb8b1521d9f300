"""Scripted LLMs for optimizer tests: canned replies, every prompt recorded."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest


class Scripted:
    """A ``messages -> str`` callable answering from a list (the last reply repeats)."""

    def __init__(self, *replies: Any):
        self.replies = [r if isinstance(r, str) or callable(r) else json.dumps(r) for r in replies]
        self.prompts: list[list[dict[str, str]]] = []

    def __call__(self, messages: list[dict[str, str]]) -> str:
        self.prompts.append(messages)
        reply = self.replies[min(len(self.prompts), len(self.replies)) - 1]
        return reply(messages) if callable(reply) else reply

    @property
    def last_user(self) -> str:
        return self.prompts[-1][-1]["content"]


def suggest(reasoning: str = "because", **values: Any) -> str:
    return json.dumps({"reasoning": reasoning, "suggestion": values})


def failing(exc: Exception) -> Callable[[list], str]:
    def reply(messages: list) -> str:
        raise exc

    return reply


@pytest.fixture
def scripted():
    """Make a scripted LLM: ``scripted(reply, reply, ...)``."""
    return Scripted


@pytest.fixture
def suggest_reply():
    """Make an OptoPrime reply: ``suggest_reply(x=5)``."""
    return suggest
