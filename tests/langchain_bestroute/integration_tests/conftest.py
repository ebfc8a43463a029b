"""A pool of real local models for the LangChain adapter's tests, loaded once per session.

Only one generative model installs offline here (SmolLM2-135M-Instruct), so the pool is two
differently priced endpoints of that one model, named as such: a cheap sampling endpoint and a
greedy "reference" endpoint, sharing one loaded backend (the cheap one samples with a fixed seed,
so a run repeats). The routers are real RouterNets trained
in the session with the BEST-Route loss on a handful of labelled queries (MiniLM encoder).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

from bestroute.pool import Arm
from bestroute.scoring.base import Scorer

#: Generation budget of every test call: enough for a short answer or one tool call.
MAX_NEW_TOKENS = 24
CHEAP = "smollm2-135m-sampled"
REFERENCE = "smollm2-135m-greedy"

#: Queries by how well the cheap endpoint is labelled to do on them: (queries, label per n).
LABELLED_QUERIES: tuple[tuple[tuple[str, ...], tuple[float, float]], ...] = (
    (
        ("Hello", "Hey", "hi", "Good morning!", "how are you", "Say hello to me."),
        (0.90, 0.95),
    ),
    (
        (
            "Tell me a joke about cats.",
            "Write me 2 haikus. Only include the haikus.",
            "Give me the setup to a joke about cats, no punchline.",
            "Write a short poem about the sea.",
        ),
        (0.30, 0.85),
    ),
    (
        (
            "What is the value of magic_function(3)? Use the tool.",
            "What is 1 + 2",
            "Prove that there are infinitely many primes.",
            "Explain quantum chromodynamics in detail.",
        ),
        (0.05, 0.15),
    ),
)


@dataclass(frozen=True)
class LocalPool:
    """The loaded pieces every LangChain test builds its ChatBestRoute from."""

    CHEAP: ClassVar[str] = CHEAP
    REFERENCE: ClassVar[str] = REFERENCE
    MAX_NEW_TOKENS: ClassVar[int] = MAX_NEW_TOKENS

    backend: Any
    cheap: Any
    reference: Any
    router: Any
    scorer: Scorer
    train_router: Callable[[Sequence[Arm], Sequence[str], np.ndarray], Any]

    def models(self, cheap_price: float = 0.02, reference_price: float = 0.5) -> dict[str, Any]:
        """Pool entries: name -> (chat model, $/1M input, $/1M output, expected output tokens)."""
        return {
            CHEAP: (self.cheap, cheap_price, 2 * cheap_price, MAX_NEW_TOKENS),
            REFERENCE: (self.reference, reference_price, 2 * reference_price, MAX_NEW_TOKENS),
        }

    def params(self, **overrides: Any) -> dict[str, Any]:
        """ChatBestRoute keyword arguments for the default two-endpoint pool."""
        return {
            "models": self.models(),
            "reference": REFERENCE,
            "router": self.router,
            "scorer": self.scorer,
            "threshold": 0.5,
            **overrides,
        }


def labelled_queries() -> tuple[list[str], np.ndarray]:
    queries = [q for group, _ in LABELLED_QUERIES for q in group]
    labels = np.array([labels for group, labels in LABELLED_QUERIES for _ in group])
    return queries, labels.astype(np.float32)


#: Judged-style preference pairs (better, worse) for a tiny real reward model: answers that
#: address the request beat empty, off-topic or echoing ones.
PREFERENCES: tuple[tuple[str, str, str], ...] = (
    ("Hello", "Hello! How can I help you today?", ""),
    ("Hey", "Hey there! What can I do for you?", "Hey"),
    ("hi", "Hi! Nice to meet you. How can I help?", "The capital of France is Paris."),
    ("how are you", "I'm doing well, thank you for asking! How are you?", "how are you"),
    (
        "Tell me a joke about cats.",
        "Why did the cat sit on the computer? To keep an eye on the mouse!",
        "Cats.",
    ),
    (
        "Write a short poem about the sea.",
        "The sea rolls in with silver light,\nit hums to shore all through the night.",
        "I like turtles. I like turtles. I like turtles.",
    ),
    ("What is 1 + 2", "1 + 2 = 3.", "The weather is sunny today."),
    ("What is 12 times 7?", "12 times 7 is 84.", ""),
    (
        "Explain photosynthesis briefly.",
        "Plants use sunlight, water and carbon dioxide to make sugar and release oxygen.",
        "Photosynthesis photosynthesis photosynthesis.",
    ),
    (
        "Give me a tip for learning Python.",
        "Write a small program every day and read the error messages carefully.",
        "No.",
    ),
)


def reward_scorer() -> Scorer:
    """The project's proxy reward model, trained on :data:`PREFERENCES` (MiniLM, frozen)."""
    from bestroute.training import PreferencePair, train_reward_model

    pairs = [PreferencePair(query, better, worse) for query, better, worse in PREFERENCES]
    model, _report = train_reward_model(pairs, val_fraction=0.0, epochs=40, progress=False)
    return model  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def local_pool() -> LocalPool:
    from bestroute.backends.transformers_local import TransformersBackend
    from bestroute.encoder import Encoder
    from bestroute.training import RouterFitConfig, fit_router_net
    from langchain_bestroute import ChatTransformers

    backend = TransformersBackend(max_new_tokens=MAX_NEW_TOKENS)
    cheap = ChatTransformers(backend=backend, temperature=0.8, seed=7, model=CHEAP)
    reference = ChatTransformers(backend=backend, temperature=0.0, model=REFERENCE)
    encoder = Encoder()

    def train(arms: Sequence[Arm], queries: Sequence[str], labels: np.ndarray) -> Any:
        router, _report = fit_router_net(
            labels,
            list(arms),
            queries=list(queries),
            encoder=encoder,
            config=RouterFitConfig(epochs=60, val_fraction=0.2),
            progress=False,
        )
        return router

    queries, labels = labelled_queries()
    router = train([Arm(CHEAP, 1), Arm(CHEAP, 2)], queries, labels)
    return LocalPool(backend, cheap, reference, router, reward_scorer(), train)


@pytest.fixture(scope="session")
def best_of_two_router(local_pool: LocalPool) -> Any:
    """A router trained to trust only the cheap endpoint's best-of-2 arm, on every query.

    With threshold 0.5 it sends each query to (cheap, n = 2): the arm the best-of-n tests need.
    """
    queries, _ = labelled_queries()
    labels = np.tile(np.array([[0.05, 0.95]], dtype=np.float32), (len(queries), 1))
    return local_pool.train_router([Arm(CHEAP, 1), Arm(CHEAP, 2)], queries, labels)
