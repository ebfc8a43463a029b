"""Outcome data: the dataset format, importers, collection store and label building.

The submodules: :mod:`~bestroute.data.dataset` (format, load/save), :mod:`~bestroute.data.importers`
(public formats, ``FORMAT:PATH`` specs), :mod:`~bestroute.data.merge` (joins by query text),
:mod:`~bestroute.data.labels` (soft labels, expected quality and cost of arms),
:mod:`~bestroute.data.outcomes` (every arm's expected cost and quality per query, as matrices),
:mod:`~bestroute.data.store` and :mod:`~bestroute.data.collect` (resumable collection),
:mod:`~bestroute.data.pool_config` (pool YAML files).
"""

from bestroute.data.dataset import (
    CandidateOutcome,
    DatasetValidationError,
    OutcomeRecord,
    OutcomeSample,
    candidates_of,
    common_candidates,
    load_dataset,
    max_samples,
    save_dataset,
)
from bestroute.data.importers import FORMATS, load_source, load_sources
from bestroute.data.labels import (
    expected_cost,
    expected_output_tokens,
    expected_quality,
    soft_labels,
)
from bestroute.data.merge import combine_records, merge_sources, normalize_query
from bestroute.data.outcomes import ReplayOutcomes, build_outcomes, replay_arms
from bestroute.data.rewards import attach_rewards

__all__ = [
    "FORMATS",
    "CandidateOutcome",
    "DatasetValidationError",
    "OutcomeRecord",
    "OutcomeSample",
    "ReplayOutcomes",
    "attach_rewards",
    "build_outcomes",
    "candidates_of",
    "combine_records",
    "common_candidates",
    "expected_cost",
    "expected_output_tokens",
    "expected_quality",
    "load_dataset",
    "load_source",
    "load_sources",
    "max_samples",
    "merge_sources",
    "normalize_query",
    "replay_arms",
    "save_dataset",
    "soft_labels",
]
