"""Hostile replies for security tests: an LLM that answers every call with given code."""

from __future__ import annotations

import json

from optimizers import OPRO, OptoPrime, OptoPrimeMulti, TextGrad


def replying_with(code: str):
    """A ``messages -> str`` LLM whose every update is ``code`` in a python block.

    TextGrad's critique calls (user text starting with ``Step:``) get a critique
    of each asked input, so every optimizer reaches its update.
    """

    def reply(messages: list[dict[str, str]]) -> str:
        user = messages[-1]["content"]
        if user.startswith("Step:"):
            asked = user.rsplit("Give feedback for: ", 1)[1].split(", ")
            return json.dumps({arg: "it is wrong" for arg in asked})
        return f"Use this.\n```python\n{code}\n```"

    return reply


OPTIMIZERS = {
    "OptoPrime": lambda params, llm: OptoPrime(params, llm, resample=2),
    "OptoPrimeMulti": lambda params, llm: OptoPrimeMulti(params, llm, n=2, select="majority"),
    "OPRO": lambda params, llm: OPRO(params, llm),
    "TextGrad": lambda params, llm: TextGrad(params, llm),
}
