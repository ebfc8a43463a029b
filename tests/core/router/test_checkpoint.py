"""Router checkpoints: safetensors + versioned JSON, round trips and clear failures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from bestroute.encoder import Encoder
from bestroute.errors import ArmMismatchError, CheckpointError
from bestroute.pool import Arm, Candidate, Pool
from bestroute.router import RouterNet, load_router
from bestroute.router.checkpoint_format import CONFIG_FILE, FORMAT_VERSION, WEIGHTS_FILE
from bestroute.training import RouterFitConfig, fit_router_net

MODELS = ("mistralai/Mistral-7B-v0.1", "meta-llama/Meta-Llama-3-8B")
MAX_N = 2

#: The module's router is trained on GSM8K with the real encoder.
pytestmark = pytest.mark.slow


def _pool(models: tuple[str, ...] = MODELS, max_n: int = MAX_N) -> Pool:
    candidates = [Candidate(name, input_price=0.2, output_price=0.2) for name in models]
    reference = Candidate("gpt-4-1106-preview", input_price=10, output_price=30)
    return Pool([*candidates, reference], reference=reference.name, max_n=max_n)


@pytest.fixture(scope="module")
def router(encoder: Encoder, gsm8k, gsm8k_embeddings: np.ndarray) -> RouterNet:
    arms = list(_pool().router_arms)
    trained, _ = fit_router_net(
        gsm8k.labels(arms),
        arms,
        queries=gsm8k.queries,
        embeddings=gsm8k_embeddings,
        encoder=encoder,
        config=RouterFitConfig(epochs=20),
        progress=False,
    )
    return trained


@pytest.fixture(scope="module")
def saved(router: RouterNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return router.save(tmp_path_factory.mktemp("router"))


def _copy(saved: Path, target: Path) -> Path:
    target.mkdir()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        (target / name).write_bytes((saved / name).read_bytes())
    return target


def test_round_trip_gives_identical_predictions(
    router: RouterNet, saved: Path, encoder: Encoder, gsm8k
) -> None:
    queries = gsm8k.queries[:20]
    loaded = load_router(saved, pool=_pool(), encoder=encoder)
    assert loaded.arms == router.arms
    np.testing.assert_array_equal(loaded.predict(queries), router.predict(queries))


def test_round_trip_rebuilds_the_recorded_encoder(router: RouterNet, saved: Path, gsm8k) -> None:
    loaded = load_router(saved)
    assert loaded.encoder is not None and loaded.encoder is not router.encoder
    queries = gsm8k.queries[:8]
    np.testing.assert_allclose(loaded.predict(queries), router.predict(queries), atol=1e-6)


def test_frozen_checkpoint_is_versioned_and_holds_heads_only(
    router: RouterNet, saved: Path
) -> None:
    config = json.loads((saved / CONFIG_FILE).read_text())
    assert config["format_version"] == 2  # no surface counts: readable by version-2 readers
    assert config["arms"] == [arm.key for arm in router.arms]
    assert config["encoder"]["name"] == "all-MiniLM-L6-v2" and config["encoder"]["default"]
    assert config["encoder"]["weights_included"] is False
    assert config["query_max_tokens"] == 128 and config["hidden"] == router.hidden_size
    with safe_open(saved / WEIGHTS_FILE, framework="pt") as weights:
        names = list(weights.keys())
    assert names and not any(name.startswith("encoder.") for name in names)


def test_truncated_weights_raise_checkpoint_error(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path / "broken")
    data = (saved / WEIGHTS_FILE).read_bytes()
    (broken / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_router(broken)


def test_bad_json_raises_checkpoint_error(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path / "broken")
    (broken / CONFIG_FILE).write_text('{"format": "bestroute-router", "arms": [')
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_router(broken)


def test_unknown_version_raises_checkpoint_error(saved: Path, tmp_path: Path) -> None:
    future = _copy(saved, tmp_path / "future")
    config = json.loads((future / CONFIG_FILE).read_text())
    config["format_version"] = FORMAT_VERSION + 1
    (future / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=f"format_version {FORMAT_VERSION + 1}"):
        load_router(future)


def test_missing_checkpoint_raises_checkpoint_error(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_router(tmp_path / "nowhere")
    partial = _copy(saved, tmp_path / "partial")
    (partial / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match="incomplete"):
        load_router(partial)


@pytest.mark.parametrize(
    "pool",
    [_pool(max_n=3), _pool(models=(MODELS[0], "HuggingFaceH4/zephyr-7b-beta"))],
    ids=["other-max-n", "other-candidate"],
)
def test_pool_with_other_arms_raises_arm_mismatch(saved: Path, pool: Pool) -> None:
    with pytest.raises(ArmMismatchError) as raised:
        load_router(saved, pool=pool)
    message = str(raised.value)
    for arm in (*pool.router_arms, *_pool().router_arms):
        assert arm.key in message


def test_same_arms_in_another_order_load(saved: Path, encoder: Encoder) -> None:
    reordered = _pool(models=(MODELS[1], MODELS[0]))
    loaded = load_router(saved, pool=reordered, encoder=encoder)
    assert set(loaded.arms) == set(reordered.router_arms)


def test_no_pickle_in_the_package() -> None:
    package = Path(__file__).resolve().parents[3] / "core" / "bestroute"
    pattern = re.compile(r"torch\.load\(|import pickle|from pickle|pickle\.load")
    offenders = [
        str(path) for path in package.rglob("*.py") if pattern.search(path.read_text("utf-8"))
    ]
    assert offenders == []


def test_arm_keys_survive_slashes_and_at_signs(tmp_path: Path) -> None:
    arms = [Arm("org/model@v2", 1), Arm("org/model@v2", 2)]
    router = RouterNet(None, arms, embedding_dim=4, hidden=3, use_length_features=False)
    loaded = load_router(router.save(tmp_path))
    assert loaded.arms == tuple(arms) and loaded.encoder is None
    embeddings = np.eye(4, dtype=np.float32)
    np.testing.assert_array_equal(
        loaded.predict_embeddings(embeddings), router.predict_embeddings(embeddings)
    )
