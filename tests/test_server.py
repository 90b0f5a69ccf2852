"""The explorer served by ``panel serve`` on a free loopback port: it answers, sessions are apart.

The server runs as a subprocess bound to 127.0.0.1 and is stopped by its PID. Two sessions are
opened with Bokeh's client; one carries ``?seed=5&example=leaky_relu_neuron`` in its URL as a
shared link would, and each must show its own settings.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("panel")

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    runs = tmp_path_factory.mktemp("runs")
    env = {**os.environ, "INFOFLOW_RUNS": str(runs), "INFOFLOW_TORCH_THREADS": "1"}
    log = open(tmp_path_factory.mktemp("log") / "serve.log", "w+")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", "app/serve.py", "--port", str(port),
         "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/serve"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"the server did not answer at {url}:\n{log.read()[-3000:]}")
            time.sleep(0.3)
        yield {"url": url, "port": port, "runs": runs, "process": process}
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


def test_the_page_answers_200_with_the_app(server):
    with urllib.request.urlopen(server["url"], timeout=30) as response:
        assert response.status == 200
        page = response.read().decode()
    assert "<title>InfoFlow Explorer</title>" in page


def _widget_value(document, title: str):
    from bokeh.models import Widget

    matches = [m for m in document.models if isinstance(m, Widget)
               and getattr(m, "title", None) == title]
    assert matches, f"no widget titled {title!r}"
    return matches[0].value


def test_two_sessions_have_independent_state(server):
    from bokeh.client import pull_session

    link = {"seed": "5", "example": "leaky_relu_neuron"}
    linked = pull_session(url=server["url"], arguments=link)
    plain = pull_session(url=server["url"])
    try:
        assert linked.id != plain.id
        assert _widget_value(linked.document, "Seed") == 5
        assert _widget_value(plain.document, "Seed") == 0
        assert _widget_value(linked.document, "Example") == "leaky_relu_neuron"
        assert _widget_value(plain.document, "Example") == "tanh_neuron"
    finally:
        linked.close()
        plain.close()
