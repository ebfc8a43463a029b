"""Reliability of configuration: bad prices, thresholds, timeouts and pools fail at construction.

Each bad value a user can type (NaN, infinite or negative prices, text where a number belongs,
a model a prices file does not price, a threshold outside [0, 1], a zero, negative or NaN
timeout, a pool that lacks the router's model or arms) raises a specific
:class:`~bestroute.errors.BestRouteError` when the object is built or the file is read, with a
message that says what to do, instead of being accepted and failing every call later.

The engine and adapters are built over the tiny real router of the suite (conftest.py) with real
LangChain and LlamaIndex fake models as pool members.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from llama_index.core.llms.mock import MockLLM

from bestroute.backends.function import FunctionBackend
from bestroute.data.pool_config import pool_from_config
from bestroute.deadline import DEFAULT_SAMPLE_TIMEOUT_S
from bestroute.engine import BestRoute
from bestroute.errors import ArmMismatchError, ConfigurationError, DataFormatError
from bestroute.policy import ThresholdPolicy
from bestroute.pool import Candidate, Pool
from bestroute.prices import MissingPriceError, load_prices
from bestroute.router import RouterNet
from bestroute.router.checkpoint import load_router
from bestroute.scoring.base import VerifierScorer
from langchain_bestroute import ChatBestRoute
from llamaindex_bestroute import BestRouteLLM

NAN, INF = float("nan"), float("inf")
SCORER = VerifierScorer(lambda query, response: 1.0)
#: the tiny router routes to "small" and "medium" (n = 1, 2); "ref" is the reference
MODELS = ("small", "medium", "ref")


async def _answer(messages: Any, **params: Any) -> str:
    return "4"


def _pool(names: tuple[str, ...] = MODELS, reference: str = "ref", max_n: int = 2) -> Pool:
    return Pool(
        [Candidate(name, FunctionBackend(_answer), 0.1, 0.2) for name in names], reference, max_n
    )


@pytest.fixture(scope="module")
def router(tiny_router_dir: Path) -> RouterNet:
    return load_router(tiny_router_dir)


# -- prices -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"models": {"m": {"input": NaN, "output": 1}}}', "input price of 'm'.*got nan"),
        ('{"models": {"m": {"input": 1, "output": Infinity}}}', "output price of 'm'.*got inf"),
        ('{"models": {"m": {"input": 1, "output": -2}}}', "output price of 'm' must be >= 0"),
        ('{"models": {"m": {"input": 1e400, "output": 1}}}', "input price of 'm'.*got inf"),
        ('{"models": {"m": {"input": "0.1", "output": 1}}}', "input price of 'm'.*'0.1'"),
        ('{"models": {"m": {"input": true, "output": 1}}}', "input price of 'm'.*True"),
        ('{"models": {"m": {"input": 1}}}', "output price of 'm'.*None"),
        ('{"models": {}, "default_avg_output_tokens": NaN}', "default_avg_output_tokens"),
        ('{"models": {}, "default_avg_output_tokens": Infinity}', "default_avg_output_tokens"),
        ('{"models": {}, "default_avg_output_tokens": -1}', "default_avg_output_tokens"),
        ('{"models": [1]}', '"models" object'),
        ('{"models": {"m": {"inp', "not valid JSON"),
    ],
)
def test_a_bad_prices_file_fails_at_load(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content, "utf-8")
    with pytest.raises(DataFormatError, match=reason) as raised:
        load_prices(path)
    assert str(path) in str(raised.value)


def test_a_prices_file_that_is_not_utf8_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_bytes(b'{"models": {"\xff": {}}}')
    with pytest.raises(DataFormatError, match="not valid JSON") as raised:
        load_prices(path)
    assert str(path) in str(raised.value)


def test_a_model_the_prices_file_does_not_know_is_named_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    priced = {"gpt-4o-mni": {"input": 0.15, "output": 0.6}, "big": {"input": 5, "output": 15}}
    path.write_text(json.dumps({"models": priced}), "utf-8")
    config = {
        "reference": "big",
        "prices": str(path),
        "candidates": [
            {"name": "gpt-4o-mini", "backend": "python:x:y"},
            {"name": "big", "backend": "python:x:y"},
        ],
    }
    with pytest.raises(MissingPriceError, match="no price for model 'gpt-4o-mini'") as raised:
        pool_from_config(config, build_backends=False)
    message = str(raised.value)
    assert str(path) in message and 'add it under "models"' in message
    assert "'gpt-4o-mni'" in message  # the near miss the user probably meant


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"input_price": NAN}, "input price of 'm' must be a number of US dollars.*got nan"),
        ({"output_price": INF}, "output price of 'm' must be a number of US dollars.*got inf"),
        ({"input_price": -1.0}, "input price of 'm' must be >= 0 dollars"),
        ({"input_price": "0.1"}, "input price of 'm' must be a number.*got '0.1'"),
        ({"expected_output_tokens": NAN}, "expected_output_tokens"),
        ({"expected_output_tokens": 0}, "expected_output_tokens"),
    ],
)
def test_a_candidate_with_bad_prices_is_refused(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConfigurationError, match=reason):
        Candidate("m", None, **{"input_price": 0.1, "output_price": 0.2, **fields})


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"input_price": NAN}, "candidate 'a': input_price must be a number.*got nan"),
        ({"input_price": -1}, "candidate 'a': input_price must be >= 0"),
        ({"output_price": "cheap"}, "candidate 'a': output_price must be a number.*'cheap'"),
        ({"expected_output_tokens": -5}, "expected_output_tokens"),
        ({"expected_output_tokens": INF}, "expected_output_tokens"),
    ],
)
def test_a_pool_config_with_bad_numbers_is_refused(entry: dict[str, Any], reason: str) -> None:
    candidates = [
        {"name": "a", "backend": "x", "input_price": 1, "output_price": 1, **entry},
        {"name": "b", "backend": "x", "input_price": 1, "output_price": 1},
    ]
    with pytest.raises(ConfigurationError, match=reason):
        pool_from_config({"reference": "b", "candidates": candidates}, build_backends=False)


@pytest.mark.parametrize("max_n", ["five", 0, 1.5, True])
def test_a_pool_config_with_a_bad_max_n_is_refused(max_n: Any) -> None:
    candidates = [{"name": n, "backend": "x", "input_price": 1, "output_price": 1} for n in "ab"]
    with pytest.raises(ConfigurationError, match="max_n"):
        pool_from_config(
            {"reference": "b", "max_n": max_n, "candidates": candidates}, build_backends=False
        )


def test_langchain_and_llamaindex_prices_are_checked(router: RouterNet) -> None:
    for build in (_chat, _llm):
        with pytest.raises(ConfigurationError, match=r"input price of 'small'.*got nan"):
            build(router, prices={"small": (NAN, 0.2)})
        with pytest.raises(ConfigurationError, match="output price of 'small' must be >= 0"):
            build(router, prices={"small": (0.1, -1)})


# -- thresholds and policy limits ----------------------------------------------------------------


@pytest.mark.parametrize("threshold", [1.5, -0.1, NAN, INF, "0.5", None, True])
def test_a_threshold_outside_zero_one_is_refused(threshold: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"threshold must be in \[0, 1\].*give a number"):
        ThresholdPolicy(threshold)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"max_cost_per_query": NAN}, "max_cost_per_query must be > 0"),
        ({"max_cost_per_query": 0.0}, "max_cost_per_query must be > 0"),
        ({"max_cost_per_query": -1.0}, "max_cost_per_query must be > 0"),
        ({"max_n": 0}, "max_n must be >= 1"),
        ({"max_n": 1.5}, "max_n must be >= 1"),
    ],
)
def test_bad_policy_limits_are_refused(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConfigurationError, match=reason):
        ThresholdPolicy(0.5, **fields)


def test_the_threshold_extremes_are_accepted() -> None:
    assert ThresholdPolicy(0).threshold == 0 and ThresholdPolicy(1.0).threshold == 1.0


# -- timeouts -----------------------------------------------------------------------------------

BAD_TIMEOUTS = [-1.0, 0, 0.0, NAN, INF, "5", True]


def _chat(
    router: RouterNet, prices: dict[str, tuple[float, float]] | None = None, **kw: Any
) -> ChatBestRoute:
    prices = {**{name: (0.1, 0.2) for name in MODELS}, **(prices or {})}
    models = {
        name: (FakeListChatModel(responses=["4"]), *prices[name])
        for name in kw.pop("names", MODELS)
    }
    return ChatBestRoute(models=models, router=router, scorer=SCORER, **kw)


def _llm(
    router: RouterNet, prices: dict[str, tuple[float, float]] | None = None, **kw: Any
) -> BestRouteLLM:
    prices = {**{name: (0.1, 0.2) for name in MODELS}, **(prices or {})}
    models = {name: (MockLLM(), *prices[name]) for name in kw.pop("names", MODELS)}
    return BestRouteLLM(models, router, scorer=SCORER, **kw)


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS)
def test_a_bad_timeout_is_refused_at_construction(router: RouterNet, timeout: Any) -> None:
    fix = r"must be a number of seconds > 0 \(e.g. 30\), or None for no limit"
    with pytest.raises(ConfigurationError, match="sample_timeout_s " + fix):
        BestRoute(_pool(), router, SCORER, sample_timeout_s=timeout)
    with pytest.raises(ConfigurationError, match="sample_timeout_s " + fix):
        _llm(router, sample_timeout_s=timeout)
    with pytest.raises(ConfigurationError, match="timeout " + fix):
        _chat(router, timeout=timeout)
    with pytest.raises(ConfigurationError, match="deadline " + fix):
        _chat(router, deadline=timeout)


def test_good_timeouts_are_kept(router: RouterNet) -> None:
    assert BestRoute(_pool(), router, SCORER, sample_timeout_s=2).sample_timeout_s == 2.0
    assert BestRoute(_pool(), router, SCORER).sample_timeout_s == DEFAULT_SAMPLE_TIMEOUT_S
    assert BestRoute(_pool(), router, SCORER, sample_timeout_s=None).sample_timeout_s is None
    assert _chat(router, timeout=1.5).engine.sample_timeout_s == 1.5
    assert _llm(router, sample_timeout_s=0.25).engine.sample_timeout_s == 0.25


# -- pools that do not match the router ---------------------------------------------------------

#: (what is wrong, pool names, reference, max_n, what the message must name)
MISMATCHES = [
    ("the pool lacks a routed model", ("small", "ref"), "ref", 2, ["no candidate 'medium'"]),
    (
        "only the reference",
        ("ref",),
        "ref",
        2,
        ["no candidate ['medium', 'small']", "no arms besides"],
    ),
    ("max_n too small", MODELS, "ref", 1, ["['medium@2', 'small@2']", "max_n=2"]),
    ("max_n too large", MODELS, "ref", 3, ["['medium@3', 'small@3']", "max_n=2"]),
    ("a routed model is the reference", MODELS, "small", 2, ["'small' is the pool's reference"]),
    (
        "an unrouted extra model",
        ("small", "medium", "extra", "ref"),
        "ref",
        2,
        ["candidate 'extra'"],
    ),
]


@pytest.mark.parametrize(
    ("names", "reference", "max_n", "named"),
    [case[1:] for case in MISMATCHES],
    ids=[case[0] for case in MISMATCHES],
)
def test_an_arm_mismatch_names_the_missing_model_or_arms(
    router: RouterNet,
    tiny_router_dir: Path,
    names: tuple[str, ...],
    reference: str,
    max_n: int,
    named: list[str],
) -> None:
    pool = _pool(names, reference, max_n)
    for build in (
        lambda: BestRoute(pool, router, SCORER),
        lambda: load_router(tiny_router_dir, pool=pool),
    ):
        with pytest.raises(ArmMismatchError) as raised:
            build()
        message = str(raised.value)
        assert "offers []" not in message and "retrain the router" in message
        for part in named:
            assert part in message, message


def test_the_adapters_name_the_model_missing_from_the_pool(router: RouterNet) -> None:
    with pytest.raises(ArmMismatchError, match="no candidate 'medium'"):
        _llm(router, names=("small", "ref"), reference="ref")
    with pytest.raises(ArmMismatchError, match="no candidate 'medium'"):
        _chat(router, names=("small", "ref"), reference="ref")


# -- the adapters raise bestroute errors, not pydantic's -----------------------------------------

#: (setting, value, what the message says); the same for ChatBestRoute and BestRouteLLM, whose
#: timeouts are named ``timeout``/``deadline`` and ``sample_timeout_s``/``deadline_s``.
ADAPTER_SETTINGS = [
    ("threshold", 1.5, r"threshold must be in \[0, 1\], got 1.5: give a number"),
    ("threshold", -0.1, r"threshold must be in \[0, 1\]"),
    ("threshold", NAN, r"threshold must be in \[0, 1\], got nan"),
    ("threshold", "high", r"threshold must be in \[0, 1\], got 'high'"),
    ("max_n", 0, "max_n must be"),
    ("max_retries", -1, "max_retries must be an integer >= 0"),
    ("max_cost_per_query", -1.0, "max_cost_per_query must be > 0 dollars"),
    ("max_cost_per_query", NAN, "max_cost_per_query must be > 0 dollars"),
    ("timeout", -1.0, r"must be a number of seconds > 0"),
    ("deadline", NAN, r"must be a number of seconds > 0"),
]
LLAMAINDEX_NAMES = {"timeout": "sample_timeout_s", "deadline": "deadline_s"}


@pytest.mark.parametrize(("setting", "value", "reason"), ADAPTER_SETTINGS)
def test_bad_adapter_settings_raise_a_configuration_error_not_a_validation_error(
    router: RouterNet, setting: str, value: Any, reason: str
) -> None:
    import pydantic

    for build, name in ((_chat, setting), (_llm, LLAMAINDEX_NAMES.get(setting, setting))):
        with pytest.raises(ConfigurationError, match=reason) as caught:
            build(router, **{name: value})
        assert not isinstance(caught.value, pydantic.ValidationError)
        assert isinstance(caught.value, ValueError)  # ``except ValueError`` still catches it


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"input_price": NAN, "output_price": 0.2}, r"input price of 'small'.*got nan"),
        ({"input_price": 0.1, "output_price": -1}, "output price of 'small' must be >= 0"),
        ({"input_price": 0.1}, "'small' has no output_price"),
        ({"input_price": 0.1, "output_price": 0.2, "expected_output_tokens": NAN}, "expected_out"),
        ({"input_price": 0.1, "output_price": 0.2, "cost": 1}, r"unknown field\(s\) \['cost'\]"),
    ],
)
def test_a_bad_mapping_entry_of_chat_bestroute_is_a_configuration_error(
    router: RouterNet, entry: dict[str, Any], reason: str
) -> None:
    models: dict[str, Any] = {n: (FakeListChatModel(responses=["4"]), 0.1, 0.2) for n in MODELS}
    models["small"] = {"chat_model": FakeListChatModel(responses=["4"]), **entry}
    with pytest.raises(ConfigurationError, match=reason):
        ChatBestRoute(models=models, router=router, scorer=SCORER)


def test_chat_bestroute_without_a_router_says_what_it_needs() -> None:
    models = {n: (FakeListChatModel(responses=["4"]), 0.1, 0.2) for n in MODELS}
    with pytest.raises(ConfigurationError, match="ChatBestRoute needs router"):
        ChatBestRoute(models=models)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("sample_timeout_s", 5.0),
        ("sample_timeout_s", None),
        ("deadline_s", 9.0),
        ("threshold", 0.9),
        ("max_retries", 2),
        ("scorer", SCORER),
    ],
)
def test_llamaindex_refuses_settings_beside_an_engine_that_would_ignore_them(
    router: RouterNet, setting: str, value: Any
) -> None:
    with pytest.raises(ConfigurationError, match=f"{setting}= would be ignored: build the engine"):
        BestRouteLLM(engine=_llm(router).engine, **{setting: value})
    kept = BestRouteLLM(engine=_llm(router, sample_timeout_s=2.0).engine)
    assert kept.engine.sample_timeout_s == 2.0


def test_llamaindex_refuses_an_unknown_keyword(router: RouterNet) -> None:
    with pytest.raises(ConfigurationError, match=r"unknown keyword\(s\) \['sample_timeout'\]"):
        _llm(router, sample_timeout=5.0)
