"""A routing target: a model, or one configuration of a model.

Two backends may share a model and differ in how it is asked: a direct answer
versus chain-of-thought (a system instruction and a larger ``max_tokens``),
best-of-n with a majority vote, or a prompt rewritten with worked examples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agents.dynaicl.examples import normalize_answer
from trace_engine.llm.base import LLM, Completion, Message, as_llm, normalize_messages


class Backend:
    """A named way of answering a request.

    ``system`` is added as (or in front of) the system message; ``options``
    override the caller's options (e.g. ``{"max_tokens": 256}``); ``samples > 1``
    draws that many answers at ``temperature`` and returns the most common one
    (compared by ``key``, by default the normalized first line). ``rewrite`` turns
    the text of the last user message into the text sent instead (e.g. a few-shot
    prompt around the request).
    """

    def __init__(
        self,
        name: str,
        llm: LLM | Callable | str | None,
        *,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        samples: int = 1,
        temperature: float = 0.7,
        key: Callable[[str], str] = normalize_answer,
        rewrite: Callable[[str], str] | None = None,
    ):
        if not name or not isinstance(name, str):
            raise ValueError("a backend needs a non-empty name")
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        self.name = name
        self.llm = as_llm(llm)
        self.system = system
        self.options = dict(options or {})
        self.samples = samples
        self.temperature = temperature
        self.key = key
        self.rewrite = rewrite

    def messages(self, messages: str | Sequence[Message]) -> list[Message]:
        msgs = normalize_messages(messages)
        if self.rewrite is not None:
            last = max(i for i, m in enumerate(msgs) if m["role"] == "user")
            msgs[last] = {**msgs[last], "content": self.rewrite(msgs[last]["content"])}
        if not self.system:
            return msgs
        if msgs[0]["role"] == "system":
            merged = f"{self.system}\n\n{msgs[0]['content']}"
            return [{"role": "system", "content": merged}, *msgs[1:]]
        return [{"role": "system", "content": self.system}, *msgs]

    def complete(self, messages: str | Sequence[Message], **options: Any) -> Completion:
        merged = {**options, **self.options}
        msgs = self.messages(messages)
        if self.samples == 1:
            return self.llm.complete(msgs, **merged)
        merged["n"] = self.samples
        merged.setdefault("seed", 0)
        merged["temperature"] = max(float(merged.get("temperature") or 0.0), self.temperature)
        result = self.llm.complete(msgs, **merged)
        votes = Counter(self.key(t) for t in result.texts)
        winner = votes.most_common(1)[0][0]
        chosen = next(t for t in result.texts if self.key(t) == winner)
        return Completion(
            texts=[chosen],
            usage=result.usage,
            cost=result.cost,
            latency=result.latency,
            backend=result.backend,
            model=result.model,
            cached=result.cached,
        )

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, {self.llm.id})"
