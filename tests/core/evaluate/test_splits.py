"""Seeded train / validation / test splits."""

from __future__ import annotations

import numpy as np
import pytest

from bestroute.errors import ConfigurationError
from bestroute.evaluate.splits import split_indices, split_train_validation


def test_split_is_a_seeded_partition() -> None:
    split = split_indices(511, train_fraction=0.5, validation_fraction=0.25, seed=3)
    everything = np.concatenate([split.train, split.validation, split.test])
    assert sorted(everything.tolist()) == list(range(511))
    assert split.sizes() == {"train": 256, "validation": 128, "test": 127}
    again = split_indices(511, train_fraction=0.5, validation_fraction=0.25, seed=3)
    assert np.array_equal(split.test, again.test)
    other = split_indices(511, train_fraction=0.5, validation_fraction=0.25, seed=4)
    assert not np.array_equal(split.test, other.test)


def test_train_validation_split_leaves_test_to_other_data() -> None:
    split = split_train_validation(100, validation_fraction=0.2, seed=0)
    assert split.sizes() == {"train": 80, "validation": 20, "test": 0}
    assert not set(split.train.tolist()) & set(split.validation.tolist())


@pytest.mark.parametrize(
    ("rows", "train", "validation"), [(2, 0.5, 0.25), (100, 0.8, 0.2), (100, 0.0, 0.2)]
)
def test_impossible_splits_are_refused(rows: int, train: float, validation: float) -> None:
    with pytest.raises(ConfigurationError):
        split_indices(rows, train_fraction=train, validation_fraction=validation)
