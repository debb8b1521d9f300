"""Text features and logistic models that save as plain numbers (JSON), not pickles.

A controller file must be safe to load: no code may run when it is read. So the
fitted TF-IDF vocabularies and weights and the logistic regressions' coefficients
are stored as lists, and prediction is rebuilt from them exactly: the vectorizers
from their vocabulary and IDF weights, the probabilities with numpy from the
coefficients (scikit-learn only fits).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

FEATURES = "tfidf-char_wb(1,4)+word(1,2)"
_VECTORIZERS = (
    {"analyzer": "char_wb", "ngram_range": (1, 4), "sublinear_tf": True},
    {"analyzer": "word", "ngram_range": (1, 2), "token_pattern": r"\S+"},
)


def _vectorizer(params: dict[str, Any], vocabulary: dict[str, int] | None = None):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(**params, vocabulary=vocabulary)


class TextFeatures:
    """TF-IDF over character (1-4) and word (1-2) n-grams, joined side by side."""

    def __init__(self):
        self._vectorizers: list = []

    def fit_transform(self, texts: Sequence[str]):
        from scipy.sparse import hstack

        self._vectorizers = [_vectorizer(dict(p)) for p in _VECTORIZERS]
        blocks = [v.fit_transform(list(texts)) for v in self._vectorizers]
        return hstack(blocks).tocsr()

    def transform(self, texts: Sequence[str]):
        from scipy.sparse import hstack

        if not self._vectorizers:
            raise RuntimeError("the text features are not fitted")
        return hstack([v.transform(list(texts)) for v in self._vectorizers]).tocsr()

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {
                "vocabulary": {term: int(i) for term, i in v.vocabulary_.items()},
                "idf": v.idf_.tolist(),
            }
            for v in self._vectorizers
        ]

    @classmethod
    def from_json(cls, value: Any) -> TextFeatures:
        if not isinstance(value, list) or len(value) != len(_VECTORIZERS):
            raise ValueError(f"expected {len(_VECTORIZERS)} vectorizers")
        made = cls()
        for params, saved in zip(_VECTORIZERS, value):
            vocabulary = {str(t): int(i) for t, i in dict(saved["vocabulary"]).items()}
            idf = np.asarray(saved["idf"], dtype=float)
            if idf.shape != (len(vocabulary),) or sorted(vocabulary.values()) != list(
                range(len(vocabulary))
            ):
                raise ValueError("a vocabulary does not match its IDF weights")
            vectorizer = _vectorizer(dict(params), vocabulary)
            vectorizer.idf_ = idf
            made._vectorizers.append(vectorizer)
        return made


class Logistic:
    """A fitted (multinomial or binary) logistic regression kept as its coefficients."""

    def __init__(self, classes: Sequence[Any], coef: np.ndarray, intercept: np.ndarray):
        self.classes = list(classes)
        self.coef = np.asarray(coef, dtype=float)
        self.intercept = np.asarray(intercept, dtype=float)
        rows = 1 if len(self.classes) == 2 else len(self.classes)
        if self.coef.ndim != 2 or self.coef.shape[0] != rows or self.intercept.shape != (rows,):
            raise ValueError("coefficients do not match the classes")

    @classmethod
    def fit(cls, matrix, outcome, *, C: float, sample_weight=None) -> Logistic:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=C, max_iter=2000)
        model.fit(matrix, outcome, sample_weight=sample_weight)
        return cls([c.item() for c in model.classes_], model.coef_, model.intercept_)

    def predict_proba(self, matrix) -> np.ndarray:
        """``(rows, classes)`` probabilities, as scikit-learn computes them."""
        scores = np.asarray(matrix @ self.coef.T) + self.intercept
        if len(self.classes) == 2:
            p = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - p, p])
        scores -= scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(axis=1, keepdims=True)

    def proba_of(self, matrix, label: Any) -> np.ndarray:
        return self.predict_proba(matrix)[:, self.classes.index(label)]

    def to_json(self) -> dict[str, Any]:
        return {
            "classes": self.classes,
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
        }

    @classmethod
    def from_json(cls, value: Any) -> Logistic:
        return cls(value["classes"], value["coef"], value["intercept"])
