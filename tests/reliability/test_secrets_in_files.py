"""API keys of pool members never reach a file bestroute writes, a server answer, or a repr.

The pool members hold a distinctive key, and the test endpoint (on 127.0.0.1) rejects the
``small`` model's requests with a 401 that echoes the bearer token back, as some providers do.
``small`` is a ``langchain:`` member (a ``ChatOpenAI``, whose errors bestroute does not write
itself), ``large`` an ``openai:`` member. Then the whole path a user takes is run for real:

* ``bestroute collect`` (while ``small`` is rejected, then again until complete) into a SQLite
  store, with its export;
* ``bestroute train`` on that export (router checkpoint, threshold.json, training report) and
  ``bestroute eval`` on it (report);
* ``bestroute serve``'s app over the trained setup and the pool: an answer that fell back, a 502
  when every member fails, ``/metrics``, ``/v1/models``, ``/health``;
* ``ChatBestRoute`` and ``BestRouteLLM`` over ``ChatOpenAI`` / ``OpenAILike`` entries built with
  the key: their traces, errors and reprs.

Every byte of every file under the test's folder (the store, its WAL, exports, checkpoints,
reports), every answer body, the captured logs and output must be free of the key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from bestroute import BestRoute
from bestroute.backends.function import FunctionBackend
from bestroute.cli import main
from bestroute.data.pool_config import load_callable
from bestroute.errors import AllArmsFailedError
from bestroute.pool import Arm
from bestroute.scoring.base import VerifierScorer
from tests.support.openai_endpoint import Fault, OpenAIEndpoint, ReceivedRequest
from tests.support.uvicorn_thread import serve_in_thread

SECRET = "sk-test-3c5e7a9b1d2f4a6c8e0b2d4f6a8c0e2f"
KEY_ENV = "BESTROUTE_SECRET_TEST_KEY"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "collect"
QUERIES = [f"What is {a} + {b}?" for a, b in zip(range(12), range(3, 15), strict=True)]


@dataclass
class Leaky:
    """The endpoint's fault switch: which models get a 401 echoing their key."""

    rejected: set[str] = field(default_factory=set)

    def hook(self, request: ReceivedRequest) -> Fault | None:
        if request.body.get("model") not in self.rejected:
            return None
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return Fault(status=401, message=f"Incorrect API key provided: {token}")


@pytest.fixture(scope="module")
def leaky() -> Iterator[tuple[Leaky, str]]:
    arith = FIXTURES / "arith.py"
    backends = {
        name: FunctionBackend(load_callable(f"{arith}:{name}")) for name in ("small", "large")
    }
    switch = Leaky()
    with serve_in_thread(OpenAIEndpoint(backends, fault=switch.hook).app) as url:
        yield switch, url


def write_pool(folder: Path, url: str) -> Path:
    path = folder / "pool.yaml"
    path.write_text(
        f"""
reference: large
max_n: 3
candidates:
  - name: small
    backend:
      langchain: "openai:small"
      base_url: "{url}/v1"
      api_key_env: {KEY_ENV}
      max_retries: 0
    input_price: 0.1
    output_price: 0.2
  - name: large
    backend: {{openai: large, base_url: "{url}/v1", api_key_env: {KEY_ENV}}}
    input_price: 10
    output_price: 30
""",
        encoding="utf-8",
    )
    return path


def assert_no_secret(where: str, text: str | bytes) -> None:
    data = text.encode("utf-8") if isinstance(text, str) else text
    for piece in (SECRET, SECRET[8:], SECRET[-16:]):
        assert piece.encode() not in data, f"the API key is in {where}"


def assert_no_secret_in_files(folder: Path) -> list[Path]:
    files = [path for path in folder.rglob("*") if path.is_file()]
    for path in files:
        assert_no_secret(str(path), path.read_bytes())
    return files


def assert_no_secret_in_error(error: BaseException) -> None:
    assert_no_secret("the exception", str(error) + repr(error))
    assert_no_secret("the traceback", "".join(traceback.format_exception(error)))
    for _, cause in getattr(error, "errors", []):
        assert_no_secret("an exception kept", f"{cause!r} {cause}")


@pytest.mark.slow  # trains and evaluates a router (about a minute on 2 cores)
def test_collect_train_eval_and_serve_write_no_key(
    leaky: tuple[Leaky, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    switch, url = leaky
    monkeypatch.setenv(KEY_ENV, SECRET)
    caplog.set_level(logging.DEBUG)
    shutil.copyfile(FIXTURES / "arith.py", tmp_path / "arith.py")
    pool = write_pool(tmp_path, url)
    (tmp_path / "queries.txt").write_text("\n".join(QUERIES) + "\n", "utf-8")
    collect = [
        "collect",
        "--pool",
        str(pool),
        "--queries",
        str(tmp_path / "queries.txt"),
        "--db",
        str(tmp_path / "store.sqlite"),
        "--samples",
        "3",
        "--scorer",
        f"verifier:{tmp_path / 'arith.py'}:verify",
        "--export",
        str(tmp_path / "outcomes.jsonl"),
        "--no-progress",
    ]
    switch.rejected = {"small"}
    main(collect)  # every call to small fails with the key in its error
    failed = [r for r in caplog.records if "small" in r.getMessage() and "401" in r.getMessage()]
    assert failed, "the rejected calls were logged"
    assert_no_secret_in_files(tmp_path)
    switch.rejected = set()
    assert main(collect) == 0  # resumed to the end: every sample there

    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps(
            {
                "models": {
                    "small": {"input": 0.1, "output": 0.2},
                    "large": {"input": 10, "output": 30},
                }
            }
        ),
        "utf-8",
    )
    run, report = tmp_path / "run", tmp_path / "report.json"
    data = ["--dataset", f"jsonl:{tmp_path / 'outcomes.jsonl'}", "--reference", "large"]
    data += ["--prices", str(prices), "--max-n", "3"]
    assert main(["train", *data, "--out", str(run), "--no-progress"]) == 0
    assert main(["eval", *data, "--out", str(report)]) == 0

    from bestroute.data.pool_config import load_pool_config
    from bestroute.serve import RoutingService, create_app

    verify = VerifierScorer(load_callable(f"{tmp_path / 'arith.py'}:verify"))
    engine = BestRoute.from_pretrained(run, load_pool_config(pool), scorer=verify, threshold=0.0)
    bodies: list[str] = [repr(engine), repr(engine.pool), repr(engine.pool.candidates)]
    with serve_in_thread(create_app(RoutingService(engine))) as server:
        chat = {"model": "bestroute", "messages": [{"role": "user", "content": QUERIES[0]}]}
        switch.rejected = {"small"}
        answered = httpx.post(f"{server}/v1/chat/completions", json=chat, timeout=60)
        assert answered.status_code == 200, answered.text
        assert "401" in answered.text  # small's reason is in the trace, without the key
        switch.rejected = {"small", "large"}
        failed_all = httpx.post(f"{server}/v1/chat/completions", json=chat, timeout=60)
        assert failed_all.status_code == 502, failed_all.text
        switch.rejected = set()
        bodies += [answered.text, failed_all.text, str(answered.headers)]
        bodies += [httpx.get(f"{server}{path}").text for path in ("/metrics", "/v1/models")]
        bodies.append(httpx.get(f"{server}/health").text)
    for number, body in enumerate(bodies):
        assert_no_secret(f"server answer or repr {number}", body)
    written = assert_no_secret_in_files(tmp_path)
    names = {path.name for path in written}
    assert {"store.sqlite", "outcomes.jsonl", "threshold.json", "report.json"} <= names
    assert any(path.suffix == ".safetensors" for path in written)
    captured = capsys.readouterr()
    assert_no_secret("the logs", caplog.text)
    assert_no_secret("stdout and stderr", captured.out + captured.err)


class CheapRouter:
    arms = (Arm("small", 1),)

    def predict(self, queries: Any) -> np.ndarray:
        return np.full((len(queries), 1), 0.9, dtype=np.float32)


def test_adapter_entries_keep_their_key_out_of_traces_errors_and_reprs(
    leaky: tuple[Leaky, str], caplog: pytest.LogCaptureFixture
) -> None:
    """ChatOpenAI and OpenAILike entries built with the key; small is rejected (401 with the
    key), then both are: the fallback's trace and the AllArmsFailedError are free of it."""
    from langchain_openai import ChatOpenAI
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike
    from pydantic import SecretStr

    from langchain_bestroute import ChatBestRoute
    from llamaindex_bestroute import BestRouteLLM

    switch, url = leaky
    caplog.set_level(logging.DEBUG)

    def chat(model: str) -> Any:
        return ChatOpenAI(
            model=model, base_url=f"{url}/v1", api_key=SecretStr(SECRET), max_retries=0
        )

    def llm_of(model: str) -> Any:
        return OpenAILike(
            model=model, api_base=f"{url}/v1", api_key=SECRET, is_chat_model=True, max_retries=0
        )

    chat_llm = ChatBestRoute(
        models={"small": (chat("small"), 0.1, 0.2), "large": (chat("large"), 10, 30)},
        router=CheapRouter(),
        reference="large",
        max_retries=1,
    )
    index_llm = BestRouteLLM(
        models={"small": (llm_of("small"), 0.1, 0.2), "large": (llm_of("large"), 10, 30)},
        router=CheapRouter(),
        reference="large",
        max_retries=1,
    )
    question = QUERIES[1]
    messages = [ChatMessage(role="user", content=question)]
    seen: list[str] = []
    try:
        switch.rejected = {"small"}
        message = chat_llm.invoke(question)
        assert message.response_metadata["bestroute"]["arm"] == "large@1"
        response = asyncio.run(index_llm.achat(messages))
        assert response.raw["bestroute"]["arm"] == "large@1"
        seen += [json.dumps(message.response_metadata, default=str), repr(message)]
        seen += [json.dumps(response.raw, default=str), repr(response)]
        assert "401" in seen[0] and "401" in seen[2]
        switch.rejected = {"small", "large"}
        for call in (lambda: chat_llm.invoke(question), lambda: index_llm.chat(messages)):
            with pytest.raises(AllArmsFailedError) as caught:
                call()
            assert_no_secret_in_error(caught.value)
            seen.append(json.dumps(caught.value.trace.to_dict(), default=str))
    finally:
        switch.rejected = set()
    seen += [
        repr(chat_llm),
        str(chat_llm.model_dump()),
        repr(index_llm),
        repr(index_llm.model_dump()),
    ]
    seen += [repr(chat_llm.engine.pool.candidates), repr(index_llm.engine.pool.candidates)]
    for number, text in enumerate(seen):
        assert_no_secret(f"trace, answer or repr {number}", text)
    assert_no_secret("the logs", caplog.text)
