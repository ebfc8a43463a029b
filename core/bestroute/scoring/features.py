"""Cheap, text-only features of a response's shape: length, structure, degeneration, refusal.

LLM judges of open-ended answers reward length and structure heavily and punish repetition and
refusals, so a reward model that sees these directly starts from at least a length heuristic and
learns the rest from the embeddings. Every feature is computed from the response text alone;
none names or detects a particular model.
"""

from __future__ import annotations

import math
import re

import numpy as np

#: Bumped whenever the features below change; stored in reward-model checkpoints.
SHAPE_FEATURES_VERSION = 2

SHAPE_FEATURE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_chars_squared",
    "is_short",
    "is_empty",
    "log_lines",
    "log_list_items",
    "log_bold_list_items",
    "log_headers",
    "log_bold_spans",
    "has_code_block",
    "ends_cleanly",
    "trigram_repetition",
    "duplicate_line_fraction",
    "opens_with_refusal",
    "non_ascii_fraction",
    "mean_word_length",
)

#: Centre of the squared log-length term (about 650 characters, a typical answer).
_LOG_CHARS_CENTRE = 6.5
_SHORT_CHARS = 40
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s")
_BOLD_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+\*\*[^*\n]+\*\*", re.MULTILINE)
_CLEAN_ENDINGS = tuple(".!?)\"'`*:;]>")
_REFUSAL = re.compile(
    r"\b(?:I'm sorry|I am sorry|I apologi[sz]e|as an AI|I cannot|I can't|I am unable|"
    r"I'm unable|I do not have|I don't have|unfortunately)\b",
    re.IGNORECASE,
)
#: A refusal or hedge counts when it appears this early in the response.
_REFUSAL_WINDOW = 300


def shape_features(response: str) -> np.ndarray:
    """The features named in :data:`SHAPE_FEATURE_NAMES` for one response, as float32."""
    lines = response.split("\n")
    nonempty = [line.strip() for line in lines if line.strip()]
    words = response.split()
    lowered = [word.lower() for word in words]
    trigrams = [tuple(lowered[i : i + 3]) for i in range(len(lowered) - 2)]
    stripped = response.rstrip()
    log_chars = math.log1p(len(response))
    values = (
        log_chars,
        (log_chars - _LOG_CHARS_CENTRE) ** 2,
        float(len(stripped) < _SHORT_CHARS),
        float(not stripped),
        math.log1p(len(nonempty)),
        math.log1p(sum(bool(_LIST_ITEM.match(line)) for line in lines)),
        math.log1p(len(_BOLD_LIST_ITEM.findall(response))),
        math.log1p(sum(line.startswith("#") for line in nonempty)),
        math.log1p(response.count("**") // 2),
        float("```" in response),
        float(stripped.endswith(_CLEAN_ENDINGS)),
        1.0 - len(set(trigrams)) / len(trigrams) if trigrams else 0.0,
        1.0 - len(set(nonempty)) / len(nonempty) if nonempty else 0.0,
        float(_REFUSAL.search(response[:_REFUSAL_WINDOW]) is not None),
        sum(ord(char) > 127 for char in response) / max(len(response), 1),
        sum(len(word) for word in words) / len(words) if words else 0.0,
    )
    return np.asarray(values, dtype=np.float32)


def shape_feature_matrix(responses: list[str]) -> np.ndarray:
    """Stacked :func:`shape_features`, shape ``(len(responses), n_features)``."""
    if not responses:
        return np.zeros((0, len(SHAPE_FEATURE_NAMES)), dtype=np.float32)
    return np.stack([shape_features(response) for response in responses])
