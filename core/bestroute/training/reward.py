"""Train a :class:`RewardModel` on preference pairs with the pairwise loss.

The loss is ``-log sigmoid(r(better) - r(worse))``. Pairs are split into training and validation
by query (no validation query is seen in training). Training has two stages:

1. the linear term over the shape features (length, structure, repetition, refusals) is fitted
   to convergence (a convex problem, full-batch L-BFGS): the prior every reward starts from;
2. the MLP over embeddings and shape features learns the residual, epoch by epoch; it stops
   early when the validation loss has not improved for ``patience`` epochs and the best weights
   are restored. The residual is kept only when it beats the prior on validation by more than
   two standard errors of the per-pair loss difference; otherwise the MLP stays silent (epoch 0).
   On small data the embeddings mostly add noise, and this keeps them from costing accuracy.

Two modes: ``"frozen"`` (the default on CPU) embeds every distinct text once and trains only the
head on the cached embeddings; ``"finetune"`` also updates the encoder (for a GPU).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from bestroute.encoder import Encoder
from bestroute.errors import ConfigurationError
from bestroute.scoring.features import shape_feature_matrix
from bestroute.scoring.reward_model import DEFAULT_REWARD_MAX_TOKENS, RewardModel
from bestroute.training.pairs import PreferencePair

logger = logging.getLogger(__name__)

#: The MLP residual must lower the validation loss by this many standard errors to be kept.
RESIDUAL_SIGNIFICANCE = 2.0

TrainingMode = Literal["frozen", "finetune"]


@dataclass
class RewardTrainingReport:
    """What happened during training (per-epoch curves and the restored best epoch)."""

    mode: str
    n_train_pairs: int
    n_val_pairs: int
    n_train_queries: int
    n_val_queries: int
    epochs_run: int = 0
    best_epoch: int = 0
    best_val_loss: float = math.nan
    best_val_accuracy: float = math.nan
    prior_val_loss: float = math.nan
    prior_val_accuracy: float = math.nan
    train_losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    val_accuracies: list[float] = field(default_factory=list)
    embedding_seconds: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _PairTensors:
    """Indices into the embedding cache plus raw shape features, one row per pair."""

    query: torch.Tensor
    better: torch.Tensor
    worse: torch.Tensor
    better_shape: torch.Tensor
    worse_shape: torch.Tensor

    def __len__(self) -> int:
        return len(self.query)

    def take(self, rows: torch.Tensor) -> _PairTensors:
        return _PairTensors(
            self.query[rows],
            self.better[rows],
            self.worse[rows],
            self.better_shape[rows],
            self.worse_shape[rows],
        )


def train_reward_model(
    pairs: Sequence[PreferencePair],
    *,
    encoder: Encoder | None = None,
    mode: TrainingMode = "frozen",
    val_fraction: float = 0.15,
    epochs: int | None = None,
    lr: float = 1e-3,
    batch_size: int = 64,
    patience: int = 5,
    weight_decay: float = 0.01,
    hidden: int = 256,
    dropout: float = 0.1,
    encoder_lr: float = 2e-5,
    seed: int = 0,
    progress: bool = True,
) -> tuple[RewardModel, RewardTrainingReport]:
    """Train a reward model on ``pairs``; returns the model (best epoch restored) and a report.

    ``epochs`` defaults to 100 frozen / 3 fine-tuning (early stopping usually ends sooner).
    ``encoder`` defaults to all-MiniLM-L6-v2 reading 256 tokens. ``encoder_lr`` is the encoder's
    learning rate when fine-tuning. ``val_fraction=0`` trains on everything for ``epochs``.
    """
    if mode not in ("frozen", "finetune"):
        raise ConfigurationError(f"mode must be 'frozen' or 'finetune', got {mode!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigurationError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if len(pairs) < 2:
        raise ConfigurationError(
            f"train_reward_model needs at least 2 preference pairs, got {len(pairs)}"
        )
    started = time.perf_counter()
    epochs = epochs if epochs is not None else (100 if mode == "frozen" else 3)
    encoder = encoder if encoder is not None else Encoder(max_tokens=DEFAULT_REWARD_MAX_TOKENS)
    train_pairs, val_pairs = _split_by_query(pairs, val_fraction, seed)
    report = RewardTrainingReport(
        mode=mode,
        n_train_pairs=len(train_pairs),
        n_val_pairs=len(val_pairs),
        n_train_queries=len({p.query for p in train_pairs}),
        n_val_queries=len({p.query for p in val_pairs}),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RewardModel(
            encoder, hidden=hidden, dropout=dropout, encoder_finetuned=mode == "finetune"
        )
        texts = _distinct_texts(pairs)
        train_data, val_data = _to_tensors(train_pairs, texts), _to_tensors(val_pairs, texts)
        model.set_shape_scaling(
            torch.cat([train_data.better_shape, train_data.worse_shape]).numpy()
        )
        trainer = _Trainer(model, mode, texts, lr, encoder_lr, weight_decay, batch_size, progress)
        if mode == "frozen":
            embed_started = time.perf_counter()
            trainer.cache_embeddings()
            report.embedding_seconds = time.perf_counter() - embed_started
        trainer.fit_shape_prior(train_data)
        trainer.fit(train_data, val_data, epochs, patience, seed, report)
    model.eval()
    report.seconds = time.perf_counter() - started
    logger.info(
        "reward model: best epoch %d of %d, val loss %.4f, val accuracy %.3f (%d/%d pairs)",
        report.best_epoch,
        report.epochs_run,
        report.best_val_loss,
        report.best_val_accuracy,
        report.n_train_pairs,
        report.n_val_pairs,
    )
    return model, report


class _Trainer:
    """The epoch loop shared by both modes; only how embeddings are obtained differs."""

    def __init__(
        self,
        model: RewardModel,
        mode: TrainingMode,
        texts: list[str],
        lr: float,
        encoder_lr: float,
        weight_decay: float,
        batch_size: int,
        progress: bool,
    ) -> None:
        self.model = model
        self.mode = mode
        self.texts = texts
        self.batch_size = batch_size
        self.progress = progress
        self.cache: torch.Tensor | None = None
        groups: list[dict[str, Any]] = [
            {"params": list(model.mlp.parameters()), "lr": lr, "weight_decay": weight_decay}
        ]
        if mode == "finetune":
            groups.append({"params": list(model.encoder.parameters()), "lr": encoder_lr})
        else:
            model.encoder.requires_grad_(False)
        self.optimizer = torch.optim.AdamW(groups, weight_decay=weight_decay)

    def cache_embeddings(self) -> None:
        chunk = 256
        order = sorted(range(len(self.texts)), key=lambda i: len(self.texts[i]))
        cache = np.zeros((len(self.texts), self.model.encoder.dim), dtype=np.float32)
        bar = tqdm(
            total=len(self.texts), desc="embedding texts", unit="text", disable=not self.progress
        )
        for start in range(0, len(order), chunk):
            rows = order[start : start + chunk]
            cache[rows] = self.model.encoder.encode([self.texts[i] for i in rows])
            bar.update(len(rows))
        bar.close()
        self.cache = torch.from_numpy(cache).to(self.model.device)

    def _embed(self, rows: torch.Tensor, grad: bool) -> torch.Tensor:
        if self.cache is not None:
            return self.cache[rows.to(self.cache.device)]
        texts = [self.texts[int(i)] for i in rows]
        if grad:
            return self.model.encoder(texts)
        return torch.from_numpy(self.model.encoder.encode(texts)).to(self.model.device)

    def margins(self, batch: _PairTensors, grad: bool) -> torch.Tensor:
        """``r(better) - r(worse)`` for a batch of pairs."""
        query = self._embed(batch.query, grad)
        better = self.model.reward_from_features(
            query, self._embed(batch.better, grad), batch.better_shape
        )
        worse = self.model.reward_from_features(
            query, self._embed(batch.worse, grad), batch.worse_shape
        )
        return better - worse

    def fit_shape_prior(self, train: _PairTensors, l2: float = 1e-3) -> None:
        """Stage 1: the shape features' linear term, fitted to convergence (full batch)."""
        linear = self.model.shape_linear
        scale = (self.model.shape_mean, self.model.shape_std)
        better = (train.better_shape.to(self.model.device) - scale[0]) / scale[1]
        worse = (train.worse_shape.to(self.model.device) - scale[0]) / scale[1]
        optimizer = torch.optim.LBFGS(
            linear.parameters(), lr=1.0, max_iter=200, line_search_fn="strong_wolfe"
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            margins = (linear(better) - linear(worse)).squeeze(-1)
            loss = torch.nn.functional.softplus(-margins).mean() + l2 * linear.weight.square().sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        linear.requires_grad_(False)

    def fit(
        self,
        train: _PairTensors,
        val: _PairTensors,
        epochs: int,
        patience: int,
        seed: int,
        report: RewardTrainingReport,
    ) -> None:
        """Stage 2: the MLP residual, with early stopping on the validation loss."""
        generator = torch.Generator().manual_seed(seed)
        prior_state = copy.deepcopy(self._trainable_state())
        prior_losses = self.pair_losses(val) if len(val) else None
        best_loss, best_accuracy = _summary(prior_losses)
        report.prior_val_loss, report.prior_val_accuracy = best_loss, best_accuracy
        report.best_val_loss, report.best_val_accuracy = best_loss, best_accuracy
        best_state, best_losses, stale = prior_state, prior_losses, 0
        bar = tqdm(
            range(1, epochs + 1), desc="reward model", unit="epoch", disable=not self.progress
        )
        for epoch in bar:
            train_loss = self._train_epoch(train, generator)
            losses = self.pair_losses(val) if len(val) else None
            val_loss, val_accuracy = (
                _summary(losses) if losses is not None else (train_loss, math.nan)
            )
            report.train_losses.append(train_loss)
            report.val_losses.append(val_loss)
            report.val_accuracies.append(val_accuracy)
            report.epochs_run = epoch
            bar.set_postfix(
                train=f"{train_loss:.4f}", val=f"{val_loss:.4f}", acc=f"{val_accuracy:.3f}"
            )
            if losses is None or val_loss < best_loss - 1e-5:
                best_loss, best_losses, stale = val_loss, losses, 0
                best_state = copy.deepcopy(self._trainable_state())
                report.best_epoch, report.best_val_loss = epoch, val_loss
                report.best_val_accuracy = val_accuracy
            else:
                stale += 1
                if stale >= patience:
                    logger.info("early stop at epoch %d (best %d)", epoch, report.best_epoch)
                    break
        bar.close()
        if prior_losses is not None and best_losses is not None and report.best_epoch > 0:
            gain = prior_losses[0] - best_losses[0]
            standard_error = float(gain.std(unbiased=True)) / math.sqrt(max(len(gain), 1))
            if float(gain.mean()) <= RESIDUAL_SIGNIFICANCE * standard_error:
                logger.info(
                    "the MLP residual (epoch %d) is not significantly better than the shape prior "
                    "on validation (gain %.4f, standard error %.4f): keeping the prior",
                    report.best_epoch,
                    float(gain.mean()),
                    standard_error,
                )
                best_state = prior_state
                report.best_epoch = 0
                report.best_val_loss = report.prior_val_loss
                report.best_val_accuracy = report.prior_val_accuracy
        self.model.load_state_dict(best_state, strict=False)
        self.model.shape_linear.requires_grad_(True)

    def _trainable_state(self) -> dict[str, torch.Tensor]:
        return {
            name: tensor
            for name, tensor in self.model.state_dict().items()
            if self.mode == "finetune" or not name.startswith("encoder.")
        }

    def _train_epoch(self, data: _PairTensors, generator: torch.Generator) -> float:
        self.model.train()
        if self.mode == "frozen":
            self.model.encoder.eval()
        order = torch.randperm(len(data), generator=generator)
        total, count = 0.0, 0
        batches = range(0, len(data), self.batch_size)
        inner = tqdm(
            batches,
            desc="batches",
            leave=False,
            disable=not self.progress or self.mode == "frozen",
        )
        for start in inner:
            batch = data.take(order[start : start + self.batch_size])
            loss = torch.nn.functional.softplus(-self.margins(batch, grad=True)).mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.item() * len(batch)
            count += len(batch)
        return total / max(count, 1)

    @torch.no_grad()
    def pair_losses(self, data: _PairTensors) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pair loss and whether each pair is ranked correctly (evaluation mode)."""
        self.model.eval()
        margins = torch.cat(
            [
                self.margins(
                    data.take(torch.arange(start, min(start + 512, len(data)))), grad=False
                )
                for start in range(0, len(data), 512)
            ]
        ).cpu()
        return torch.nn.functional.softplus(-margins), (margins > 0).float()


def _summary(losses: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[float, float]:
    """Mean validation loss and accuracy (``inf``/NaN without validation pairs)."""
    if losses is None:
        return math.inf, math.nan
    return float(losses[0].mean()), float(losses[1].mean())


def _split_by_query(
    pairs: Sequence[PreferencePair], val_fraction: float, seed: int
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    queries = sorted({pair.query for pair in pairs})
    n_val = math.ceil(val_fraction * len(queries)) if val_fraction > 0 else 0
    if n_val >= len(queries):
        raise ConfigurationError(
            f"val_fraction={val_fraction} leaves no training query among {len(queries)}; "
            "lower it or give pairs for more queries"
        )
    rng = np.random.default_rng(seed)
    val_queries = {queries[i] for i in rng.permutation(len(queries))[:n_val]}
    train = [pair for pair in pairs if pair.query not in val_queries]
    val = [pair for pair in pairs if pair.query in val_queries]
    return train, val


def _distinct_texts(pairs: Sequence[PreferencePair]) -> list[str]:
    return list(dict.fromkeys(text for p in pairs for text in (p.query, p.better, p.worse)))


def _to_tensors(pairs: Sequence[PreferencePair], texts: list[str]) -> _PairTensors:
    index = {text: i for i, text in enumerate(texts)}
    queries = [p.query for p in pairs]

    def rows(values: list[str]) -> torch.Tensor:
        return torch.tensor([index[v] for v in values], dtype=torch.long)

    better = [p.better for p in pairs]
    worse = [p.worse for p in pairs]
    return _PairTensors(
        rows(queries),
        rows(better),
        rows(worse),
        torch.from_numpy(shape_feature_matrix(better)),
        torch.from_numpy(shape_feature_matrix(worse)),
    )
