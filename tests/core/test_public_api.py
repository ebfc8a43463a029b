"""The curated public API of ``bestroute``: exactly these names, all importable, torch on demand."""

from __future__ import annotations

import subprocess
import sys

import bestroute

PUBLIC_NAMES = {
    # the engine and what it returns
    "BestRoute", "Result", "Decision", "Trace", "Attempt", "Sample", "SampleChunk",
    # the pool, the rule, prices, pool files
    "Pool", "Candidate", "Arm", "BatchingConfig", "ThresholdPolicy", "ModelPrice", "Prices", "load_prices",
    "load_pool_config",
    # models behind the pool
    "Backend", "FunctionBackend", "OpenAICompatibleBackend", "TransformersBackend",
    # routers and scorers
    "Router", "RouterNet", "load_router", "Scorer", "VerifierScorer", "RewardModel",
    "load_reward_model", "select_best",
    # data, training, calibration
    "collect", "CollectionStore", "export_dataset", "load_dataset", "save_dataset",
    "OutcomeRecord", "attach_rewards", "split_train_validation", "minilm_path", "train_router",
    "RouterTrainingConfig", "ROUTER_GRID", "train_router_from_records", "train_reward_from_records",
    "calibrate_router", "crossfit_calibrate", "calibrate_threshold", "Calibration",
    # errors
    "BestRouteError", "ConfigurationError", "MissingPriceError", "InvalidPriceError",
    "InvalidQueryError", "RequestError", "ModelNotFoundError", "CheckpointError",
    "ArmMismatchError", "DataFormatError", "DatasetValidationError", "EndpointError",
    "EmptyStreamError", "AllArmsFailedError",
    "__version__",
}  # fmt: skip


def test_all_is_exactly_the_curated_names() -> None:
    assert set(bestroute.__all__) == PUBLIC_NAMES
    assert len(bestroute.__all__) == len(PUBLIC_NAMES)  # no duplicates


def test_every_public_name_resolves() -> None:
    for name in bestroute.__all__:
        assert getattr(bestroute, name) is not None, name


def test_every_exception_lives_in_errors() -> None:
    for name in bestroute.__all__:
        value = getattr(bestroute, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert value.__module__ == "bestroute.errors", name
            assert issubclass(value, bestroute.BestRouteError), name


def test_import_bestroute_does_not_load_torch() -> None:
    code = "import sys, bestroute; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_unknown_names_raise_attribute_error() -> None:
    try:
        bestroute.HeuristicCounter  # noqa: B018 - an internal, not part of the API
    except AttributeError as error:
        assert "HeuristicCounter" in str(error)
    else:
        raise AssertionError("internals must not be reachable from the package root")
