"""Response shape features: each one reacts to what it names."""

from __future__ import annotations

import numpy as np

from bestroute.scoring.features import SHAPE_FEATURE_NAMES, shape_feature_matrix, shape_features


def feature(response: str, name: str) -> float:
    return float(shape_features(response)[SHAPE_FEATURE_NAMES.index(name)])


def test_length_and_emptiness() -> None:
    assert feature("a" * 1000, "log_chars") > feature("a" * 10, "log_chars")
    assert feature("   ", "is_empty") == 1.0 and feature("Paris.", "is_empty") == 0.0
    assert feature("Paris.", "is_short") == 1.0 and feature("x " * 40, "is_short") == 0.0


def test_structure() -> None:
    listed = "Tips:\n1. **Sleep**: rest well.\n2. **Eat**: eat well.\n- plain item\n## Summary"
    assert feature(listed, "log_list_items") == np.float32(np.log1p(3))
    assert feature(listed, "log_bold_list_items") == np.float32(np.log1p(2))
    assert feature(listed, "log_headers") == np.float32(np.log1p(1))
    assert feature("```python\nprint(1)\n```", "has_code_block") == 1.0
    assert feature("It ends mid", "ends_cleanly") == 0.0 and feature("Done.", "ends_cleanly") == 1.0


def test_degeneration_and_refusal() -> None:
    assert feature("the cat sat " * 20, "trigram_repetition") > 0.8
    assert feature("Each word here differs from every other one.", "trigram_repetition") == 0.0
    assert feature("same line\nsame line\nsame line\nother", "duplicate_line_fraction") == 0.5
    assert feature("I'm sorry, but I cannot help with that.", "opens_with_refusal") == 1.0
    assert feature("Sure! Here it is.", "opens_with_refusal") == 0.0
    assert feature("naïve café", "non_ascii_fraction") > 0.0


def test_matrix_shape() -> None:
    assert shape_feature_matrix([]).shape == (0, len(SHAPE_FEATURE_NAMES))
    matrix = shape_feature_matrix(["a", "b c"])
    assert matrix.shape == (2, len(SHAPE_FEATURE_NAMES)) and matrix.dtype == np.float32
