"""Wrappers that report calls to a :class:`~trace_engine.llm.meter.Meter` and enforce budgets."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from trace_engine.llm.base import LLM, Completion, Message, Usage, normalize_messages
from trace_engine.llm.meter import (
    Budget,
    BudgetNotEnforceable,
    Estimate,
    Meter,
    active_budgets,
    get_meter,
    unpriced_budget_message,
)
from trace_engine.llm.wrapper import LLMWrapper

_CHARS_PER_TOKEN = 3.5
_TOKENS_PER_MESSAGE = 4


def estimate_prompt_tokens(messages: Sequence[Message]) -> int:
    """A deliberately generous token estimate for budget checks (no tokenizer needed)."""
    chars = sum(len(m["content"]) for m in messages)
    return math.ceil(chars / _CHARS_PER_TOKEN) + _TOKENS_PER_MESSAGE * len(messages)


class Metered(LLMWrapper):
    """Checks budgets before each call and reports the call to a meter after it.

    ``meter=None`` reports to the process-wide :func:`get_meter`. Budgets checked
    are ``budget`` (if given) and, unless ``active=False``, any made active with
    :meth:`Budget.active` (``active=False`` suits a Metered stacked over an LLM that
    already checks them, so that they are not charged twice). A cached completion
    spends nothing: it counts as a cache hit, not as a call.
    A USD limit on a backend whose price is unknown (``priced`` is false) raises
    :class:`BudgetNotEnforceable`, here or at the first call, instead of never
    being reached.
    """

    def __init__(
        self,
        inner: LLM,
        meter: Meter | None = None,
        budget: Budget | None = None,
        *,
        active: bool = True,
    ):
        super().__init__(inner)
        self.meter = meter
        self.budget = budget
        self.active = active
        if budget is not None:
            self._check_enforceable([budget])

    def _budgets(self) -> list[Budget]:
        found = [self.budget] if self.budget is not None else []
        if not self.active:
            return found
        return found + [b for b in active_budgets() if b is not self.budget]

    def _check_enforceable(self, budgets: list[Budget]) -> None:
        if any(b.max_usd is not None for b in budgets) and not self.inner.priced:
            raise BudgetNotEnforceable(unpriced_budget_message(self.id, self.model))

    def _reserve(self, msgs: list[Message], options: dict) -> list[tuple[Budget, Estimate]]:
        budgets = self._budgets()
        if not budgets:
            return []
        self._check_enforceable(budgets)
        prompt = estimate_prompt_tokens(msgs)
        completion = (options.get("max_tokens") or 0) * max(1, options.get("n", 1))
        estimate = Estimate(prompt + completion, self.inner.cost_of(Usage(prompt, completion)))
        held: list[tuple[Budget, Estimate]] = []
        try:
            for b in budgets:
                held.append((b, b.reserve(estimate)))
        except BaseException:
            for b, r in held:
                b.settle(r, None, 0.0, 0.0)
            raise
        return held

    def _finish(self, held, result: Completion | None, seconds: float) -> None:
        meter = self.meter or get_meter()
        spent = result is not None and not result.cached
        usage = result.usage if spent else None
        cost = result.cost if spent else 0.0
        for b, r in held:
            b.settle(r, usage, cost, seconds if spent else 0.0)
        if result is None:
            meter.record_error(self.id, seconds)
        elif result.cached:
            meter.record_hit(self.id)
        else:
            meter.record_call(self.id, result.usage, result.cost, seconds)

    def complete(self, messages: str | Sequence[Message], **options: Any) -> Completion:
        msgs = normalize_messages(messages)
        held = self._reserve(msgs, options)
        start = time.perf_counter()
        result = None
        try:
            result = self.inner.complete(msgs, **options)
            return result
        finally:
            self._finish(held, result, time.perf_counter() - start)

    async def acomplete(self, messages: str | Sequence[Message], **options: Any) -> Completion:
        msgs = normalize_messages(messages)
        held = self._reserve(msgs, options)
        start = time.perf_counter()
        result = None
        try:
            result = await self.inner.acomplete(msgs, **options)
            return result
        finally:
            self._finish(held, result, time.perf_counter() - start)


class Tagged(LLMWrapper):
    """Attributes every call through it to ``tag`` in the meter, in whatever thread it runs."""

    def __init__(self, inner: LLM, tag: str, meter: Meter | None = None):
        super().__init__(inner)
        self.tag = tag
        self.meter = meter

    def complete(self, messages: str | Sequence[Message], **options: Any) -> Completion:
        with (self.meter or get_meter()).tag(self.tag):
            return self.inner.complete(messages, **options)

    async def acomplete(self, messages: str | Sequence[Message], **options: Any) -> Completion:
        with (self.meter or get_meter()).tag(self.tag):
            return await self.inner.acomplete(messages, **options)


def tagged(llm: Any, tag: str) -> LLM:
    """``llm`` (anything :func:`as_llm` accepts) with every call attributed to ``tag``."""
    from trace_engine.llm.base import as_llm

    return Tagged(as_llm(llm), tag)
