"""Fitting one :class:`RouterNet` with the BEST-Route loss (the recipe merges several).

The loss is the binary cross-entropy between each arm's predicted probability and its soft label
y(m, n) (the probability that the best of n responses from m is as good as the reference's).
A NaN label means the arm was not offered for that query and is left out of the loss.

Two modes (:attr:`RouterFitConfig.mode <bestroute.training.config.RouterFitConfig.mode>`):

* ``frozen`` (the CPU default): the encoder's embeddings are computed once (or given) and
  cached; only the heads train, so an epoch over thousands of queries takes milliseconds.
* ``finetune`` (for a GPU): the encoder's weights train too, with their own learning rate; on
  CUDA the encoder trains in float32 under bf16 autocast and returns to bf16 afterwards.

Both hold out a seeded validation split, stop early on its loss and restore the best epoch.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from bestroute.encoder import DEFAULT_MAX_TOKENS, Encoder
from bestroute.errors import ConfigurationError
from bestroute.pool import Arm
from bestroute.router.network import RouterNet, length_features
from bestroute.training.config import DEFAULT_WEIGHT_DECAY, RouterFitConfig

logger = logging.getLogger(__name__)

#: Defaults per mode for ``epochs`` and ``patience`` when they are left as ``None``.
DEFAULT_EPOCHS: dict[str, int] = {"frozen": 200, "finetune": 8}
DEFAULT_PATIENCE: dict[str, int] = {"frozen": 20, "finetune": 2}
_ENCODE_CHUNK = 256
_MIN_IMPROVEMENT = 1e-6


@dataclass(slots=True)
class RouterFitReport:
    """What one fit did. Epochs are numbered from 1; losses are per epoch."""

    mode: str
    train_losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float | None = None
    epochs_run: int = 0
    stopped_early: bool = False
    n_train: int = 0
    n_val: int = 0
    length_features: bool = False
    embedding_seconds: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def masked_bce(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed BCE-with-logits over the non-NaN targets, and how many targets that was."""
    mask = ~torch.isnan(targets)
    losses = torch.nn.functional.binary_cross_entropy_with_logits(
        logits.float(), torch.nan_to_num(targets), reduction="none"
    )
    return (losses * mask).sum(), int(mask.sum().item())


def fit_router_net(
    labels: np.ndarray,
    arms: Sequence[Arm],
    *,
    queries: Sequence[str] | None = None,
    embeddings: np.ndarray | None = None,
    encoder: Encoder | None = None,
    config: RouterFitConfig | None = None,
    seed: int = 0,
    progress: bool = True,
    device: str | torch.device | None = None,
) -> tuple[RouterNet, RouterFitReport]:
    """Fit one router network on soft labels ``(N, len(arms))`` in [0, 1] (NaN: no label).

    Frozen mode reads ``embeddings`` (from :meth:`Encoder.encode`) when given, else encodes
    ``queries`` once with ``encoder`` (the default MiniLM when ``None``). Fine-tune mode needs
    ``queries``. ``config`` defaults to :class:`RouterFitConfig` (one large network; the
    README's router is :func:`bestroute.training.train_router`). Returns the router with its
    best-validation-epoch weights, in eval mode, and a report.
    """
    started = time.perf_counter()
    config = config or RouterFitConfig()
    mode, val_fraction, lr, batch_size = (
        config.mode,
        config.val_fraction,
        config.lr,
        config.batch_size,
    )
    epochs, patience, query_max_tokens = config.epochs, config.patience, config.query_max_tokens
    use_length_features = config.use_length_features
    weight_decay = DEFAULT_WEIGHT_DECAY if config.weight_decay is None else config.weight_decay
    if mode not in DEFAULT_EPOCHS:
        raise ConfigurationError(f"mode must be 'frozen' or 'finetune', not {mode!r}")
    arms = tuple(arms)
    targets = _check_labels(labels, len(arms))
    n_rows = targets.shape[0]
    _check_options(n_rows, val_fraction, batch_size, lr, epochs, patience)
    if queries is not None:
        if isinstance(queries, str):
            raise ConfigurationError("queries must be a list of strings, not one string")
        queries = list(queries)
        if len(queries) != n_rows:
            raise ConfigurationError(f"{len(queries)} queries for {n_rows} label rows")
    if use_length_features is None:
        use_length_features = queries is not None
    if use_length_features and queries is None:
        raise ConfigurationError("length features are computed from the queries: pass queries")
    if mode == "finetune" and queries is None:
        raise ConfigurationError("fine-tuning trains the encoder on texts: pass queries")
    if embeddings is None and queries is None:
        raise ConfigurationError("pass queries (texts to encode) or precomputed embeddings")
    epochs = epochs if epochs is not None else DEFAULT_EPOCHS[mode]
    patience = patience if patience is not None else DEFAULT_PATIENCE[mode]

    embedding_seconds = 0.0
    if (embeddings is None or mode == "finetune") and encoder is None:
        encoder = Encoder(device=device, max_tokens=query_max_tokens or DEFAULT_MAX_TOKENS)
    if mode == "frozen" and embeddings is None:
        assert queries is not None and encoder is not None
        embed_started = time.perf_counter()
        embeddings = _encode(encoder, queries, progress)
        embedding_seconds = time.perf_counter() - embed_started
    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[0] != n_rows:
            raise ConfigurationError(
                f"embeddings must have shape ({n_rows}, dim), got {embeddings.shape}"
            )
    if encoder is None and mode == "frozen":
        logger.warning(
            "training on embeddings without an encoder: the router can only predict from "
            "cached embeddings; pass encoder=... to let it read query texts"
        )

    train_idx, val_idx = validation_split(n_rows, val_fraction, seed)
    report = RouterFitReport(
        mode=mode,
        n_train=len(train_idx),
        n_val=len(val_idx),
        length_features=use_length_features,
        embedding_seconds=embedding_seconds,
    )
    embedding_dim = None
    if encoder is None:
        assert embeddings is not None
        embedding_dim = int(embeddings.shape[1])
    with _seeded(seed, encoder.device if encoder is not None else torch.device(device or "cpu")):
        router = RouterNet(
            encoder,
            arms,
            hidden=config.hidden,
            dropout=config.dropout,
            query_max_tokens=query_max_tokens,
            use_length_features=use_length_features,
            embedding_dim=embedding_dim,
            device=device,
        )
        _fit_input_statistics(router, queries, train_idx)
        _init_output_bias(router, targets[train_idx])
        target_tensor = torch.as_tensor(targets, device=router.device)
        if mode == "frozen":
            assert embeddings is not None
            _train_frozen(
                router,
                embeddings,
                queries,
                target_tensor,
                train_idx,
                val_idx,
                report,
                epochs=epochs,
                patience=patience,
                lr=lr,
                weight_decay=weight_decay,
                batch_size=batch_size,
                seed=seed,
                progress=progress,
            )
        else:
            assert queries is not None
            _train_finetune(
                router,
                queries,
                target_tensor,
                train_idx,
                val_idx,
                report,
                epochs=epochs,
                patience=patience,
                lr=lr,
                encoder_lr=config.encoder_lr,
                weight_decay=weight_decay,
                batch_size=batch_size,
                seed=seed,
                progress=progress,
            )
    router.eval()
    report.seconds = time.perf_counter() - started
    logger.info(
        "trained router (%s) on %d queries: best epoch %d of %d, val loss %s, %.1f s",
        mode,
        report.n_train,
        report.best_epoch,
        report.epochs_run,
        f"{report.best_val_loss:.4f}" if report.best_val_loss is not None else "n/a",
        report.seconds,
    )
    return router, report


# ------------------------------------------------------------------------ the two modes
def _train_frozen(
    router: RouterNet,
    embeddings: np.ndarray,
    queries: Sequence[str] | None,
    targets: torch.Tensor,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    report: RouterFitReport,
    *,
    epochs: int,
    patience: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    seed: int,
    progress: bool,
) -> None:
    inputs = router.inputs_from_embeddings(embeddings, queries)
    optimizer = torch.optim.AdamW(
        router.head_modules().parameters(), lr=lr, weight_decay=weight_decay
    )

    def batch_loss(rows: np.ndarray) -> tuple[torch.Tensor, int]:
        index = torch.as_tensor(rows, device=router.device)
        return masked_bce(router(inputs[index]), targets[index])

    def val_loss() -> float | None:
        index = torch.as_tensor(val_idx, device=router.device)
        return _mean_loss(lambda: masked_bce(router(inputs[index]), targets[index]))

    with _single_cpu_thread(router.device):
        _run_epochs(
            router,
            optimizer,
            batch_loss,
            val_loss,
            train_idx,
            report,
            epochs=epochs,
            patience=patience,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
            include_encoder=False,
        )


def _train_finetune(
    router: RouterNet,
    queries: Sequence[str],
    targets: torch.Tensor,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    report: RouterFitReport,
    *,
    epochs: int,
    patience: int,
    lr: float,
    encoder_lr: float,
    weight_decay: float,
    batch_size: int,
    seed: int,
    progress: bool,
) -> None:
    encoder = router.encoder
    assert encoder is not None
    on_cuda = encoder.device.type == "cuda"
    if on_cuda:  # train float32 master weights under bf16 autocast; bf16 steps would vanish
        encoder.model.float()
    optimizer = torch.optim.AdamW(
        [
            {"params": list(encoder.model.parameters()), "lr": encoder_lr},
            {"params": list(router.head_modules().parameters()), "lr": lr},
        ],
        weight_decay=weight_decay,
    )

    def autocast() -> contextlib.AbstractContextManager[Any]:
        if on_cuda:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def batch_loss(rows: np.ndarray) -> tuple[torch.Tensor, int]:
        texts = [queries[i] for i in rows]
        with autocast():
            logits = router(router.inputs_from_texts(texts))
        return masked_bce(logits, targets[torch.as_tensor(rows, device=router.device)])

    def val_loss() -> float | None:
        texts = [queries[i] for i in val_idx]
        index = torch.as_tensor(val_idx, device=router.device)

        def compute() -> tuple[torch.Tensor, int]:
            with autocast():
                embedded = encoder.encode(texts)
            return masked_bce(
                router(router.inputs_from_embeddings(embedded, texts)), targets[index]
            )

        return _mean_loss(compute)

    try:
        _run_epochs(
            router,
            optimizer,
            batch_loss,
            val_loss,
            train_idx,
            report,
            epochs=epochs,
            patience=patience,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
            include_encoder=True,
        )
    finally:
        if on_cuda:
            encoder.model.to(encoder.dtype)
    router.encoder_trained = True


# ------------------------------------------------------------------------------ the loop
def _run_epochs(
    router: RouterNet,
    optimizer: torch.optim.Optimizer,
    batch_loss: Callable[[np.ndarray], tuple[torch.Tensor, int]],
    val_loss: Callable[[], float | None],
    train_idx: np.ndarray,
    report: RouterFitReport,
    *,
    epochs: int,
    patience: int,
    batch_size: int,
    seed: int,
    progress: bool,
    include_encoder: bool,
) -> None:
    """Minibatch epochs with early stopping on the validation loss; restores the best epoch."""
    rng = np.random.default_rng(seed)
    best_state: dict[str, torch.Tensor] | None = None
    best_loss = math.inf
    bar = tqdm(
        range(1, epochs + 1), desc=f"router ({report.mode})", unit="epoch", disable=not progress
    )
    for epoch in bar:
        router.train()
        total, count = 0.0, 0
        for rows in _batches(rng.permutation(train_idx), batch_size):
            loss_sum, n = batch_loss(rows)
            if n == 0:
                continue
            optimizer.zero_grad(set_to_none=True)
            (loss_sum / n).backward()
            optimizer.step()
            total += float(loss_sum.detach())
            count += n
        train = total / count if count else math.nan
        report.train_losses.append(train)
        report.epochs_run = epoch
        router.eval()
        validation = val_loss()
        if validation is None:  # no validation split: the last epoch is the best
            report.best_epoch = epoch
            bar.set_postfix(train=f"{train:.4f}")
            continue
        report.val_losses.append(validation)
        bar.set_postfix(train=f"{train:.4f}", val=f"{validation:.4f}", best=report.best_epoch)
        if validation < best_loss - _MIN_IMPROVEMENT:
            best_loss = validation
            report.best_epoch = epoch
            report.best_val_loss = validation
            best_state = _snapshot(router, include_encoder)
        elif epoch - report.best_epoch >= patience:
            report.stopped_early = True
            break
    bar.close()
    if best_state is not None:
        router.load_state_dict(best_state, strict=False)


def _mean_loss(compute: Callable[[], tuple[torch.Tensor, int]]) -> float | None:
    with torch.no_grad():
        loss_sum, n = compute()
    return float(loss_sum) / n if n else None


def _snapshot(router: RouterNet, include_encoder: bool) -> dict[str, torch.Tensor]:
    state = router.state_dict() if include_encoder else router.head_state_dict()
    return {name: value.detach().clone() for name, value in state.items()}


def _batches(rows: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(rows), batch_size):
        yield rows[start : start + batch_size]


# ---------------------------------------------------------------------------- set-up
def _check_labels(labels: np.ndarray, n_arms: int) -> np.ndarray:
    targets = np.asarray(labels, dtype=np.float32)
    if targets.ndim != 2 or targets.shape[1] != n_arms:
        raise ConfigurationError(
            f"labels must have shape (queries, {n_arms}) (one column per arm), got {targets.shape}"
        )
    if targets.shape[0] == 0:
        raise ConfigurationError("no training queries: labels is empty")
    present = targets[~np.isnan(targets)]
    if present.size == 0:
        raise ConfigurationError("every label is NaN: there is nothing to learn from")
    if np.isinf(present).any() or present.min() < 0.0 or present.max() > 1.0:
        raise ConfigurationError("labels must be probabilities in [0, 1] (or NaN for 'no label')")
    return targets


def _check_options(
    n_rows: int,
    val_fraction: float,
    batch_size: int,
    lr: float,
    epochs: int | None,
    patience: int | None,
) -> None:
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigurationError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if val_fraction > 0 and n_rows < 2:
        raise ConfigurationError("a validation split needs at least 2 queries (or val_fraction=0)")
    if batch_size < 1 or lr <= 0:
        raise ConfigurationError("batch_size must be >= 1 and lr > 0")
    if (epochs is not None and epochs < 1) or (patience is not None and patience < 1):
        raise ConfigurationError("epochs and patience must be >= 1")


def validation_split(n_rows: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded (train, validation) row indices :func:`fit_router_net` uses, each sorted."""
    order = np.random.default_rng(seed).permutation(n_rows)
    if val_fraction <= 0:
        return np.sort(order), np.zeros(0, dtype=np.int64)
    n_val = min(max(1, round(n_rows * val_fraction)), n_rows - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _fit_input_statistics(
    router: RouterNet, queries: Sequence[str] | None, train_idx: np.ndarray
) -> None:
    """Standardise the length features with the training split's mean and spread."""
    if not router.use_length_features or queries is None:
        return
    values = length_features([queries[i] for i in train_idx])
    scale = values.std(axis=0)
    scale[scale < 1e-6] = 1.0
    router.length_mean.copy_(torch.as_tensor(values.mean(axis=0)))
    router.length_scale.copy_(torch.as_tensor(scale))


def _init_output_bias(router: RouterNet, train_targets: np.ndarray) -> None:
    """Start every arm at its training-set mean label (the best constant prediction)."""
    with np.errstate(invalid="ignore"), torch.no_grad():
        present = ~np.isnan(train_targets)
        sums = np.where(present, train_targets, 0.0).sum(axis=0)
        counts = present.sum(axis=0)
        means = np.where(counts > 0, sums / np.maximum(counts, 1), 0.5)
        means = np.clip(means, 1e-3, 1 - 1e-3)
        router.skip.bias.copy_(torch.as_tensor(np.log(means / (1 - means)), dtype=torch.float32))
        router.output.bias.zero_()


def _encode(encoder: Encoder, queries: Sequence[str], progress: bool) -> np.ndarray:
    """Embeddings of every query, in chunks, with a progress bar."""
    chunks = [
        encoder.encode(queries[start : start + _ENCODE_CHUNK])
        for start in tqdm(
            range(0, len(queries), _ENCODE_CHUNK),
            desc="encoding queries",
            unit="chunk",
            disable=not progress,
        )
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, encoder.dim), dtype=np.float32)


@contextlib.contextmanager
def _single_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run the heads' tiny matrix products on one CPU thread (restored afterwards).

    Intra-op threads only add synchronisation at these sizes, and on a busy machine they make
    frozen training an order of magnitude slower.
    """
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch for initialisation and dropout without touching the caller's RNG state."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
