"""Pool configuration files (YAML) for collection: candidates, backends, prices, reference.

::

    reference: big            # the reference candidate's name (required)
    max_n: 5                  # arms n = 1..max_n (optional, default 5)
    prices: prices.json       # optional prices file for candidates without their own prices
    candidates:
      - name: small
        backend:
          python: my_models:small_generate   # async def f(messages, **params); or path/file.py:f
          supports_n: false                   # true when f accepts n= and returns n results
        input_price: 0.1                      # dollars per 1M tokens (else from the prices file)
        output_price: 0.2
      - name: gpt-4o-mini
        backend:
          openai: gpt-4o-mini                 # any OpenAI-compatible endpoint (base_url, key...)
          api_key_env: OPENAI_API_KEY
      - name: claude
        backend:
          langchain: anthropic:claude-3-5-haiku-latest   # any LangChain chat model
      - name: smollm2
        backend:
          transformers: null                  # a local HF folder or GGUF file; null = SmolLM2
          gguf_file: null
          max_new_tokens: 64
          temperature: 0.7

The ``openai`` and ``langchain`` kinds and their options are described in
:mod:`bestroute.data.pool_members`. A backend may also be written as a string:
``python:module:function``, ``transformers``, ``transformers:PATH``, ``openai:MODEL`` or
``langchain:PROVIDER:MODEL``. Relative paths (prices file, ``file.py`` functions, model paths) are read
relative to the config file.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from bestroute.backends.base import Backend
from bestroute.backends.function import FunctionBackend
from bestroute.cost import DEFAULT_EXPECTED_OUTPUT_TOKENS
from bestroute.errors import ConfigurationError
from bestroute.pool import DEFAULT_MAX_N, Candidate, Pool
from bestroute.prices import Prices, load_prices, price_value

_BACKEND_KINDS = ("python", "transformers", "openai", "langchain")
_CANDIDATE_KEYS = frozenset(
    {"name", "backend", "input_price", "output_price", "expected_output_tokens"}
)


def load_callable(spec: str, base_dir: Path | None = None) -> Callable[..., Any]:
    """Resolve ``module:function`` or ``path/to/file.py:function`` to the callable."""
    target, sep, attribute = spec.rpartition(":")
    if not sep or not target or not attribute:
        raise ConfigurationError(f"expected 'module:function' or 'file.py:function', got {spec!r}")
    if target.endswith(".py"):
        file = Path(target).expanduser()
        if not file.is_absolute() and base_dir is not None:
            file = base_dir / file
        if not file.is_file():
            raise ConfigurationError(f"python file not found for {spec!r}: {file}")
        module_name = f"_bestroute_user_{zlib.crc32(str(file.resolve()).encode())}"
        module = sys.modules.get(module_name)
        if module is None:
            loader_spec = importlib.util.spec_from_file_location(module_name, file)
            if loader_spec is None or loader_spec.loader is None:
                raise ConfigurationError(f"cannot import {file}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[module_name] = module
            loader_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as error:
            raise ConfigurationError(
                f"cannot import module {target!r} for {spec!r} ({error}); put it on PYTHONPATH "
                "or name a file: path/to/file.py:function"
            ) from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigurationError(f"{target!r} has no callable named {attribute!r}")
    return function


def _resolve_path(value: Any, base_dir: Path) -> Any:
    if value is None:
        return None
    path = Path(str(value)).expanduser()
    if not path.is_absolute() and (base_dir / path).exists():
        return str(base_dir / path)
    return str(path)


def build_backend(spec: Any, base_dir: Path, name: str) -> Backend:
    """A backend from its config entry (see the module docstring)."""
    if isinstance(spec, str):
        kind, _, target = spec.partition(":")
        options: dict[str, Any] = {}
        target_value: Any = target or None
    elif isinstance(spec, Mapping):
        options = dict(spec)
        kinds = [k for k in _BACKEND_KINDS if k in options]
        if "type" in options:
            kind = str(options.pop("type"))
            target_value = options.pop("function", None) or options.pop("path", None)
        elif len(kinds) == 1:
            kind = kinds[0]
            target_value = options.pop(kind)
        else:
            raise ConfigurationError(
                f"candidate {name!r}: backend needs exactly one of {_BACKEND_KINDS} (or 'type')"
            )
    else:
        raise ConfigurationError(f"candidate {name!r}: backend must be a mapping or a string")
    if kind == "python":
        if not target_value:
            raise ConfigurationError(f"candidate {name!r}: python backend needs 'module:function'")
        function = load_callable(str(target_value), base_dir)
        if not inspect.iscoroutinefunction(function) and not hasattr(function, "agenerate"):
            raise ConfigurationError(
                f"candidate {name!r}: {target_value} must be an async function "
                "(async def f(messages, **params))"
            )
        return FunctionBackend(function, supports_n=bool(options.pop("supports_n", False)))
    if kind == "transformers":
        from bestroute.backends.transformers_local import TransformersBackend

        if "gguf_file" in options:
            options["gguf_file"] = _resolve_path(options["gguf_file"], base_dir)
        path = options.pop("path", None) if target_value is None else target_value
        return TransformersBackend(_resolve_path(path, base_dir), name=name, **options)
    if kind == "openai":
        from bestroute.data.pool_members import openai_member

        return openai_member(target_value, options, name)
    if kind == "langchain":
        from bestroute.data.pool_members import langchain_member

        return langchain_member(target_value, options, name)
    raise ConfigurationError(
        f"candidate {name!r}: unknown backend kind {kind!r}; use one of {_BACKEND_KINDS}"
    )


def _price(entry: Mapping[str, Any], key: str, name: str, prices: Prices | None) -> float:
    if entry.get(key) is not None:
        return price_value(entry[key], f"candidate {name!r}: {key}")
    if prices is None:
        raise ConfigurationError(
            f"candidate {name!r} has no {key}: give input_price/output_price (dollars per 1M "
            "tokens) or a 'prices' file in the pool config"
        )
    price = prices[name]
    return price.input if key == "input_price" else price.output


def pool_from_config(
    config: Mapping[str, Any],
    base_dir: Path | None = None,
    *,
    prices: Prices | None = None,
    build_backends: bool = True,
) -> Pool:
    """A :class:`~bestroute.pool.Pool` from a parsed config (backends built unless told not to)."""
    base_dir = base_dir or Path.cwd()
    if not isinstance(config, Mapping):
        raise ConfigurationError(
            "a pool config must be a mapping with 'candidates' and 'reference'"
        )
    entries = config.get("candidates")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError("the pool config needs a non-empty 'candidates' list")
    if prices is None and config.get("prices"):
        prices = load_prices(_resolve_path(config["prices"], base_dir))
    candidates = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not entry.get("name"):
            raise ConfigurationError(f"candidate {index} needs a 'name'")
        name = str(entry["name"])
        unknown = sorted(set(entry) - _CANDIDATE_KEYS)
        if unknown:
            raise ConfigurationError(
                f"candidate {name!r}: unknown key(s) {unknown}; allowed: {sorted(_CANDIDATE_KEYS)}"
            )
        if "backend" not in entry:
            raise ConfigurationError(f"candidate {name!r} needs a 'backend'")
        backend = build_backend(entry["backend"], base_dir, name) if build_backends else None
        candidates.append(
            Candidate(
                name=name,
                backend=backend,
                token_counter=getattr(backend, "token_counter", None),
                input_price=_price(entry, "input_price", name, prices),
                output_price=_price(entry, "output_price", name, prices),
                expected_output_tokens=entry.get("expected_output_tokens")
                or (prices.default_avg_output_tokens if prices else DEFAULT_EXPECTED_OUTPUT_TOKENS),
            )
        )
    if not config.get("reference"):
        raise ConfigurationError("the pool config needs a 'reference' candidate name")
    max_n = config.get("max_n", DEFAULT_MAX_N)
    if isinstance(max_n, bool) or not isinstance(max_n, int):
        raise ConfigurationError(f"max_n must be a whole number >= 1, got {max_n!r}")
    return Pool(candidates, str(config["reference"]), max_n)


def load_pool_config(
    path: str | os.PathLike[str], *, prices: Prices | None = None, build_backends: bool = True
) -> Pool:
    """Read a pool config YAML file (see the module docstring) into a Pool."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pool config not found: {path}")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigurationError(f"{path}: not valid YAML ({error})") from None
    return pool_from_config(
        config, path.resolve().parent, prices=prices, build_backends=build_backends
    )
