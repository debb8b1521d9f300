"""Prices of hosted models, in USD per 1M input and output tokens.

The table holds OpenAI's published list prices (2025) for common models; a
dated model name (``gpt-4o-mini-2024-07-18``) uses its family's price. Models
not in the table (local servers, unknown names) cost 0: the meter then counts
their tokens but no money. Override or add prices with :func:`set_price` or the
``TRACE_ENGINE_PRICES`` environment variable (JSON ``{"model": [input, output]}``).
"""

from __future__ import annotations

import json
import os
import threading

from trace_engine.llm.base import Usage
from trace_engine.llm.errors import SpecError

PRICES: dict[str, tuple[float, float]] = {
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
}

_overrides: dict[str, tuple[float, float]] = {}
_lock = threading.Lock()


def set_price(model: str, input_per_million: float, output_per_million: float) -> None:
    """Set the USD price per 1M input/output tokens of ``model`` (and its dated versions)."""
    if input_per_million < 0 or output_per_million < 0:
        raise ValueError(f"prices must be >= 0, got {input_per_million}, {output_per_million}")
    with _lock:
        _overrides[model] = (float(input_per_million), float(output_per_million))


def _env_prices() -> dict[str, tuple[float, float]]:
    raw = os.environ.get("TRACE_ENGINE_PRICES")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
        return {str(k): (float(v[0]), float(v[1])) for k, v in data.items()}
    except (ValueError, TypeError, IndexError, AttributeError) as exc:
        raise SpecError(
            f'TRACE_ENGINE_PRICES must be JSON like {{"my-model": [0.5, 1.5]}}, got {raw!r} ({exc})'
        ) from exc


def price_for(model: str) -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens, or ``None`` when the price is unknown."""
    with _lock:
        tables = [_overrides, _env_prices(), PRICES]
    for table in tables:
        best = None
        for name in table:
            if (model == name or model.startswith(name + "-")) and (
                best is None or len(name) > len(best)
            ):
                best = name
        if best is not None:
            return table[best]
    return None


def cost_of(model: str, usage: Usage) -> float:
    """USD cost of ``usage`` on ``model``; 0 when its price is unknown."""
    price = price_for(model)
    if price is None:
        return 0.0
    return (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1_000_000
