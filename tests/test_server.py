"""The explorer served by ``panel serve`` on a free loopback port: it answers, sessions are apart.

The server runs as a subprocess bound to 127.0.0.1 and is stopped by its PID. Two sessions are
opened with Bokeh's client; one carries ``?seed=5&example=leaky_relu_neuron`` in its URL as a
shared link would, and each must show its own settings.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from served_app import serve_explorer

pytest.importorskip("panel")

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve_explorer(tmp_path_factory.mktemp("served")) as served:
        yield {"url": served.url, "port": served.port, "runs": served.runs,
               "process": served.process}


def test_the_page_answers_200_with_the_app(server):
    with urllib.request.urlopen(server["url"], timeout=30) as response:
        assert response.status == 200
        page = response.read().decode()
    assert "<title>InfoFlow Explorer</title>" in page


def _texts(document) -> list[str]:
    """Return the unescaped text of every text pane.

    The panes are Bokeh Markup models, which count as widgets; their text is escaped HTML.
    """
    import html

    texts = []
    for model in document.models:
        text = model.properties_with_values(include_defaults=False).get("text")
        if isinstance(text, str) and text.strip():
            texts.append(html.unescape(html.unescape(text)))
    return texts


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


def test_a_link_with_one_bin_size_sets_every_control(server):
    # The query turns bin_sizes=10 into the number 10; the link of a spiral run (whose bin
    # sizes are "10") once failed there and left the controls showing the defaults.
    from bokeh.client import pull_session

    link = {"example": "spiral", "seed": "7", "epochs": "300", "bin_sizes": "10"}
    session = pull_session(url=server["url"], arguments=link)
    try:
        document = session.document
        assert _widget_value(document, "Example") == "spiral"
        assert _widget_value(document, "Seed") == 7
        assert _widget_value(document, "Epochs") == 300
        assert _widget_value(document, "Bin sizes (× β)") == "10"
        texts = _texts(document)
        assert texts  # the panes are there: the check below can fail
        assert not any("could not be applied" in text for text in texts)
    finally:
        session.close()


def test_a_link_with_refused_settings_says_which_and_why(server):
    from bokeh.client import pull_session

    link = {"example": "spiral", "epochs": "-3", "beta": "7"}
    session = pull_session(url=server["url"], arguments=link)
    try:
        document = session.document
        assert _widget_value(document, "Example") == "spiral"
        message = next(text for text in _texts(document) if "could not be applied" in text)
        assert "epochs must be at least 1, not -3" in message
        assert "beta does not accept 7" in message
        assert "{" not in message  # no raw mapping
    finally:
        session.close()
