"""The collection store: every query, call and sample of a collection run, in SQLite.

A paid response must never be lost nor bought twice, so the store is written as work happens:

* a call is recorded as ``started`` (committed) before it is sent;
* when it returns, its samples and the call's ``done`` status are committed in one transaction,
  before anything else happens (scoring comes after, in its own transaction);
* a later run draws only the sample indices still missing, and scores only unscored samples.

A call still ``started`` when a run dies was sent but its response never arrived: the next run
marks it ``interrupted`` (logged, so the possibly-paid loss is visible) and draws those samples
again. Failed calls are kept with their error. The database runs in WAL mode with
``synchronous=FULL``: every commit is flushed to disk before the next call is sent, so a killed
process *and* a power cut keep every committed row (an fsync per call costs far less than the
call). ``tests/reliability/test_collect_kill.py`` kills ``bestroute collect`` repeatedly to
prove it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bestroute.errors import DataFormatError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queries (
    id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    query_id TEXT NOT NULL REFERENCES queries(id),
    model TEXT NOT NULL,
    sample_indices TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('started', 'done', 'failed', 'interrupted')),
    started_at REAL NOT NULL,
    finished_at REAL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost REAL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY,
    query_id TEXT NOT NULL REFERENCES queries(id),
    model TEXT NOT NULL,
    sample_index INTEGER NOT NULL,
    call_id INTEGER REFERENCES calls(id),
    text TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    cost REAL NOT NULL,
    quality REAL,
    reward REAL,
    error TEXT,
    created_at REAL NOT NULL,
    scored_at REAL,
    UNIQUE (query_id, model, sample_index)
);
CREATE INDEX IF NOT EXISTS samples_by_model ON samples (model, query_id);
"""


@dataclass(frozen=True, slots=True)
class StoredQuery:
    id: str
    text: str


@dataclass(frozen=True, slots=True)
class StoredSample:
    """One sample row as stored."""

    id: int
    query_id: str
    model: str
    sample_index: int
    text: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    cost: float
    quality: float | None
    reward: float | None
    error: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class NewSample:
    """A sample about to be stored (what a backend returned, priced)."""

    sample_index: int
    text: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    cost: float


@dataclass(frozen=True, slots=True)
class StoreTotals:
    queries: int
    samples: int
    scored: int
    calls_done: int
    calls_failed: int
    calls_interrupted: int
    input_tokens: int
    output_tokens: int
    cost: float


class CollectionStore:
    """SQLite-backed store of a collection run; safe to reopen after a crash."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._check_version()

    # -- lifecycle ------------------------------------------------------------------------------

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) != SCHEMA_VERSION:
            raise DataFormatError(
                f"{self.path}: collection store schema {row[0]}, this bestroute reads "
                f"{SCHEMA_VERSION}; use a new --db file"
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> CollectionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    # -- queries --------------------------------------------------------------------------------

    def add_queries(self, queries: Iterable[tuple[str, str]]) -> int:
        """Register ``(id, text)`` pairs; known ids are kept. Returns how many were new.

        An id already stored with a different text is an error (the query file changed).
        """
        db = self._transaction()
        added = 0
        try:
            position = db.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM queries").fetchone()[
                0
            ]
            for query_id, text in queries:
                row = db.execute("SELECT text FROM queries WHERE id=?", (query_id,)).fetchone()
                if row is not None:
                    if row[0] != text:
                        raise DataFormatError(
                            f"{self.path}: query {query_id!r} is stored with a different text; "
                            "the query file changed since the first run: use a new --db or new ids"
                        )
                    continue
                db.execute(
                    "INSERT INTO queries (id, position, text, added_at) VALUES (?, ?, ?, ?)",
                    (query_id, position, text, time.time()),
                )
                position += 1
                added += 1
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return added

    def queries(self) -> list[StoredQuery]:
        rows = self._db.execute("SELECT id, text FROM queries ORDER BY position").fetchall()
        return [StoredQuery(*row) for row in rows]

    # -- calls and samples ----------------------------------------------------------------------

    def recover_interrupted(self) -> int:
        """Mark calls left ``started`` by a dead run as ``interrupted``; returns how many."""
        cursor = self._db.execute(
            "UPDATE calls SET status='interrupted', finished_at=? WHERE status='started'",
            (time.time(),),
        )
        return cursor.rowcount

    def sample_indices(self, query_id: str, model: str) -> set[int]:
        rows = self._db.execute(
            "SELECT sample_index FROM samples WHERE query_id=? AND model=?", (query_id, model)
        ).fetchall()
        return {row[0] for row in rows}

    def present_indices(self) -> dict[tuple[str, str], set[int]]:
        """``(query_id, model) -> stored sample indices`` for the whole store."""
        found: dict[tuple[str, str], set[int]] = {}
        for query_id, model, index in self._db.execute(
            "SELECT query_id, model, sample_index FROM samples"
        ):
            found.setdefault((query_id, model), set()).add(index)
        return found

    def start_call(self, query_id: str, model: str, sample_indices: Sequence[int]) -> int:
        """Record a call as ``started`` (committed) before it is sent; returns its id."""
        cursor = self._db.execute(
            "INSERT INTO calls (query_id, model, sample_indices, status, started_at) "
            "VALUES (?, ?, ?, 'started', ?)",
            (query_id, model, json.dumps(list(sample_indices)), time.time()),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_call(
        self, call_id: int, query_id: str, model: str, samples: Sequence[NewSample]
    ) -> list[int]:
        """Store a call's samples and mark it ``done``, in one transaction; returns sample ids."""
        now = time.time()
        db = self._transaction()
        ids: list[int] = []
        try:
            for sample in samples:
                cursor = db.execute(
                    "INSERT INTO samples (query_id, model, sample_index, call_id, text, "
                    "input_tokens, output_tokens, latency_s, cost, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        query_id,
                        model,
                        sample.sample_index,
                        call_id,
                        sample.text,
                        sample.input_tokens,
                        sample.output_tokens,
                        sample.latency_s,
                        sample.cost,
                        now,
                    ),
                )
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
            db.execute(
                "UPDATE calls SET status='done', finished_at=?, input_tokens=?, "
                "output_tokens=?, cost=? WHERE id=?",
                (
                    now,
                    max((s.input_tokens for s in samples), default=0),
                    sum(s.output_tokens for s in samples),
                    sum(s.cost for s in samples),
                    call_id,
                ),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return ids

    def fail_call(self, call_id: int, error: str) -> None:
        self._db.execute(
            "UPDATE calls SET status='failed', finished_at=?, error=? WHERE id=?",
            (time.time(), error[:2000], call_id),
        )

    def set_scores(
        self,
        sample_ids: Sequence[int],
        qualities: Sequence[float | None],
        rewards: Sequence[float | None] | None = None,
        error: str | None = None,
    ) -> None:
        """Store oracle qualities (and proxy rewards) of samples, in one transaction."""
        rewards = rewards if rewards is not None else [None] * len(sample_ids)
        now = time.time()
        db = self._transaction()
        try:
            for sample_id, quality, reward in zip(sample_ids, qualities, rewards, strict=True):
                db.execute(
                    "UPDATE samples SET quality=COALESCE(?, quality), "
                    "reward=COALESCE(?, reward), error=?, scored_at=? WHERE id=?",
                    (quality, reward, error, now, sample_id),
                )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def samples(self, *, unscored: bool = False, unrewarded: bool = False) -> list[StoredSample]:
        """Stored samples in query order, then model, then sample index."""
        where = []
        if unscored:
            where.append("s.quality IS NULL")
        if unrewarded:
            where.append("s.reward IS NULL")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.execute(
            "SELECT s.id, s.query_id, s.model, s.sample_index, s.text, s.input_tokens, "
            "s.output_tokens, s.latency_s, s.cost, s.quality, s.reward, s.error, s.created_at "
            f"FROM samples s JOIN queries q ON q.id = s.query_id {clause} "
            "ORDER BY q.position, s.model, s.sample_index"
        ).fetchall()
        return [StoredSample(*row) for row in rows]

    def totals(self) -> StoreTotals:
        """Counts and spend over every run on this store."""
        queries = self._db.execute("SELECT COUNT(*) FROM queries").fetchone()[0]
        samples, scored = self._db.execute(
            "SELECT COUNT(*), COUNT(quality) FROM samples"
        ).fetchone()
        status = dict(
            self._db.execute("SELECT status, COUNT(*) FROM calls GROUP BY status").fetchall()
        )
        in_tokens, out_tokens, cost = self._db.execute(
            "SELECT COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
            "COALESCE(SUM(cost), 0) FROM calls WHERE status='done'"
        ).fetchone()
        return StoreTotals(
            queries=queries,
            samples=samples,
            scored=scored,
            calls_done=status.get("done", 0),
            calls_failed=status.get("failed", 0),
            calls_interrupted=status.get("interrupted", 0),
            input_tokens=int(in_tokens),
            output_tokens=int(out_tokens),
            cost=float(cost),
        )
