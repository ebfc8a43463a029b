"""The pool: candidate models with prices, the arms (model, n) built from them, the reference.

A pool is given by its models as ``{name: (model, input_price, output_price)}`` (US dollars per
1M tokens; see :func:`read_model_entry`) or as :class:`Candidate` objects; the router it serves
decides the rest (:func:`pool_for_router`): the reference is the one model without a router arm
(:func:`infer_reference`) and ``max_n`` the largest ``n`` among the router's arms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from bestroute._checks import is_finite_number
from bestroute.backends.base import Backend
from bestroute.cost import DEFAULT_EXPECTED_OUTPUT_TOKENS, TokenCounter, counter_for, dollar_cost
from bestroute.errors import ConfigurationError
from bestroute.prices import ModelPrice, parse_price, price_value

DEFAULT_MAX_N = 5


@dataclass(frozen=True, slots=True, order=True)
class Arm:
    """One routing choice: draw ``n`` responses from ``model`` and keep the best."""

    model: str
    n: int = 1

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigurationError(f"an arm needs n >= 1, got n={self.n} for {self.model!r}")

    @property
    def key(self) -> str:
        """Stable string form used in JSON checkpoints and traces: ``model@n``."""
        return f"{self.model}@{self.n}"

    @classmethod
    def from_key(cls, key: str) -> Arm:
        """Parse the ``model@n`` form written by :attr:`key`."""
        model, sep, n = key.rpartition("@")
        if not sep or not n.isdigit():
            raise ConfigurationError(f"not an arm key (expected 'model@n'): {key!r}")
        return cls(model, int(n))


@dataclass(slots=True)
class Candidate:
    """A model the router may send queries to.

    Prices are US dollars per 1M tokens. Input is paid once per call; output once per sampled
    response. ``expected_output_tokens`` feeds the cost estimate made before sampling.
    """

    name: str
    backend: Backend | None = None
    input_price: float = 0.0
    output_price: float = 0.0
    expected_output_tokens: float = DEFAULT_EXPECTED_OUTPUT_TOKENS
    token_counter: TokenCounter | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigurationError("a candidate needs a non-empty name")
        price_value(self.input_price, f"the input price of {self.name!r}")
        price_value(self.output_price, f"the output price of {self.name!r}")
        tokens = self.expected_output_tokens
        if not is_finite_number(tokens) or tokens <= 0:
            raise ConfigurationError(
                f"expected_output_tokens of {self.name!r} must be > 0, got {tokens!r}; give the "
                "typical response length in tokens"
            )

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        """Dollar cost of one call with the given token counts (output summed over samples)."""
        return dollar_cost(input_tokens, output_tokens, self.input_price, self.output_price)

    def counter(self) -> TokenCounter:
        """The counter the candidate declares, else :func:`~bestroute.cost.counter_for` its
        name (kept on the candidate)."""
        if self.token_counter is None:
            self.token_counter = counter_for(self.name)
        return self.token_counter


class Pool:
    """Candidates, the reference candidate and the arms offered to the router.

    Arms are ``(m, n)`` for ``n = 1..max_n`` for every non-reference candidate, plus the
    reference arm ``(reference, 1)``.
    """

    def __init__(
        self,
        candidates: Iterable[Candidate],
        reference: str,
        max_n: int = DEFAULT_MAX_N,
    ) -> None:
        self.candidates: dict[str, Candidate] = {}
        for candidate in candidates:
            if candidate.name in self.candidates:
                raise ConfigurationError(f"candidate {candidate.name!r} appears twice in the pool")
            self.candidates[candidate.name] = candidate
        if reference not in self.candidates:
            raise ConfigurationError(
                f"reference {reference!r} is not a candidate; candidates: {sorted(self.candidates)}"
            )
        if max_n < 1:
            raise ConfigurationError(f"max_n must be >= 1, got {max_n}")
        self.reference = reference
        self.max_n = max_n

    @property
    def reference_arm(self) -> Arm:
        return Arm(self.reference, 1)

    @property
    def router_arms(self) -> tuple[Arm, ...]:
        """The non-reference arms, one router head each, in a stable order."""
        return tuple(
            Arm(name, n)
            for name in self.candidates
            if name != self.reference
            for n in range(1, self.max_n + 1)
        )

    @property
    def arms(self) -> tuple[Arm, ...]:
        return (*self.router_arms, self.reference_arm)

    def candidate(self, name: str) -> Candidate:
        try:
            return self.candidates[name]
        except KeyError:
            raise ConfigurationError(
                f"no candidate named {name!r}; candidates: {sorted(self.candidates)}"
            ) from None

    def __repr__(self) -> str:
        return f"Pool(candidates={list(self.candidates)}, reference={self.reference!r}, max_n={self.max_n})"


def arm_keys(arms: Sequence[Arm]) -> list[str]:
    """The ``model@n`` keys of ``arms`` in order."""
    return [arm.key for arm in arms]


def estimate_arm_cost(candidate: Candidate, arm: Arm, input_tokens: int, calls: int = 1) -> float:
    """Dollars expected for ``arm``: input once per call, ``n`` times the expected output length.

    ``calls`` is 1 for backends that draw ``n`` samples in one call, else ``n``.
    """
    return candidate.cost(input_tokens * calls, arm.n * candidate.expected_output_tokens)


# ------------------------------------------------------------------ pools given by their models


@dataclass(frozen=True, slots=True)
class PricedModel:
    """One ``models={name: entry}`` entry read: the model (a backend, or a framework's model in
    the adapters), its price and the output length its cost estimates assume."""

    model: Any
    price: ModelPrice
    expected_output_tokens: float = DEFAULT_EXPECTED_OUTPUT_TOKENS


#: What ``models={name: entry}`` takes per name: ``(model, input_price, output_price)`` in US
#: dollars per 1M tokens, optionally with ``expected_output_tokens`` as a fourth item, or
#: ``(model, ModelPrice)`` (an entry of a prices file, :func:`bestroute.prices.load_prices`).
#: The engine's models are backends; the adapters take their framework's models.
ModelEntry: TypeAlias = (
    tuple[Any, float, float] | tuple[Any, float, float, float] | tuple[Any, ModelPrice]
)

_ENTRY_SHAPE = "(model, input_price, output_price[, expected_output_tokens])"


def read_model_entry(name: str, entry: Any) -> PricedModel:
    """Read one ``models={name: entry}`` entry (see :data:`ModelEntry`).

    Raises :class:`~bestroute.errors.ConfigurationError` (an
    :class:`~bestroute.errors.InvalidPriceError` for a bad price) saying what to write.
    """
    if not isinstance(entry, tuple | list):
        raise ConfigurationError(
            f"model {name!r} has no prices: give {name!r}: {_ENTRY_SHAPE} in US dollars per 1M "
            f"tokens (0 for a free local model), got a {type(entry).__name__}"
        )
    if len(entry) == 2 and isinstance(entry[1], ModelPrice):
        return PricedModel(entry[0], entry[1])
    if len(entry) not in (3, 4):
        raise ConfigurationError(
            f"model {name!r}: expected {_ENTRY_SHAPE} or (model, ModelPrice), got {len(entry)} items"
        )
    price = parse_price(tuple(entry[1:3]), name)
    if len(entry) == 3:
        return PricedModel(entry[0], price)
    expected = entry[3]
    if isinstance(expected, bool) or not isinstance(expected, int | float) or not expected > 0:
        raise ConfigurationError(
            f"the expected_output_tokens of {name!r} (the fourth item) must be a number > 0, "
            f"got {expected!r}"
        )
    return PricedModel(entry[0], price, float(expected))


def infer_reference(names: Iterable[str], router_arms: Iterable[Arm]) -> str:
    """The one pool model the router has no arm for: the reference, which answers with n = 1.

    Raises :class:`~bestroute.errors.ConfigurationError` when the router has arms for models not
    in ``names`` or when more or fewer than one model has no arm.
    """
    names = list(names)
    routed = {arm.model for arm in router_arms}
    missing = sorted(routed - set(names))
    if missing:
        raise ConfigurationError(
            f"the router has arms for {missing}, which are not in models={sorted(names)}; add "
            "them, or use a router trained for this pool (and pass reference=...)"
        )
    unrouted = [name for name in names if name not in routed]
    if len(unrouted) != 1:
        raise ConfigurationError(
            "cannot tell the reference model: pass reference='<name of the strongest, most "
            f"expensive model>' (the models without a router arm are {unrouted})"
        )
    return unrouted[0]


#: A pool given by its models: name -> :class:`Candidate` or :data:`ModelEntry`.
PoolModels: TypeAlias = Mapping[str, Candidate | ModelEntry]


def pool_for_router(
    models: PoolModels,
    router_arms: Sequence[Arm],
    *,
    reference: str | None = None,
    max_n: int | None = None,
) -> Pool:
    """The pool of ``models`` (:class:`Candidate` objects or :data:`ModelEntry` tuples whose model
    is a backend) for a router with ``router_arms``.

    ``reference`` defaults to :func:`infer_reference`, ``max_n`` to the largest ``n`` among the
    arms. The engine checks that the pool's arms are the router's.
    """
    if not isinstance(models, Mapping) or not models:
        raise ConfigurationError(
            f"models must be a non-empty mapping of name -> {_ENTRY_SHAPE} (or Candidate)"
        )
    candidates = [_candidate(str(name), entry) for name, entry in models.items()]
    return Pool(
        candidates,
        reference or infer_reference(models, router_arms),
        max((arm.n for arm in router_arms), default=1) if max_n is None else max_n,
    )


def _candidate(name: str, entry: Any) -> Candidate:
    if isinstance(entry, Candidate):
        if entry.name != name:
            raise ConfigurationError(f"models[{name!r}] is a Candidate named {entry.name!r}")
        return entry
    priced = read_model_entry(name, entry)
    if not isinstance(priced.model, Backend):
        raise ConfigurationError(
            f"the model of {name!r} is a {type(priced.model).__name__}, not a bestroute Backend "
            "(agenerate(messages, n) and supports_n); wrap it (FunctionBackend, "
            "langchain_bestroute.LangChainBackend, llamaindex_bestroute.LlamaIndexBackend) or use "
            "ChatBestRoute / BestRouteLLM, which take LangChain / LlamaIndex models"
        )
    return Candidate(
        name,
        priced.model,
        priced.price.input,
        priced.price.output,
        priced.expected_output_tokens,
    )


def arm_mismatch_message(routed: Iterable[Arm], pool: Pool, router: str = "the router") -> str:
    """Why ``pool`` does not offer exactly the arms a router was trained for, and what to do."""
    trained = set(routed)
    offered = set(pool.router_arms)
    trained_models = {arm.model for arm in trained}
    reasons: list[str] = []
    absent = sorted(trained_models - set(pool.candidates))
    if absent:
        reasons.append(
            f"the pool has no candidate {_names(absent)} (its candidates: "
            f"{sorted(pool.candidates)}): add {'it' if len(absent) == 1 else 'them'} to the pool"
        )
    if pool.reference in trained_models:
        reasons.append(
            f"{pool.reference!r} is the pool's reference, but {router} routes to it as a "
            "cheaper arm: make the model the router has no arms for the reference"
        )
    short = sorted(
        arm.key
        for arm in trained - offered
        if arm.model in pool.candidates and arm.model != pool.reference
    )
    if short:
        needed = max(arm.n for arm in trained)
        reasons.append(
            f"the pool does not offer {short} (its max_n is {pool.max_n}): build it with "
            f"max_n={needed}"
        )
    unrouted = sorted({arm.model for arm in offered - trained} - trained_models)
    if unrouted:
        reasons.append(
            f"{router} has no arms for the candidate {_names(unrouted)}: leave "
            f"{'it' if len(unrouted) == 1 else 'them'} out, or make {'it' if len(unrouted) == 1 else 'one'} "
            "the reference"
        )
    extra = sorted(arm.key for arm in offered - trained if arm.model in trained_models)
    if extra:
        reasons.append(
            f"{router} has no heads for {extra}: build the pool with "
            f"max_n={max(arm.n for arm in trained)}"
        )
    offers = sorted(arm.key for arm in offered) or "no arms besides the reference"
    return (
        f"{router} was trained for the arms {sorted(arm.key for arm in trained)} but the pool "
        f"offers {offers}: {'; '.join(reasons)}. Or retrain the router for this pool."
    )


def _names(models: list[str]) -> str:
    return repr(models[0]) if len(models) == 1 else repr(models)
