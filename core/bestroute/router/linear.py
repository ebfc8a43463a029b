"""Logistic regression on soft labels: one output per arm, NaN labels left out, L2 penalty.

scikit-learn's logistic regression takes hard labels only; BEST-Route labels are probabilities.
This fits all arms at once with L-BFGS on the mean cross-entropy per arm plus
``l2 / 2 * |W|^2 / n_rows`` (biases unpenalised), on dense or sparse features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize

from bestroute.errors import ConfigurationError

_MAX_ITERATIONS = 300


def standardisation(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale of each column of dense ``features`` (a constant column gets scale 1)."""
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    return mean, np.where(scale > 1e-8, scale, 1.0)


class SoftLogisticRegression:
    """``P(label) = sigmoid(x @ W + b)`` per arm, fitted to soft labels in [0, 1].

    Dense features are standardised with the training mean and spread (``standardize``).
    """

    def __init__(self, l2: float = 1.0, *, standardize: bool = True) -> None:
        if l2 < 0:
            raise ConfigurationError(f"l2 must be >= 0, got {l2}")
        self.l2 = l2
        self.standardize = standardize
        self.weights: np.ndarray | None = None
        self.bias: np.ndarray | None = None
        self._mean: np.ndarray | None = None
        self._scale: np.ndarray | None = None

    def fit(
        self, features: Any, labels: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> SoftLogisticRegression:
        """Fit on ``features`` ``(N, d)`` and ``labels`` ``(N, arms)`` (NaN: no label)."""
        targets = np.asarray(labels, dtype=np.float64)
        if targets.ndim != 2 or targets.shape[0] != features.shape[0]:
            raise ConfigurationError(
                f"labels must be (rows, arms) with {features.shape[0]} rows, got {targets.shape}"
            )
        x = self._prepare(features, fit=True)
        n_rows, dim = x.shape
        n_arms = targets.shape[1]
        present = ~np.isnan(targets)
        filled = np.where(present, targets, 0.0)
        row_weight = np.ones(n_rows) if sample_weight is None else np.asarray(sample_weight)
        weight = present * row_weight[:, None]
        counts = np.maximum(weight.sum(axis=0), 1e-12)
        penalty = self.l2 / max(n_rows, 1)

        def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w = theta[: dim * n_arms].reshape(dim, n_arms)
            b = theta[dim * n_arms :]
            logits = np.asarray(x @ w) + b
            probs = 1.0 / (1.0 + np.exp(-logits))
            loss = ((np.logaddexp(0.0, logits) - filled * logits) * weight).sum(axis=0) / counts
            residual = (probs - filled) * weight / counts
            grad_w = np.asarray(x.T @ residual) + penalty * w
            value = float(loss.sum() + 0.5 * penalty * float((w * w).sum()))
            return value, np.concatenate([grad_w.ravel(), residual.sum(axis=0)])

        means = np.clip(filled.sum(axis=0) / np.maximum(present.sum(axis=0), 1), 1e-3, 1 - 1e-3)
        start = np.concatenate([np.zeros(dim * n_arms), np.log(means / (1 - means))])
        result = minimize(
            loss_and_grad,
            start,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": _MAX_ITERATIONS},
        )
        self.weights = result.x[: dim * n_arms].reshape(dim, n_arms)
        self.bias = result.x[dim * n_arms :]
        return self

    def predict_proba(self, features: Any) -> np.ndarray:
        """Probabilities ``(N, arms)``."""
        if self.weights is None or self.bias is None:
            raise ConfigurationError("fit the model before predicting")
        logits = np.asarray(self._prepare(features, fit=False) @ self.weights) + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-logits)))

    def _prepare(self, features: Any, *, fit: bool) -> Any:
        if sp.issparse(features):
            return sp.csr_matrix(features, dtype=np.float64)
        x = np.asarray(features, dtype=np.float64)
        if not self.standardize:
            return x
        if fit:
            self._mean, self._scale = standardisation(x)
        assert self._mean is not None and self._scale is not None
        return (x - self._mean) / self._scale
