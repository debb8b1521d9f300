"""Running many independent model calls at once, bounded (behind ``LLM.complete_many``).

A thread per call in flight: the calls are I/O (an HTTP request, or a wait on the
transformers batcher), so threads are enough, and every call keeps its own cache
lookup, retries, metering and budget reservation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from trace_engine.llm.base import Completion, Message, normalize_messages


def run_many(
    complete: Callable[..., Completion],
    batch: Sequence[str | Sequence[Message]],
    options: dict[str, Any],
    max_concurrency: int,
) -> list[Completion]:
    """``complete(msgs, **options)`` for each distinct conversation, at most
    ``max_concurrency`` at once; results in the order of ``batch``."""
    if isinstance(batch, str):
        raise TypeError("complete_many takes a list of conversations; for one prompt use complete")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
    conversations = [normalize_messages(m) for m in batch]
    keys = [json.dumps(m, sort_keys=True) for m in conversations]
    distinct = dict(zip(keys, conversations))
    if not distinct:
        return []
    with ThreadPoolExecutor(min(max_concurrency, len(distinct)), "llm-call") as pool:
        futures = {k: pool.submit(complete, m, **options) for k, m in distinct.items()}
        done, _ = wait(futures.values(), return_when=FIRST_EXCEPTION)
        failed = [f for f in futures.values() if f in done and f.exception() is not None]
        if failed:
            for f in futures.values():
                f.cancel()
            raise failed[0].exception()
    return [futures[k].result() for k in keys]
