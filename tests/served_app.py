"""Start the explorer with ``panel serve`` on a free loopback port, for server and browser tests.

The server is a subprocess bound to 127.0.0.1, with its run store in a temporary folder, and
is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServedApp:
    """A running explorer server."""

    url: str
    port: int
    runs: Path
    process: subprocess.Popen


@contextlib.contextmanager
def serve_explorer(workdir: Path, *, timeout: float = 180.0) -> Iterator[ServedApp]:
    """Serve ``app/serve.py`` until the block ends; fail the test if it never answers.

    The first page can take seconds on a busy machine (it builds a session and measures
    epoch 0), so each request may wait a minute.
    """
    port = free_port()
    runs = workdir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "INFOFLOW_RUNS": str(runs), "INFOFLOW_TORCH_THREADS": "1"}
    log_path = workdir / "serve.log"
    with open(log_path, "w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "panel", "serve", "app/serve.py", "--port", str(port),
             "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/serve"
        try:
            _wait_until_answering(url, process, log, time.monotonic() + timeout)
            yield ServedApp(url=url, port=port, runs=runs, process=process)
        finally:
            _stop(process)


def _wait_until_answering(url, process, log, deadline: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            pytest.fail(f"the server did not answer at {url}:\n{log.read()[-3000:]}")
        time.sleep(0.3)


def _stop(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
