"""How a router is trained, as two frozen dataclasses (no torch here: the CLI reads the defaults).

* :class:`RouterFitConfig`: one :class:`~bestroute.router.network.RouterNet` fitted by
  :func:`~bestroute.training.network_fit.fit_router_net` (architecture, optimiser, early stopping).
* :class:`RouterTrainingConfig`: the recipe of :func:`~bestroute.training.recipe.train_router`,
  the router behind the README's figures: several small networks merged into one, each arm's bias
  recentred, weight decay scaled by the training rows, and a TF-IDF view averaged in.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from bestroute.errors import ConfigurationError

TrainingMode = Literal["frozen", "finetune"]

#: Networks averaged per router (see :mod:`bestroute.training.ensemble`).
DEFAULT_ENSEMBLE = 5
#: AdamW's weight decay acts once per step, and the steps per epoch grow with the training rows,
#: so the recipe's decay is ``WEIGHT_DECAY_SCALE / rows``: 30 for GSM8K's 256 training queries,
#: 7.7 for MMLU's 1000 (where 30 shrinks every arm to its mean: 0.07 saved at 1% against 0.14).
#: Checked by cross-validation on training queries only (GSM8K join, seeds 0-2, 4 folds of each
#: 256-query training split, ``benchmarks/router_resolution.py``): at 256 rows this decay
#: flattens the networks to each arm's mean (the neural view alone scores the per-arm
#: constant's log-loss, 0.5672 against 0.5673, so ``hidden`` and ``ensemble`` change nothing),
#: and weaker decay only overfits (neural alone 0.578-0.579 at scale 76.8 or decay 1e-2). With
#: the lexical view no scale on the grid beats it (out-of-fold log-loss 0.5633 at 7680, 0.5636
#: at 768, 0.5637 at 76.8, 0.5639 at decay 1e-2): kept, frozen on that evidence.
WEIGHT_DECAY_SCALE = 7680.0
#: Share of the lexical view in the router's logits: the neural ensemble and the TF-IDF head
#: count alike. (First adopted on test-split savings; the evidence that counts is on training
#: queries.) Out of fold on the GSM8K join's training splits (as above) the mixed router scores
#: 0.5633, 0.75 scores 0.5621 and the lexical view alone 0.5614 (lower on 2 of 3 seeds; the
#: per-seed differences, sd ~0.004, do not separate them), and the mix halves the spread of
#: the probabilities (mean per-arm std 0.042 alone, 0.023 mixed). So replay does not freeze it:
#: each run chooses between 0.5 and the lexical view alone on its training split
#: (:data:`ROUTER_GRID`), and so does ``bestroute train`` (``--router-settings recipe`` keeps 0.5).
DEFAULT_LEXICAL_WEIGHT = 0.5
#: L2 strength of the lexical view's head (``1 / C``; see :mod:`bestroute.router.lexical`).
DEFAULT_LEXICAL_L2 = 1.0
#: :func:`~bestroute.training.network_fit.fit_router_net`'s weight decay when none is given.
DEFAULT_WEIGHT_DECAY = 1e-2


@dataclass(frozen=True, slots=True)
class RouterFitConfig:
    """How one router network is fitted; the defaults are those of a single large network.

    ``epochs`` and ``patience`` default per mode (``None``); ``weight_decay`` ``None`` means
    :data:`DEFAULT_WEIGHT_DECAY` (the recipe scales it by the rows instead);
    ``use_length_features`` ``None`` means on when query texts are given; ``query_max_tokens``
    ``None`` keeps the encoder's own truncation. ``encoder_lr`` applies in ``"finetune"`` mode.
    """

    mode: TrainingMode = "frozen"
    hidden: int = 256
    use_length_features: bool | None = None
    dropout: float = 0.1
    query_max_tokens: int | None = None
    lr: float = 1e-3
    weight_decay: float | None = None
    epochs: int | None = None
    patience: int | None = None
    batch_size: int = 64
    val_fraction: float = 0.15
    encoder_lr: float = 2e-5

    def overrides(self) -> dict[str, Any]:
        """The fields that differ from the defaults, in field order (what reports record)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) != f.default
        }


#: The recipe's network: a small trunk and no query-length features. A small trunk and strong
#: weight decay keep each arm near its mean unless the query gives a reason; the length features
#: are left out because "short means easy" is right on average and wrong on exactly the confident
#: queries a 1% budget depends on. Chosen by replaying seeded splits of the GSM8K join's training
#: + validation queries (its test split never took part): saving at <= 1% drop 0.84 against 0.68
#: with length features and 0.65-0.71 for one network at the :class:`RouterFitConfig` defaults.
#: Under the recipe's decay the trunk's size does not matter out of fold (hidden 16 and 256,
#: ensembles of 5 and 1: log-loss 0.5633 each; see :data:`WEIGHT_DECAY_SCALE`).
RECIPE_NETWORK = RouterFitConfig(hidden=16, use_length_features=False)


@dataclass(frozen=True, slots=True)
class RouterTrainingConfig:
    """The router recipe: ``ensemble`` networks fitted with ``network``, merged into one.

    Members get seeds ``seed * 1000 + member`` (so different early-stopping splits) and the
    merged network predicts their mean logit. ``recenter`` then shifts each arm's bias so that
    its mean probability on the training rows is its mean label. Without a ``weight_decay`` in
    ``network``, the decay is ``weight_decay_scale / training rows`` (see
    :data:`WEIGHT_DECAY_SCALE`; ``None`` keeps the network default). ``lexical`` attaches a
    TF-IDF view fitted on the same rows and labels (L2 strength ``lexical_l2``), whose logits
    count ``lexical_weight``; ``lexical_surface`` adds the query's surface counts (words,
    numbers, digits: :mod:`bestroute.router.surface`) to that view's features.
    """

    ensemble: int = DEFAULT_ENSEMBLE
    network: RouterFitConfig = RECIPE_NETWORK
    recenter: bool = True
    weight_decay_scale: float | None = WEIGHT_DECAY_SCALE
    lexical: bool = True
    lexical_weight: float = DEFAULT_LEXICAL_WEIGHT
    lexical_l2: float = DEFAULT_LEXICAL_L2
    lexical_surface: bool = False

    def __post_init__(self) -> None:
        if self.ensemble < 1:
            raise ConfigurationError(f"ensemble must be >= 1, got {self.ensemble}")

    def network_for(self, rows: int) -> RouterFitConfig:
        """Each member's fit config for ``rows`` training queries (the weight decay resolved)."""
        if self.network.weight_decay is not None or not self.weight_decay_scale:
            return self.network
        return replace(self.network, weight_decay=self.weight_decay_scale / max(1, rows))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values; ``options`` holds the network's fields that are not defaults."""
        return {
            "ensemble": self.ensemble,
            "options": self.network.overrides(),
            "recenter": self.recenter,
            "weight_decay_scale": self.weight_decay_scale,
            "lexical": self.lexical,
            "lexical_weight": self.lexical_weight,
            "lexical_l2": self.lexical_l2,
            "lexical_surface": self.lexical_surface,
        }


#: The settings replay's routers choose from, each run, by 3-fold soft log-loss on that run's
#: training split (:func:`~bestroute.training.selection.choose_router_config`; test queries never
#: take part): the recipe as defined above, and the lexical view alone (``lexical_weight=1``;
#: one network, since its logits then count for nothing). Why these two: out of fold on the
#: GSM8K join's training splits (seeds 0-2, 4 folds of 256; benchmarks/router_resolution.py)
#: the neural view's log-loss equals the per-arm constant's (0.5707/0.5734/0.5575 against
#: 0.5707/0.5735/0.5577), so averaging it in halves the TF-IDF view's spread (mean per-arm
#: std 0.042 -> 0.024) for no gain (mean 0.5633 against 0.5614 alone); on data where the encoder
#: carries signal the mixed recipe can win, so the choice is made per dataset, not frozen.
#: Nested CV of that choice (same three training splits: 4 outer folds, the choice by 3 inner
#: folds of each outer training part): it took the lexical view alone in 9 of 12 outer folds
#: and scored 0.5619 out of sample, against 0.5632 for always the recipe and 0.5614 for always
#: the lexical view alone (``benchmarks/router_resolution.py --nested``).
#:
#: Both again with the lexical view's surface counts (words, numbers, digits;
#: :mod:`bestroute.router.surface`): same protocol (seeds 0-2, 4 folds of each training split,
#: ``benchmarks/router_resolution.py --variants default lexical_only surface
#: lexical_only_surface``), out-of-fold log-loss 0.5513/0.5594/0.5304 for the lexical view with
#: counts alone, against 0.5573/0.5620/0.5398 for the recipe with counts, 0.5636/0.5750/0.5457
#: for the lexical view alone and 0.5661/0.5733/0.5504 for the recipe: lowest on every seed. The
#: counts also widen the router's resolution: the range of each query's highest arm probability
#: goes from 0.882-0.909 (recipe, seed 0) to 0.817-0.946, the mean per-arm standard deviation
#: from 0.024 to 0.075-0.081. (The idea came from an exploratory script that also scored
#: replay test splits; what admits it is the training-split evidence above and the per-run choice
#: by training log-loss, which is what replay and ``bestroute train`` run.)
ROUTER_GRID: tuple[RouterTrainingConfig, ...] = (
    RouterTrainingConfig(),
    RouterTrainingConfig(ensemble=1, lexical_weight=1.0),
    RouterTrainingConfig(lexical_surface=True),
    RouterTrainingConfig(ensemble=1, lexical_weight=1.0, lexical_surface=True),
)
