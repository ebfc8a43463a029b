"""Collection: draw N responses per model for each query, store them as they arrive, score them.

:func:`collect` is resumable through its :class:`~bestroute.data.store.CollectionStore`: each
response is committed the moment it arrives, a restarted run draws only the missing sample
indices and scores only unscored samples (see :mod:`bestroute.data.store` for the guarantees).
Backends that draw ``n`` samples in one call (``supports_n``) get one call for all the missing
samples of a (query, model); others get one call per missing sample, run concurrently.

:func:`export_dataset` turns the store into outcome records (:mod:`bestroute.data.dataset`).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bestroute.data.dataset import CandidateOutcome, OutcomeRecord, OutcomeSample
from bestroute.data.pool_config import load_callable
from bestroute.data.store import CollectionStore, NewSample
from bestroute.errors import ConfigurationError, DataFormatError
from bestroute.pool import Candidate, Pool
from bestroute.scoring.base import Scorer, VerifierScorer
from bestroute.secrets import pool_secrets, scrub, scrub_error
from bestroute.types import Sample

logger = logging.getLogger(__name__)

_QUERY_KEYS = ("query", "text", "prompt", "question", "instruction")


@dataclass(slots=True)
class CollectionSummary:
    """What one :func:`collect` run did (this run only; the store has the totals)."""

    planned_samples: int = 0
    calls: int = 0
    failed_calls: int = 0
    interrupted_calls: int = 0
    samples: int = 0
    scored: int = 0
    scoring_errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0


@dataclass(frozen=True, slots=True)
class _Job:
    query_id: str
    query: str
    candidate: Candidate
    indices: tuple[int, ...]


# -- inputs --------------------------------------------------------------------------------------


def read_queries(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(id, text)`` pairs from a ``.txt`` file (one query per line, id ``q<line>``) or a
    ``.jsonl`` file (objects with ``id`` and one of ``query``/``text``/``prompt``/``question``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"query file not found: {path}")
    queries: list[tuple[str, str]] = []
    problems: list[str] = []
    jsonl = path.suffix in (".jsonl", ".json")
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if not jsonl:
            queries.append((f"q{number}", line.strip()))
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"line {number}: not valid JSON ({error.msg})")
            continue
        text = next((item[k] for k in _QUERY_KEYS if isinstance(item, dict) and k in item), None)
        if not isinstance(text, str) or not text.strip():
            problems.append(f"line {number}: needs a non-empty one of {list(_QUERY_KEYS)}")
            continue
        queries.append((str(item.get("id", f"q{number}")), text))
    ids = [q for q, _ in queries]
    if len(set(ids)) != len(ids):
        problems.append("query ids repeat; give each line a unique 'id'")
    if problems:
        raise DataFormatError(f"{path}: " + "; ".join(problems[:20]))
    if not queries:
        raise DataFormatError(f"{path}: no queries")
    return queries


def build_scorer(spec: str, pool: Pool | None = None, base_dir: Path | None = None) -> Scorer:
    """An oracle scorer from ``verifier:module:function``, ``reward:DIR`` or ``judge:MODEL``.

    ``verifier`` calls ``function(query, response) -> bool | float``; ``reward`` loads a trained
    reward-model checkpoint; ``judge`` asks the pool candidate ``MODEL`` to grade responses.
    """
    kind, sep, target = spec.partition(":")
    if not sep or not target:
        raise ConfigurationError(
            f"scorer {spec!r}: write verifier:module:function, reward:DIR or judge:MODEL"
        )
    if kind == "verifier":
        return VerifierScorer(load_callable(target, base_dir))
    if kind == "reward":
        try:
            from bestroute.scoring.reward_model import load_reward_model
        except ImportError as error:
            raise ConfigurationError(f"the reward-model scorer is unavailable: {error}") from None
        scorer: Scorer = load_reward_model(target)
        return scorer
    if kind == "judge":
        if pool is None:
            raise ConfigurationError("a judge scorer needs the pool that holds its model")
        try:
            from bestroute.scoring.judge import LLMJudgeScorer
        except ImportError as error:
            raise ConfigurationError(f"the LLM judge scorer is unavailable: {error}") from None
        backend = pool.candidate(target).backend
        if backend is None:
            raise ConfigurationError(f"judge model {target!r} has no backend in the pool config")
        judge: Scorer = LLMJudgeScorer(backend)
        return judge
    raise ConfigurationError(f"unknown scorer kind {kind!r}; use verifier, reward or judge")


# -- collection ----------------------------------------------------------------------------------


async def _score(scorer: Any, query: str, texts: list[str]) -> list[float]:
    """Scores from an async ``ascore`` when the scorer has one, else ``score`` off the loop."""
    ascore = getattr(scorer, "ascore", None)
    if ascore is not None and inspect.iscoroutinefunction(ascore):
        values = await ascore(query, texts)
    else:
        values = await asyncio.to_thread(scorer.score, query, texts)
    values = [float(v) for v in values]
    if len(values) != len(texts):
        raise ConfigurationError(f"scorer returned {len(values)} scores for {len(texts)} responses")
    return values


class _Collector:
    def __init__(
        self,
        store: CollectionStore,
        scorer: Scorer | None,
        proxy: Scorer | None,
        concurrency: int,
        progress: tqdm[Any],
        params: dict[str, Any],
        secrets: Sequence[str] = (),
    ) -> None:
        self.secrets = list(secrets)
        self.store = store
        self.scorer = scorer
        self.proxy = proxy
        self.calls = asyncio.Semaphore(concurrency)
        self.scoring = asyncio.Lock()
        self.progress = progress
        self.params = params
        self.summary = CollectionSummary()

    def _postfix(self) -> None:
        s = self.summary
        self.progress.set_postfix(
            calls=s.calls,
            failed=s.failed_calls,
            tokens=s.input_tokens + s.output_tokens,
            dollars=f"{s.cost:.4f}",
            refresh=False,
        )

    async def run_job(self, job: _Job) -> None:
        backend = job.candidate.backend
        assert backend is not None
        messages = [{"role": "user", "content": job.query}]
        async with self.calls:
            call_id = self.store.start_call(job.query_id, job.candidate.name, job.indices)
            try:
                returned = await backend.agenerate(messages, n=len(job.indices), **self.params)
            except Exception as error:
                reason = scrub(f"{type(error).__name__}: {error}", self.secrets)
                self.store.fail_call(call_id, reason)
                self.summary.failed_calls += 1
                logger.warning("%s on %s failed: %s", job.candidate.name, job.query_id, reason)
                self._postfix()
                return
            new = self._priced(job, returned)
            ids = self.store.finish_call(call_id, job.query_id, job.candidate.name, new)
        self.summary.calls += 1
        self.summary.samples += len(new)
        self.summary.input_tokens += max((s.input_tokens for s in new), default=0)
        self.summary.output_tokens += sum(s.output_tokens for s in new)
        self.summary.cost += sum(s.cost for s in new)
        self.progress.update(len(new))
        self._postfix()
        if len(new) < len(job.indices):
            logger.warning(
                "%s returned %d of %d samples for %s; rerun to draw the rest",
                job.candidate.name,
                len(new),
                len(job.indices),
                job.query_id,
            )
        await self.score(job.query, ids, [s.text for s in new])

    def _priced(self, job: _Job, returned: Sequence[Sample]) -> list[NewSample]:
        samples = list(returned)[: len(job.indices)]
        if not samples:
            return []
        candidate = job.candidate
        input_share = max(s.input_tokens for s in samples) * candidate.input_price / 1e6
        return [
            NewSample(
                sample_index=index,
                text=sample.text,
                input_tokens=int(sample.input_tokens),
                output_tokens=int(sample.output_tokens),
                latency_s=float(sample.latency_s),
                cost=input_share / len(samples)
                + sample.output_tokens * candidate.output_price / 1e6,
            )
            for index, sample in zip(job.indices, samples, strict=False)
        ]

    async def score(self, query: str, ids: list[int], texts: list[str]) -> None:
        if not ids or (self.scorer is None and self.proxy is None):
            return
        async with self.scoring:
            try:
                qualities: list[float | None] = (
                    list(await _score(self.scorer, query, texts))
                    if self.scorer
                    else [None] * len(ids)
                )
                rewards: list[float | None] | None = (
                    list(await _score(self.proxy, query, texts)) if self.proxy else None
                )
            except Exception as error:
                self.summary.scoring_errors += len(ids)
                kept = scrub_error(error, self.secrets)
                logger.warning("scoring failed (%s); rerun to score again", kept)
                self.store.set_scores(
                    ids, [None] * len(ids), None, f"scoring: {type(kept).__name__}: {kept}"
                )
                return
            self.store.set_scores(ids, qualities, rewards)
            if self.scorer is not None:
                self.summary.scored += len(ids)


def plan_jobs(
    pool: Pool,
    queries: Sequence[tuple[str, str]],
    present: dict[tuple[str, str], set[int]],
    n_per_model: int,
    reference_samples: int | None,
    models: Sequence[str] | None = None,
) -> list[_Job]:
    """The calls still needed: every missing sample index of every (query, model)."""
    names = list(models) if models is not None else list(pool.candidates)
    jobs: list[_Job] = []
    for query_id, text in queries:
        for name in names:
            candidate = pool.candidate(name)
            if candidate.backend is None:
                raise ConfigurationError(f"candidate {name!r} has no backend to collect from")
            target = (
                reference_samples
                if name == pool.reference and reference_samples is not None
                else n_per_model
            )
            have = present.get((query_id, name), set())
            missing = tuple(i for i in range(target) if i not in have)
            if not missing:
                continue
            if getattr(candidate.backend, "supports_n", False):
                jobs.append(_Job(query_id, text, candidate, missing))
            else:
                jobs.extend(_Job(query_id, text, candidate, (i,)) for i in missing)
    return jobs


async def collect(
    pool: Pool,
    queries: Sequence[tuple[str, str]],
    store: CollectionStore,
    n_per_model: int,
    scorer: Scorer | None = None,
    *,
    concurrency: int = 4,
    reference_samples: int | None = 1,
    proxy: Scorer | None = None,
    models: Sequence[str] | None = None,
    progress: bool = True,
    generate_params: dict[str, Any] | None = None,
) -> CollectionSummary:
    """Draw ``n_per_model`` samples per candidate (``reference_samples`` for the reference) for
    every ``(id, text)`` query, storing and scoring each as it arrives; resumes from ``store``.

    ``scorer`` gives each sample its oracle ``quality``; ``proxy`` (optional) its proxy
    ``reward``. Samples stored by an earlier run but not scored are scored first.
    """
    if n_per_model < 1:
        raise ConfigurationError(f"--samples must be >= 1, got {n_per_model}")
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be >= 1, got {concurrency}")
    added = store.add_queries(queries)
    interrupted = store.recover_interrupted()
    if interrupted:
        logger.warning(
            "%d call(s) were in flight when the last run stopped; their responses never "
            "arrived and those samples are drawn again",
            interrupted,
        )
    jobs = plan_jobs(pool, queries, store.present_indices(), n_per_model, reference_samples, models)
    planned = sum(len(job.indices) for job in jobs)
    logger.info("%d new queries; %d samples to draw in %d calls", added, planned, len(jobs))
    with tqdm(total=planned, unit="sample", desc="collect", disable=not progress) as bar:
        secrets = pool_secrets(pool)
        collector = _Collector(
            store, scorer, proxy, concurrency, bar, dict(generate_params or {}), secrets
        )
        collector.summary.planned_samples = planned
        collector.summary.interrupted_calls = interrupted
        texts = dict(queries)
        await _score_leftovers(collector, store, texts, scorer is not None, proxy is not None)
        await asyncio.gather(*(collector.run_job(job) for job in jobs))
    return collector.summary


async def _score_leftovers(
    collector: _Collector,
    store: CollectionStore,
    texts: dict[str, str],
    need_quality: bool,
    need_reward: bool,
) -> None:
    """Score samples an earlier run stored without scores (grouped per query and model)."""
    if not need_quality and not need_reward:
        return
    pending = {s.id: s for s in store.samples(unscored=True)} if need_quality else {}
    if need_reward:
        pending.update({s.id: s for s in store.samples(unrewarded=True)})
    groups: dict[tuple[str, str], list[Any]] = {}
    for sample in pending.values():
        groups.setdefault((sample.query_id, sample.model), []).append(sample)
    if groups:
        logger.info("scoring %d stored sample(s) left unscored", len(pending))
    stored_texts = {q.id: q.text for q in store.queries()} if groups else {}
    for (query_id, _), samples in groups.items():
        query = texts.get(query_id, stored_texts.get(query_id, ""))
        await collector.score(query, [s.id for s in samples], [s.text for s in samples])


# -- export --------------------------------------------------------------------------------------


def export_dataset(store: CollectionStore) -> list[OutcomeRecord]:
    """Outcome records from every scored sample in the store (unscored samples are left out)."""
    by_query: dict[str, dict[str, list[Any]]] = {}
    skipped = 0
    for sample in store.samples():
        if sample.quality is None:
            skipped += 1
            continue
        by_query.setdefault(sample.query_id, {}).setdefault(sample.model, []).append(sample)
    if skipped:
        logger.warning("export: %d sample(s) have no quality yet and were left out", skipped)
    records: list[OutcomeRecord] = []
    for query in store.queries():
        models = by_query.get(query.id)
        if not models:
            continue
        candidates = {
            model: CandidateOutcome(
                input_tokens=samples[0].input_tokens,
                samples=[
                    OutcomeSample(
                        output_tokens=s.output_tokens,
                        quality=s.quality,
                        text=s.text,
                        reward=s.reward,
                    )
                    for s in samples
                ],
            )
            for model, samples in models.items()
        }
        records.append(OutcomeRecord(query.id, query.text, candidates, {"source": "collect"}))
    return records
