"""The router's lexical view: TF-IDF word features and a linear head per arm.

A frozen sentence embedding keeps a query's topic and throws away much of its surface: which
numbers, units and operations a maths question names, say. Those words carry difficulty: on the
GSM8K join a TF-IDF + logistic-regression router predicts the BEST-Route labels better than heads
over all-MiniLM-L6-v2 embeddings (test log-loss 0.559 against 0.571, five seeded splits), while
the two views err on different queries. :class:`~bestroute.router.network.RouterNet` therefore
averages the logits of its neural heads with those of this lexical head when it has one.

Features are sklearn's ``TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)``
fitted on the training queries; the vocabulary is kept as a list of terms (plain JSON in the
checkpoint) and the IDF weights and the head as tensors, so no pickle is involved. The head is
fitted by :class:`~bestroute.router.linear.SoftLogisticRegression` on the soft labels. With
``surface=True`` the row also carries the query's standardised surface counts (words, numbers,
digits: :mod:`bestroute.router.surface`), whose training mean and scale are buffers too.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from bestroute.errors import ConfigurationError
from bestroute.router.linear import SoftLogisticRegression, standardisation
from bestroute.router.surface import SURFACE_FEATURES, SURFACE_SCALE, surface_features

#: Word n-grams from 1 to this length.
NGRAM_MAX = 2
#: A term must occur in at least this many training queries.
MIN_DOCUMENT_FREQUENCY = 2
#: L2 strength of the lexical head (scikit-learn's default ``C = 1``).
DEFAULT_L2 = 1.0


def fit_vocabulary(
    queries: Sequence[str], *, ngram_max: int = NGRAM_MAX, min_df: int = MIN_DOCUMENT_FREQUENCY
) -> tuple[list[str], np.ndarray]:
    """The terms of ``queries`` (in fewer than ``min_df`` of them: left out) and their IDF."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if isinstance(queries, str):
        raise ConfigurationError("the lexical view is fitted on a list of queries, not one string")
    vectorizer = TfidfVectorizer(
        ngram_range=(1, ngram_max), min_df=min(min_df, max(1, len(queries))), sublinear_tf=True
    )
    try:
        vectorizer.fit(list(queries))
    except ValueError as error:  # sklearn: "empty vocabulary; perhaps the documents ..."
        raise ConfigurationError(
            f"the training queries give no lexical features ({error}); train without the "
            "lexical view (lexical=False)"
        ) from error
    return vectorizer.get_feature_names_out().tolist(), np.asarray(vectorizer.idf_)


class LexicalHead(nn.Module):
    """TF-IDF vector of a query -> one logit per arm (``torch.nn.Linear`` over the vocabulary).

    The TF-IDF vectors equal those of the fitted ``TfidfVectorizer``: sublinear term counts
    times the IDF weights (buffer ``idf``), rows L2-normalised. With ``surface`` the row ends
    with the surface counts, standardised by the buffers ``surface_mean`` / ``surface_scale``
    and multiplied by :data:`~bestroute.router.surface.SURFACE_SCALE`.
    """

    idf: torch.Tensor
    surface_mean: torch.Tensor
    surface_scale: torch.Tensor

    def __init__(
        self,
        vocabulary: Sequence[str],
        n_arms: int,
        *,
        ngram_max: int = NGRAM_MAX,
        surface: bool = False,
    ):
        super().__init__()
        if not vocabulary:
            raise ConfigurationError("the lexical vocabulary is empty")
        if ngram_max < 1:
            raise ConfigurationError(f"ngram_max must be >= 1, got {ngram_max}")
        if len(set(vocabulary)) != len(vocabulary):
            raise ConfigurationError("the lexical vocabulary repeats terms")
        self.vocabulary = [str(term) for term in vocabulary]
        self.ngram_max = ngram_max
        self.surface = bool(surface)
        self.register_buffer("idf", torch.ones(len(self.vocabulary)))
        if self.surface:
            self.register_buffer("surface_mean", torch.zeros(len(SURFACE_FEATURES)))
            self.register_buffer("surface_scale", torch.ones(len(SURFACE_FEATURES)))
        extra = len(SURFACE_FEATURES) if self.surface else 0
        self.linear = nn.Linear(len(self.vocabulary) + extra, n_arms)
        self._counter: Any = None
        self._numpy: tuple[Any, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    @classmethod
    def fit(
        cls,
        queries: Sequence[str],
        labels: np.ndarray,
        *,
        l2: float = DEFAULT_L2,
        surface: bool = False,
    ) -> LexicalHead:
        """Fit the vocabulary on ``queries`` and the head on soft ``labels`` ``(N, arms)``
        (with ``surface``: the surface counts' mean and scale on ``queries`` too)."""
        targets = np.asarray(labels, dtype=np.float64)
        if targets.ndim != 2 or targets.shape[0] != len(queries):
            raise ConfigurationError(
                f"labels must be (queries, arms) with {len(queries)} rows, got {targets.shape}"
            )
        vocabulary, idf = fit_vocabulary(queries)
        head = cls(vocabulary, targets.shape[1], surface=surface)
        with torch.no_grad():
            head.idf.copy_(torch.as_tensor(idf))
            if surface:
                mean, scale = standardisation(surface_features(queries))
                head.surface_mean.copy_(torch.as_tensor(mean))
                head.surface_scale.copy_(torch.as_tensor(scale))
        model = SoftLogisticRegression(l2, standardize=False).fit(head.features(queries), targets)
        assert model.weights is not None and model.bias is not None
        with torch.no_grad():
            head.linear.weight.copy_(torch.as_tensor(model.weights.T))
            head.linear.bias.copy_(torch.as_tensor(model.bias))
        return head

    def features(self, queries: Sequence[str]) -> sp.csr_matrix:
        """Sparse rows ``(len(queries), len(vocabulary) [+ 3 surface columns])``."""
        from sklearn.preprocessing import normalize

        counts = sp.csr_matrix(self._count_vectorizer().transform(list(queries)), dtype=np.float64)
        counts.data = 1.0 + np.log(counts.data)
        idf = self.idf.detach().cpu().double().numpy()
        tfidf = sp.csr_matrix(normalize(counts @ sp.diags(idf), norm="l2", copy=False))
        if not self.surface:
            return tfidf
        return sp.csr_matrix(sp.hstack([tfidf, sp.csr_matrix(self._surface_columns(queries))]))

    def _surface_columns(self, queries: Sequence[str]) -> np.ndarray:
        """The standardised, scaled surface counts ``(len(queries), 3)``."""
        mean = self.surface_mean.detach().cpu().double().numpy()
        scale = self.surface_scale.detach().cpu().double().numpy()
        return SURFACE_SCALE * (surface_features(queries) - mean) / scale

    def logits(self, queries: Sequence[str]) -> np.ndarray:
        """Logits ``(len(queries), arms)`` as float64 numpy.

        The same values as ``features(queries) @ W.T + b``, computed query by query from the
        terms each query holds (no sparse matrices: far less overhead for a few queries).
        """
        analyze = self._count_vectorizer().build_analyzer()
        index = self._count_vectorizer().vocabulary
        weight, bias, idf = self._numpy_weights()
        result = np.tile(bias, (len(queries), 1))
        if self.surface:
            result += self._surface_columns(queries) @ weight[len(self.vocabulary) :]
        for row, query in enumerate(queries):
            counts = Counter(index[term] for term in analyze(query) if term in index)
            if not counts:
                continue
            terms = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            values = (1.0 + np.log(tf)) * idf[terms]
            norm = math.sqrt(float(values @ values))
            if norm > 0.0:
                result[row] += (values / norm) @ weight[terms]
        return result

    def _count_vectorizer(self) -> Any:
        if self._counter is None:
            from sklearn.feature_extraction.text import CountVectorizer

            self._counter = CountVectorizer(
                ngram_range=(1, self.ngram_max),
                vocabulary={term: i for i, term in enumerate(self.vocabulary)},
            )
        return self._counter

    def _numpy_weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``W.T`` ``(terms, arms)``, the bias and the IDF as float64 numpy, copied again only
        after the tensors change."""
        tensors = (self.linear.weight, self.linear.bias, self.idf)
        stamp = tuple((t.data_ptr(), t._version) for t in tensors)
        if self._numpy is None or self._numpy[0] != stamp:
            weight, bias, idf = (t.detach().cpu().double().numpy() for t in tensors)
            self._numpy = (stamp, (np.ascontiguousarray(weight.T), bias, idf))
        return self._numpy[1]

    def config(self) -> dict[str, Any]:
        """The vocabulary and settings as JSON values (IDF and weights go with the tensors)."""
        return {"vocabulary": self.vocabulary, "ngram_max": self.ngram_max, "surface": self.surface}

    def extra_repr(self) -> str:
        return f"terms={len(self.vocabulary)}, ngram_max={self.ngram_max}, surface={self.surface}"
