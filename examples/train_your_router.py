"""Train a BEST-Route router for your own pool, end to end: collect -> reward -> label -> train -> calibrate -> use.

Runs offline on the demo pool (two endpoints of SmolLM2-135M-Instruct, see
bestroute/assets/demo/pool.yaml). To train for API models, write a pool YAML whose candidates use
`python: my_models:gpt4o` backends (an async function that calls ChatOpenAI / ChatAnthropic /
a vLLM or Ollama server and returns the text) and give each its list prices in dollars per 1M
tokens (e.g. gpt-4o input 5.0 / output 15.0, gpt-4o-mini 0.15 / 0.60), then pass --pool.

    python examples/train_your_router.py --out runs/my-router            # the whole pipeline
    python examples/train_your_router.py --limit 6 --samples 2 --out /tmp/r   # a quick look

The router, reward model and threshold shipped with `bestroute demo` were made by this script:
`python examples/train_your_router.py --samples 4 --limit 80 --out runs/demo`, then `router/`,
`reward/` and `threshold.json` copied into bestroute/assets/demo.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path

from bestroute import (
    ROUTER_GRID,
    BestRoute,
    CollectionStore,
    ConfigurationError,
    ModelPrice,
    ThresholdPolicy,
    VerifierScorer,
    attach_rewards,
    calibrate_router,
    collect,
    demo,
    export_dataset,
    load_pool_config,
    load_reward_model,
    load_router,
    split_train_validation,
    train_reward_from_records,
    train_router_from_records,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=Path, default=demo.pool_config_path(), help="pool YAML")
    parser.add_argument("--questions", type=Path, default=demo.assets_dir() / "questions.jsonl")
    parser.add_argument(
        "--reward",
        type=Path,
        default=demo.general_reward_dir(),
        help="a reward model that scores samples as they are collected and is kept when there "
        "are too few graded pairs to train the pool's own (default: the AlpacaEval one)",
    )
    parser.add_argument(
        "--samples", type=int, default=6, help="samples per query from each small model"
    )
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--limit", type=int, help="use only the first N questions")
    parser.add_argument(
        "--target-drop", type=float, default=0.05, help="quality drop the threshold may cost"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for the database and checkpoints"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)

    # 1. Collect: every small model answers each question `--samples` times, the reference once;
    #    each response is stored in SQLite as it arrives (rerunning resumes) and graded.
    pool = load_pool_config(args.pool)
    questions = [q for q in demo.load_questions(args.questions) if q["answers"]][: args.limit]
    reward = load_reward_model(args.reward)
    with CollectionStore(args.out / "collect.db") as store:
        summary = asyncio.run(
            collect(
                pool,
                [(q["id"], q["query"]) for q in questions],
                store,
                n_per_model=args.samples,
                scorer=VerifierScorer(demo.verify_question),
                proxy=reward,
                concurrency=2,
                generate_params={"max_new_tokens": args.max_new_tokens},
            )
        )
        records = export_dataset(store)
    print(f"collected: {summary}")

    # 2. Reward model for this pool, trained on the training split only: pairs of responses to
    #    one question that the verifier graded differently. It then scores every sample.
    split = split_train_validation(len(records), validation_fraction=0.3, seed=args.seed)
    try:
        trained_reward = train_reward_from_records(
            [records[i] for i in split.train], seed=args.seed, progress=False
        )
        reward = trained_reward.model
        accuracy = trained_reward.report.best_val_accuracy
        print(f"reward model: {trained_reward.pairs} pairs, validation accuracy {accuracy}")
    except ConfigurationError as error:
        print(f"keeping the reward model {args.reward}: {error}")
    records = attach_rewards(records, reward, overwrite=True, progress=False)

    # 3. Label and 4. train: BEST-Route soft labels, P(best-of-n chosen by the reward model >= the
    #    reference), and the router `bestroute train` builds: its settings (five small networks
    #    over frozen MiniLM embeddings merged into one plus a TF-IDF word view, or that view
    #    alone, each with or without surface counts) chosen by 3-fold log-loss on these queries.
    trained = train_router_from_records(
        [records[i] for i in split.train],
        pool.reference,
        max_n=pool.max_n,
        selector="proxy",
        seed=args.seed,
        progress=False,
        candidates=ROUTER_GRID,
    )
    router, report = trained.router, trained.to_dict()
    print("mean label per arm:", {k: round(v, 3) for k, v in report["mean_labels"].items()})
    training = report["training"]
    print(
        f"trained in {report['seconds']:.1f} s: {training['ensemble']} networks, best epochs "
        f"{training['best_epochs']}, {training['lexical_terms']} lexical terms"
    )

    # 5. Calibrate the threshold on validation queries (never trained on) for the target drop.
    router.save(args.out / "router")
    reward.save(args.out / "reward")
    prices = {c.name: ModelPrice(c.input_price, c.output_price) for c in pool.candidates.values()}
    calibrated = calibrate_router(
        args.out / "router",
        [records[i] for i in split.validation],
        prices,
        reference=pool.reference,
        target_drop=args.target_drop,
        selector="proxy",
    )
    calibration = calibrated.calibration
    print("calibration:", calibration.to_dict())
    (args.out / "threshold.json").write_text(json.dumps(calibration.to_dict(), indent=2) + "\n")

    # 6. Use it: the engine loads the checkpoint against the pool (arms must match).
    engine = BestRoute(
        pool,
        load_router(args.out / "router", pool=pool),
        reward,
        ThresholdPolicy(calibration.threshold),
    )
    result = engine.run("What is the capital of Italy?", max_new_tokens=args.max_new_tokens)
    trace = result.trace.to_dict()
    print(
        f"routed to {trace['arm']} (p={trace['probabilities']}) -> {result.text!r}; ${trace['actual_cost']:.6f}"
    )


if __name__ == "__main__":
    main()
