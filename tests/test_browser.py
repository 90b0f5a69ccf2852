"""The explorer in real Chromium at 1280x720, driven by Playwright as a user would.

Needs Debian's chromium and the playwright package (no browser download). The app is served
on a free loopback port and stopped by PID. What the plots show is read from the Bokeh
documents in the page: the data sources behind the I(X;T) curves hold one row per measured
epoch. Each test saves a screenshot under ``$INFOFLOW_ARTIFACTS/screenshots``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from served_app import serve_explorer

pytestmark = [pytest.mark.browser, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium")
SKIP_REASON = "install Debian's chromium (apt-get install chromium) to enable"
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

if CHROMIUM is None or sync_playwright is None:
    pytest.skip(SKIP_REASON, allow_module_level=True)

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(os.environ.get("INFOFLOW_ARTIFACTS", "ci-artifacts")) / "screenshots"

# Lengths of the data sources that draw I(X;T) lines (columns x and i_xt only: the curves
# and their markers, not the error bands), read from every Bokeh document of the page.
MI_SOURCE_LENGTHS = """() => {
  const lengths = [];
  for (const doc of window.Bokeh ? window.Bokeh.documents : []) {
    for (const model of doc.all_models) {
      if (model.type !== "ColumnDataSource") continue;
      const data = model.data instanceof Map ? Object.fromEntries(model.data) : model.data;
      const keys = Object.keys(data).sort();
      if (keys.length === 2 && keys[0] === "i_xt" && keys[1] === "x") {
        lengths.push(data.x.length);
      }
    }
  }
  return lengths;
}"""
MI_RANGES = """() => {
  for (const doc of window.Bokeh.documents) for (const m of doc.all_models) {
    if (m.type === "Figure" && m.title && m.title.text === "I(X;T) per hidden layer")
      return [m.x_range.start, m.x_range.end, m.y_range.start, m.y_range.end];
  }
  return null;
}"""
MI_FRAME_CENTRE = """() => {
  for (const doc of window.Bokeh.documents) for (const m of doc.all_models) {
    if (m.type === "Figure" && m.title && m.title.text === "I(X;T) per hidden layer") {
      const view = window.Bokeh.index.find_one(m);
      if (view === null) return null;
      const box = view.el.getBoundingClientRect();
      const frame = view.frame.bbox;
      return [box.left + frame.x + frame.width / 2, box.top + frame.y + frame.height / 2];
    }
  }
  return null;
}"""
PLOT_TITLES = """() => {
  const titles = [];
  for (const doc of window.Bokeh ? window.Bokeh.documents : []) {
    for (const model of doc.all_models) {
      if (model.type === "Title" && model.text) titles.push(model.text);
    }
  }
  return titles;
}"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with serve_explorer(tmp_path_factory.mktemp("served")) as served:
        yield served.url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url, request):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(app_url)
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"))
    context.close()
    assert errors == [], f"the browser console reported errors: {errors}"


def wait_for(page, condition, timeout: float = 60.0, what: str = "condition"):
    """Poll ``condition()`` every 0.25 s until it is truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        page.wait_for_timeout(250)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def epoch_text(page) -> str:
    return page.get_by_text("epoch ", exact=False).filter(has_text=" / ").first.inner_text()


def epochs_done(page) -> int:
    return int(epoch_text(page).split("/")[0].split()[-1])


def test_default_plots_start_pause_step_reset(page):
    expected = {"I(X;T) per hidden layer", "I(Y;T) per hidden layer",
                "Training and test loss", "Training and test accuracy"}
    wait_for(page, lambda: expected <= set(page.evaluate(PLOT_TITLES)),
             what=f"the plots {sorted(expected)}")
    # Epoch 0 is drawn on open: one point on the single neuron's curve.
    assert wait_for(page, lambda: max(page.evaluate(MI_SOURCE_LENGTHS) or [0]) == 1,
                    what="epoch 0 on the I(X;T) plot")
    canvases = page.locator("canvas").count()
    assert canvases >= 4

    page.get_by_role("button", name="Start").click()
    wait_for(page, lambda: max(page.evaluate(MI_SOURCE_LENGTHS)) >= 10, timeout=90,
             what="10 measured epochs on the I(X;T) curve")

    # A zoom survives the epochs that arrive after it.
    centre = page.evaluate(MI_FRAME_CENTRE)
    before = page.evaluate(MI_RANGES)
    assert centre is not None and before is not None
    page.mouse.move(*centre)

    def zoomed():
        page.mouse.wheel(0, -200)
        page.wait_for_timeout(300)
        return page.evaluate(MI_RANGES) != before

    wait_for(page, zoomed, timeout=20, what="the wheel to zoom the I(X;T) plot")
    after_zoom = page.evaluate(MI_RANGES)
    measured = max(page.evaluate(MI_SOURCE_LENGTHS))
    wait_for(page, lambda: max(page.evaluate(MI_SOURCE_LENGTHS)) >= measured + 3,
             what="three more epochs after the zoom")
    assert page.evaluate(MI_RANGES) == after_zoom

    page.get_by_role("button", name="Pause").click()
    # "paused" shows once training has stopped (after "pausing" while a chunk finishes).
    wait_for(page, lambda: page.get_by_text("state: paused").count() > 0, what="paused")
    paused_at = epochs_done(page)

    page.get_by_role("button", name="Step").click()
    wait_for(page, lambda: epochs_done(page) == paused_at + 1, what="one more epoch")

    page.get_by_role("button", name="Reset").click()
    wait_for(page, lambda: epochs_done(page) == 0, what="epoch 0 after reset")
    wait_for(page, lambda: max(page.evaluate(MI_SOURCE_LENGTHS) or [0]) == 1,
             what="only epoch 0 on the I(X;T) plot after reset")


def test_switching_to_szt_draws_its_five_layers(page):
    wait_for(page, lambda: page.evaluate(MI_SOURCE_LENGTHS), what="the plots")
    page.locator("select").first.select_option(label="SZT (12-bit patterns)")

    def five_layers() -> bool:
        lengths = page.evaluate(MI_SOURCE_LENGTHS)
        # Five layers, each with a line and its markers holding epoch 0.
        return len(lengths) == 10 and min(lengths) >= 1

    wait_for(page, five_layers, timeout=90, what="five SZT layer curves")
    assert "seed=" in page.url and "example=szt" in page.url


def test_an_out_of_range_entry_is_answered_on_the_page(page):
    # A number box once clamped or dropped such an entry in the browser without a word.
    wait_for(page, lambda: page.evaluate(MI_SOURCE_LENGTHS), what="the plots")
    box = page.get_by_label("Epochs", exact=True)
    kept = box.input_value()
    box.fill("0")
    box.press("Enter")
    wait_for(
        page,
        lambda: page.get_by_text("epochs must be at least 1, not 0").count() > 0,
        what="the refusal of epochs = 0",
    )
    wait_for(page, lambda: box.input_value() == kept, what=f"the box back at {kept}")


def test_html_export_keeps_the_page_off_the_network(page):
    # Every resource of the served app comes from the loopback server; exporting the plots
    # once used to switch the server to CDN stylesheets for every widget built afterwards.
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url)
            if request.url.startswith("http") and "127.0.0.1" not in request.url else None)
    wait_for(page, lambda: page.evaluate(MI_SOURCE_LENGTHS), what="the plots")
    page.get_by_text("Runs & export", exact=True).click()
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Plots (standalone HTML)").click()
    html = Path(download.value.path()).read_text(encoding="utf-8")
    assert "I(X;T) per hidden layer" in html

    page.get_by_role("button", name="Reset").click()
    wait_for(page, lambda: max(page.evaluate(MI_SOURCE_LENGTHS) or [0]) == 1,
             what="epoch 0 after reset")
    page.wait_for_timeout(1000)
    assert outside == []
