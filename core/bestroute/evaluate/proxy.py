"""The proxy selector in replay: a reward model trained on training-split samples scores them all.

Only samples with texts can be scored; a candidate whose samples lack texts falls back to the
oracle (see :mod:`bestroute.data.labels`). The selector matters only where an arm draws several
samples, so the reward model is trained only when some candidate has several samples with texts.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence

from bestroute.data.dataset import OutcomeRecord
from bestroute.scoring.pairs import PreferencePair

logger = logging.getLogger(__name__)

#: Pairs taken from one query at most (the best and worst responses are paired first).
MAX_PAIRS_PER_QUERY = 20


def has_scorable_samples(records: Sequence[OutcomeRecord]) -> bool:
    """True when some candidate drew several samples that all have texts (proxy can matter)."""
    return any(
        outcome.multi_sample
        and len(outcome.samples) > 1
        and all(s.text is not None for s in outcome.samples)
        for record in records
        for outcome in record.candidates.values()
    )


def preference_pairs(
    records: Sequence[OutcomeRecord], *, max_per_query: int = MAX_PAIRS_PER_QUERY
) -> list[PreferencePair]:
    """Pairs of responses to one query with different oracle quality (all candidates pooled)."""
    pairs: list[PreferencePair] = []
    for record in records:
        texts = sorted(
            {
                (sample.quality, sample.text)
                for outcome in record.candidates.values()
                for sample in outcome.samples
                if sample.text
            },
            key=lambda item: -item[0],
        )
        gaps = [
            (q_better - q_worse, PreferencePair(record.query, better, worse))
            for (q_better, better), (q_worse, worse) in itertools.combinations(texts, 2)
            if q_better > q_worse and better != worse
        ]
        gaps.sort(key=lambda item: -item[0])  # widest quality gaps first (stable)
        chosen = [pair for _, pair in gaps]
        pairs.extend(chosen[:max_per_query])
    return pairs


def with_proxy_rewards(
    train_records: Sequence[OutcomeRecord],
    records: Sequence[OutcomeRecord],
    *,
    seed: int = 0,
    progress: bool = False,
) -> tuple[list[OutcomeRecord], dict[str, float]]:
    """Train a reward model on ``train_records``' samples and attach its rewards to ``records``.

    Returns the scored copies and a summary (pairs, accuracy, seconds) for the report.
    """
    from bestroute.data.rewards import attach_rewards
    from bestroute.scoring.reward_training import train_reward_model

    pairs = preference_pairs(train_records)
    if len(pairs) < 2:
        logger.warning(
            "too few preference pairs (%d) for a reward model: oracle fallback", len(pairs)
        )
        return list(records), {"pairs": float(len(pairs))}
    model, report = train_reward_model(pairs, seed=seed, progress=progress)
    scored = attach_rewards(records, model, overwrite=True, progress=progress)
    return scored, {
        "pairs": float(len(pairs)),
        "val_accuracy": float(report.best_val_accuracy or 0.0),
        "seconds": float(report.seconds),
    }
