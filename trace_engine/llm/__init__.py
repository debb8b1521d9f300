"""The LLM layer: every model call in trace-engine goes through here.

Quick start::

    from trace_engine.llm import get_llm, get_meter
    llm = get_llm()                      # embedded local model, or $TRACE_ENGINE_LLM
    c = llm.complete("Say hi", max_tokens=8)
    c.text, c.usage, c.cost, c.cached    # per-call accounting
    with get_meter().tag("my-step") as used:
        llm.complete("...")
    used.total_tokens, used.cost         # what this block spent
    check_llm("openai:gpt-4o-mini")      # before a run: raises LLMError, one line with the fix

Importing this package is cheap: ``llama_cpp``, ``openai``, ``torch``,
``diskcache`` and ``tenacity`` are imported by the backends on first use.
"""

from trace_engine.llm.base import (
    LLM,
    CallableLLM,
    Completion,
    Message,
    Usage,
    as_llm,
    normalize_messages,
)
from trace_engine.llm.cache import Cached, cache_stats, clear_cache, default_cache_dir
from trace_engine.llm.errors import (
    ContextWindowExceeded,
    LLMError,
    LLMUnavailable,
    MissingDependency,
    ModelFilesError,
    SchemaNotSupported,
    SpecError,
)
from trace_engine.llm.gpu import TransformersLLM
from trace_engine.llm.jsonparse import parse_json_lenient
from trace_engine.llm.local import EmbeddedLLM, LlamaCppLLM
from trace_engine.llm.meter import (
    Budget,
    BudgetExceeded,
    BudgetNotEnforceable,
    Meter,
    UsageStats,
    get_meter,
)
from trace_engine.llm.metered import Metered, Tagged, tagged
from trace_engine.llm.openai_compat import OpenAICompatible
from trace_engine.llm.preflight import check_llm
from trace_engine.llm.pricing import set_price
from trace_engine.llm.registry import get_llm
from trace_engine.llm.retry import Retrying
from trace_engine.llm.wrapper import LLMWrapper

__all__ = [
    "LLM",
    "Budget",
    "BudgetExceeded",
    "BudgetNotEnforceable",
    "Cached",
    "CallableLLM",
    "Completion",
    "ContextWindowExceeded",
    "EmbeddedLLM",
    "LlamaCppLLM",
    "OpenAICompatible",
    "TransformersLLM",
    "LLMError",
    "LLMUnavailable",
    "LLMWrapper",
    "Message",
    "Meter",
    "Metered",
    "MissingDependency",
    "ModelFilesError",
    "Retrying",
    "SchemaNotSupported",
    "SpecError",
    "Tagged",
    "Usage",
    "UsageStats",
    "as_llm",
    "cache_stats",
    "check_llm",
    "clear_cache",
    "default_cache_dir",
    "get_llm",
    "get_meter",
    "normalize_messages",
    "parse_json_lenient",
    "set_price",
    "tagged",
]
