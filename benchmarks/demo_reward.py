"""Best-of-n on the demo pool: how often the sample a reward model picks is correct.

    python benchmarks/demo_reward.py [--db runs/demo/collect.db] [--seeds 0 1 2]

Reads the demo collection (``python examples/train_your_router.py --samples 4 --limit 80 --out
runs/demo`` makes it: SmolLM2-135M-Instruct samples graded by the questions' accepted answers). Per
seed, the questions are split as that example splits them (30% held out); a reward model is trained
on the training questions' graded pairs, as the example does, and on the held-out questions the
benchmark reports the share of correct answers for: one sample (the mean over samples, the
baseline), the best of all samples by that reward model, by the general reward model given with
``--general`` (rewards recorded during collection when omitted), by the shortest response, by a
perfect verifier, and the greedy reference endpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bestroute.data.collect import export_dataset
from bestroute.data.dataset import OutcomeRecord, OutcomeSample
from bestroute.data.rewards import attach_rewards
from bestroute.data.store import CollectionStore
from bestroute.evaluate.splits import split_train_validation
from bestroute.training.records import train_reward_from_records

REPO_ROOT = Path(__file__).resolve().parents[1]
CHEAP = "smollm2-135m"
REFERENCE = "reference"

Pick = Callable[[Sequence[OutcomeSample]], float]


def correct_share(records: Sequence[OutcomeRecord], pick: Pick) -> float:
    """Mean over records of the quality ``pick`` returns for the cheap model's samples."""
    return float(np.mean([pick(r.candidates[CHEAP].samples) for r in records]))


def by_reward(samples: Sequence[OutcomeSample]) -> float:
    rewards = [s.reward if s.reward is not None else -np.inf for s in samples]
    return samples[int(np.argmax(rewards))].quality


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=REPO_ROOT / "runs" / "demo" / "collect.db")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--general", type=Path, help="a general reward model to compare with")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "demo_reward.json")
    args = parser.parse_args(argv)
    if not args.db.is_file():
        print(
            f"no collection at {args.db}: run examples/train_your_router.py first", file=sys.stderr
        )
        return 2
    with CollectionStore(args.db) as store:
        records = export_dataset(store)
    general = None
    if args.general:
        from bestroute.scoring.reward_model import load_reward_model

        general = load_reward_model(args.general)
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        split = split_train_validation(len(records), validation_fraction=0.3, seed=seed)
        held_out = [records[i] for i in split.validation]
        trained = train_reward_from_records(
            [records[i] for i in split.train], seed=seed, progress=False
        )
        pool_scored = attach_rewards(held_out, trained.model, overwrite=True, progress=False)
        general_scored = (
            attach_rewards(held_out, general, overwrite=True, progress=False)
            if general is not None
            else held_out
        )
        row = {
            "seed": seed,
            "pairs": trained.pairs,
            "held_out_questions": len(held_out),
            "one_sample": correct_share(held_out, lambda s: float(np.mean([x.quality for x in s]))),
            "best_by_pool_reward": correct_share(pool_scored, by_reward),
            "best_by_general_reward": correct_share(general_scored, by_reward),
            "shortest": correct_share(
                held_out, lambda s: s[int(np.argmin([len(x.text or "") for x in s]))].quality
            ),
            "best_by_verifier": correct_share(held_out, lambda s: max(x.quality for x in s)),
            "greedy_reference": float(
                np.mean([r.candidates[REFERENCE].samples[0].quality for r in held_out])
            ),
        }
        rows.append(row)
        print(json.dumps(row))
    names = [k for k in rows[0] if k not in ("seed", "pairs", "held_out_questions")]
    mean = {name: float(np.mean([row[name] for row in rows])) for name in names}
    print("mean over seeds:", json.dumps({k: round(v, 3) for k, v in mean.items()}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": rows, "mean": mean}, indent=1) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
