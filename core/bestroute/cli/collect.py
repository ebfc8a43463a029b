"""``bestroute collect``: draw N responses per model for each query into a resumable SQLite store.

Example::

    bestroute collect --pool pool.yaml --queries queries.jsonl --db collect.db --samples 5 \\
        --scorer verifier:checks.py:is_correct --export outcomes.jsonl

Rerunning the same command after an interruption continues where the last run stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from bestroute.data.collect import build_scorer, collect, export_dataset, read_queries
from bestroute.data.dataset import save_dataset
from bestroute.data.pool_config import load_pool_config
from bestroute.data.store import CollectionStore
from bestroute.prices import load_prices
from bestroute.scoring.base import Scorer

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "collect",
        help="draw N responses per model for each query into a resumable SQLite store",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pool", required=True, type=Path, help="pool config (YAML)")
    parser.add_argument(
        "--queries", required=True, type=Path, help="queries: .txt (one per line) or .jsonl"
    )
    parser.add_argument("--db", required=True, type=Path, help="SQLite store (created or resumed)")
    parser.add_argument("--samples", type=int, default=5, help="samples per model (default 5)")
    parser.add_argument(
        "--reference-samples",
        type=int,
        default=1,
        help="samples of the reference model (default 1)",
    )
    parser.add_argument(
        "--scorer",
        help="oracle scorer: verifier:module:function | reward:DIR | judge:MODEL",
    )
    parser.add_argument("--proxy", help="optional proxy reward model (reward:DIR) for 'reward'")
    parser.add_argument("--prices", type=Path, help="prices file for candidates without prices")
    parser.add_argument("--concurrency", type=int, default=4, help="calls in flight (default 4)")
    parser.add_argument("--limit", type=int, help="only the first LIMIT queries")
    parser.add_argument(
        "--models",
        nargs="+",
        help="candidates to draw from (default: all; e.g. leave out a judge-only model)",
    )
    parser.add_argument("--export", type=Path, help="write the scored outcomes as JSONL here")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    prices = load_prices(args.prices) if args.prices else None
    pool = load_pool_config(args.pool, prices=prices)
    base_dir = args.pool.resolve().parent
    queries = read_queries(args.queries)
    if args.limit is not None:
        queries = queries[: args.limit]
    scorer = build_scorer(args.scorer, pool, base_dir) if args.scorer else None
    proxy: Scorer | None = None
    if args.proxy:
        spec = args.proxy if ":" in args.proxy else f"reward:{args.proxy}"
        proxy = build_scorer(spec, pool, base_dir)
    with CollectionStore(args.db) as store:
        summary = asyncio.run(
            collect(
                pool,
                queries,
                store,
                args.samples,
                scorer,
                concurrency=args.concurrency,
                reference_samples=args.reference_samples,
                proxy=proxy,
                models=args.models,
                progress=not args.no_progress,
            )
        )
        totals = store.totals()
        print(
            f"this run: {summary.samples} samples in {summary.calls} calls "
            f"({summary.failed_calls} failed), ${summary.cost:.4f}; store: {totals.samples} "
            f"samples ({totals.scored} scored) for {totals.queries} queries, ${totals.cost:.4f}",
            file=sys.stderr,
        )
        if args.export:
            records = export_dataset(store)
            save_dataset(records, args.export)
            print(f"exported {len(records)} records to {args.export}", file=sys.stderr)
    if summary.failed_calls:
        print(
            f"{summary.failed_calls} call(s) failed: rerun the same command to retry them",
            file=sys.stderr,
        )
        return 1
    return 0
