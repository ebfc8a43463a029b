"""The proxy selector in replay: a reward model trained on training-split samples scores them all.

Only samples with texts can be scored; a candidate whose samples lack texts falls back to the
oracle (see :mod:`bestroute.data.labels`). The selector matters only where an arm draws several
samples, so the reward model is trained only when some candidate has several samples with texts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bestroute.data.dataset import OutcomeRecord
from bestroute.data.rewards import attach_rewards
from bestroute.pool import Arm
from bestroute.training.pairs import preference_pairs

logger = logging.getLogger(__name__)


def has_scorable_samples(records: Sequence[OutcomeRecord]) -> bool:
    """True when some candidate drew several samples that all have texts (proxy can matter)."""
    return any(
        outcome.multi_sample
        and len(outcome.samples) > 1
        and all(s.text is not None for s in outcome.samples)
        for record in records
        for outcome in record.candidates.values()
    )


def oracle_fallback_models(records: Sequence[OutcomeRecord], arms: Sequence[Arm]) -> list[str]:
    """Models the proxy selector cannot rank: an arm of theirs draws several samples and some
    record lacks a reward for one of them, so :mod:`bestroute.data.labels` uses the oracle."""
    multi = {arm.model for arm in arms if arm.n > 1}
    lacking = {
        model
        for record in records
        for model, outcome in record.candidates.items()
        if model in multi
        and len(outcome.samples) > 1
        and any(s.reward is None for s in outcome.samples)
    }
    return sorted(lacking)


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
    from bestroute.training.reward import train_reward_model  # imported here: it loads torch

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
