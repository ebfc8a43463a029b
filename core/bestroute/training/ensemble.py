"""Several router networks merged into one that predicts their mean logit.

On a few hundred labelled queries one network's per-query deviations from each arm's mean are
mostly noise, and Algorithm 1 (the *cheapest* arm over the threshold) turns upward noise on a
cheap arm into a bad decision. Averaging networks trained with different seeds and early-stopping
splits cancels much of it. The average is exact in a single :class:`RouterNet`: the trunks sit
side by side in one wider hidden layer, the output layer averages them, the skip layers are
averaged, and each member's standardisation of the length features is folded into its weights.
The merged router saves and loads like any other, so the engine runs the ensemble unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bestroute.errors import ConfigurationError
from bestroute.router.network import RouterNet


def merge_routers(routers: Sequence[RouterNet]) -> RouterNet:
    """One :class:`~bestroute.router.network.RouterNet` whose logits are the members' mean."""
    if not routers:
        raise ConfigurationError("merge_routers needs at least one router")
    first = routers[0]
    if any(router.lexical is not None for router in routers):
        raise ConfigurationError(
            "merge the neural routers first, then attach one lexical view to the result"
        )
    for other in routers[1:]:
        if (
            other.arms != first.arms
            or other.embedding_dim != first.embedding_dim
            or other.use_length_features != first.use_length_features
        ):
            raise ConfigurationError(
                "routers to merge must share arms, embedding size and length features"
            )
    count = len(routers)
    merged = RouterNet(
        first.encoder,
        first.arms,
        hidden=sum(r.hidden_size for r in routers),
        dropout=first.dropout_rate,
        query_max_tokens=first.query_max_tokens,
        use_length_features=first.use_length_features,
        embedding_dim=None if first.encoder is not None else first.embedding_dim,
        encoder_path=first.encoder_path,
        device=first.device,
    )
    with torch.no_grad():
        merged.length_mean.copy_(first.length_mean)
        merged.length_scale.copy_(first.length_scale)
        skip_w = torch.zeros_like(merged.skip.weight)
        skip_b = torch.zeros_like(merged.skip.bias)
        hidden_w, hidden_b, output_w = [], [], []
        output_b = torch.zeros_like(merged.output.bias)
        for router in routers:
            w, b = _rebase(router, router.skip, first)
            skip_w += w / count
            skip_b += b / count
            w, b = _rebase(router, router.hidden, first)
            hidden_w.append(w)
            hidden_b.append(b)
            output_w.append(router.output.weight / count)
            output_b += router.output.bias / count
        merged.skip.weight.copy_(skip_w)
        merged.skip.bias.copy_(skip_b)
        merged.hidden.weight.copy_(torch.cat(hidden_w, dim=0))
        merged.hidden.bias.copy_(torch.cat(hidden_b))
        merged.output.weight.copy_(torch.cat(output_w, dim=1))
        merged.output.bias.copy_(output_b)
    merged.eval()
    return merged


def _rebase(
    router: RouterNet, layer: torch.nn.Linear, base: RouterNet
) -> tuple[torch.Tensor, torch.Tensor]:
    """``layer``'s weight and bias for inputs standardised with ``base``'s length statistics.

    ``(l - m_k) / s_k = (s_0 / s_k) * (l - m_0) / s_0 + (m_0 - m_k) / s_k``.
    """
    weight = layer.weight.detach().clone()
    bias = layer.bias.detach().clone()
    if not router.use_length_features:
        return weight, bias
    start = router.embedding_dim
    ratio = base.length_scale / router.length_scale
    shift = (base.length_mean - router.length_mean) / router.length_scale
    lengths = weight[:, start:]
    bias += lengths @ shift
    weight[:, start:] = lengths * ratio
    return weight, bias


def recenter(
    router: RouterNet,
    embeddings: np.ndarray,
    queries: Sequence[str],
    labels: np.ndarray,
    *,
    iterations: int = 50,
) -> RouterNet:
    """Shift each arm's bias so its mean probability on these rows equals its mean label.

    Weight decay pulls a small network's biases towards 0 (probability 0.5) along with its
    weights, which squeezes the gaps between arms that Algorithm 1 relies on. This restores each
    arm's average (calibration in the large) and leaves the per-query deviations as trained.
    Arms without any label keep their bias. Works in place; returns ``router``.
    """
    targets = np.asarray(labels, dtype=np.float64)
    with torch.no_grad():
        logits = router(router.inputs_from_embeddings(embeddings, list(queries))).double()
        present = torch.as_tensor(~np.isnan(targets), device=logits.device)
        goal = torch.as_tensor(np.nan_to_num(targets), device=logits.device)
        counts = present.sum(dim=0).clamp(min=1)
        wanted = (goal * present).sum(dim=0) / counts
        shift = torch.zeros(logits.shape[1], dtype=torch.float64, device=logits.device)
        for _ in range(iterations):  # Newton steps on the mean probability
            probs = torch.sigmoid(logits + shift)
            mean = (probs * present).sum(dim=0) / counts
            slope = (probs * (1 - probs) * present).sum(dim=0) / counts
            shift -= (mean - wanted) / slope.clamp(min=1e-9)
        shift[present.sum(dim=0) == 0] = 0.0
        router.skip.bias.add_(shift.to(router.skip.bias.dtype))
    return router
