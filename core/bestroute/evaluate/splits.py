"""Seeded train / validation / test splits of query indices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bestroute.errors import ConfigurationError

#: Default shares of train and validation; the test split gets the rest.
DEFAULT_TRAIN_FRACTION = 0.5
DEFAULT_VALIDATION_FRACTION = 0.25


@dataclass(frozen=True, slots=True)
class Split:
    """Row indices of each split (disjoint, each sorted)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def labelled(self) -> np.ndarray:
        """Train and validation together (sorted): the queries cross-fitting calibrates on."""
        return np.sort(np.concatenate([self.train, self.validation]))

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }


def split_indices(
    n_rows: int,
    *,
    train_fraction: float = DEFAULT_TRAIN_FRACTION,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    seed: int = 0,
) -> Split:
    """Shuffle ``range(n_rows)`` with ``seed`` and cut it into train, validation and test.

    ``train_fraction + validation_fraction`` must stay below 1 unless the test split comes from
    other data (see :func:`split_train_validation`).
    """
    if not 0 < train_fraction < 1 or not 0 < validation_fraction < 1:
        raise ConfigurationError("train and validation fractions must lie in (0, 1)")
    if train_fraction + validation_fraction >= 1:
        raise ConfigurationError(
            "train + validation fractions must be < 1 so that a test split remains; "
            "use a separate test dataset to train on everything"
        )
    permutation = np.random.default_rng(seed).permutation(n_rows)
    n_train = round(train_fraction * n_rows)
    n_validation = round(validation_fraction * n_rows)
    parts = np.split(permutation, [n_train, n_train + n_validation])
    split = Split(*(np.sort(part) for part in parts))
    _check_nonempty(split, n_rows)
    return split


def split_train_validation(
    n_rows: int,
    *,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    seed: int = 0,
) -> Split:
    """Train and validation from ``range(n_rows)``; the test split is empty (other data)."""
    if not 0 < validation_fraction < 1:
        raise ConfigurationError("validation fraction must lie in (0, 1)")
    permutation = np.random.default_rng(seed).permutation(n_rows)
    n_validation = round(validation_fraction * n_rows)
    split = Split(
        train=np.sort(permutation[n_validation:]),
        validation=np.sort(permutation[:n_validation]),
        test=np.zeros(0, dtype=np.int64),
    )
    if len(split.train) == 0 or len(split.validation) == 0:
        raise ConfigurationError(f"{n_rows} queries are too few to split into train and validation")
    return split


def _check_nonempty(split: Split, n_rows: int) -> None:
    empty = [name for name, size in split.sizes().items() if size == 0]
    if empty:
        raise ConfigurationError(
            f"{n_rows} queries are too few: the {', '.join(empty)} split(s) would be empty"
        )
