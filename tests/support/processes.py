"""Servers in their own processes on 127.0.0.1: the test endpoint and ``bestroute serve``.

A benchmark that puts the endpoint, the server and the client in one Python process measures
their contention for one interpreter lock (and one torch thread pool), not the server. Here
each runs as its own process, as a member endpoint (vLLM, an API) and ``bestroute serve`` do.

    python -m tests.support.processes --port 8100 --latency 0.2      # echo models cheap, big
    python -m tests.support.processes --port 8100 --smollm2          # SmolLM2 as cheap and big
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.uvicorn_thread import LOOPBACK

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port free on 127.0.0.1 now (bound and released; fine on loopback)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    command: Sequence[str], ready_url: str, *, startup_timeout_s: float = 600.0
) -> Iterator[subprocess.Popen[str]]:
    """Run ``command`` (with this tree on PYTHONPATH) until ``ready_url`` answers 200; stop it
    with SIGINT when the block ends."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "core"), str(REPO_ROOT)])}
    process = subprocess.Popen(
        list(command), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[:4]} exited: {process.communicate()[1][-3000:]}")
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ready_url} did not answer in {startup_timeout_s:.0f} s")
            time.sleep(0.5)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()


@contextmanager
def endpoint_process(
    *, latency_s: float = 0.0, smollm2: bool = False, max_tokens: int = 16
) -> Iterator[str]:
    """The test endpoint in its own process; yields its base URL (``.../v1`` is the API)."""
    port = free_port()
    command = [sys.executable, "-m", "tests.support.processes", "--port", str(port)]
    command += ["--smollm2", "--max-tokens", str(max_tokens)] if smollm2 else []
    command += ["--latency", str(latency_s)]
    url = f"http://{LOOPBACK}:{port}"
    with running(command, f"{url}/v1/models"):
        yield url


@contextmanager
def serve_process(setup: Path, pool: Path, *extra: str) -> Iterator[str]:
    """``bestroute serve`` in its own process; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "bestroute.cli", "serve", "--setup", str(setup)]
    command += ["--pool", str(pool), "--host", LOOPBACK, "--port", str(port), *extra]
    url = f"http://{LOOPBACK}:{port}"
    with running(command, f"{url}/health"):
        yield url


def main(argv: Sequence[str] | None = None) -> None:
    """Serve models ``cheap`` and ``big`` (echo backends or SmolLM2) on 127.0.0.1."""
    import uvicorn

    from tests.support.openai_endpoint import OpenAIEndpoint, echo_backend

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="echo answer latency (s)")
    parser.add_argument("--smollm2", action="store_true", help="serve SmolLM2-135M instead")
    parser.add_argument("--max-tokens", type=int, default=16, help="SmolLM2 default max tokens")
    args = parser.parse_args(argv)
    if args.smollm2:
        from bestroute.backends.transformers_local import TransformersBackend

        model = TransformersBackend(max_new_tokens=args.max_tokens, temperature=0.7)
        endpoint = OpenAIEndpoint({"cheap": model, "big": model})
    else:
        endpoint = OpenAIEndpoint(
            {"cheap": echo_backend(args.latency), "big": echo_backend(args.latency)}
        )
    uvicorn.run(endpoint.app, host=LOOPBACK, port=args.port, log_level="warning", backlog=2048)


if __name__ == "__main__":
    main()
