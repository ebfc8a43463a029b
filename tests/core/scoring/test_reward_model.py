"""The proxy reward model on real AlpacaEval judgements: accuracy, ties, checkpoints."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from bestroute.encoder import Encoder
from bestroute.errors import CheckpointError
from bestroute.scoring import RewardModel, Scorer, load_reward_model, select_best
from bestroute.scoring.features import shape_feature_matrix
from bestroute.scoring.reward_model import CONFIG_FILE, WEIGHTS_FILE
from bestroute.training.pairs import PreferencePair, alpaca_eval_pairs
from bestroute.training.reward import RewardTrainingReport, train_reward_model

pytestmark = pytest.mark.slow

REFERENCE_FILE = "gpt4_1106_preview.json.gz"
#: Instructions drawn (seeded) from the slice's 102 (AlpacaEval has 805); 30% of them are held back, unseen in training.
INSTRUCTIONS = 100
HELD_BACK = 0.3
SEED = 0


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    """MiniLM reading 64 tokens (the reward model's default reads 256; this keeps CI fast)."""
    return Encoder(max_tokens=64)


@pytest.fixture(scope="module")
def alpaca_split(public_data: Path) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """Judged pairs of the 15 non-reference models, split by instruction into train / held back."""
    files = sorted(
        path
        for path in (public_data / "alpaca_eval").glob("*.json.gz")
        if path.name != REFERENCE_FILE
    )
    assert len(files) >= 10, f"expected the AlpacaEval model files under {public_data}"
    pairs = alpaca_eval_pairs(files)
    instructions = sorted({pair.query for pair in pairs})
    rng = np.random.default_rng(SEED)
    chosen = [instructions[i] for i in rng.permutation(len(instructions))[:INSTRUCTIONS]]
    held_back = set(chosen[: round(HELD_BACK * INSTRUCTIONS)])
    kept = set(chosen)
    train = [p for p in pairs if p.query in kept and p.query not in held_back]
    test = [p for p in pairs if p.query in held_back]
    return train, test


@pytest.fixture(scope="module")
def trained(
    alpaca_split: tuple[list[PreferencePair], list[PreferencePair]], encoder: Encoder
) -> tuple[RewardModel, RewardTrainingReport]:
    train, _ = alpaca_split
    return train_reward_model(train, encoder=encoder, seed=SEED, progress=False)


def test_ranks_unseen_pairs_better_than_chance_and_length(
    alpaca_split: tuple[list[PreferencePair], list[PreferencePair]],
    trained: tuple[RewardModel, RewardTrainingReport],
) -> None:
    train, test = alpaca_split
    model, report = trained
    assert not {p.query for p in train} & {p.query for p in test}
    # score every distinct (instruction, response) once
    distinct = list(dict.fromkeys((p.query, text) for p in test for text in (p.better, p.worse)))
    rewards = dict(
        zip(
            distinct,
            model.score_batch([q for q, _ in distinct], [r for _, r in distinct]),
            strict=True,
        )
    )
    reward_accuracy = float(
        np.mean([rewards[(p.query, p.better)] > rewards[(p.query, p.worse)] for p in test])
    )
    length_accuracy = float(np.mean([len(p.better) > len(p.worse) for p in test]))
    print(
        f"\nAlpacaEval, {len(test)} held-back pairs on {len({p.query for p in test})} unseen "
        f"instructions (trained on {report.n_train_pairs} pairs, validated on "
        f"{report.n_val_pairs}):\n  reward model {reward_accuracy:.3f}, longer-response "
        f"heuristic {length_accuracy:.3f}, chance 0.500 (shape prior alone on validation "
        f"{report.prior_val_accuracy:.3f}, MLP residual kept from epoch {report.best_epoch}; embedding {report.embedding_seconds:.0f} s of {report.seconds:.0f} s training)"
    )
    assert reward_accuracy > 0.5
    assert reward_accuracy > length_accuracy


def test_training_report_and_validation_split(
    alpaca_split: tuple[list[PreferencePair], list[PreferencePair]],
    trained: tuple[RewardModel, RewardTrainingReport],
) -> None:
    train, _ = alpaca_split
    model, report = trained
    assert isinstance(model, Scorer)
    assert report.mode == "frozen"
    assert report.n_train_pairs + report.n_val_pairs == len(train)
    assert report.n_val_queries == math.ceil(0.15 * len({p.query for p in train}))
    assert report.epochs_run >= 1 and 0 <= report.best_epoch <= report.epochs_run
    assert len(report.val_losses) == report.epochs_run
    assert 0.5 < report.prior_val_accuracy <= 1.0
    assert report.best_val_loss <= report.prior_val_loss
    assert not model.training


def test_ties_go_to_the_earliest_response(
    trained: tuple[RewardModel, RewardTrainingReport],
) -> None:
    model, _ = trained
    query = "Give me three tips for staying focused while studying."
    good = (
        "1. **Remove distractions**: put your phone in another room.\n"
        "2. **Work in blocks**: study 25 minutes, then rest 5.\n"
        "3. **Set a goal**: decide what you will finish before you start."
    )
    short = "Focus."
    scores = model.score(query, [short, good, good, short])
    assert scores[1] == scores[2] and scores[0] == scores[3]
    assert scores[1] > scores[0]
    assert select_best(scores) == 1
    assert select_best([0.5, 0.5, 0.5]) == 0
    assert model.score(query, []) == []


def test_save_and_load_give_identical_scores(
    tmp_path: Path, trained: tuple[RewardModel, RewardTrainingReport], encoder: Encoder
) -> None:
    model, _ = trained
    query = "What is the capital of Australia?"
    responses = [
        "Canberra.",
        "The capital of Australia is Canberra, chosen as a compromise between Sydney and "
        "Melbourne.",
        "Sydney",
    ]
    model.save(tmp_path / "reward")
    config = json.loads((tmp_path / "reward" / CONFIG_FILE).read_text())
    assert config["version"] == 1 and config["encoder"]["name"] == "all-MiniLM-L6-v2"
    assert config["encoder"]["max_tokens"] == 64 and not config["encoder"]["finetuned"]
    assert not any(
        name.startswith("encoder.") for name in load_file(tmp_path / "reward" / WEIGHTS_FILE)
    )

    expected = model.score(query, responses)
    assert (
        load_reward_model(tmp_path / "reward", encoder=encoder).score(query, responses) == expected
    )
    # without an encoder the config's own (default MiniLM, 64 tokens) is built
    assert load_reward_model(tmp_path / "reward").score(query, responses) == expected


@pytest.fixture(scope="module")
def saved(
    tmp_path_factory: pytest.TempPathFactory, trained: tuple[RewardModel, RewardTrainingReport]
) -> Path:
    folder = tmp_path_factory.mktemp("reward")
    trained[0].save(folder)
    return folder


def _copy(saved: Path, target: Path) -> Path:
    target.mkdir()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        (target / name).write_bytes((saved / name).read_bytes())
    return target


def _edit_config(folder: Path, **changes: object) -> None:
    config = json.loads((folder / CONFIG_FILE).read_text())
    for dotted, value in changes.items():
        node = config
        *parents, leaf = dotted.split("__")
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    (folder / CONFIG_FILE).write_text(json.dumps(config))


def test_corrupt_or_unknown_checkpoints_raise(
    tmp_path: Path, saved: Path, encoder: Encoder
) -> None:
    with pytest.raises(CheckpointError, match="no reward-model checkpoint"):
        load_reward_model(tmp_path / "nowhere", encoder=encoder)

    bad_json = _copy(saved, tmp_path / "bad_json")
    (bad_json / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_reward_model(bad_json, encoder=encoder)

    future = _copy(saved, tmp_path / "future")
    _edit_config(future, version=99)
    with pytest.raises(CheckpointError, match="version 99"):
        load_reward_model(future, encoder=encoder)

    router = _copy(saved, tmp_path / "router")
    _edit_config(router, format="bestroute.router")
    with pytest.raises(CheckpointError, match="not a bestroute reward-model config"):
        load_reward_model(router, encoder=encoder)

    old_features = _copy(saved, tmp_path / "old_features")
    _edit_config(old_features, shape_features__version=1)
    with pytest.raises(CheckpointError, match="other response features"):
        load_reward_model(old_features, encoder=encoder)

    wrong_shape = _copy(saved, tmp_path / "wrong_shape")
    _edit_config(wrong_shape, head__hidden=17)
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_reward_model(wrong_shape, encoder=encoder)

    truncated = _copy(saved, tmp_path / "truncated")
    data = (truncated / WEIGHTS_FILE).read_bytes()
    (truncated / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_reward_model(truncated, encoder=encoder)

    missing_tensor = _copy(saved, tmp_path / "missing_tensor")
    tensors = load_file(missing_tensor / WEIGHTS_FILE)
    del tensors["shape_linear.weight"]
    save_file(tensors, missing_tensor / WEIGHTS_FILE)
    with pytest.raises(CheckpointError, match="does not match its config"):
        load_reward_model(missing_tensor, encoder=encoder)

    no_weights = _copy(saved, tmp_path / "no_weights")
    (no_weights / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_reward_model(no_weights, encoder=encoder)


def test_a_reward_model_with_a_silent_mlp_skips_the_encoder_and_gives_the_same_rewards(
    encoder: Encoder,
) -> None:
    model = RewardModel(encoder)  # the MLP's output layer starts at zero
    assert not model.reads_embeddings
    query = "Name three primary colours."
    responses = ["Red, yellow and blue.", "Blue.\n\n- red\n- yellow\n- blue", "I cannot help."]
    embeddings = torch.from_numpy(encoder.encode([query, *responses]))
    shape = torch.from_numpy(shape_feature_matrix(responses))
    with torch.inference_mode():
        full = model.reward_from_features(embeddings[[0, 0, 0]], embeddings[1:], shape)
    calls: list[int] = []
    original = encoder.encode
    encoder.encode = lambda texts, *a, **k: calls.append(len(texts)) or original(texts, *a, **k)
    try:
        skipped = model.score(query, responses)
        model.prepare([query])
    finally:
        del encoder.encode
    assert calls == []
    assert skipped == [float(value) for value in full]
    with torch.no_grad():
        model.mlp[-1].bias.fill_(0.5)
    assert model.reads_embeddings
    assert model.score(query, responses) == pytest.approx([v + 0.5 for v in skipped], abs=1e-4)


@pytest.mark.slow
def test_an_int8_encoder_moves_the_general_reward_models_rewards_but_little() -> None:
    from bestroute.demo import general_reward_dir
    from bestroute.quantize import quantize_int8

    float32 = load_reward_model(general_reward_dir())
    int8 = load_reward_model(general_reward_dir())
    assert int8.reads_embeddings  # so int8 can change what it scores
    quantize_int8(int8.encoder)
    query = "Give me three tips for sleeping better."
    responses = [
        "1. Keep a regular schedule, even at weekends.\n2. Avoid caffeine after noon.\n"
        "3. Keep the bedroom dark, quiet and cool.",
        "I don't know.",
        "Sleep is important. You should sleep.",
    ]
    before, after = float32.score(query, responses), int8.score(query, responses)
    assert before != after
    assert np.abs(np.array(before) - np.array(after)).max() < 1.5  # 1.05 at most on 600 texts
    assert select_best(after) == select_best(before) == 0
