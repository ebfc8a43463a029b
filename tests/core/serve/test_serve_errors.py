"""Bad requests and failing pools get OpenAI-style errors, and the server keeps serving."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bestroute.data.pool_config import load_pool_config
from bestroute.engine import BestRoute
from tests.core.serve.conftest import SETTINGS, StartServer
from tests.support.openai_endpoint import Fault, OpenAIEndpoint, WordStreamer, echo_backend
from tests.support.pools import write_demo_pool
from tests.support.uvicorn_thread import serve_in_thread

GOOD = {"model": "bestroute", "messages": [{"role": "user", "content": "What is 2 + 2?"}]}


def _post(url: str, body: Any = None, content: bytes | None = None) -> httpx.Response:
    if content is None:
        content = json.dumps(body).encode()
    return httpx.post(
        f"{url}/v1/chat/completions",
        content=content,
        headers={"content-type": "application/json"},
        timeout=30,
    )


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert error["message"]
    return error


@pytest.mark.parametrize(
    ("content", "param", "says"),
    [
        (b'{"model": "bestroute", "messages": [', None, "not valid JSON"),
        (b"[1, 2]", None, "JSON object"),
        (json.dumps({"messages": GOOD["messages"]}).encode(), "model", "missing required field"),
        (json.dumps({"model": "bestroute"}).encode(), "messages", "missing required field"),
        (json.dumps({**GOOD, "messages": []}).encode(), "messages", "non-empty"),
        (
            json.dumps({**GOOD, "messages": [{"role": "wizard", "content": "hi"}]}).encode(),
            "messages[0]",
            "role",
        ),
        (
            json.dumps({**GOOD, "messages": [{"role": "user"}]}).encode(),
            "messages[0].content",
            "missing",
        ),
        (json.dumps({**GOOD, "n": 3}).encode(), "n", "n must be 1"),
        (json.dumps({**GOOD, "temperature": 7}).encode(), "temperature", "temperature"),
        (json.dumps({**GOOD, "max_tokens": 100000}).encode(), "max_tokens", "limit of 256"),
        (json.dumps({**GOOD, "stream": "yes"}).encode(), "stream", "true or false"),
        (
            json.dumps({**GOOD, "bestroute": {"threshold": 1.5}}).encode(),
            "bestroute.threshold",
            "threshold",
        ),
        (
            json.dumps({**GOOD, "bestroute": {"max_cost": 5.0}}).encode(),
            "bestroute.max_cost",
            "cap",
        ),
        (json.dumps({**GOOD, "bestroute": {"speed": 1}}).encode(), "bestroute", "unknown"),
        (
            json.dumps({**GOOD, "messages": [{"role": "user", "content": "   "}]}).encode(),
            "messages",
            "empty",
        ),
    ],
    ids=[
        "malformed-json",
        "not-an-object",
        "no-model",
        "no-messages",
        "empty-messages",
        "bad-role",
        "no-content",
        "n",
        "temperature",
        "max-tokens",
        "stream-type",
        "threshold-range",
        "cost-over-cap",
        "unknown-override",
        "empty-query",
    ],
)
def test_bad_requests_get_400_naming_the_field(
    shared_server: str, content: bytes, param: str | None, says: str
) -> None:
    error = _error(_post(shared_server, content=content), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert says in error["message"]


def test_unknown_model_route_and_method_get_404_and_405(shared_server: str) -> None:
    error = _error(_post(shared_server, {**GOOD, "model": "gpt-4o"}), 404)
    assert error["code"] == "model_not_found" and "'bestroute'" in error["message"]
    assert "/v1" in _error(httpx.get(f"{shared_server}/v2/chat"), 404)["message"]
    _error(httpx.get(f"{shared_server}/v1/chat/completions"), 405)


def test_an_oversize_body_gets_413(shared_server: str) -> None:
    big = {**GOOD, "messages": [{"role": "user", "content": "x" * (SETTINGS.max_body_bytes + 1)}]}
    error = _error(_post(shared_server, big), 413)
    assert error["code"] == "request_too_large"

    def chunked() -> Any:  # no content-length: the limit is enforced while reading
        yield b'{"model": "bestroute", "messages": [{"role": "user", "content": "'
        for _ in range(80):
            yield b"y" * 1000
        yield b'"}]}'

    response = httpx.post(f"{shared_server}/v1/chat/completions", content=chunked(), timeout=30)
    _error(response, 413)
    assert _post(shared_server, GOOD).status_code == 200  # still serving


@pytest.fixture(scope="module")
def failing_engine(echo_engine: BestRoute, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The demo router over a pool whose endpoint answers every request with HTTP 500."""
    endpoint = OpenAIEndpoint(
        {"cheap": echo_backend(), "big": echo_backend()},
        fault=lambda request: Fault(status=500, message="the GPU caught fire"),
    )
    with serve_in_thread(endpoint.app) as url:
        pool = load_pool_config(
            write_demo_pool(tmp_path_factory.mktemp("failing") / "pool.yaml", url)
        )
        yield BestRoute(pool, echo_engine.router, echo_engine.scorer, echo_engine.policy)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_all_arms_failed_is_502_with_each_arms_reason(
    start_server: StartServer, failing_engine: BestRoute, stream: bool
) -> None:
    with start_server(engine=failing_engine) as (url, _):
        error = _error(_post(url, {**GOOD, "stream": stream}), 502)
        assert error["code"] == "all_arms_failed"
        attempts = error["bestroute"]["attempts"]
        plan_arms = [a["arm"] for a in attempts]
        assert plan_arms[-1] == "reference@1" and len(plan_arms) >= 2
        for attempt in attempts:
            assert attempt["errors"] and all("HTTP 500" in e for e in attempt["errors"])
            assert all("the GPU caught fire" in e for e in attempt["errors"])
        assert httpx.get(f"{url}/health").status_code == 200
        metrics = httpx.get(f"{url}/metrics").text
        assert (
            f'bestroute_requests_total{{status="502",stream="{str(stream).lower()}"}} 1' in metrics
        )
        assert 'bestroute_arm_failures_total{arm="reference@1"} 1' in metrics


def test_a_stream_that_breaks_midway_ends_with_an_error_event(
    start_server: StartServer, echo_engine: BestRoute, tmp_path: Path
) -> None:
    endpoint = OpenAIEndpoint(
        {"cheap": WordStreamer(), "big": WordStreamer()},
        fault=lambda request: Fault(close_after_chunks=2) if request.body.get("stream") else None,
    )
    with serve_in_thread(endpoint.app) as endpoint_url:
        pool = load_pool_config(write_demo_pool(tmp_path / "pool.yaml", endpoint_url))
        engine = BestRoute(pool, echo_engine.router, echo_engine.scorer, echo_engine.policy)
        with start_server(engine=engine) as (url, _):
            body = {**GOOD, "stream": True, "bestroute": {"threshold": 0.0}}  # cheap@1 streams
            with httpx.stream(
                "POST", f"{url}/v1/chat/completions", json=body, timeout=30
            ) as response:
                assert response.status_code == 200
                events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
            assert events[-1] == "[DONE]"
            payloads = [json.loads(e) for e in events[:-1]]
            deltas = [p["choices"][0]["delta"].get("content") for p in payloads if p.get("choices")]
            assert "".join(d or "" for d in deltas) == "one two "
            assert payloads[-1]["error"]["code"] == "stream_failed"
            assert "mid-stream" in payloads[-1]["error"]["message"]
            assert _post(url, GOOD).status_code == 200  # the server is still serving
            metrics = httpx.get(f"{url}/metrics").text
            assert 'bestroute_requests_total{status="502",stream="true"} 1' in metrics


def test_a_client_that_leaves_mid_stream_is_counted_and_the_server_carries_on(
    start_server: StartServer, echo_engine: BestRoute, tmp_path: Path
) -> None:
    endpoint = OpenAIEndpoint({"cheap": WordStreamer(["w "] * 40, 0.05), "big": echo_backend()})
    with serve_in_thread(endpoint.app) as endpoint_url:
        pool = load_pool_config(write_demo_pool(tmp_path / "pool.yaml", endpoint_url))
        engine = BestRoute(pool, echo_engine.router, echo_engine.scorer, echo_engine.policy)
        with start_server(engine=engine) as (url, _):
            body = {**GOOD, "stream": True, "bestroute": {"threshold": 0.0}}
            with httpx.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
                lines = response.iter_lines()
                while '"content": "w "' not in next(lines):
                    pass  # leave after the first word
            deadline = time.monotonic() + 30
            counted = 'bestroute_requests_total{status="499",stream="true"} 1'
            while counted not in httpx.get(f"{url}/metrics").text:
                assert time.monotonic() < deadline, "the closed stream was never counted"
                time.sleep(0.1)
            assert "bestroute_requests_in_flight 0" in httpx.get(f"{url}/metrics").text
            assert _post(url, GOOD).status_code == 200
