"""``bestroute serve``: an OpenAI-compatible HTTP server over a trained setup and a pool.

Example (the offline demo setup, SmolLM2 on CPU)::

    bestroute serve --setup core/bestroute/assets/demo --pool core/bestroute/assets/demo/pool.yaml
    curl -s http://127.0.0.1:8000/v1/chat/completions -H 'content-type: application/json' \\
        -d '{"model": "bestroute", "messages": [{"role": "user", "content": "What is 7 plus 5?"}]}'

Clients use ``base_url=http://127.0.0.1:8000/v1`` and model ``bestroute``; a request may send
``"bestroute": {"threshold": 0.6, "max_cost": 0.002}`` within the limits set here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from bestroute.errors import ConfigurationError

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a trained setup over a pool as an OpenAI-compatible HTTP API",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--setup", required=True, type=Path, help="trained setup folder (router/, reward/...)"
    )
    parser.add_argument(
        "--pool", type=Path, help="pool config YAML (default: pool.yaml in the setup folder)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--model-name", default="bestroute", help="model id clients ask for")
    parser.add_argument("--threshold", type=float, help="routing threshold (default: calibrated)")
    parser.add_argument(
        "--min-threshold", type=float, default=0.0, help="lowest threshold a request may set"
    )
    parser.add_argument(
        "--max-threshold", type=float, default=1.0, help="highest threshold a request may set"
    )
    parser.add_argument(
        "--max-cost-per-query",
        type=float,
        help="dollar cap per request; requests may set a lower one, never a higher one",
    )
    parser.add_argument("--max-n", type=int, help="largest n a request may be routed to")
    parser.add_argument("--max-tokens", type=int, help="largest max_tokens a request may ask")
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=1_000_000,  # ServeSettings' default; bestroute.serve is imported only to serve
        help="larger bodies get 413 (default 1 MB)",
    )
    parser.add_argument(
        "--sample-timeout",
        type=float,
        default=60.0,  # bestroute.deadline.DEFAULT_SAMPLE_TIMEOUT_S
        help="seconds each sampling call may take (default 60)",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=120.0,  # bestroute.deadline.DEFAULT_DEADLINE_S
        help="seconds a whole routed request may take, fallbacks included (default 120)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from bestroute.serve import RoutingService, ServeSettings, create_app, load_engine
    except ImportError as error:
        raise ConfigurationError(
            f"bestroute serve needs the serve extra: pip install 'bestroute[serve]' ({error})"
        ) from None
    pool = args.pool or args.setup / "pool.yaml"
    if not pool.is_file():
        raise FileNotFoundError(f"pool config not found: {pool}; pass --pool POOL.yaml")
    settings = ServeSettings(
        model_name=args.model_name,
        min_threshold=args.min_threshold,
        max_threshold=args.max_threshold,
        max_cost_per_query=args.max_cost_per_query,
        max_tokens=args.max_tokens,
        max_body_bytes=args.max_body_bytes,
    )
    print(f"loading {args.setup} over {pool} ...", file=sys.stderr)
    engine = load_engine(
        args.setup,
        pool,
        threshold=args.threshold,
        max_cost_per_query=args.max_cost_per_query,
        max_n=args.max_n,
        sample_timeout_s=args.sample_timeout,
        deadline_s=args.deadline,
    )
    app = create_app(RoutingService(engine, settings))
    print(
        f"serving model {settings.model_name!r} (threshold {engine.policy.threshold:g}, pool "
        f"{list(engine.pool.candidates)}) at http://{args.host}:{args.port}/v1",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="off")
    return 0
