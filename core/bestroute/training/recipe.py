"""The router recipe behind the README's figures: :func:`train_router`.

Several small networks (:func:`~bestroute.training.network_fit.fit_router_net`, seeds
``seed * 1000 + member``) merged into one :class:`~bestroute.router.network.RouterNet` that
predicts their mean logit (:mod:`bestroute.training.ensemble`), each arm's bias recentred on the
training rows, and a TF-IDF view (:class:`~bestroute.router.lexical.LexicalHead`) averaged in.
The defaults are :class:`~bestroute.training.config.RouterTrainingConfig`'s. Replay
(``best_route``, ``n_label``, ``hybrid_llm``) and ``bestroute train`` both train this router.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bestroute.encoder import DEFAULT_MAX_TOKENS, Encoder
from bestroute.errors import ConfigurationError
from bestroute.pool import Arm
from bestroute.router.lexical import LexicalHead
from bestroute.router.network import RouterNet
from bestroute.training.config import RouterFitConfig, RouterTrainingConfig
from bestroute.training.ensemble import merge_routers, recenter
from bestroute.training.network_fit import RouterFitReport, fit_router_net

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrainedRouter:
    """A router from :func:`train_router` and what its training did.

    ``network`` is the fit config every member used (its weight decay resolved); ``members``
    are their reports; ``lexical_terms`` is the TF-IDF vocabulary size (0 without the view).
    """

    router: RouterNet
    config: RouterTrainingConfig
    network: RouterFitConfig
    members: tuple[RouterFitReport, ...]
    lexical_terms: int
    seconds: float

    def summary(self, *, members: bool = True) -> dict[str, Any]:
        """Plain JSON values for reports (``members``: each member's full report too)."""
        result: dict[str, Any] = {
            "ensemble": len(self.members),
            "options": self.network.overrides(),
            "best_epochs": [m.best_epoch for m in self.members],
            "best_val_losses": [m.best_val_loss for m in self.members],
            "members": [m.to_dict() for m in self.members],
            "lexical_terms": self.lexical_terms,
            "lexical_weight": self.config.lexical_weight if self.config.lexical else 0.0,
            "train_seconds": self.seconds,
        }
        if not members:
            del result["members"]
        return result


def train_router(
    labels: np.ndarray,
    arms: Sequence[Arm],
    *,
    queries: Sequence[str],
    embeddings: np.ndarray | None = None,
    encoder: Encoder | None = None,
    config: RouterTrainingConfig | None = None,
    seed: int = 0,
    progress: bool = False,
) -> TrainedRouter:
    """Train the recipe's router on soft labels ``(len(queries), len(arms))`` (NaN: no label).

    ``embeddings`` are the queries' encoder embeddings (e.g. from
    :class:`~bestroute.training.embeddings.EmbeddingCache`); in frozen mode without them the
    queries are encoded once with ``encoder`` (the default MiniLM when ``None``). Without an
    ``encoder`` the router reads cached embeddings only (:meth:`RouterNet.predict_embeddings`).
    """
    started = time.perf_counter()
    config = config or RouterTrainingConfig()
    queries = list(queries)
    network = config.network_for(len(labels))
    if embeddings is None and network.mode == "frozen":
        if encoder is None:
            encoder = Encoder(max_tokens=network.query_max_tokens or DEFAULT_MAX_TOKENS)
        embeddings = np.asarray(encoder.encode(queries), dtype=np.float32)
    members: list[RouterNet] = []
    reports: list[RouterFitReport] = []
    with _quiet_without_encoder(encoder):
        for member in range(config.ensemble):
            router, report = fit_router_net(
                labels,
                arms,
                queries=queries,
                embeddings=embeddings,
                encoder=encoder,
                config=network,
                seed=seed * 1000 + member,
                progress=progress,
            )
            members.append(router)
            reports.append(report)
    merged = merge_routers(members) if len(members) > 1 else members[0]
    if config.recenter and embeddings is not None:
        recenter(merged, embeddings, queries, labels)
    lexical_terms = 0
    if config.lexical:
        try:
            head = LexicalHead.fit(
                queries, labels, l2=config.lexical_l2, surface=config.lexical_surface
            )
        except ConfigurationError as error:  # a handful of queries with no shared word
            logger.warning("router trained without its lexical view: %s", error)
        else:
            merged.attach_lexical(head, config.lexical_weight)
            lexical_terms = len(head.vocabulary)
    return TrainedRouter(
        router=merged,
        config=config,
        network=network,
        members=tuple(reports),
        lexical_terms=lexical_terms,
        seconds=time.perf_counter() - started,
    )


@contextlib.contextmanager
def _quiet_without_encoder(encoder: Encoder | None) -> Iterator[None]:
    """Training on cached embeddings only is deliberate here: silence the "no encoder" warning."""
    fit_logger = logging.getLogger(fit_router_net.__module__)
    previous = fit_logger.level
    if encoder is None:
        fit_logger.setLevel(max(previous, logging.ERROR))
    try:
        yield
    finally:
        fit_logger.setLevel(previous)
