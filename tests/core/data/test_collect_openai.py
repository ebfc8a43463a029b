"""``bestroute collect`` drawing from ``openai:`` pool members over a real endpoint on 127.0.0.1.

The endpoint is the project's own (tests/support) serving a function backend (fast) or the local
SmolLM2 model (slow); the pool member calls it with the real ``openai`` client.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from bestroute.backends.base import Backend
from bestroute.cli import main
from bestroute.cost import HeuristicCounter
from bestroute.data.dataset import load_dataset
from bestroute.demo import load_questions
from tests.support.openai_endpoint import OpenAIEndpoint, echo_backend
from tests.support.uvicorn_thread import serve_in_thread

QUERIES = [item["query"] for item in load_questions()[:3]]  # verify_question knows them


def _pool_yaml(path: Path, url: str, *, small_supports_n: bool = True) -> Path:
    path.write_text(
        f"""
reference: big
max_n: 3
candidates:
  - name: small
    backend:
      openai: small
      base_url: {url}/v1
      api_key_env: null
      supports_n: {str(small_supports_n).lower()}
      params: {{max_tokens: 24}}
    input_price: 0.1
    output_price: 0.2
  - name: big
    backend: {{openai: big, base_url: "{url}/v1", api_key_env: null}}
    input_price: 5
    output_price: 15
""",
        encoding="utf-8",
    )
    return path


def _collect(tmp_path: Path, backends: Mapping[str, Backend]) -> tuple[OpenAIEndpoint, list]:
    queries = tmp_path / "queries.txt"
    queries.write_text("\n".join(QUERIES) + "\n", encoding="utf-8")
    endpoint = OpenAIEndpoint(backends)
    with serve_in_thread(endpoint.app) as url:
        code = main(
            [
                "collect",
                "--pool",
                str(_pool_yaml(tmp_path / "pool.yaml", url)),
                "--queries",
                str(queries),
                "--db",
                str(tmp_path / "collect.db"),
                "--samples",
                "3",
                "--scorer",
                "verifier:bestroute.demo:verify_question",
                "--export",
                str(tmp_path / "outcomes.jsonl"),
                "--no-progress",
            ]
        )
    assert code == 0
    return endpoint, load_dataset(tmp_path / "outcomes.jsonl")


def test_collect_draws_n_samples_per_request_from_an_openai_member(tmp_path: Path) -> None:
    endpoint, records = _collect(tmp_path, {"small": echo_backend(), "big": echo_backend()})
    by_model: dict[str, list[int | None]] = {}
    for request in endpoint.received:
        by_model.setdefault(request.body["model"], []).append(request.body.get("n"))
    assert by_model == {"small": [3] * 3, "big": [None] * 3}  # native n: one request per query
    assert all(r.body["max_tokens"] == 24 for r in endpoint.received if r.body["model"] == "small")
    assert sorted(r.query for r in records) == sorted(QUERIES)
    count = HeuristicCounter().count
    for record in records:
        small = record.candidates["small"]
        assert len(small.samples) == 3 and len(record.candidates["big"].samples) == 1
        assert small.input_tokens == count(f"user: {record.query}")  # the endpoint's usage
        assert [s.text for s in small.samples] == [f"Echo {i}: {record.query}" for i in range(3)]
        assert all(s.quality in (0.0, 0.5, 1.0) for s in small.samples)


@pytest.mark.slow
def test_collect_from_smollm2_behind_an_openai_compatible_endpoint(tmp_path: Path) -> None:
    from bestroute.backends.transformers_local import TransformersBackend

    model = TransformersBackend(max_new_tokens=24, temperature=0.7)
    endpoint, records = _collect(tmp_path, {"small": model, "big": model})
    assert [r.body.get("n") for r in endpoint.received if r.body["model"] == "small"] == [3] * 3
    for record in records:
        samples = record.candidates["small"].samples
        assert len(samples) == 3
        assert all(s.text for s in samples), samples
        # the endpoint's usage: all samples' tokens (each at most 24), split by their lengths
        assert 3 <= sum(s.output_tokens for s in samples) <= 3 * 24, samples
        assert record.candidates["small"].input_tokens > len(record.query.split())  # chat template
