"""How widely the router's probabilities spread per arm, with each recipe factor switched off.

    python benchmarks/router_resolution.py [--seeds 0 1 2] [--folds 4] [--variants ...]

On the GSM8K join, for each seed's split (:func:`bestroute.evaluate.splits.split_indices`, the
replay's), K-fold cross-validation on the **training split only** (the validation and test
splits never take part): every training query gets the probabilities of a router that did not
train on it. Per variant it reports the out-of-fold soft log-loss (the selection criterion),
and per arm the spread of the probabilities (standard deviation and 5-95% range) next to the
spread of the labels, plus the spread of each query's highest arm probability. Writes JSON to
``--out``. Needs ``../shared/data``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bestroute.data.importers import load_sources
from bestroute.data.labels import soft_labels
from bestroute.data.outcomes import replay_arms
from bestroute.evaluate.baselines import soft_log_loss
from bestroute.evaluate.splits import split_indices
from bestroute.prices import load_prices
from bestroute.training.config import RouterTrainingConfig
from bestroute.training.embeddings import EmbeddingCache, LazyEncoder

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT.parent / "shared" / "data"
REFERENCE = "gpt-4-1106-preview"


def variants() -> dict[str, RouterTrainingConfig]:
    base = RouterTrainingConfig()
    return {
        "default": base,
        "no_lexical": replace(base, lexical=False),
        "lexical_only": replace(base, lexical_weight=1.0),
        "surface": replace(base, lexical_surface=True),
        "lexical_only_surface": replace(base, lexical_weight=1.0, lexical_surface=True),
        "no_recenter": replace(base, recenter=False),
        "wd_1e-2": replace(base, weight_decay_scale=None),
        "hidden_256": replace(base, network=replace(base.network, hidden=256)),
        "ensemble_1": replace(base, ensemble=1),
        "wd_scale_768": replace(base, weight_decay_scale=768.0),
        "wd_scale_77": replace(base, weight_decay_scale=76.8),
        "lexical_l2_0.3": replace(base, lexical_l2=0.3),
        "lexical_l2_3": replace(base, lexical_l2=3.0),
        "lexical_w_0.75": replace(base, lexical_weight=0.75),
        "no_lexical_wd_scale_77": replace(base, lexical=False, weight_decay_scale=76.8),
        "no_lexical_wd_1e-2": replace(base, lexical=False, weight_decay_scale=None),
        "no_lexical_wd_1e-2_hidden_256": replace(
            base,
            lexical=False,
            weight_decay_scale=None,
            network=replace(base.network, hidden=256),
        ),
    }


def spread(values: np.ndarray) -> dict[str, float]:
    v = values[np.isfinite(values)]
    p5, p95 = np.percentile(v, [5, 95])
    return {"std": float(v.std()), "p5": float(p5), "p95": float(p95), "mean": float(v.mean())}


def out_of_fold(
    config: RouterTrainingConfig,
    labels: np.ndarray,
    arms: Any,
    queries: list[str],
    embeddings: np.ndarray,
    rows: np.ndarray,
    folds: int,
    seed: int,
) -> np.ndarray:
    from bestroute.training.recipe import train_router

    result = np.full((len(rows), labels.shape[1]), np.nan)
    parts = np.array_split(np.random.default_rng(seed).permutation(len(rows)), folds)
    for k, held in enumerate(parts):
        fit = np.concatenate([p for j, p in enumerate(parts) if j != k])
        fit_rows, held_rows = rows[fit], rows[held]
        trained = train_router(
            labels[fit_rows],
            arms,
            queries=[queries[i] for i in fit_rows],
            embeddings=embeddings[fit_rows],
            config=config,
            seed=seed,
        )
        result[held] = trained.router.predict_embeddings(
            embeddings[held_rows], [queries[i] for i in held_rows]
        )
    return result


def nested(
    labels: np.ndarray,
    arms: Any,
    queries: list[str],
    embeddings: np.ndarray,
    rows: np.ndarray,
    folds: int,
    seed: int,
) -> dict[str, Any]:
    """Nested CV on training rows: per outer fold, ROUTER_GRID's choice by inner 3-fold CV on
    the outer fold's training part, then that choice's log-loss on the outer held-out part."""
    from bestroute.training.config import ROUTER_GRID
    from bestroute.training.recipe import train_router
    from bestroute.training.selection import choose_router_config

    parts = np.array_split(np.random.default_rng(seed).permutation(len(rows)), folds)
    outer: list[dict[str, Any]] = []
    for k, held in enumerate(parts):
        fit_rows = rows[np.sort(np.concatenate([p for j, p in enumerate(parts) if j != k]))]
        held_rows = rows[held]
        selection = choose_router_config(
            ROUTER_GRID,
            labels[fit_rows],
            arms,
            queries=[queries[i] for i in fit_rows],
            embeddings=embeddings[fit_rows],
            seed=seed,
        )
        held_loss = []
        for config in ROUTER_GRID:
            trained = train_router(
                labels[fit_rows],
                arms,
                queries=[queries[i] for i in fit_rows],
                embeddings=embeddings[fit_rows],
                config=config,
                seed=seed,
            )
            p = trained.router.predict_embeddings(
                embeddings[held_rows], [queries[i] for i in held_rows]
            )
            held_loss.append(soft_log_loss(p, labels[held_rows]))
        chosen = ROUTER_GRID.index(selection.chosen)
        outer.append(
            {
                "inner_losses": list(selection.losses),
                "chosen": chosen,
                "outer_losses": held_loss,
                "outer_loss_of_choice": held_loss[chosen],
            }
        )
        print(f"seed {seed} outer fold {k}: {outer[-1]}", flush=True)
    return {
        "outer": outer,
        "mean_outer_loss_of_choice": float(np.mean([o["outer_loss_of_choice"] for o in outer])),
        "mean_outer_loss_per_candidate": np.mean([o["outer_losses"] for o in outer], 0).tolist(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--variants", nargs="+")
    parser.add_argument("--nested", action="store_true", help="nested CV of ROUTER_GRID's choice")
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "reports" / "router_resolution.json"
    )
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"public data not found at {DATA}", file=sys.stderr)
        return 2
    prices = load_prices(DATA / "prices.json")
    records = load_sources(
        [
            f"multisample:{DATA / 'multisample' / 'gsm8k-test-dev.json'}",
            f"routellm:{DATA / 'routellm' / 'gsm8k' / 'gsm8k-test-dev.csv'}",
        ],
        default_output_tokens=prices.default_avg_output_tokens,
    )
    arms = replay_arms(records, REFERENCE, 5)
    labels = soft_labels(records, arms, REFERENCE, selector="oracle")
    queries = [r.query for r in records]
    embeddings = EmbeddingCache(LazyEncoder(None)).encode(queries)
    chosen = {k: v for k, v in variants().items() if not args.variants or k in args.variants}
    report: dict[str, Any] = {"arms": [a.key for a in arms], "folds": args.folds, "seeds": {}}
    for seed in args.seeds:
        train = split_indices(len(records), seed=seed).train
        y = labels[train]
        seed_report: dict[str, Any] = {
            "n_train": len(train),
            "labels": {a.key: spread(y[:, j]) for j, a in enumerate(arms)},
            "variants": {},
        }
        if args.nested:
            seed_report["nested"] = nested(
                labels, arms, queries, embeddings, train, args.folds, seed
            )
            chosen = {}
        for name, config in chosen.items():
            started = time.perf_counter()
            p = out_of_fold(config, labels, arms, queries, embeddings, train, args.folds, seed)
            top = np.nanmax(p, axis=1)
            seed_report["variants"][name] = {
                "log_loss": soft_log_loss(p, y),
                "brier": float(np.nanmean((p - y) ** 2)),
                "top_probability": spread(top),
                "arms": {a.key: spread(p[:, j]) for j, a in enumerate(arms)},
                "seconds": time.perf_counter() - started,
            }
            v = seed_report["variants"][name]
            print(
                f"seed {seed} {name:12s} logloss {v['log_loss']:.4f} brier {v['brier']:.4f} "
                f"top {v['top_probability']['p5']:.3f}-{v['top_probability']['p95']:.3f} "
                f"mean arm std {np.mean([s['std'] for s in v['arms'].values()]):.4f} "
                f"({v['seconds']:.0f}s)",
                flush=True,
            )
        report["seeds"][str(seed)] = seed_report
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
