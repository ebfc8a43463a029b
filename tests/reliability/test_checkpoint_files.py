"""Reliability of checkpoint files: damaged router, reward-model and threshold files fail at load.

Each fault is what a user meets after a crash mid-save, a bad copy or a hand edit: truncated,
emptied, byte-flipped, hand-edited (wrong types, sizes that do not match the weights, values out
of range) and NaN- or infinity-filled weights. Every one must raise
:class:`~bestroute.errors.CheckpointError` *at load*, naming the path and the reason, never load
silently and fail (or quietly route everything to the reference) at the first call. A sound
checkpoint must still load and predict: the faults are told apart from good files. The
property-based tests fuzz ``router.json`` values and ``router.safetensors`` bytes: a load either
gives a router that predicts, or a CheckpointError.

The router faults run on a tiny real router (no encoder); the reward-model faults and the
end-to-end faults through ``BestRoute``, ``ChatBestRoute`` and ``BestRouteLLM.from_pretrained``
use the shipped demo setup and all-MiniLM-L6-v2 (marked slow).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bestroute.demo import assets_dir
from bestroute.encoder import Encoder
from bestroute.errors import CheckpointError
from bestroute.router.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_router
from bestroute.scoring.reward_model import CONFIG_FILE as REWARD_CONFIG
from bestroute.scoring.reward_model import WEIGHTS_FILE as REWARD_WEIGHTS
from bestroute.scoring.reward_model import load_reward_model
from bestroute.trained_setup import THRESHOLD_FILE, read_threshold

FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: (fault, how to cause it in a router checkpoint folder, what the message must say)
ROUTER_FAULTS: list[tuple[str, Callable[[Path, Any], None], str]] = [
    ("config truncated", lambda d, x: x.truncate(d / CONFIG_FILE, 0.5), "not valid JSON"),
    ("config emptied", lambda d, x: x.truncate(d / CONFIG_FILE, 0.0), "not valid JSON"),
    (
        "config not UTF-8",
        lambda d, x: (d / CONFIG_FILE).write_bytes(b"\xff\xfe{}"),
        "not valid JSON",
    ),
    (
        "config is a list",
        lambda d, x: (d / CONFIG_FILE).write_text("[1]"),
        "not a bestroute router config",
    ),
    ("config lacks arms", lambda d, x: x.edit_json(d / CONFIG_FILE, arms=...), "lacks the fields"),
    ("config from the future", lambda d, x: x.edit_json(d / CONFIG_FILE, format_version=99), "99"),
    ("weights truncated", lambda d, x: x.truncate(d / WEIGHTS_FILE, 0.5), "corrupt or truncated"),
    ("weights emptied", lambda d, x: x.truncate(d / WEIGHTS_FILE, 0.0), "corrupt or truncated"),
    ("weights header flipped", lambda d, x: x.flip_byte(d / WEIGHTS_FILE, 20), "corrupt"),
    ("weights deleted", lambda d, x: (d / WEIGHTS_FILE).unlink(), "incomplete"),
    *[
        (
            f"NaN-filled {name}",
            lambda d, x, name=name: x.edit_tensor(d / WEIGHTS_FILE, name, x.nan_filled),
            f"NaN or infinite weights in \\['{name}'\\]",
        )
        for name in ("hidden.weight", "skip.bias", "output.weight", "length_scale")
    ],
    (
        "NaN-filled lexical head",
        lambda d, x: x.edit_tensor(d / WEIGHTS_FILE, "lexical.linear.weight", x.nan_filled),
        "NaN or infinite",
    ),
    (
        "NaN-filled lexical IDF",
        lambda d, x: x.edit_tensor(d / WEIGHTS_FILE, "lexical.idf", x.nan_filled),
        "NaN or infinite",
    ),
    (
        "one +inf weight",
        lambda d, x: x.edit_tensor(d / WEIGHTS_FILE, "skip.weight", x.one_infinite),
        "NaN or infinite",
    ),
    (
        "a tensor missing",
        lambda d, x: x.edit_tensor(d / WEIGHTS_FILE, "output.bias", lambda t: None),
        "do not match its config",
    ),
    *[
        (
            f"hand-edited {key}={value!r}",
            lambda d, x, key=key, value=value: x.edit_json(d / CONFIG_FILE, **{key: value}),
            reason,
        )
        for key, value, reason in [
            ("hidden", "abc", "not a whole number"),
            ("hidden", 1.5, "not a whole number"),
            ("hidden", float("inf"), "not a whole number"),
            ("hidden", -1, "not a whole number"),
            ("hidden", 10**9, "do not belong together"),  # must not allocate 10^9 units first
            ("embedding_dim", 10**9, "do not belong together"),
            ("embedding_dim", "384", "not a whole number"),
            ("query_max_tokens", 0, "not a whole number"),
            ("dropout", float("nan"), "dropout"),
            ("lexical_weight", 2.0, "lexical weight"),
            ("length_features", False, "do not belong together"),
            ("arms", ["small@1"], "do not belong together"),
            ("arms", [], "non-empty list"),
            ("arms", ["small"], "bad arm"),
            ("lexical__vocabulary", ["what"], "do not belong together"),
            ("encoder", "all-MiniLM-L6-v2", "malformed"),
        ]
    ],
    (
        "encoder folder gone",
        lambda d, x: x.edit_json(
            d / CONFIG_FILE,
            encoder={"path": str(d / "gone"), "name": "gone", "default": False},
        ),
        "not available here",
    ),
]


def test_the_sound_tiny_router_loads_and_predicts(router_copy: Path, tiny: Any) -> None:
    router = load_router(router_copy)
    probabilities = router.predict_embeddings(tiny.embeddings, list(tiny.queries))
    assert probabilities.shape == (len(tiny.queries), len(tiny.arms))
    assert np.isfinite(probabilities).all()


@pytest.mark.parametrize(
    ("cause", "reason"),
    [(cause, reason) for _, cause, reason in ROUTER_FAULTS],
    ids=[fault for fault, _, _ in ROUTER_FAULTS],
)
def test_a_damaged_router_checkpoint_fails_at_load_naming_path_and_reason(
    router_copy: Path, damage: Any, cause: Callable[[Path, Any], None], reason: str
) -> None:
    cause(router_copy, damage)
    with pytest.raises(CheckpointError, match=reason) as raised:
        load_router(router_copy)
    assert str(router_copy) in str(raised.value)


# JSON values a hand edit may leave in router.json
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=8,
)
#: every key but "encoder" (editing it to the default encoder would load all-MiniLM-L6-v2)
_KEYS = st.sampled_from(
    [
        "format",
        "format_version",
        "arms",
        "embedding_dim",
        "hidden",
        "dropout",
        "query_max_tokens",
        "length_features",
        "lexical",
        "lexical_weight",
        "unknown",
    ]
)


def _loads_and_predicts_or_refuses(folder: Path, tiny: Any) -> None:
    try:
        router = load_router(folder)
    except CheckpointError as error:
        assert str(folder) in str(error)
        return
    probabilities = router.predict_embeddings(tiny.embeddings, list(tiny.queries))
    assert probabilities.shape == (len(tiny.queries), len(router.arms))


@FUZZ
@given(edits=st.dictionaries(_KEYS, _JSON, min_size=1, max_size=3))
def test_fuzzed_router_config_loads_or_raises_checkpoint_error(
    tiny_router_dir: Path, tiny: Any, damage: Any, no_hang: Any, edits: dict[str, Any]
) -> None:
    with tempfile.TemporaryDirectory() as scratch, no_hang(120):
        folder = Path(shutil.copytree(tiny_router_dir, Path(scratch) / "router"))
        damage.edit_json(folder / CONFIG_FILE, **edits)
        _loads_and_predicts_or_refuses(folder, tiny)


@FUZZ
@given(
    flips=st.lists(st.integers(0, 10**6), min_size=1, max_size=4),
    keep=st.floats(0.0, 1.0),
)
def test_fuzzed_router_weights_load_or_raise_checkpoint_error(
    tiny_router_dir: Path, tiny: Any, damage: Any, no_hang: Any, flips: list[int], keep: float
) -> None:
    with tempfile.TemporaryDirectory() as scratch, no_hang(120):
        folder = Path(shutil.copytree(tiny_router_dir, Path(scratch) / "router"))
        for position in flips:
            damage.flip_byte(folder / WEIGHTS_FILE, position)
        if keep < 0.5:
            damage.truncate(folder / WEIGHTS_FILE, keep * 2)
        _loads_and_predicts_or_refuses(folder, tiny)


# -- the reward model (shipped demo checkpoint, all-MiniLM-L6-v2) -----------------------------------

#: (fault, how to cause it in a reward-model folder, what the message must say)
REWARD_FAULTS: list[tuple[str, Callable[[Path, Any], None], str]] = [
    ("config truncated", lambda d, x: x.truncate(d / REWARD_CONFIG, 0.5), "not valid JSON"),
    ("config deleted", lambda d, x: (d / REWARD_CONFIG).unlink(), "no reward-model checkpoint"),
    ("weights truncated", lambda d, x: x.truncate(d / REWARD_WEIGHTS, 0.5), "not a readable"),
    ("weights emptied", lambda d, x: x.truncate(d / REWARD_WEIGHTS, 0.0), "not a readable"),
    ("weights deleted", lambda d, x: (d / REWARD_WEIGHTS).unlink(), "missing"),
    *[
        (
            f"NaN-filled {name}",
            lambda d, x, name=name: x.edit_tensor(d / REWARD_WEIGHTS, name, x.nan_filled),
            "NaN or infinite",
        )
        for name in ("mlp.0.weight", "mlp.3.bias", "shape_linear.weight", "shape_mean")
    ],
    (
        "one +inf weight",
        lambda d, x: x.edit_tensor(d / REWARD_WEIGHTS, "mlp.0.weight", x.one_infinite),
        "NaN or infinite",
    ),
    (
        "zero feature scale",
        lambda d, x: x.edit_tensor(d / REWARD_WEIGHTS, "shape_std", torch.zeros_like),
        "divide by zero",
    ),
    *[
        (
            f"hand-edited {key}={value!r}",
            lambda d, x, key=key, value=value: x.edit_json(d / REWARD_CONFIG, **{key: value}),
            reason,
        )
        for key, value, reason in [
            ("head__hidden", "abc", "not a whole number"),
            ("head__hidden", 10**9, "wrong shape"),  # must not allocate 10^9 units first
            ("head__hidden", 17, "wrong shape"),
            ("head__dropout", float("nan"), "head.dropout"),
            ("head__dropout", 5, "head.dropout"),
            ("encoder__dim", "384", "not a whole number"),
            ("encoder__max_tokens", "abc", "not a whole number"),
            ("encoder__finetuned", "no", "not true or false"),
            ("head", None, "lacks the field"),
            ("shape_features", None, "not an object"),
            ("version", 2, "version 2"),
        ]
    ],
]


@pytest.fixture(scope="module")
def minilm() -> Encoder:
    """all-MiniLM-L6-v2 as the shipped reward model reads it (256 tokens)."""
    return Encoder(max_tokens=256)


@pytest.fixture()
def reward_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(assets_dir() / "reward", tmp_path / "reward"))


@pytest.mark.slow
def test_the_sound_reward_model_loads_and_scores(reward_copy: Path, minilm: Encoder) -> None:
    scores = load_reward_model(reward_copy, encoder=minilm).score("What is 2+2?", ["4", "five"])
    assert len(scores) == 2 and all(np.isfinite(scores))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cause", "reason"),
    [(cause, reason) for _, cause, reason in REWARD_FAULTS],
    ids=[fault for fault, _, _ in REWARD_FAULTS],
)
def test_a_damaged_reward_model_fails_at_load_naming_path_and_reason(
    reward_copy: Path,
    minilm: Encoder,
    damage: Any,
    cause: Callable[[Path, Any], None],
    reason: str,
) -> None:
    cause(reward_copy, damage)
    with pytest.raises(CheckpointError, match=reason) as raised:
        load_reward_model(reward_copy, encoder=minilm)
    assert str(reward_copy) in str(raised.value)


# -- threshold.json -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"threshold": 1.5}', "outside \\[0, 1\\]"),
        ('{"threshold": -0.1}', "outside \\[0, 1\\]"),
        ('{"threshold": NaN}', "outside \\[0, 1\\]"),
        ('{"threshold": Infinity}', "outside \\[0, 1\\]"),
        ('{"threshold": "0.5"}', "not a number"),
        ('{"threshold": true}', "not a number"),
        ('{"calibration": {"threshold": 7}}', "outside \\[0, 1\\]"),
        ('{"thresh', "not readable JSON"),
        ("", "not readable JSON"),
        ("[0.5]", "no 'threshold' entry"),
    ],
)
def test_a_bad_threshold_file_fails_at_load(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / THRESHOLD_FILE
    path.write_text(content, "utf-8")
    with pytest.raises(CheckpointError, match=reason) as raised:
        read_threshold(path)
    assert str(path) in str(raised.value)


# -- end to end: the shipped setup behind the engine and the adapters ----------------------------------------------


def _shipped_setup_with(tmp_path: Path, damage: Any, change: str) -> Path:
    setup = Path(shutil.copytree(assets_dir(), tmp_path / "setup"))
    if change == "router":
        damage.edit_tensor(setup / "router" / WEIGHTS_FILE, "lexical.idf", damage.nan_filled)
    elif change == "reward":
        damage.edit_tensor(setup / "reward" / REWARD_WEIGHTS, "mlp.0.weight", damage.nan_filled)
    else:
        (setup / THRESHOLD_FILE).write_text(json.dumps({"threshold": 1.5}), "utf-8")
    return setup


@pytest.mark.slow
@pytest.mark.parametrize("change", ["router", "reward", "threshold"])
def test_a_damaged_shipped_setup_fails_when_the_adapters_load_it(
    tmp_path: Path, damage: Any, change: str
) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from llama_index.core.llms.mock import MockLLM

    from bestroute.backends.function import FunctionBackend
    from bestroute.engine import BestRoute
    from langchain_bestroute import ChatBestRoute
    from llamaindex_bestroute import BestRouteLLM

    setup = _shipped_setup_with(tmp_path, damage, change)
    names = ("smollm2-135m", "reference")
    loaders = [
        lambda: BestRoute.from_pretrained(
            setup,
            {name: (FunctionBackend(_answer), 0.1, 0.2) for name in names},
            reference="reference",
        ),
        lambda: ChatBestRoute.from_pretrained(
            setup,
            {name: (FakeListChatModel(responses=["4"]), 0.1, 0.2) for name in names},
            reference="reference",
        ),
        lambda: BestRouteLLM.from_pretrained(
            setup, {name: (MockLLM(), 0.1, 0.2) for name in names}, reference="reference"
        ),
    ]
    for load in loaders:
        with pytest.raises(CheckpointError, match=r"NaN or infinite|outside") as raised:
            load()
        assert str(setup) in str(raised.value)


async def _answer(messages: Any, **params: Any) -> str:
    return "4"
