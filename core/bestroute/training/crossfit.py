"""Cross-fitting: out-of-fold router probabilities for every labelled query.

Calibration needs probabilities of queries the router never trained on. Holding out a slice
(say 25%) wastes most labelled queries and leaves a calibration set of a hundred or so, whose
drop estimate is too noisy to promise 1%. Cross-fitting instead cuts the labelled queries into
``K`` seeded folds; the router trained on the other ``K - 1`` folds predicts each fold, so every
query gets an *out-of-fold* probability, and calibration sees all of them. The router that is
shipped (and scored on test) is then trained on all the labelled queries.

Assumption: a router trained on ``(K - 1) / K`` of the queries behaves like the one trained on
all of them (slightly weaker, so the threshold it calibrates errs, if anything, towards caution).

:func:`cross_fit` takes any ``fit_predict(train_rows, predict_rows)`` so that the recipe's
router, the baselines and tests (e.g. a router that reveals its training set) share one path;
:class:`CrossFit` records which rows each fold's model trained on, and
:meth:`CrossFit.check_out_of_fold` proves that no row was predicted by a model that saw it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bestroute.errors import ConfigurationError

#: Folds of the cross-fit (``bestroute train --folds``, replay's ``folds``).
DEFAULT_FOLDS = 5

#: ``fit_predict(train_rows, predict_rows)``: train on ``train_rows`` and return probabilities
#: ``(len(predict_rows), arms)`` for ``predict_rows`` (row indices into the caller's data).
FitPredict = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True, slots=True)
class CrossFit:
    """Out-of-fold probabilities of ``rows`` and how they were made.

    ``probabilities[i]`` belongs to ``rows[i]``; ``fold[i]`` is the fold it sat in, and
    ``trained_on[k]`` the rows the model that predicted fold ``k`` was trained on.
    """

    rows: np.ndarray
    probabilities: np.ndarray
    fold: np.ndarray
    trained_on: tuple[np.ndarray, ...]
    seed: int

    @property
    def folds(self) -> int:
        return len(self.trained_on)

    def check_out_of_fold(self) -> None:
        """Raise :class:`ConfigurationError` if any row was predicted by a model trained on it."""
        for k, trained in enumerate(self.trained_on):
            leaked = np.intersect1d(self.rows[self.fold == k], trained)
            if leaked.size:
                raise ConfigurationError(
                    f"fold {k}: rows {leaked[:5].tolist()} were predicted by a model that "
                    "trained on them"
                )

    def summary(self) -> dict[str, Any]:
        """Plain JSON values (``threshold.json`` and reports)."""
        return {
            "folds": self.folds,
            "seed": self.seed,
            "queries": len(self.rows),
            "fold_sizes": [int((self.fold == k).sum()) for k in range(self.folds)],
        }


def fold_assignment(n_rows: int, folds: int = DEFAULT_FOLDS, seed: int = 0) -> np.ndarray:
    """Fold index ``(n_rows,)`` of each row: a seeded shuffle cut into ``folds`` near-equal parts."""
    if folds < 2:
        raise ConfigurationError(f"cross-fitting needs at least 2 folds, got {folds}")
    if n_rows < folds:
        raise ConfigurationError(
            f"{n_rows} queries are too few for {folds} folds: use fewer folds or more data"
        )
    assignment = np.empty(n_rows, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(n_rows)
    for k, part in enumerate(np.array_split(order, folds)):
        assignment[part] = k
    return assignment


def cross_fit(
    rows: np.ndarray,
    fit_predict: FitPredict,
    *,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
) -> CrossFit:
    """Out-of-fold probabilities of ``rows``: each fold predicted by a model fit on the others."""
    rows = np.asarray(rows, dtype=np.int64)
    assignment = fold_assignment(len(rows), folds, seed)
    trained_on: list[np.ndarray] = []
    probabilities: np.ndarray | None = None
    for k in range(folds):
        held_out = rows[assignment == k]
        train = rows[assignment != k]
        predicted = np.asarray(fit_predict(train, held_out), dtype=np.float64)
        if predicted.ndim != 2 or predicted.shape[0] != len(held_out):
            raise ConfigurationError(
                f"fit_predict must return (predicted rows, arms), got {predicted.shape} for "
                f"{len(held_out)} rows"
            )
        if probabilities is None:
            probabilities = np.full((len(rows), predicted.shape[1]), np.nan)
        probabilities[assignment == k] = predicted
        trained_on.append(np.sort(train))
    assert probabilities is not None
    result = CrossFit(rows, probabilities, assignment, tuple(trained_on), seed)
    result.check_out_of_fold()
    return result
