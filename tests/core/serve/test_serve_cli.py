"""The ``bestroute serve`` command itself: started as a process on 127.0.0.1, called, stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bestroute.demo import assets_dir

REPO_ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_bestroute_serve_answers_the_openai_client_then_stops_cleanly(echo_pool: Path) -> None:
    from openai import OpenAI

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "core"), str(REPO_ROOT)])}
    process = subprocess.Popen(
        [sys.executable, "-m", "bestroute.cli", "serve", "--setup", str(assets_dir()),
         "--pool", str(echo_pool), "--host", "127.0.0.1", "--port", str(port),
         "--max-tokens", "64"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, process.communicate()[1][-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "bestroute serve did not start in 300 s"
            time.sleep(0.5)
        client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        completion = client.chat.completions.create(
            model="bestroute", messages=[{"role": "user", "content": "What is 9 times 8?"}]
        )
        assert completion.choices[0].message.content.endswith(": What is 9 times 8?")
        too_many = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "bestroute", "max_tokens": 65,
                  "messages": [{"role": "user", "content": "hi"}]},
        )  # fmt: skip
        assert too_many.status_code == 400
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-3000:]
    assert f"at http://127.0.0.1:{port}/v1" in stderr
