"""Collection: the SQLite store, pool configs, scoring, export, and resuming a killed run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from bestroute.data.collect import build_scorer, collect, export_dataset, read_queries
from bestroute.data.dataset import load_dataset
from bestroute.data.pool_config import load_pool_config
from bestroute.data.store import CollectionStore, NewSample
from bestroute.errors import ConfigurationError, DataFormatError
from bestroute.prices import MissingPriceError

REPO_ROOT = Path(__file__).resolve().parents[3]

# A real backend: computes the sum asked for ("small" is wrong whenever the sum is a multiple
# of 3), sleeps a little like a remote call, and logs each invocation before answering.
ARITH_MODULE = textwrap.dedent(
    """
    import asyncio, os, re

    def _numbers(text):
        a, b = (int(x) for x in re.findall(r"-?\\d+", text)[:2])
        return a, b

    def _log(model, messages):
        path = os.environ.get("ARITH_LOG")
        if path:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(model + "\\t" + messages[-1]["content"] + "\\n")

    async def small(messages, **params):
        _log("small", messages)
        await asyncio.sleep(float(os.environ.get("ARITH_SLEEP", "0")))
        a, b = _numbers(messages[-1]["content"])
        return str(a + b + 1 if (a + b) % 3 == 0 else a + b)

    async def large(messages, **params):
        _log("large", messages)
        await asyncio.sleep(float(os.environ.get("ARITH_SLEEP", "0")))
        a, b = _numbers(messages[-1]["content"])
        return str(a + b)

    async def batched(messages, n=1, **params):
        _log("batched", messages)
        a, b = _numbers(messages[-1]["content"])
        return [str(a + b + i) for i in range(n)]

    FAILED = set()

    async def flaky(messages, **params):
        text = messages[-1]["content"]
        if text not in FAILED:
            FAILED.add(text)
            raise RuntimeError("temporary outage")
        a, b = _numbers(text)
        return str(a + b)

    async def grader(messages, **params):
        prompt = messages[-1]["content"]
        query = prompt.split("[Request]\\n", 1)[1].split("\\n\\n[Answer]", 1)[0]
        answer = prompt.split("[Answer]\\n", 1)[1].split("\\n\\n", 1)[0]
        return "Score: 10" if verify(query, answer) else "Score: 2"

    def verify(query, response):
        a, b = _numbers(query)
        return response.strip() == str(a + b)
    """
)

POOL_YAML = textwrap.dedent(
    """
    reference: large
    candidates:
      - name: small
        backend: {python: arith.py:small}
        input_price: 0.1
        output_price: 0.2
      - name: large
        backend: "python:arith.py:large"
        input_price: 10
        output_price: 30
    """
)


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "arith.py").write_text(ARITH_MODULE, encoding="utf-8")
    (tmp_path / "pool.yaml").write_text(POOL_YAML, encoding="utf-8")
    lines = [f"What is {i} + {2 * i + 1}?" for i in range(40)]
    (tmp_path / "queries.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
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


def test_pool_config(workdir: Path, shared_data: Path) -> None:
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
            prices: {shared_data / "prices.json"}
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
        f"prices: {shared_data / 'prices.json'}\nreference: a\n"
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


def _db_count(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_killed_collection_resumes_without_repeating_or_losing_calls(workdir: Path) -> None:
    db = workdir / "collect.db"
    log = workdir / "invocations.log"
    command = [
        sys.executable,
        "-m",
        "bestroute.cli",
        "collect",
        "--pool",
        "pool.yaml",
        "--queries",
        "queries.txt",
        "--db",
        str(db),
        "--samples",
        "3",
        "--scorer",
        "verifier:arith.py:verify",
        "--concurrency",
        "2",
        "--export",
        "out.jsonl",
    ]
    env = {**os.environ, "ARITH_LOG": str(log), "ARITH_SLEEP": "0.05"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "core"), env.get("PYTHONPATH", "")])
    expected = 40 * (3 + 1)  # 3 samples of "small" and 1 of the reference per query
    with (workdir / "first.err").open("w") as err:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=err, stderr=err)
        deadline = time.monotonic() + 120
        while _db_count(db) < 30:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no samples arrived"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
    with sqlite3.connect(db) as conn:
        before = {
            (q, m, i): (rowid, created, text)
            for rowid, q, m, i, created, text in conn.execute(
                "SELECT id, query_id, model, sample_index, created_at, text FROM samples"
            )
        }
        in_flight = Counter(
            (q, m)
            for q, m in conn.execute("SELECT query_id, model FROM calls WHERE status='started'")
        )
    assert 30 <= len(before) < expected

    second = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stderr
    if in_flight:
        assert "drawn again" in second.stderr

    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT id, query_id, model, sample_index, created_at, text, quality FROM samples"
        ).fetchall()
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM calls GROUP BY status"))
        query_text = dict(conn.execute("SELECT id, text FROM queries"))
    keys = [(q, m, i) for _, q, m, i, _, _, _ in rows]
    assert len(rows) == expected and len(set(keys)) == expected
    assert all(quality is not None for *_, quality in rows)
    after = {(q, m, i): (rowid, created, text) for rowid, q, m, i, created, text, _ in rows}
    for key, stored in before.items():
        assert after[key] == stored, f"sample {key} was redrawn or changed"
    assert statuses.get("interrupted", 0) == sum(in_flight.values())
    assert statuses["done"] == expected

    # every backend invocation is accounted for: one per stored sample, plus at most the calls
    # that were in flight when the first run was killed (their responses never arrived)
    invocations = Counter(tuple(line.split("\t", 1)) for line in log.read_text().splitlines())
    stored = Counter((m, query_text[q]) for q, m, _ in keys)
    for (model, text), count in stored.items():
        query_id = next(q for q, t in query_text.items() if t == text)
        extra = invocations[(model, text)] - count
        assert 0 <= extra <= in_flight[(query_id, model)], (model, text, extra)
    assert set(invocations) == set(stored)
    records = load_dataset(workdir / "out.jsonl")
    assert len(records) == 40
