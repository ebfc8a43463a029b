"""Fitting one router network with the BEST-Route loss on real GSM8K outcomes (frozen MiniLM)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from bestroute.encoder import Encoder
from bestroute.errors import ConfigurationError
from bestroute.pool import Arm
from bestroute.router import RouterNet
from bestroute.training import RouterFitConfig, fit_router_net
from bestroute.training.network_fit import masked_bce, validation_split

N_VALUES = (1, 3)


def _bce(probabilities: np.ndarray, labels: np.ndarray) -> float:
    p = np.clip(probabilities, 1e-7, 1 - 1e-7)
    return float(-(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean())


def test_best_route_loss_separates_easy_from_hard_queries(
    encoder: Encoder, gsm8k, gsm8k_embeddings: np.ndarray
) -> None:
    arms = [Arm(model, n) for model in gsm8k.models for n in N_VALUES]
    labels = gsm8k.labels(arms)
    order = np.random.default_rng(0).permutation(len(gsm8k.queries))
    test, train = order[:150], order[150:]
    queries = gsm8k.queries

    router, report = fit_router_net(
        labels[train],
        arms,
        queries=[queries[i] for i in train],
        embeddings=gsm8k_embeddings[train],
        encoder=encoder,
        progress=False,
    )
    predicted = router.predict_embeddings(gsm8k_embeddings[test], [queries[i] for i in test])

    easy = labels[test] >= 0.5
    aucs = [
        roc_auc_score(easy[:, j], predicted[:, j])
        for j in range(len(arms))
        if 0 < easy[:, j].sum() < len(test)
    ]
    constant = np.broadcast_to(labels[train].mean(axis=0), labels[test].shape)
    router_loss, constant_loss = _bce(predicted, labels[test]), _bce(constant, labels[test])
    print(
        f"held-out AUC easy vs hard: mean {np.mean(aucs):.3f} over {len(aucs)} arms; "
        f"BCE router {router_loss:.4f} vs per-arm mean label {constant_loss:.4f}; "
        f"best epoch {report.best_epoch}/{report.epochs_run}"
    )
    assert np.mean(aucs) > 0.58
    assert router_loss < constant_loss
    # Best-of-3 succeeds at least as often as best-of-1; the router learned that ordering.
    for model in gsm8k.models:
        one, three = arms.index(Arm(model, 1)), arms.index(Arm(model, 3))
        assert predicted[:, three].mean() > predicted[:, one].mean()


def test_best_epoch_weights_are_restored(gsm8k, gsm8k_embeddings: np.ndarray) -> None:
    arms = [Arm(model, 1) for model in gsm8k.models]
    labels = gsm8k.labels(arms)
    router, report = fit_router_net(
        labels,
        arms,
        queries=gsm8k.queries,
        embeddings=gsm8k_embeddings,
        config=RouterFitConfig(patience=3, lr=3e-3),
        seed=1,
        progress=False,
    )
    assert report.n_train + report.n_val == len(labels)
    assert len(report.train_losses) == len(report.val_losses) == report.epochs_run
    assert report.stopped_early and report.epochs_run == report.best_epoch + 3
    assert report.best_val_loss == min(report.val_losses)
    assert report.val_losses[-1] > report.best_val_loss

    _, val = validation_split(len(labels), 0.15, seed=1)
    predicted = router.predict_embeddings(gsm8k_embeddings[val], [gsm8k.queries[i] for i in val])
    assert _bce(predicted, labels[val]) == pytest.approx(report.best_val_loss, rel=1e-4)


def test_nan_labels_are_left_out_of_the_loss() -> None:
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.5]])
    targets = torch.tensor([[1.0, float("nan")], [0.25, 0.0]])
    total, count = masked_bce(logits, targets)
    kept = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor([0.3, 2.0, 0.5]), torch.tensor([1.0, 0.25, 0.0]), reduction="sum"
    )
    assert count == 3
    assert total.item() == pytest.approx(kept.item())


def test_arm_without_labels_on_most_queries_still_trains(
    gsm8k, gsm8k_embeddings: np.ndarray
) -> None:
    arms = [Arm(gsm8k.models[0], 1), Arm(gsm8k.models[0], 3)]
    labels = gsm8k.labels(arms)
    labels[::2, 1] = np.nan  # n = 3 not offered for half the queries
    router, report = fit_router_net(
        labels, arms, embeddings=gsm8k_embeddings, config=RouterFitConfig(epochs=5), progress=False
    )
    assert not report.length_features  # no query texts given
    assert isinstance(router, RouterNet) and router.encoder is None
    predicted = router.predict_embeddings(gsm8k_embeddings[:10])
    assert predicted.shape == (10, 2)
    assert np.isfinite(predicted).all() and np.isfinite(report.train_losses).all()


def test_without_validation_the_last_epoch_is_kept(gsm8k, gsm8k_embeddings: np.ndarray) -> None:
    arms = [Arm(gsm8k.models[1], 1)]
    _, report = fit_router_net(
        gsm8k.labels(arms),
        arms,
        embeddings=gsm8k_embeddings,
        config=RouterFitConfig(val_fraction=0.0, epochs=4),
        progress=False,
    )
    assert report.val_losses == [] and report.best_val_loss is None
    assert report.best_epoch == report.epochs_run == 4 and not report.stopped_early


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.full((4, 3), 0.5), "one column per arm"),
        (np.array([[0.5, 1.5]] * 4), "probabilities in"),
        (np.full((4, 2), np.nan), "every label is NaN"),
    ],
)
def test_bad_labels_are_refused(labels: np.ndarray, message: str) -> None:
    arms = [Arm("m", 1), Arm("m", 2)]
    with pytest.raises(ConfigurationError, match=message):
        fit_router_net(labels, arms, embeddings=np.zeros((4, 8), np.float32), progress=False)


def test_finetune_needs_queries() -> None:
    with pytest.raises(ConfigurationError, match="pass queries"):
        fit_router_net(
            np.full((4, 1), 0.5),
            [Arm("m", 1)],
            embeddings=np.zeros((4, 8), np.float32),
            config=RouterFitConfig(mode="finetune"),
            progress=False,
        )
