"""The baselines' routers and arm choices, fitted on the training split only.

* ``tfidf_lr``: TF-IDF features and a soft-label logistic regression per arm (the same BEST-Route
  labels and the same Algorithm 1 as ``best_route``): the floor a learned router must clear.
* ``n_label``: one head per model at ``n = 1`` trained on hard labels (is one response at least
  as good as the reference's, rounded), no multi-sampling.
* ``hybrid_llm``: two models only, the small model with the best mean label at ``n = 1`` against
  the reference, on probabilistic labels.
* ``always_cheapest`` / ``random``: the cheapest model at ``n = 1`` (ties: the better one on the
  training split), alone or mixed with the reference at random.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bestroute.data.outcomes import ReplayOutcomes
from bestroute.router.linear import SoftLogisticRegression
from bestroute.training.selection import soft_log_loss

__all__ = [
    "TFIDF_L2_GRID",
    "best_single_arm",
    "cheapest_arm",
    "choose_l2",
    "hard_labels",
    "only_columns",
    "soft_log_loss",
    "tfidf_lr_probabilities",
]

#: L2 strengths tried for ``tfidf_lr`` (``l2 = 1 / C``; 1 is scikit-learn's default ``C = 1``),
#: one chosen per run by 3-fold cross-validated soft log-loss on the training rows only: the
#: same rule by which the shared-router methods choose their settings (see
#: :func:`bestroute.training.selection.choose_router_config`). The grid is the one ``tfidf_lr``
#: had before commit a434f66 dropped it for a fixed ``C = 1``, widened by one step each way.
TFIDF_L2_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
_FOLDS = 3


def cheapest_arm(train: ReplayOutcomes) -> int:
    """Index of the ``n = 1`` arm with the lowest mean cost (ties: higher mean quality)."""
    candidates = [i for i, arm in enumerate(train.arms) if arm.n == 1]
    mean_cost = np.nanmean(train.cost, axis=0)
    mean_quality = np.nanmean(train.quality, axis=0)
    lowest = min(mean_cost[i] for i in candidates)
    tied = [i for i in candidates if mean_cost[i] <= lowest * (1 + 1e-9)]
    return max(tied, key=lambda i: (mean_quality[i], -i))


def best_single_arm(train_labels: np.ndarray, arms_n: Sequence[int]) -> int:
    """Index of the ``n = 1`` arm with the highest mean soft label on the training rows."""
    means = np.nanmean(train_labels, axis=0)
    candidates = [i for i, n in enumerate(arms_n) if n == 1 and np.isfinite(means[i])]
    return max(candidates, key=lambda i: (means[i], -i))


def only_columns(labels: np.ndarray, keep: Sequence[int]) -> np.ndarray:
    """``labels`` with every column outside ``keep`` set to NaN (an arm the method lacks)."""
    result = np.full_like(labels, np.nan, dtype=np.float64)
    keep = list(keep)
    result[:, keep] = labels[:, keep]
    return result


def hard_labels(labels: np.ndarray) -> np.ndarray:
    """Soft labels rounded to 0/1 (NaN kept): "this arm usually matches the reference"."""
    return np.where(np.isnan(labels), np.nan, (labels >= 0.5).astype(np.float64))


def tfidf_lr_probabilities(
    queries: Sequence[str],
    labels: np.ndarray,
    train_rows: np.ndarray,
    *,
    l2_grid: Sequence[float] = TFIDF_L2_GRID,
    seed: int = 0,
) -> tuple[np.ndarray, float]:
    """Probabilities ``(N, arms)`` of a TF-IDF + logistic-regression router, and its L2.

    The vectoriser (unigrams and bigrams, sublinear term frequencies) and the model see the
    training rows only. With several L2 strengths the one with the best cross-validated
    log-loss on the training rows is used.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    def features(fit_rows: np.ndarray) -> tuple[TfidfVectorizer, Any]:
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        vectorizer.fit([queries[i] for i in fit_rows])
        return vectorizer, vectorizer.transform(list(queries))

    best_l2 = choose_l2(
        lambda rows: features(rows)[1], labels, train_rows, l2_grid, seed=seed, standardize=False
    )
    _, matrix = features(train_rows)
    model = SoftLogisticRegression(best_l2, standardize=False)
    model.fit(_rows(matrix, train_rows), labels[train_rows])
    return model.predict_proba(matrix), best_l2


def choose_l2(
    featurize: Callable[[np.ndarray], Any],
    labels: np.ndarray,
    train_rows: np.ndarray,
    grid: Sequence[float],
    *,
    seed: int = 0,
    standardize: bool = True,
) -> float:
    """The L2 strength with the lowest K-fold soft-label log-loss on ``train_rows``.

    ``featurize(fit_rows)`` returns the feature matrix of every row, fitted (e.g. a vocabulary)
    on ``fit_rows`` only.
    """
    if len(grid) == 1:
        return float(grid[0])
    folds = np.array_split(np.random.default_rng(seed).permutation(train_rows), _FOLDS)
    losses = np.zeros(len(grid))
    for k, held_out in enumerate(folds):
        fit_rows = np.concatenate([f for j, f in enumerate(folds) if j != k])
        matrix = featurize(fit_rows)
        for g, l2 in enumerate(grid):
            model = SoftLogisticRegression(l2, standardize=standardize)
            model.fit(_rows(matrix, fit_rows), labels[fit_rows])
            losses[g] += soft_log_loss(
                model.predict_proba(_rows(matrix, held_out)), labels[held_out]
            )
    return float(grid[int(np.argmin(losses))])


def _rows(matrix: Any, rows: np.ndarray) -> Any:
    return matrix[rows]
