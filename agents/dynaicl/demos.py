"""Choosing which demonstrations go into a prompt: most similar (TF-IDF cosine) or random.

Selection never returns the query itself as its own demonstration, and the
random choice is seeded by the query text so a rerun picks the same demos.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from typing import Any

from agents.dynaicl.examples import Example, as_examples
from trace_engine.errors import TraceEngineError

STRATEGIES = ("similar", "random")


class EmptyDemoPool(TraceEngineError, ValueError):
    """A demonstration pool with nothing in it was given where demos are needed."""


class DemoSelector:
    """Picks ``k`` demonstrations from a pool for an input.

    ``strategy="similar"`` orders the pool by TF-IDF (character n-gram) cosine
    similarity to the input and puts the most similar demo last, nearest the
    query; ``"random"`` draws ``k`` at random, seeded by ``seed`` and the input.
    """

    def __init__(self, pool: Iterable[Any], strategy: str = "similar", seed: int = 0):
        self.pool = as_examples(pool, "demo pool")
        if not self.pool:
            raise EmptyDemoPool("the demonstration pool is empty: give at least one example")
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown demo strategy {strategy!r}; choose one of {STRATEGIES}")
        self.strategy = strategy
        self.seed = seed
        self._vectorizer = None
        self._matrix = None
        if strategy == "similar":
            from sklearn.feature_extraction.text import TfidfVectorizer

            self._vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4))
            self._matrix = self._vectorizer.fit_transform([e.input for e in self.pool])

    def eligible(self, x: str) -> list[int]:
        """Indices of pool examples that may serve as demos for ``x`` (not ``x`` itself)."""
        return [i for i, e in enumerate(self.pool) if e.input != x]

    def max_k(self, x: str) -> int:
        return len(self.eligible(x))

    def select(self, x: str, k: int) -> list[Example]:
        """``k`` demonstrations for ``x``; raises ``ValueError`` when the pool is too small."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be a non-negative int, got {k!r}")
        if k == 0:
            return []
        candidates = self.eligible(x)
        if k > len(candidates):
            raise ValueError(
                f"asked for {k} demonstrations but the pool has only {len(candidates)} "
                f"usable for this input ({len(self.pool)} in all)"
            )
        if self.strategy == "random":
            rng = random.Random(_stable_seed(self.seed, x))
            return [self.pool[i] for i in rng.sample(candidates, k)]
        scores = (self._matrix[candidates] @ self._vectorizer.transform([x]).T).toarray().ravel()
        ranked = sorted(range(len(candidates)), key=lambda j: (-scores[j], candidates[j]))[:k]
        return [self.pool[candidates[j]] for j in reversed(ranked)]


def _stable_seed(seed: int, text: str) -> int:
    digest = hashlib.sha256(f"{seed}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
