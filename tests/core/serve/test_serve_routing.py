"""Per-request routing overrides within the server's limits, and what /metrics counts."""

from __future__ import annotations

import math
import re
from typing import Any

import httpx
import pytest

from bestroute.demo import CHEAP, REFERENCE
from bestroute.serve import ServeSettings
from tests.core.serve.conftest import StartServer

QUESTION = "Which planet is known as the Red Planet?"


def _ask(url: str, **extra: Any) -> httpx.Response:
    body = {"model": "bestroute", "messages": [{"role": "user", "content": QUESTION}], **extra}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)


def test_a_request_may_set_its_threshold_and_cost_cap(shared_server: str) -> None:
    everything = _ask(shared_server, bestroute={"threshold": 0.0}).json()["bestroute"]
    assert everything["arm"] == f"{CHEAP}@1"  # every arm qualifies: the cheapest answers
    assert everything["threshold"] == 0.0
    nothing = _ask(shared_server, bestroute={"threshold": 1.0}).json()["bestroute"]
    assert nothing["arm"] == f"{REFERENCE}@1"  # no arm is that sure: the reference answers
    assert nothing["plan"] == [f"{REFERENCE}@1"]
    reference_cost = nothing["estimated_cost"]
    capped = _ask(
        shared_server, bestroute={"threshold": 1.0, "max_cost": reference_cost / 2}
    ).json()["bestroute"]
    assert capped["model"] == CHEAP  # the reference is over the cap: the likeliest cheap arm
    assert capped["estimated_cost"] <= reference_cost / 2
    assert capped["max_cost_per_query"] == reference_cost / 2


def test_the_server_limits_bound_the_overrides(start_server: StartServer) -> None:
    settings = ServeSettings(min_threshold=0.3, max_threshold=0.95, max_cost_per_query=1e-4)
    with start_server(settings=settings) as (url, _):
        assert _ask(url, bestroute={"threshold": 0.2}).status_code == 400
        assert _ask(url, bestroute={"threshold": 0.96}).status_code == 400
        assert _ask(url, bestroute={"threshold": 0.95}).status_code == 200
        assert _ask(url, bestroute={"max_cost": 2e-4}).status_code == 400
        answer = _ask(url, bestroute={"threshold": 0.95}).json()["bestroute"]
        # the server's cap holds for requests that set none: the reference ($4e-4) is over it
        assert answer["max_cost_per_query"] == 1e-4 and answer["model"] == CHEAP


def _samples(metrics: str, name: str) -> dict[str, float]:
    found = {}
    for line in metrics.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            found[key] = float(value)
    return found


def test_metrics_count_requests_arms_dollars_and_latency(start_server: StartServer) -> None:
    with start_server() as (url, _):
        answers = [_ask(url).json() for _ in range(3)]
        answers.append(_ask(url, bestroute={"threshold": 1.0}).json())
        assert _ask(url, model="nope").status_code == 404
        response = httpx.get(f"{url}/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert re.search(r"^# TYPE bestroute_request_latency_seconds histogram$", text, re.M)
    requests = _samples(text, "bestroute_requests_total")
    assert requests == {
        'bestroute_requests_total{status="200",stream="false"}': 4.0,
        'bestroute_requests_total{status="404",stream="false"}': 1.0,
    }
    arms = _samples(text, "bestroute_arm_answers_total")
    expected: dict[str, float] = {}
    for answer in answers:
        key = f'bestroute_arm_answers_total{{arm="{answer["bestroute"]["arm"]}"}}'
        expected[key] = expected.get(key, 0) + 1
    assert arms == expected
    spent = _samples(text, "bestroute_dollars_spent_total")["bestroute_dollars_spent_total"]
    assert spent == pytest.approx(sum(a["bestroute"]["actual_cost"] for a in answers))
    reference = _samples(text, "bestroute_reference_dollars_estimated_total")
    assert reference["bestroute_reference_dollars_estimated_total"] == pytest.approx(
        sum(a["bestroute"]["reference_estimated_cost"] for a in answers)
    )
    tokens = _samples(text, "bestroute_tokens_total")
    assert tokens['bestroute_tokens_total{kind="input"}'] == sum(
        a["usage"]["prompt_tokens"] for a in answers
    )
    buckets = [
        (line, value)
        for line, value in _samples(text, "bestroute_request_latency_seconds_bucket").items()
    ]
    counts = [value for _, value in buckets]
    assert counts == sorted(counts) and counts[-1] == 5.0  # cumulative; +Inf holds all five
    assert 'le="+Inf"' in buckets[-1][0]
    total = _samples(text, "bestroute_request_latency_seconds_sum")
    assert all(math.isfinite(v) and v > 0 for v in total.values())
    stages = _samples(text, "bestroute_stage_latency_seconds_count")
    assert stages == {
        f'bestroute_stage_latency_seconds_count{{stage="{s}"}}': 4.0
        for s in ("routing", "sampling", "scoring")
    }
