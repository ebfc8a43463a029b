"""Reliability of the collection store: ``kill -9`` of ``bestroute collect``, repeatedly, then resume.

A real ``bestroute collect`` subprocess (pool members are ``python:`` functions that log every
invocation before answering, see tests/fixtures/collect/arith.py) is killed with SIGKILL at random
points (during start-up, mid-collection, near the end), several times in a row, then run to the
end. After every kill and at the end:

* the SQLite file passes ``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check``;
* nothing stored is lost or changed: every sample row seen after a kill is there, identical, at
  the end;
* nothing is bought twice: each backend invocation is one stored sample, except the calls that
  were in flight at a kill (recorded ``started``, never answered, marked ``interrupted`` by the
  next run and drawn again);
* the final store is complete, fully scored, and exports a dataset that loads.

The kill points come from a seeded random generator (the seed is in the test id) so a failure
can be replayed.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bestroute.data.dataset import load_dataset

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "collect"
QUERIES = 40
SMALL_SAMPLES = 3
EXPECTED = QUERIES * (SMALL_SAMPLES + 1)  # 3 samples of "small" and 1 of the reference per query
KILLS = 5
#: Seconds any one run may take; only a hang reaches it.
RUN_LIMIT_S = 300


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    for name in ("arith.py", "pool.yaml", "queries.txt"):
        shutil.copyfile(FIXTURES / name, tmp_path / name)
    return tmp_path


def _command(db: Path) -> list[str]:
    return [
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
        str(SMALL_SAMPLES),
        "--scorer",
        "verifier:arith.py:verify",
        "--concurrency",
        "2",
        "--export",
        "out.jsonl",
    ]


def _connect(*args: Any, **kwargs: Any) -> contextlib.closing[sqlite3.Connection]:
    """A connection closed at the end of the ``with`` block.

    ``sqlite3.connect``'s own context manager only commits, and a connection left to the garbage
    collector keeps the file's shared memory open in this process: a connection opened after a
    kill would then reuse it and skip SQLite's crash recovery, missing the killed run's last
    commit that the next run (which does recover) sees.
    """
    return contextlib.closing(sqlite3.connect(*args, **kwargs))


def _db_count(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with _connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet, or mid-creation
        return 0


@dataclass
class _AfterKills:
    """What the store held after each kill."""

    rows: dict[tuple[str, str, int], tuple[int, float, str]] = field(default_factory=dict)
    #: ids of calls left ``started`` (in flight) by a kill, and their (query, model)
    in_flight: dict[int, tuple[str, str]] = field(default_factory=dict)
    #: calls still ``started`` after the latest kill (the next run must say it redraws them)
    left_started: int = 0


def _check_integrity(db: Path) -> None:
    with _connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def _snapshot(db: Path, seen: _AfterKills) -> None:
    _check_integrity(db)
    with _connect(db) as conn:
        rows = {
            (q, m, i): (rowid, created, text)
            for rowid, q, m, i, created, text in conn.execute(
                "SELECT id, query_id, model, sample_index, created_at, text FROM samples"
            )
        }
        started = conn.execute(
            "SELECT id, query_id, model FROM calls WHERE status='started'"
        ).fetchall()
    for key, stored in seen.rows.items():
        assert rows.get(key) == stored, f"sample {key} was lost or changed by a kill"
    seen.rows.update(rows)
    seen.in_flight.update({call: (q, m) for call, q, m in started})
    seen.left_started = len(started)


#: When to kill a run: ("start", seconds after launch) or ("samples", K more samples stored).
Trigger = tuple[str, float]


def _kill_once(command: list[str], cwd: Path, env: dict[str, str], db: Path, when: Trigger) -> None:
    """Start a run and SIGKILL it at ``when``."""
    kind, amount = when
    with (cwd / "runs.err").open("a") as err:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=err, stderr=err)
        try:
            if kind == "start":
                time.sleep(amount)
            else:
                target = _db_count(db) + int(amount)
                deadline = time.monotonic() + RUN_LIMIT_S
                while _db_count(db) < target:
                    assert process.poll() is None, "the run ended before it could be killed"
                    assert time.monotonic() < deadline, "no samples arrived"
                    time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait()


def _triggers(seed: int) -> list[Trigger]:
    """Kill points: one during start-up, the others after random numbers of new samples (all
    before the run could finish), in a random order."""
    rng = random.Random(seed)
    left = EXPECTED - 20
    triggers: list[Trigger] = [("start", rng.uniform(0.0, 0.3))]
    for _ in range(KILLS - 1):
        step = rng.randint(1, left // (KILLS - 1))
        triggers.append(("samples", step))
        left -= step
    rng.shuffle(triggers)
    return triggers


@pytest.mark.parametrize("seed", [0, 1])
def test_repeated_kills_lose_nothing_and_rebuy_nothing(workdir: Path, seed: int) -> None:
    db = workdir / "collect.db"
    log = workdir / "invocations.log"
    command = _command(db)
    env = {**os.environ, "ARITH_LOG": str(log), "ARITH_SLEEP": "0.05"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT / "core"), str(REPO_ROOT), env.get("PYTHONPATH", "")]
    )
    seen = _AfterKills()
    for when in _triggers(seed):
        _kill_once(command, workdir, env, db, when)
        if db.exists():
            _snapshot(db, seen)
    assert 0 < len(seen.rows) < EXPECTED, "the kills should land mid-collection"

    final = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=RUN_LIMIT_S
    )
    assert final.returncode == 0, final.stderr
    if seen.left_started:
        assert "drawn again" in final.stderr
    _check_integrity(db)

    with _connect(db) as conn:
        rows = conn.execute(
            "SELECT id, query_id, model, sample_index, created_at, text, quality FROM samples"
        ).fetchall()
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM calls GROUP BY status"))
        interrupted = {
            call: (q, m)
            for call, q, m in conn.execute(
                "SELECT id, query_id, model FROM calls WHERE status='interrupted'"
            )
        }
        query_text = dict(conn.execute("SELECT id, text FROM queries"))
    keys = [(q, m, i) for _, q, m, i, _, _, _ in rows]
    assert len(rows) == EXPECTED and len(set(keys)) == EXPECTED  # nothing lost, nothing twice
    assert all(quality is not None for *_, quality in rows)  # every sample scored
    after = {(q, m, i): (rowid, created, text) for rowid, q, m, i, created, text, _ in rows}
    for key, stored in seen.rows.items():
        assert after[key] == stored, f"sample {key} was redrawn or changed"
    # every call a kill left in flight, and only those, was marked interrupted
    assert interrupted == seen.in_flight
    assert statuses.get("started", 0) == 0 and statuses["done"] == EXPECTED

    # every backend invocation is accounted for: one per stored sample, plus at most the calls
    # that were in flight at a kill (their responses never arrived, so they were drawn again)
    invocations = Counter(tuple(line.split("\t", 1)) for line in log.read_text().splitlines())
    stored = Counter((m, query_text[q]) for q, m, _ in keys)
    in_flight = Counter((query_text[q], m) for q, m in interrupted.values())
    for (model, text), count in stored.items():
        extra = invocations[(model, text)] - count
        assert 0 <= extra <= in_flight[(text, model)], (model, text, extra)
    assert set(invocations) == set(stored)
    assert sum(invocations.values()) <= EXPECTED + len(interrupted)
    records = load_dataset(workdir / "out.jsonl")
    assert len(records) == QUERIES
