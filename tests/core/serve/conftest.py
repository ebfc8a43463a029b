"""Serve fixtures: the demo router and reward model routing over pool members that are
``openai:`` clients of the project's own endpoint on 127.0.0.1 (fast function backends)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from bestroute.demo import assets_dir
from bestroute.engine import BestRoute
from bestroute.serve import RoutingService, ServeSettings, create_app, load_engine
from tests.support.openai_endpoint import OpenAIEndpoint, echo_backend
from tests.support.pools import write_demo_pool
from tests.support.uvicorn_thread import serve_in_thread

SETTINGS = ServeSettings(
    min_threshold=0.0,
    max_threshold=1.0,
    max_cost_per_query=0.01,
    max_tokens=256,
    max_body_bytes=64_000,
)

StartServer = Callable[..., AbstractContextManager[tuple[str, RoutingService]]]


@pytest.fixture(scope="session")
def echo_endpoint() -> Iterator[tuple[OpenAIEndpoint, str]]:
    """The project's endpoint serving two echo models with a small fixed latency."""
    endpoint = OpenAIEndpoint({"cheap": echo_backend(0.01), "big": echo_backend(0.02)})
    with serve_in_thread(endpoint.app) as url:
        yield endpoint, url


@pytest.fixture(scope="session")
def echo_pool(
    echo_endpoint: tuple[OpenAIEndpoint, str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return write_demo_pool(tmp_path_factory.mktemp("serve") / "pool.yaml", echo_endpoint[1])


@pytest.fixture(scope="session")
def echo_engine(echo_pool: Path) -> BestRoute:
    """The shipped demo router, reward model and threshold over the echo pool."""
    return load_engine(assets_dir(), echo_pool)


@pytest.fixture
def start_server(echo_engine: BestRoute) -> StartServer:
    """``with start_server(engine=..., settings=...) as (url, service)``: a fresh server."""

    @contextmanager
    def start(
        engine: BestRoute | None = None, settings: ServeSettings = SETTINGS
    ) -> Iterator[tuple[str, RoutingService]]:
        service = RoutingService(engine or echo_engine, settings)
        with serve_in_thread(create_app(service)) as url:
            yield url, service

    return start


@pytest.fixture(scope="session")
def shared_server(echo_engine: BestRoute) -> Iterator[str]:
    """One server for tests that only read answers (its metrics are shared)."""
    with serve_in_thread(create_app(RoutingService(echo_engine, SETTINGS))) as url:
        yield url
