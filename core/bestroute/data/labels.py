"""BEST-Route soft labels, and the expected quality and cost of an arm on a recorded query.

The soft label of arm ``(m, n)`` on a query is the probability that the response kept from ``n``
samples of ``m`` (drawn without replacement from the recorded samples, the best one chosen by the
selector) has quality ``>= q_ref - tolerance``, where ``q_ref`` is the quality of one response of
the reference model (averaged over the reference's recorded samples when it has several).

Selectors pick the kept sample among the ``n`` drawn:

* ``"proxy"``: highest proxy ``reward`` (falls back to ``"oracle"`` for a candidate whose samples
  lack rewards);
* ``"oracle"``: highest oracle ``quality`` (a perfect verifier);
* ``"random"``: any one of the ``n``, uniformly (the lower bound);
* ``"verifier:P"`` (``P`` in [0, 1]): a **simulated** imperfect verifier for data without
  response texts: with probability ``P`` it keeps what the oracle keeps, otherwise a random one of
  the ``n`` (``verifier:1`` is the oracle, ``verifier:0`` random).

Ties are broken uniformly at random. All three have an exact closed form, used by default: when
the highest key wins and ties are random, the sample at rank ``r`` (0 = best) of ``S`` is kept
with probability ``C(S-1-r, n-1) / C(S, n)`` (ranks in a tie share their mean). For count data
with ``c`` correct of 10 under the oracle this is the familiar ``1 - C(10-c, n) / C(10, n)``.
The paper's Monte-Carlo estimate over ``draws`` seeded resamples (``exact=False``) converges to
it as ``draws`` grows.

An arm is *not offered* (NaN) when the candidate is missing from the record, ``n`` exceeds its
samples, or its samples are a single-pass score (``multi_sample=False``) and ``n > 1``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

from bestroute.data.dataset import CandidateOutcome, OutcomeRecord
from bestroute.errors import ConfigurationError
from bestroute.pool import Arm
from bestroute.prices import ModelPrice

#: ``"proxy"``, ``"oracle"``, ``"random"`` or ``"verifier:P"`` (see the module docstring).
Selector = str
SELECTORS: tuple[str, ...] = ("proxy", "oracle", "random", "verifier:P")
DEFAULT_DRAWS = 64
_VERIFIER = "verifier:"


def verifier_accuracy(selector: str) -> float | None:
    """``P`` of a ``"verifier:P"`` selector; None for the other selectors."""
    if not selector.startswith(_VERIFIER):
        return None
    try:
        accuracy = float(selector[len(_VERIFIER) :])
    except ValueError:
        accuracy = math.nan
    if not 0.0 <= accuracy <= 1.0:
        raise ConfigurationError(
            f"selector {selector!r}: write verifier:P with P in [0, 1], e.g. verifier:0.8"
        )
    return accuracy


def _check_selector(selector: str) -> None:
    if selector in SELECTORS[:3] or verifier_accuracy(selector) is not None:
        return
    raise ConfigurationError(f"unknown selector {selector!r}; choose one of {SELECTORS}")


def check_selector(selector: str) -> Selector:
    """``selector`` when it is a known selector, else a :class:`ConfigurationError`."""
    _check_selector(selector)
    return selector


def is_offered(outcome: CandidateOutcome | None, n: int) -> bool:
    """True when ``outcome`` has the samples an arm with ``n`` draws needs."""
    return outcome is not None and 1 <= n <= outcome.max_n()


@lru_cache(maxsize=4096)
def _rank_probabilities(samples: int, n: int) -> np.ndarray:
    """P(the sample at rank r is kept) for ``n`` of ``samples`` drawn, best key wins."""
    total = math.comb(samples, n)
    values = np.array([math.comb(samples - 1 - r, n - 1) / total for r in range(samples)])
    values.setflags(write=False)
    return values


class _Ranking:
    """Ranks of one candidate's samples under a selector, reused for every ``n``."""

    def __init__(self, keys: np.ndarray) -> None:
        self.count = len(keys)
        self.order = np.argsort(-keys, kind="stable")
        ordered = keys[self.order]
        # group id per rank position: ranks with equal keys share a group (a tie)
        self.group = np.concatenate(([0], np.cumsum(ordered[1:] != ordered[:-1])))
        self.group_sizes = np.bincount(self.group)

    def probabilities(self, n: int) -> np.ndarray:
        if not 1 <= n <= self.count:
            raise ValueError(f"cannot draw n={n} of {self.count} samples")
        rank_probs = _rank_probabilities(self.count, n)
        shared = np.bincount(self.group, weights=rank_probs) / self.group_sizes
        probs = np.empty(self.count)
        probs[self.order] = shared[self.group]
        return probs / probs.sum()


def selection_probabilities(keys: Sequence[float] | np.ndarray, n: int) -> np.ndarray:
    """Probability that each sample is the one kept when ``n`` are drawn and the top key wins.

    Draws are without replacement and ties are broken uniformly at random; the result sums to 1.
    """
    return _Ranking(np.asarray(keys, dtype=np.float64)).probabilities(n)


class _Selection:
    """Per ``n``, how likely each sample of one candidate is kept under a selector."""

    def __init__(self, outcome: CandidateOutcome, selector: Selector) -> None:
        self.accuracy = verifier_accuracy(selector)
        keys = selection_keys(outcome, "oracle" if self.accuracy is not None else selector)
        self.ranking = _Ranking(keys)

    def probabilities(self, n: int) -> np.ndarray:
        best = self.ranking.probabilities(n)
        if self.accuracy is None:
            return best
        uniform = np.full(self.ranking.count, 1.0 / self.ranking.count)
        return self.accuracy * best + (1.0 - self.accuracy) * uniform


def selection_keys(outcome: CandidateOutcome, selector: Selector) -> np.ndarray:
    """The per-sample values the selector maximises (constant for ``"random"``)."""
    _check_selector(selector)
    if verifier_accuracy(selector) is not None:
        raise ConfigurationError(
            f"the simulated {selector} selector mixes two rankings: it has selection "
            "probabilities but no single key"
        )
    if selector == "random":
        return np.zeros(len(outcome.samples))
    if selector == "proxy" and all(s.reward is not None for s in outcome.samples):
        return np.array([float(s.reward) for s in outcome.samples])  # type: ignore[arg-type]
    return np.array([s.quality for s in outcome.samples])


def _qualities(outcome: CandidateOutcome) -> np.ndarray:
    return np.array([s.quality for s in outcome.samples], dtype=np.float64)


def reference_qualities(record: OutcomeRecord, reference: str | float) -> np.ndarray | None:
    """Qualities the arm must match: the reference's samples, or a fixed bar; None if absent."""
    if isinstance(reference, int | float) and not isinstance(reference, bool):
        return np.array([float(reference)])
    outcome = record.candidates.get(str(reference))
    if outcome is None or not outcome.samples:
        return None
    return _qualities(outcome)


def reference_quality(record: OutcomeRecord, reference: str) -> float:
    """Expected quality of one reference response (NaN when the record lacks the reference)."""
    values = reference_qualities(record, reference)
    return float(values.mean()) if values is not None else math.nan


def _success(outcome: CandidateOutcome, bars: np.ndarray, tolerance: float) -> np.ndarray:
    """Per sample: the fraction of reference qualities it reaches (within ``tolerance``)."""
    qualities = _qualities(outcome)
    return (qualities[:, None] >= bars[None, :] - tolerance - 1e-12).mean(axis=1)


def soft_labels(
    records: Sequence[OutcomeRecord],
    arms: Sequence[Arm],
    reference: str | float,
    *,
    tolerance: float = 0.0,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    selector: Selector = "proxy",
    exact: bool = True,
) -> np.ndarray:
    """BEST-Route soft labels, shape ``(len(records), len(arms))``; NaN where not offered.

    ``reference`` is the reference model's name, or a fixed quality bar (e.g. ``1.0``: "the kept
    response is correct") for data without a reference model. With ``exact=False`` each label is
    the fraction of ``draws`` seeded resamples that succeed (the paper's estimate); the default
    computes its limit exactly (see the module docstring). Rows whose record lacks the reference
    are all NaN.
    """
    _check_selector(selector)
    if draws < 1:
        raise ConfigurationError(f"draws must be >= 1, got {draws}")
    if not exact and verifier_accuracy(selector) is not None:
        raise ConfigurationError(f"the {selector} selector has only the exact form: exact=True")
    labels = np.full((len(records), len(arms)), np.nan)
    by_model: dict[str, list[tuple[int, int]]] = {}
    for column, arm in enumerate(arms):
        by_model.setdefault(arm.model, []).append((column, arm.n))
    for row, record in enumerate(records):
        bars = reference_qualities(record, reference)
        if bars is None:
            continue
        rng = np.random.default_rng([seed, row]) if not exact else None
        for model, columns in by_model.items():
            outcome = record.candidates.get(model)
            offered = [(c, n) for c, n in columns if is_offered(outcome, n)]
            if outcome is None or not offered:
                continue
            success = _success(outcome, bars, tolerance)
            if rng is None:
                selection = _Selection(outcome, selector)
                for column, n in offered:
                    # rounded so that certain outcomes are exactly 0 or 1
                    labels[row, column] = round(float(selection.probabilities(n) @ success), 12)
            else:
                keys = selection_keys(outcome, selector)
                _sampled_labels(labels, row, offered, keys, success, draws, rng)
    return labels


def _sampled_labels(
    labels: np.ndarray,
    row: int,
    offered: list[tuple[int, int]],
    keys: np.ndarray,
    success: np.ndarray,
    draws: int,
    rng: np.random.Generator,
) -> None:
    """Monte-Carlo labels: ``draws`` random orders; arm n draws each order's first n samples."""
    orders = np.argsort(rng.random((draws, len(keys))), axis=1)
    index = np.arange(draws)
    for column, n in offered:
        subset = orders[:, :n]
        # argmax takes the first maximum in a random order: ties are broken at random.
        kept = subset[index, np.argmax(keys[subset], axis=1)]
        labels[row, column] = float(success[kept].mean())


# -- what an arm yields on a recorded query (for replay evaluation) -----------------------------


def expected_quality(record: OutcomeRecord, arm: Arm, selector: Selector = "oracle") -> float:
    """Expected quality of the response ``arm`` keeps on ``record`` (NaN when not offered)."""
    outcome = record.candidates.get(arm.model)
    if outcome is None or not is_offered(outcome, arm.n):
        return math.nan
    probs = _Selection(outcome, selector).probabilities(arm.n)
    return float(probs @ _qualities(outcome))


def expected_output_tokens(record: OutcomeRecord, arm: Arm) -> float:
    """Expected output tokens paid by ``arm``: all ``n`` drawn samples (NaN when not offered)."""
    outcome = record.candidates.get(arm.model)
    if outcome is None or not is_offered(outcome, arm.n):
        return math.nan
    return arm.n * float(np.mean([s.output_tokens for s in outcome.samples]))


def input_calls(arm: Arm, native_n: bool) -> int:
    """How many times ``arm`` pays its input: once with a backend that samples ``n`` in one call
    (``native_n``), else ``n`` times, as :class:`~bestroute.engine.BestRoute` bills it."""
    return 1 if native_n else arm.n


def expected_cost(record: OutcomeRecord, arm: Arm, price: ModelPrice, *, calls: int = 1) -> float:
    """Expected dollars of ``arm`` on ``record``: the input ``calls`` times (default once: one
    call draws all ``n``; see :func:`input_calls`), the ``n`` recorded outputs (NaN when not
    offered)."""
    outcome = record.candidates.get(arm.model)
    if outcome is None or not is_offered(outcome, arm.n):
        return math.nan
    return price.cost(outcome.input_tokens * calls, expected_output_tokens(record, arm))


def mean_output_tokens(records: Sequence[OutcomeRecord]) -> dict[str, float]:
    """Per candidate, the mean output tokens of one sample over ``records`` (e.g. the training
    split): what the engine's cost estimate expects (``Candidate.expected_output_tokens``)."""
    totals: dict[str, list[float]] = {}
    for record in records:
        for name, outcome in record.candidates.items():
            entry = totals.setdefault(name, [0.0, 0.0])
            entry[0] += sum(float(s.output_tokens) for s in outcome.samples)
            entry[1] += len(outcome.samples)
    return {name: total / count for name, (total, count) in totals.items() if count > 0}


def estimated_cost(
    record: OutcomeRecord,
    arm: Arm,
    price: ModelPrice,
    output_tokens: float,
    *,
    calls: int = 1,
) -> float:
    """The engine's estimate of ``arm``'s dollars before it runs: the query's input ``calls``
    times and ``n * output_tokens`` (an expected length, not this query's recorded one); NaN
    when not offered. Algorithm 1 orders arms by it."""
    outcome = record.candidates.get(arm.model)
    if outcome is None or not is_offered(outcome, arm.n):
        return math.nan
    return price.cost(outcome.input_tokens * calls, arm.n * output_tokens)


def quality_matrix(
    records: Sequence[OutcomeRecord], arms: Sequence[Arm], selector: Selector = "oracle"
) -> np.ndarray:
    """:func:`expected_quality` for every record and arm, shape ``(records, arms)``."""
    _check_selector(selector)
    return np.array(
        [[expected_quality(r, arm, selector) for arm in arms] for r in records], dtype=np.float64
    ).reshape(len(records), len(arms))


def cost_matrix(
    records: Sequence[OutcomeRecord],
    arms: Sequence[Arm],
    prices: Mapping[str, ModelPrice],
    *,
    native_n: bool = False,
    output_tokens: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Dollars of every record and arm, shape ``(records, arms)``.

    The recorded outcome (:func:`expected_cost`), or with ``output_tokens`` (per model, e.g.
    :func:`mean_output_tokens` of the training split) the engine's estimate
    (:func:`estimated_cost`). The input is paid once per arm with ``native_n`` and ``n`` times
    without (:func:`input_calls`; the default, as for a LangChain ``ChatOpenAI``, which the
    engine calls ``n`` times). A model without a price raises the prices' own error
    (``MissingPriceError`` for :class:`~bestroute.prices.Prices`); a model missing from
    ``output_tokens`` is a :class:`ConfigurationError`.
    """
    model_prices = {arm.model: prices[arm.model] for arm in arms}
    if output_tokens is not None:
        unknown = sorted({arm.model for arm in arms} - set(output_tokens))
        if unknown:
            raise ConfigurationError(
                f"no expected output length for {unknown}: estimate it from records that "
                "hold these models (mean_output_tokens of the training split)"
            )

    def cell(record: OutcomeRecord, arm: Arm) -> float:
        calls = input_calls(arm, native_n)
        if output_tokens is None:
            return expected_cost(record, arm, model_prices[arm.model], calls=calls)
        return estimated_cost(
            record, arm, model_prices[arm.model], output_tokens[arm.model], calls=calls
        )

    return np.array([[cell(r, arm) for arm in arms] for r in records], dtype=np.float64).reshape(
        len(records), len(arms)
    )
