"""Replay evaluation: cost-quality curves of BEST-Route and baselines on recorded outcomes.

Modules: :mod:`~bestroute.evaluate.splits` (seeded splits), :mod:`~bestroute.evaluate.policies`
(policy families), :mod:`~bestroute.evaluate.curves`, :mod:`~bestroute.evaluate.baselines`,
:mod:`~bestroute.evaluate.proxy` (the proxy selector), :mod:`~bestroute.evaluate.replay` (the
whole run), :mod:`~bestroute.evaluate.report` (the JSON contract) and
:mod:`~bestroute.evaluate.plot`. The matrices replay works on are built by
:mod:`bestroute.data.outcomes`; the routers it compares are trained by :mod:`bestroute.training`.
Threshold calibration lives in :mod:`bestroute.calibration` (engine users need it too).
"""

from bestroute.evaluate.curves import CurvePoint, best_saving, trace_curve
from bestroute.evaluate.replay import ALL_METHODS, ReplayConfig, run_replay
from bestroute.evaluate.report import check_report, write_report
from bestroute.evaluate.splits import Split, split_indices, split_train_validation

__all__ = [
    "ALL_METHODS",
    "CurvePoint",
    "ReplayConfig",
    "Split",
    "best_saving",
    "check_report",
    "run_replay",
    "split_indices",
    "split_train_validation",
    "trace_curve",
    "write_report",
]
