"""Router networks trained for replay: BEST-Route and the baselines that share its network.

``best_route``, ``n_label`` and ``hybrid_llm`` differ in their arms and labels, not in their
network: all three are :class:`~bestroute.router.network.RouterNet` trained by
:func:`~bestroute.router.training.train_router` on cached embeddings of the training split.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bestroute.errors import ConfigurationError
from bestroute.pool import Arm

logger = logging.getLogger(__name__)

#: Networks averaged per router (see :mod:`bestroute.evaluate.ensemble`).
DEFAULT_ENSEMBLE = 5
#: ``train_router`` options for a few hundred labelled queries. A small trunk and strong weight
#: decay keep each arm near its mean unless the query gives a reason; the query-length features
#: are left out because "short means easy" is right on average and wrong on exactly the confident
#: queries a 1% budget depends on. Chosen by replaying seeded splits of the GSM8K join's training
#: + validation queries (its test split never took part): saving at <= 1% drop 0.84 against 0.68
#: with length features and 0.65-0.71 for one network at the library defaults.
DEFAULT_OPTIONS: dict[str, Any] = {"hidden": 16, "use_length_features": False}
#: AdamW's weight decay acts once per step, and the steps per epoch grow with the training rows,
#: so the decay is ``WEIGHT_DECAY_SCALE / rows``: 30 for GSM8K's 256 training queries, 7.7 for
#: MMLU's 1000 (where 30 shrinks every arm to its mean: 0.07 saved at 1% against 0.14).
WEIGHT_DECAY_SCALE = 7680.0
#: Share of the lexical view in the router's logits: the neural ensemble and the TF-IDF head
#: count alike. On the GSM8K join (five seeded splits) the average saving at <= 1% drop went
#: from 0.63 (neural heads alone) and 0.63 (TF-IDF alone) to 0.81.
DEFAULT_LEXICAL_WEIGHT = 0.5


@dataclass(frozen=True, slots=True)
class RouterSettings:
    """How replay and ``bestroute train`` train a router.

    ``options`` go to :func:`~bestroute.router.training.train_router` (its defaults where not
    set). ``ensemble`` trains that many networks with different seeds (and early-stopping splits)
    and merges them into one that predicts their mean logit. ``recenter`` then shifts each arm's
    bias so that its mean probability on the training rows is its mean label
    (:func:`~bestroute.evaluate.ensemble.recenter`). Without ``weight_decay`` in ``options``,
    the weight decay is ``weight_decay_scale / training rows`` (see :data:`WEIGHT_DECAY_SCALE`).
    ``lexical`` then attaches a TF-IDF view fitted on the same rows and labels
    (:class:`~bestroute.router.lexical.LexicalHead`), whose logits count ``lexical_weight``.
    """

    ensemble: int = DEFAULT_ENSEMBLE
    options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_OPTIONS))
    recenter: bool = True
    weight_decay_scale: float | None = WEIGHT_DECAY_SCALE
    lexical: bool = True
    lexical_weight: float = DEFAULT_LEXICAL_WEIGHT


def train_ensemble(
    labels: np.ndarray,
    arms: Sequence[Arm],
    *,
    queries: Sequence[str],
    embeddings: np.ndarray | None,
    settings: RouterSettings | None = None,
    seed: int = 0,
    encoder: Any = None,
    progress: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """Train ``settings.ensemble`` routers (seeds ``seed * 1000 + member``) and merge them.

    Returns one :class:`~bestroute.router.network.RouterNet` predicting the members' mean logit
    (see :mod:`bestroute.evaluate.ensemble`) and a summary of the members' training.
    """
    from bestroute.evaluate.ensemble import merge_routers, recenter
    from bestroute.router.training import train_router

    settings = settings or RouterSettings()
    if settings.ensemble < 1:
        raise ConfigurationError("ensemble must be >= 1")
    started = time.perf_counter()
    options = dict(settings.options)
    if "weight_decay" not in options and settings.weight_decay_scale:
        options["weight_decay"] = settings.weight_decay_scale / max(1, len(labels))
    members = []
    reports = []
    # Replay trains on cached embeddings on purpose: silence the "no encoder" warning.
    training_logger = logging.getLogger("bestroute.router.training")
    previous_level = training_logger.level
    if encoder is None:
        training_logger.setLevel(max(previous_level, logging.ERROR))
    try:
        for member in range(settings.ensemble):
            router, report = train_router(
                labels,
                arms,
                queries=list(queries),
                embeddings=embeddings,
                encoder=encoder,
                seed=seed * 1000 + member,
                progress=progress,
                **options,
            )
            members.append(router)
            reports.append(report.to_dict())
    finally:
        training_logger.setLevel(previous_level)
    merged = merge_routers(members) if len(members) > 1 else members[0]
    if settings.recenter and embeddings is not None:
        recenter(merged, embeddings, queries, labels)
    lexical_terms = 0
    if settings.lexical:
        from bestroute.router.lexical import LexicalHead

        try:
            head = LexicalHead.fit(list(queries), labels)
        except ConfigurationError as error:  # a handful of queries with no shared word
            logger.warning("router trained without its lexical view: %s", error)
        else:
            merged.attach_lexical(head, settings.lexical_weight)
            lexical_terms = len(head.vocabulary)
    summary = {
        "ensemble": settings.ensemble,
        "options": options,
        "best_epochs": [r["best_epoch"] for r in reports],
        "best_val_losses": [r["best_val_loss"] for r in reports],
        "members": reports,
        "lexical_terms": lexical_terms,
        "lexical_weight": settings.lexical_weight if settings.lexical else 0.0,
        "train_seconds": time.perf_counter() - started,
    }
    return merged, summary


def router_probabilities(
    embeddings: np.ndarray,
    queries: Sequence[str],
    labels: np.ndarray,
    arms: Sequence[Arm],
    train_rows: np.ndarray,
    *,
    columns: Sequence[int] | None = None,
    settings: RouterSettings | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Train on ``train_rows`` and predict every row: probabilities ``(N, len(arms))``.

    Only the arms in ``columns`` (default: all) get a head; the others are NaN (not offered by
    this method). Returns the probabilities and a summary for the report.
    """
    columns = list(range(len(arms))) if columns is None else list(columns)
    if not columns:
        raise ConfigurationError("a router needs at least one arm column")
    router, summary = train_ensemble(
        labels[np.ix_(train_rows, np.asarray(columns, dtype=np.int64))],
        [arms[c] for c in columns],
        queries=[queries[i] for i in train_rows],
        embeddings=embeddings[train_rows],
        settings=settings,
        seed=seed,
    )
    probabilities = np.full((len(queries), len(arms)), np.nan)
    probabilities[:, columns] = router.predict_embeddings(embeddings, list(queries))
    summary.pop("members")
    summary["arms"] = len(columns)
    return probabilities, summary
