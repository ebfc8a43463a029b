"""Surface features of a query: how long it is and how many numbers it names.

A sentence embedding and TF-IDF terms both say *what* a query is about; neither counts how much
work it asks for. On maths word problems the number of quantities and words tracks the steps a
solution needs, and so how often a small model gets it right: out of fold on the GSM8K join's
training queries these three counts alone correlate 0.13-0.25 with the BEST-Route labels of the
strong arms, more than heads over all-MiniLM-L6-v2 embeddings do (0.03-0.13). The lexical view
(:class:`~bestroute.router.lexical.LexicalHead`) can append them, standardised, to its TF-IDF
row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

#: What each column holds, in order.
SURFACE_FEATURES = ("log1p_words", "log1p_numbers", "log1p_digits")
#: How strongly the standardised columns count next to an L2-normalised TF-IDF row (whose
#: entries are ~0.1-0.3): one standard deviation of a count weighs about as much as one term.
SURFACE_SCALE = 0.3

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def surface_features(queries: Sequence[str]) -> np.ndarray:
    """``(len(queries), 3)`` float64: log1p of the words, numbers and digits of each query."""
    rows = [
        (
            math.log1p(len(text.split())),
            math.log1p(len(_NUMBER.findall(text))),
            math.log1p(sum(char.isdigit() for char in text)),
        )
        for text in queries
    ]
    return np.asarray(rows, dtype=np.float64).reshape(len(queries), len(SURFACE_FEATURES))
