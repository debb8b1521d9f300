"""A learned success predictor: from a request's text, P(each backend answers it well).

Trained from logged outcomes (request, backend, success, cost). Features are
TF-IDF character n-grams plus simple size statistics (length, digits,
operators), with one logistic regression per backend. A backend whose logs
are all successes or all failures gets that constant rate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_DIGITS = re.compile(r"\d")
_OPERATORS = re.compile(r"[-+*/()=<>%^]")


@dataclass(frozen=True)
class Outcome:
    """One logged attempt: which backend answered the request, was it right, what it cost."""

    request: str
    backend: str
    success: bool
    cost: float
    text: str = ""


def size_features(texts: Sequence[str]) -> np.ndarray:
    """Per text: log length, log word count, share of digits, count of operator symbols."""
    rows = []
    for t in texts:
        n = max(1, len(t))
        rows.append(
            [
                math.log1p(len(t)),
                math.log1p(len(t.split())),
                len(_DIGITS.findall(t)) / n,
                math.log1p(len(_OPERATORS.findall(t))),
            ]
        )
    return np.asarray(rows, dtype=float).reshape(len(texts), 4)


class SuccessPredictor:
    """``predict(texts)`` -> ``{backend: P(success)}`` per text; ``mean_cost`` per backend."""

    def __init__(self, C: float = 1.0):
        self.C = C
        self.backends: list[str] = []
        self.mean_cost: dict[str, float] = {}
        self.success_rate: dict[str, float] = {}
        self._models: dict[str, object] = {}

    def fit(self, outcomes: Sequence[Outcome]) -> SuccessPredictor:
        if not outcomes:
            raise ValueError("cannot train a success predictor on no outcomes")
        by_backend: dict[str, list[Outcome]] = {}
        for o in outcomes:
            by_backend.setdefault(o.backend, []).append(o)
        self.backends = list(by_backend)
        for name, rows in by_backend.items():
            self.mean_cost[name] = sum(o.cost for o in rows) / len(rows)
            self.success_rate[name] = sum(o.success for o in rows) / len(rows)
            labels = [bool(o.success) for o in rows]
            if len(set(labels)) < 2:
                self._models[name] = float(labels[0])
                continue
            model = self._pipeline()
            model.fit([o.request for o in rows], labels)
            self._models[name] = model
        return self

    def _pipeline(self):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union
        from sklearn.preprocessing import FunctionTransformer, StandardScaler

        features = make_union(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True),
            make_pipeline(FunctionTransformer(size_features), StandardScaler()),
        )
        return make_pipeline(features, LogisticRegression(C=self.C, max_iter=2000))

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not self._models:
            raise RuntimeError("the success predictor is not trained: call fit() first")
        texts = [str(t) for t in texts]
        columns = {}
        for name, model in self._models.items():
            if isinstance(model, float):
                columns[name] = np.full(len(texts), model)
            else:
                column = list(model.classes_).index(True)
                columns[name] = model.predict_proba(texts)[:, column]
        return [
            {name: float(columns[name][i]) for name in self.backends} for i in range(len(texts))
        ]

    def predict_one(self, text: str) -> dict[str, float]:
        return self.predict([text])[0]
