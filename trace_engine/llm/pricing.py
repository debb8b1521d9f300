"""Prices of hosted models, in USD per 1M input and output tokens.

Where a price comes from, first match wins:

1. prices the user gave: :func:`set_price`, or the ``TRACE_ENGINE_PRICES``
   environment variable (JSON ``{"model": [input, output]}``);
2. for OpenAI and LiteLLM models, LiteLLM's price table when ``litellm`` is
   installed (the ``litellm`` extra);
3. for OpenAI models, the built-in table below (OpenAI's list prices, 2025).

Names match exactly, or as a dated snapshot of a listed name
(``gpt-4o-2024-08-06`` is priced as ``gpt-4o`` unless the snapshot is listed
itself); ``o3-pro`` is its own model, never ``o3``. A model served by an
``openai-compatible`` server is priced only by the user (unless the URL is
OpenAI's own API): such servers are usually local and free, and a name there
says nothing about a price.
A backend without a known price cannot enforce a USD budget (see
:class:`~trace_engine.llm.metered.Metered`).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import re
import threading

from trace_engine.llm.base import Usage
from trace_engine.llm.errors import SpecError

PRICES: dict[str, tuple[float, float]] = {
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5-pro": (15.00, 120.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-2024-05-13": (5.00, 15.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o1-pro": (150.00, 600.00),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o3-pro": (20.00, 80.00),
    "o4-mini": (1.10, 4.40),
}

TABLES = ("openai", "litellm", "user")
"""Which tables a backend is priced from: ``openai`` (user, LiteLLM, built-in),
``litellm`` (user, LiteLLM) and ``user`` (user prices only)."""

log = logging.getLogger(__name__)
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")
_overrides: dict[str, tuple[float, float]] = {}
_lock = threading.Lock()
_warned: set[str] = set()


def set_price(model: str, input_per_million: float, output_per_million: float) -> None:
    """Set the USD price per 1M input/output tokens of ``model`` (and its dated versions)."""
    for value in (input_per_million, output_per_million):
        if not (value >= 0 and value != float("inf")):
            raise ValueError(f"prices must be finite and >= 0, got {value}")
    with _lock:
        _overrides[model] = (float(input_per_million), float(output_per_million))


def _env_prices() -> dict[str, tuple[float, float]]:
    raw = os.environ.get("TRACE_ENGINE_PRICES")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
        prices = {str(k): (float(v[0]), float(v[1])) for k, v in data.items()}
    except (ValueError, TypeError, IndexError, AttributeError, KeyError) as exc:
        raise SpecError(
            f'TRACE_ENGINE_PRICES must be JSON like {{"my-model": [0.5, 1.5]}} (USD per 1M '
            f"input and output tokens), got {raw!r} ({exc})"
        ) from None
    for name, pair in prices.items():
        if not all(0 <= v < float("inf") for v in pair):
            raise SpecError(f"TRACE_ENGINE_PRICES: the price of {name!r} must be finite and >= 0")
    return prices


def _lookup(table: dict[str, tuple[float, float]], model: str) -> tuple[float, float] | None:
    """Exact name first, then the name without a date suffix."""
    if model in table:
        return table[model]
    undated = _DATE_SUFFIX.sub("", model)
    return table.get(undated) if undated != model else None


def price_for(model: str, table: str = "openai") -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens of ``model``, or ``None`` when unknown.

    ``table`` is one of :data:`TABLES`: which sources are consulted beyond the
    user's own prices.
    """
    if table not in TABLES:
        raise ValueError(f"table must be one of {TABLES}, got {table!r}")
    with _lock:
        user = dict(_overrides)
    for source in (user, _env_prices()):
        price = _lookup(source, model)
        if price is not None:
            return price
    if table == "user":
        return None
    price = litellm_price(model if table == "litellm" else f"openai/{model}")
    if price is None and table == "openai":
        price = _lookup(PRICES, model)
    return price


@functools.lru_cache(maxsize=256)
def litellm_price(model: str) -> tuple[float, float] | None:
    """The price LiteLLM's table gives ``model`` (``provider/name``), if litellm is installed."""
    if importlib.util.find_spec("litellm") is None:
        return None
    import litellm

    try:
        info = litellm.get_model_info(model=model)
    except Exception:  # litellm raises a bare Exception for unmapped models
        return None
    per_in, per_out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if per_in is None or per_out is None:
        return None
    return (float(per_in) * 1e6, float(per_out) * 1e6)


def cost_of(model: str, usage: Usage, table: str = "openai") -> float:
    """USD cost of ``usage`` on ``model``; 0 when its price is unknown."""
    price = price_for(model, table)
    return 0.0 if price is None else usd(price, usage)


def usd(price: tuple[float, float], usage: Usage) -> float:
    """USD cost of ``usage`` at ``price`` (per 1M input and output tokens)."""
    return (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1_000_000


def price_hint(model: str) -> str:
    """How to give ``model`` a price (the end of an error or warning)."""
    return (
        f"give its price in USD per 1M input and output tokens with "
        f"TRACE_ENGINE_PRICES='{{\"{model}\": [IN, OUT]}}', ?price=IN,OUT after an "
        f"openai-compatible spec's model, or trace_engine.llm.set_price"
    )


def warn_unpriced(backend_id: str, model: str, *, paid: bool) -> None:
    """Say once per backend that its calls count $0 (a warning where it charges)."""
    with _lock:
        if backend_id in _warned:
            return
        _warned.add(backend_id)
    (log.warning if paid else log.info)(
        "no price is known for %s: its calls are counted as $0 and a USD budget on it is "
        "refused; %s",
        backend_id,
        price_hint(model),
    )
