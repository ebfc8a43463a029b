"""Proxy rewards for recorded samples: score every sample text of a dataset with a Scorer."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from tqdm import tqdm

from bestroute.data.dataset import CandidateOutcome, OutcomeRecord
from bestroute.scoring.base import Scorer

logger = logging.getLogger(__name__)


def attach_rewards(
    records: Sequence[OutcomeRecord],
    scorer: Scorer,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> list[OutcomeRecord]:
    """Copies of ``records`` whose samples carry ``reward = scorer.score(query, [text])``.

    One ``score`` call per record covers all its candidates' texts. Samples without text keep
    ``reward=None`` (the proxy selector then falls back to the oracle for that candidate);
    existing rewards are kept unless ``overwrite``.
    """
    result: list[OutcomeRecord] = []
    missing_text = 0
    for record in tqdm(records, desc="rewards", unit="query", disable=not progress):
        slots = [
            (name, index, sample.text)
            for name, outcome in record.candidates.items()
            for index, sample in enumerate(outcome.samples)
            if sample.text is not None and (overwrite or sample.reward is None)
        ]
        missing_text += sum(s.text is None for o in record.candidates.values() for s in o.samples)
        scores = scorer.score(record.query, [text for _, _, text in slots]) if slots else []
        by_slot = {
            (name, index): float(v) for (name, index, _), v in zip(slots, scores, strict=True)
        }
        candidates = {
            name: CandidateOutcome(
                outcome.input_tokens,
                [
                    dataclasses.replace(sample, reward=by_slot[(name, index)])
                    if (name, index) in by_slot
                    else sample
                    for index, sample in enumerate(outcome.samples)
                ],
                outcome.multi_sample,
            )
            for name, outcome in record.candidates.items()
        }
        result.append(OutcomeRecord(record.id, record.query, candidates, dict(record.metadata)))
    if missing_text:
        logger.info("attach_rewards: %d sample(s) have no text and keep no reward", missing_text)
    return result
