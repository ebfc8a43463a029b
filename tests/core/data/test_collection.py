"""Collection: the SQLite store, pool configs, scoring, export and resuming in process.

Resuming a killed ``bestroute collect`` is tested in tests/reliability/test_collect_kill.py.
"""

from __future__ import annotations

import shutil
import sqlite3
import textwrap
from pathlib import Path

import pytest

from bestroute.data.collect import build_scorer, collect, export_dataset, read_queries
from bestroute.data.pool_config import load_pool_config
from bestroute.data.store import CollectionStore, NewSample
from bestroute.errors import ConfigurationError, DataFormatError
from bestroute.prices import MissingPriceError

REPO_ROOT = Path(__file__).resolve().parents[3]

#: The pool members (arith.py), a pool of them and 40 queries; the kill-and-resume test in
#: tests/reliability/test_collect_kill.py uses the same files.
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "collect"


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    for name in ("arith.py", "pool.yaml", "queries.txt"):
        shutil.copyfile(FIXTURES / name, tmp_path / name)
    return tmp_path


def _sample(index: int, text: str = "x") -> NewSample:
    return NewSample(index, text, input_tokens=5, output_tokens=2, latency_s=0.1, cost=0.5)


def test_store_records_calls_samples_and_scores(tmp_path: Path) -> None:
    with CollectionStore(tmp_path / "c.db") as store:
        assert store.add_queries([("a", "one"), ("b", "two")]) == 2
        assert store.add_queries([("a", "one"), ("c", "three")]) == 1
        with pytest.raises(DataFormatError, match="different text"):
            store.add_queries([("a", "changed")])
        assert [q.id for q in store.queries()] == ["a", "b", "c"]
        call = store.start_call("a", "m", [0, 1])
        ids = store.finish_call(call, "a", "m", [_sample(0), _sample(1)])
        store.set_scores(ids, [1.0, 0.0], [0.3, None])
        lost = store.start_call("b", "m", [0])
        failed = store.start_call("c", "m", [0])
        store.fail_call(failed, "boom")
        with pytest.raises(sqlite3.IntegrityError):  # a sample index is never stored twice
            store.finish_call(store.start_call("a", "m", [0]), "a", "m", [_sample(0)])
    with CollectionStore(tmp_path / "c.db") as store:  # reopened, as after a crash
        assert store.recover_interrupted() == 2  # `lost` and the rolled-back duplicate
        assert store.present_indices() == {("a", "m"): {0, 1}}
        samples = store.samples()
        assert [(s.quality, s.reward) for s in samples] == [(1.0, 0.3), (0.0, None)]
        totals = store.totals()
        assert (totals.samples, totals.scored, totals.calls_done) == (2, 2, 1)
        assert (totals.calls_failed, totals.calls_interrupted) == (1, 2)
        assert totals.cost == pytest.approx(1.0)
        assert lost > 0


def test_pool_config(workdir: Path, public_data: Path) -> None:
    pool = load_pool_config(workdir / "pool.yaml")
    assert pool.reference == "large"
    assert pool.candidate("small").input_price == 0.1
    assert pool.candidate("large").backend is not None
    config = workdir / "priced.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            reference: gpt-4-1106-preview
            max_n: 3
            prices: {public_data / "prices.json"}
            candidates:
              - {{name: gpt-4-1106-preview, backend: "python:arith.py:large"}}
              - {{name: phi-2, backend: "python:arith.py:small", output_price: 0.5}}
            """
        ),
        encoding="utf-8",
    )
    priced = load_pool_config(config)
    assert priced.candidate("gpt-4-1106-preview").output_price == 30.0
    assert (priced.candidate("phi-2").input_price, priced.candidate("phi-2").output_price) == (
        0.1,
        0.5,
    )
    assert priced.candidate("phi-2").expected_output_tokens == 250
    assert len(priced.router_arms) == 3
    bad = [
        ("candidates: [{name: a, backend: {cobol: x}}]\nreference: a", "backend needs exactly one"),
        ("candidates: [{name: a, backend: 'python:arith.py:nope'}]\nreference: a", "no callable"),
        (
            "candidates: [{name: a, backend: 'python:arith.py:verify', input_price: 0, "
            "output_price: 0}]\nreference: a",
            "async function",
        ),
        (
            "candidates: [{name: a, backend: 'python:arith.py:small'}]\nreference: a",
            "no input_price",
        ),
        (
            "candidates: [{name: a, backend: 'python:arith.py:small', input_price: 1, output_price: 1, "
            "colour: red}]\nreference: a",
            "unknown key",
        ),
    ]
    for text, message in bad:
        config.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigurationError, match=message):
            load_pool_config(config)
    config.write_text(
        f"prices: {public_data / 'prices.json'}\nreference: a\n"
        "candidates: [{name: a, backend: 'python:arith.py:small'}]",
        encoding="utf-8",
    )
    with pytest.raises(MissingPriceError, match="'a'"):
        load_pool_config(config)


def test_read_queries(tmp_path: Path) -> None:
    txt = tmp_path / "q.txt"
    txt.write_text("first\n\nsecond\n", encoding="utf-8")
    assert read_queries(txt) == [("q1", "first"), ("q3", "second")]
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text('{"id": "a", "query": "x"}\n{"prompt": "y"}\n', encoding="utf-8")
    assert read_queries(jsonl) == [("a", "x"), ("q2", "y")]
    jsonl.write_text('{"id": "a", "query": "x"}\n{"id": "a", "text": "y"}\n{"answer": 1}\n')
    with pytest.raises(DataFormatError, match="line 3") as caught:
        read_queries(jsonl)
    assert "repeat" in str(caught.value)


async def test_collect_scores_exports_and_resumes_in_process(workdir: Path) -> None:
    pool = load_pool_config(workdir / "pool.yaml")
    queries = read_queries(workdir / "queries.txt")[:6]
    scorer = build_scorer("verifier:arith.py:verify", pool, workdir)
    with CollectionStore(workdir / "c.db") as store:
        first = await collect(pool, queries, store, 2, scorer, progress=False)
        assert (first.samples, first.calls, first.scored) == (6 * 3, 6 * 3, 6 * 3)
        assert first.cost == pytest.approx(store.totals().cost)
        again = await collect(pool, queries, store, 2, scorer, progress=False)
        assert (again.planned_samples, again.calls) == (0, 0)
        more = await collect(pool, queries, store, 3, scorer, progress=False)
        assert more.samples == 6  # only sample index 2 of "small" is new
        records = export_dataset(store)
    assert len(records) == 6
    for record, (query_id, text) in zip(records, queries, strict=True):
        assert (record.id, record.query) == (query_id, text)
        assert len(record.candidates["small"].samples) == 3
        assert len(record.candidates["large"].samples) == 1
        a, b = (int(x) for x in text.removeprefix("What is ").removesuffix("?").split(" + "))
        expected_small = 0.0 if (a + b) % 3 == 0 else 1.0
        assert {s.quality for s in record.candidates["small"].samples} == {expected_small}
        assert record.candidates["large"].samples[0].quality == 1.0


async def test_llm_judge_scores_collected_samples(workdir: Path) -> None:
    config = (workdir / "pool.yaml").read_text(encoding="utf-8")
    config += (
        "  - {name: grader, backend: 'python:arith.py:grader', input_price: 1, output_price: 1}\n"
    )
    (workdir / "pool.yaml").write_text(config, encoding="utf-8")
    pool = load_pool_config(workdir / "pool.yaml")
    queries = read_queries(workdir / "queries.txt")[:4]
    judge = build_scorer("judge:grader", pool, workdir)
    with CollectionStore(workdir / "c.db") as store:
        summary = await collect(
            pool, queries, store, 2, judge, models=["small", "large"], progress=False
        )
        assert (summary.calls, summary.scored) == (12, 12)
        records = export_dataset(store)
    for record in records:
        assert set(record.candidates) == {"small", "large"}
        assert record.candidates["large"].samples[0].quality == 10.0
        a, b = (
            int(x) for x in record.query.removeprefix("What is ").removesuffix("?").split(" + ")
        )
        small = {s.quality for s in record.candidates["small"].samples}
        assert small == ({2.0} if (a + b) % 3 == 0 else {10.0})


async def test_batched_backend_gets_one_call_and_failures_are_retried(workdir: Path) -> None:
    (workdir / "pool.yaml").write_text(
        textwrap.dedent(
            """
            reference: flaky
            candidates:
              - {name: batched, backend: {python: arith.py:batched, supports_n: true},
                 input_price: 1, output_price: 1}
              - {name: flaky, backend: "python:arith.py:flaky", input_price: 1, output_price: 1}
            """
        ),
        encoding="utf-8",
    )
    pool = load_pool_config(workdir / "pool.yaml")
    queries = read_queries(workdir / "queries.txt")[:4]
    with CollectionStore(workdir / "c.db") as store:
        first = await collect(pool, queries, store, 4, None, progress=False)
        assert first.calls == 4 and first.failed_calls == 4  # 1 batched call per query
        assert store.totals().samples == 16
        second = await collect(pool, queries, store, 4, None, progress=False)
        assert (second.calls, second.failed_calls, second.samples) == (4, 0, 4)
        assert export_dataset(store) == []  # nothing scored yet
        scorer = build_scorer("verifier:arith.py:verify", pool, workdir)
        third = await collect(pool, queries, store, 4, scorer, progress=False)
        assert (third.calls, third.scored) == (0, 20)  # leftovers scored, nothing redrawn
        records = export_dataset(store)
    assert [len(r.candidates["batched"].samples) for r in records] == [4] * 4
    # sample i of the batched model answers a+b+i: exactly one of four is right
    assert all(sum(s.quality for s in r.candidates["batched"].samples) == 1 for r in records)
