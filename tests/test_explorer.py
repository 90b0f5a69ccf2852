"""The explorer's logic without a server: controls -> runner calls, queue -> streams, threads.

A light stand-in runner replaces the real one so that these tests check the explorer and the
worker, not training: its I(X;T) at epoch e of layer l is the known value ln(1 + e) / l.
"""

from __future__ import annotations

import io
import json
import math
import threading
import time

import numpy as np
import pandas as pd
import pytest

pn = pytest.importorskip("panel")

from app import plots  # noqa: E402
from app.config import ExperimentConfig  # noqa: E402
from app.explorer import Explorer, parse_bin_sizes  # noqa: E402
from app.records import EpochRecord, metric_row  # noqa: E402
from app.worker import RunWorker  # noqa: E402


def expected_ixt(epoch: int, layer: int) -> float:
    return math.log1p(epoch) / layer


class FakeTrainer:
    def __init__(self) -> None:
        self.rates: list[float] = []

    def set_learning_rate(self, rate: float) -> None:
        self.rates.append(rate)


class FakeRunner:
    """Just enough of app.runner.Runner: step/start/pause/resume/stop and a callback."""

    instances: list[FakeRunner] = []
    fail_at: int | None = None
    n_layers = 2
    seconds_per_epoch = 0.002

    def __init__(self, config, *, out=None, callback=None) -> None:
        self.config = config
        self.out = out
        self.callback = callback
        self.device = "cpu"
        self.trainer = FakeTrainer()
        self.calls: list[str] = []
        self.records: list[EpochRecord] = []
        self.status = "created"
        self.error = None
        self._epoch = 0
        self._measured: set[int] = set()
        self._lock = threading.RLock()
        self._pause = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        FakeRunner.instances.append(self)

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _measure(self) -> None:
        e = self._epoch
        if e in self._measured:
            return
        if FakeRunner.fail_at is not None and e >= FakeRunner.fail_at:
            raise RuntimeError(f"estimator exploded at epoch {e}")
        self._measured.add(e)
        rows = [metric_row(e, "loss", 1.0 / (1 + e), split="train"),
                metric_row(e, "loss", 1.1 / (1 + e), split="test")]
        snapshots = {}
        for layer in range(1, self.n_layers + 1):
            rows.append(metric_row(e, "i_xt", expected_ixt(e, layer), layer=layer, stderr=0.01))
            rows.append(metric_row(e, "i_yt", 0.5 * expected_ixt(e, layer), layer=layer,
                                   stderr=0.01))
            snapshots[layer] = np.full((4, layer), float(e), dtype=np.float32)
        record = EpochRecord(epoch=e, rows=rows, snapshots=snapshots,
                             snapshot_labels=np.array([0, 0, 1, 1]))
        self.records.append(record)
        if self.callback is not None:
            self.callback(record)

    def set_learning_rate(self, rate: float) -> None:
        self.trainer.set_learning_rate(rate)

    def measure_initial(self) -> None:
        self.calls.append("measure_initial")
        with self._lock:
            self._measure()

    def step(self):
        self.calls.append("step")
        with self._lock:
            self._measure()
            if self._epoch < self.config.epochs:
                time.sleep(self.seconds_per_epoch)
                self._epoch += 1
                self._measure()

    def start(self) -> None:
        self.calls.append("start")
        self.status = "running"
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set() and self._epoch < self.config.epochs:
                if self._pause.is_set():
                    self.status = "paused"
                    time.sleep(0.01)
                    continue
                self.status = "running"
                with self._lock:
                    time.sleep(self.seconds_per_epoch)
                    self._epoch += 1
                    self._measure()
        except Exception as exc:  # noqa: BLE001 - like the real runner: status and error
            self.error = f"RuntimeError: {exc}"
            self.status = "failed"
            return
        self.status = "complete" if self._epoch >= self.config.epochs else "incomplete"

    def pause(self) -> None:
        self.calls.append("pause")
        self._pause.set()

    def resume(self) -> None:
        self.calls.append("resume")
        self._pause.clear()

    def stop(self, timeout=None) -> None:
        self.calls.append("stop")
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


@pytest.fixture(autouse=True)
def _fresh_fake():
    FakeRunner.instances = []
    FakeRunner.fail_at = None
    FakeRunner.n_layers = 2
    yield
    FakeRunner.fail_at = None


def wait_until(condition, explorer=None, timeout: float = 10.0) -> bool:
    """Drain (like the periodic callback) until ``condition()`` holds or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if explorer is not None:
            explorer.drain()
        if condition():
            return True
        time.sleep(0.01)
    return False


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("infoflow-run-")]


@pytest.fixture
def explorer(tmp_path):
    ex = Explorer(runner_factory=FakeRunner, runs_folder=tmp_path / "runs", epochs=40)
    yield ex
    ex.close()


def test_default_view_is_the_tanh_neuron_and_matches_the_example_config(explorer):
    expected = ExperimentConfig.for_example("tanh_neuron", epochs=40)
    config = explorer.build_config()
    assert config.example == "tanh_neuron"
    assert config.beta == 0.05
    assert config.learning_rate == expected.learning_rate
    assert config.optimizer == expected.optimizer
    assert config.bin_sizes == expected.bin_sizes
    assert config.bin_size_units == "beta"


def test_epoch_zero_is_measured_on_open_without_training_or_storing(explorer, tmp_path):
    assert wait_until(lambda: 0 in explorer.records, explorer)
    runner = FakeRunner.instances[-1]
    assert runner.out is None
    assert runner.calls == ["measure_initial"]
    assert explorer.state == "ready"
    assert not (tmp_path / "runs").exists()


def test_transport_buttons_call_the_runner(explorer, tmp_path):
    assert wait_until(lambda: explorer.state == "ready", explorer)

    explorer.step()
    assert wait_until(lambda: explorer.epoch_done == 1, explorer)
    runner = FakeRunner.instances[-1]
    assert runner.out is not None and str(runner.out).startswith(str(tmp_path / "runs"))
    assert runner.calls == ["measure_initial", "step"]
    assert explorer.state == "paused"

    explorer.start_pause()
    assert wait_until(lambda: "start" in runner.calls, explorer)
    assert explorer.state == "running"
    explorer.start_pause()
    assert explorer.state == "pausing"
    assert explorer.start_button.disabled and "pausing" in explorer.disabled_reasons["start"]
    assert wait_until(lambda: explorer.state == "paused", explorer)
    assert "pause" in runner.calls
    assert not explorer.start_button.disabled
    explorer.start_pause()
    assert wait_until(lambda: "resume" in runner.calls, explorer)

    assert wait_until(lambda: explorer.state == "finished", explorer)
    assert explorer.epoch_done == 40
    assert explorer.start_button.disabled
    assert "complete" in explorer.disabled_reasons["start"]


def test_learning_rate_changes_live_and_other_settings_reset(explorer):
    assert wait_until(lambda: explorer.state == "ready", explorer)
    explorer.step()
    assert wait_until(lambda: explorer.epoch_done == 1, explorer)
    stored = FakeRunner.instances[-1]

    explorer.learning_rate = 0.003
    assert wait_until(lambda: stored.trainer.rates == [0.003], explorer)
    assert FakeRunner.instances[-1] is stored
    assert explorer.epoch_done == 1

    explorer.seed = 7
    assert wait_until(lambda: explorer.state == "ready", explorer)
    assert FakeRunner.instances[-1] is not stored
    assert FakeRunner.instances[-1].config.seed == 7
    assert sorted(explorer.records) == [0]
    assert explorer.epoch_done == 0


def test_changing_the_example_loads_its_defaults_and_keeps_explicit_values(explorer):
    szt = ExperimentConfig.for_example("szt")
    explorer.example = "szt"
    assert explorer.beta == szt.beta
    assert explorer.epochs == szt.epochs
    assert explorer.replicas == szt.replicas
    assert FakeRunner.instances[-1].config.example == "szt"

    # A link sets several values at once: the example's defaults must not override them.
    explorer.param.update(example="spiral", beta=0.01, seed=3)
    config = FakeRunner.instances[-1].config
    assert (config.example, config.beta, config.seed) == ("spiral", 0.01, 3)


def test_controls_that_do_not_apply_are_disabled_with_a_reason(explorer):
    reasons = explorer.disabled_reasons
    assert explorer.widgets["activation"].disabled and "nonlinearity" in reasons["activation"]
    assert explorer.widgets["batch_size"].disabled and "full batch" in reasons["batch_size"]
    assert explorer.widgets["dropout_p"].disabled
    assert not explorer.widgets["replicas"].disabled

    explorer.beta = 0.0
    reasons = explorer.disabled_reasons
    assert explorer.widgets["replicas"].disabled
    assert "beta = 0" in reasons["replicas"]
    assert explorer.widgets["bin_sizes"].label == "Bin sizes (absolute, β = 0)"
    assert explorer.build_config().bin_size_units == "absolute"
    assert "replicas" in explorer.reasons_text.object.lower()
    # The empty information plots say why they are empty.
    assert explorer.sp_note.visible and "beta = 0" in explorer.sp_note.object

    explorer.example = "szt"
    assert not explorer.widgets["activation"].disabled

    explorer.example = "mnist_cnn"
    assert explorer.widgets["orthonormal"].disabled
    assert "CNN" in explorer.disabled_reasons["orthonormal"]
    assert explorer.sp_note.visible

    explorer.example = "tanh_neuron"
    explorer.beta = 0.05
    assert not explorer.sp_note.visible and explorer.sp_note.object == ""


def test_invalid_settings_disable_start_and_say_why(explorer):
    explorer.bin_sizes = "10, abc"
    assert explorer.state == "invalid"
    assert explorer.start_button.disabled
    assert "abc" in explorer.disabled_reasons["start"]
    explorer.bin_sizes = "10"
    assert wait_until(lambda: explorer.state == "ready", explorer)
    assert not explorer.start_button.disabled


def test_settings_that_cannot_run_from_the_start_say_so_where_the_plots_go(tmp_path):
    # Opened with bad settings (as a link can), no plot ever arrives; the places of the
    # plots once said "Measuring epoch 0 ..." for good.
    ex = Explorer(runner_factory=FakeRunner, runs_folder=tmp_path / "runs", bin_sizes="x")
    try:
        assert ex.state == "invalid"
        assert "cannot run" in ex.placeholders["i_xt"].object
        ex.bin_sizes = "10"
        assert ex.placeholders["i_xt"].object.startswith("Measuring epoch 0")
        assert wait_until(lambda: ex.state == "ready", ex)
    finally:
        ex.close()


@pytest.mark.parametrize(
    "name, typed, rule, valid",
    [
        ("epochs", 0, "epochs must be at least 1, not 0", 7),
        ("learning_rate", 0.0, "learning_rate must be greater than 0.0, not 0.0", 0.5),
        ("dropout_p", 1.5, "dropout_p must be less than 1.0, not 1.5", 0.5),
        ("replicas", -3, "replicas must be at least 1, not -3", 3),
        ("epochs", 2.5, "epochs must be a whole number, not 2.5", 9),
        ("seed", None, "seed must be a number, not an empty box", 11),
    ],
)
def test_an_out_of_range_entry_is_refused_aloud_and_the_box_shows_the_kept_value(
    explorer, name, typed, rule, valid
):
    kept = getattr(explorer, name)
    widget = explorer.widgets[name]
    assert widget.start is None and widget.end is None  # the browser passes every entry on

    widget.value = typed

    assert getattr(explorer, name) == kept
    assert widget.value == kept
    assert explorer.alert.visible
    assert rule in explorer.alert.object and f"stays {kept:g}." in explorer.alert.object

    # A valid entry goes through, both ways, and clears the alert with the reset it causes.
    widget.value = valid
    assert getattr(explorer, name) == valid
    assert wait_until(lambda: not explorer.alert.visible, explorer)
    setattr(explorer, name, kept)
    assert widget.value == kept


def test_the_noise_kind_is_offered_only_where_the_example_has_dropout(explorer):
    # The single neurons and the two-layer net are defined with additive noise only.
    assert explorer.widgets["noise"].disabled
    assert "additive noise only" in explorer.disabled_reasons["noise"]
    explorer.example = "szt"
    assert not explorer.widgets["noise"].disabled
    # Dropout asked for together with such an example (as a link can) stays switchable
    # back; the run says why it cannot run.
    explorer.param.update(example="two_layer_leaky_relu", noise="dropout")
    assert explorer.noise == "dropout" and not explorer.widgets["noise"].disabled
    explorer.noise = "additive"
    assert explorer.widgets["noise"].disabled


def test_an_integer_box_takes_scientific_notation_as_its_number(explorer):
    # The browser's integer box once read "1e6" as 16; the box is a float box now.
    explorer.widgets["epochs"].value = 1e6
    assert explorer.epochs == 1_000_000 and isinstance(explorer.epochs, int)
    assert not explorer.alert.visible


def test_queue_drain_appends_the_measured_values_to_the_streams(explorer):
    assert wait_until(lambda: explorer.state == "ready", explorer)
    explorer.step()
    explorer.step()
    assert wait_until(lambda: explorer.epoch_done == 2, explorer)
    assert wait_until(lambda: sorted(explorer.records) == [0, 1, 2], explorer)

    data = explorer.live.buffers["i_xt"].data
    for epoch in (0, 1, 2):
        for layer in (1, 2):
            rows = data[(data["epoch"] == epoch) & (data["layer"] == layer)]
            assert len(rows) == 1
            assert rows["value"].iloc[0] == pytest.approx(expected_ixt(epoch, layer), abs=1e-12)
            assert rows["x"].iloc[0] == epoch + 1
    assert set(explorer.live.buffers["loss"].data["quantity"]) == {"loss"}
    # The slider follows the newest epoch and the hidden-layer plot shows it.
    assert explorer.epoch_slider.value == 2
    assert explorer.live.pipes["hidden"].data["epoch"] == 2
    np.testing.assert_array_equal(explorer.live.pipes["hidden"].data["values"],
                                  np.full((4, 2), 2.0, dtype=np.float32))


def test_looking_back_shows_an_earlier_epoch(explorer):
    assert wait_until(lambda: explorer.state == "ready", explorer)
    explorer.step()
    assert wait_until(lambda: sorted(explorer.records) == [0, 1], explorer)
    explorer.epoch_slider.value = 0
    assert not explorer.follow.value
    assert explorer.live.pipes["hidden"].data["epoch"] == 0


def test_a_failing_run_shows_an_alert_and_the_app_stays_usable(explorer):
    FakeRunner.fail_at = 3
    assert wait_until(lambda: explorer.state == "ready", explorer)
    explorer.start_pause()
    assert wait_until(lambda: explorer.alert.visible, explorer)
    assert "estimator exploded" in explorer.alert.object
    assert explorer.state == "failed"
    assert not any(t.is_alive() for t in worker_threads() if t.name.endswith(
        str(explorer.worker.run_id)))

    FakeRunner.fail_at = None
    explorer.reset()
    assert not explorer.alert.visible
    assert wait_until(lambda: explorer.state == "ready", explorer)


def test_starting_and_stopping_twenty_times_leaves_no_worker_thread(tmp_path):
    before = set(worker_threads())
    ex = Explorer(runner_factory=FakeRunner, runs_folder=tmp_path / "runs", epochs=10_000)
    for _ in range(20):
        assert wait_until(lambda: ex.state == "ready", ex)
        ex.start_pause()
        assert wait_until(lambda: FakeRunner.instances[-1].running, ex)
        ex.reset()
    ex.close()
    assert wait_until(lambda: not (set(worker_threads()) - before), timeout=10)
    assert all(not r.running for r in FakeRunner.instances)


def test_the_queue_is_bounded_and_a_full_queue_does_not_block_stop():
    FakeRunner.seconds_per_epoch = 0.0
    try:
        config = ExperimentConfig.for_example("tanh_neuron", epochs=500)
        worker = RunWorker(config, runner_factory=FakeRunner, maxsize=5)
        worker.start(running=True)
        assert wait_until(lambda: worker.queue.full())
        time.sleep(0.2)
        assert worker.queue.qsize() == 5
        assert worker.stop(timeout=5.0)
        assert not worker.alive
    finally:
        FakeRunner.seconds_per_epoch = 0.002


def test_exports_round_trip(explorer):
    assert wait_until(lambda: explorer.state == "ready", explorer)
    explorer.step()
    assert wait_until(lambda: sorted(explorer.records) == [0, 1], explorer)

    frame = pd.read_csv(explorer.metrics_csv())
    assert list(frame.columns) == plots.METRIC_COLUMNS
    ixt = frame[(frame["quantity"] == "i_xt") & (frame["epoch"] == 1) & (frame["layer"] == 2)]
    assert ixt["value"].iloc[0] == pytest.approx(expected_ixt(1, 2))
    parquet = pd.read_parquet(explorer.metrics_parquet())
    assert len(parquet) == len(frame)

    config = ExperimentConfig.from_json(explorer.config_json().read())
    assert config == explorer.build_config()

    html = explorer.plots_html().read().decode()
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "I(X;T) per hidden layer" in html
    assert "Distances in layer" in html  # the plots of the epoch on the slider too
    assert "cdn.bokeh.org" not in html  # scripts are inlined: the file works offline


def test_stored_runs_are_listed_and_reopened(tmp_path):
    from app.store import RunStore

    folder = tmp_path / "runs" / "one"
    config = ExperimentConfig.for_example("szt", epochs=30, seed=5)
    store = RunStore(folder)
    store.create(config)
    runner = FakeRunner(config)
    for _ in range(3):
        runner.step()
    for record in runner.records:
        store.write_record(record)

    ex = Explorer(runner_factory=FakeRunner, runs_folder=tmp_path / "runs",
                  measure_on_open=False)
    try:
        ex.refresh_runs()
        assert list(ex.run_list.options.values()) == [str(folder)]
        ex.open_run(folder)
        assert ex.state == "viewing"
        assert (ex.example, ex.seed, ex.epochs) == ("szt", 5, 30)
        assert sorted(ex.records) == [0, 1, 2, 3]
        values = ex.live.buffers["i_xt"].data
        row = values[(values["epoch"] == 3) & (values["layer"] == 1)]
        assert row["value"].iloc[0] == pytest.approx(expected_ixt(3, 1))
        assert ex.start_button.disabled
        assert json.loads(ex.config_json().read())["seed"] == 5
    finally:
        ex.close()


def test_units_toggle_converts_information_to_bits():
    frame = plots.tidy_frame([metric_row(0, "i_xt", math.log(4), layer=1, stderr=0.0)])
    nats = plots.mi_plot(frame, [1], units="nats")
    bits = plots.mi_plot(frame, [1], units="bits")
    curve = [e for e in nats if isinstance(e, plots.hv.Curve)][0]
    curve_bits = [e for e in bits if isinstance(e, plots.hv.Curve)][0]
    assert curve.dimension_values(1)[0] == pytest.approx(math.log(4))
    assert curve_bits.dimension_values(1)[0] == pytest.approx(2.0)  # ln 4 nats = 2 bits
    assert curve_bits.vdims[0].unit == "bits"


def test_epoch_axis_puts_epoch_zero_at_one_and_labels_ticks_with_epochs():
    ticks = dict(plots.epoch_ticks(1000))
    assert ticks == {1.0: "0", 2.0: "1", 11.0: "10", 101.0: "100", 1001.0: "1000"}
    low, high = plots.epoch_range(1000)
    assert low < 1.0 and high > 1001.0


def test_density_evolution_cells_cover_each_epoch_once():
    grid = np.linspace(-1, 1, 50)
    mesh = plots.density_evolution([0, 9, 99], [grid] * 3,
                                   [np.ones(50), np.ones(50), np.ones(50)], layer=1)
    x_edges = mesh.interface.coords(mesh, "x", edges=True)
    centres = np.array([1.0, 10.0, 100.0])
    # Each epoch + 1 lies inside its own cell, and the cells touch.
    assert np.all(x_edges[:-1] < centres) and np.all(centres < x_edges[1:])
    assert np.all(np.diff(x_edges) > 0)


def test_mixture_density_integrates_to_one():
    grid = np.linspace(-3, 3, 20001)
    density = plots.mixture_density([-1.0, 0.2, 1.5], 0.1, grid)
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-9)


def test_bin_sizes_text_is_parsed_or_refused_with_the_entry():
    assert parse_bin_sizes("10, 1;0.5") == [10.0, 1.0, 0.5]
    with pytest.raises(ValueError, match="'x'"):
        parse_bin_sizes("1, x")
    with pytest.raises(ValueError, match="greater than 0, not -1"):
        parse_bin_sizes("-1")


def test_notebook_display_renders_without_a_server():
    import app

    ex = app.Explorer(runner_factory=FakeRunner, measure_on_open=False)
    try:
        bundle = ex._repr_mimebundle_()
        text = json.dumps(bundle[0] if isinstance(bundle, tuple) else bundle)
        assert "Single tanh neuron" in text or "application/vnd.holoviews_load" in text \
            or len(text) > 1000
        assert isinstance(ex.__panel__(), pn.Row)
    finally:
        ex.close()


def test_html_export_is_a_file_download(explorer):
    names = [d.filename for d in explorer.downloads]
    assert names == ["metrics.csv", "metrics.parquet", "config.json", "infoflow-plots.html"]
    assert isinstance(explorer.downloads[0].callback(), io.StringIO)


def test_bias_sweep_view_marks_exact_and_sp_at_the_slider_and_shows_the_density():
    from app.explorer import SweepView

    view = SweepView(kind="bias", beta=0.05, position=2.5)
    view.compute(wait=True)
    assert len(view.frame) == len(SweepView.GRID)
    # At b <= 1 the four outputs are 1 apart, 20 beta: I(X;T) = ln 4 to within 1e-6.
    first = view.frame.iloc[0]
    assert first["b"] == 0.0 and first["exact"] == pytest.approx(math.log(4), abs=1e-6)

    marks = [e for e in view.curve_pane.object if e.label == "at slider"][0]
    exact_at = np.interp(2.5, view.frame["b"], view.frame["exact"])
    assert marks.dimension_values(1)[0] == pytest.approx(exact_at)
    density = view.density_pane.object.values()[0]
    t, p = density.dimension_values(0), density.dimension_values(1)
    assert np.trapezoid(p, t) == pytest.approx(1.0, abs=1e-3)
    assert view.image_pane.visible

    view.units = "bits"
    marks = [e for e in view.curve_pane.object if e.label == "at slider"][0]
    assert marks.dimension_values(1)[0] == pytest.approx(exact_at / math.log(2))


def test_a_weight_sweep_with_bad_beta_values_names_them_and_runs_nothing():
    from app.explorer import SweepView

    view = SweepView(kind="weight", betas="abc, -1")
    view.compute()
    assert view.message.object == (
        "The sweep cannot run: β values must be numbers separated by commas, not 'abc'."
    )
    assert view._thread is None and view.frame is None


def test_start_or_step_pressed_while_epoch_zero_is_measured_is_carried_out(explorer):
    # Nothing has been drained yet, so epoch 0 of the preview is still being measured, as
    # when a click reaches a busy server before the page shows the new state.
    assert explorer.state == "measuring"
    explorer.start_pause()
    assert "start once epoch 0 is measured" in explorer.status_text.object
    assert wait_until(lambda: explorer.state in ("running", "finished"), explorer)
    assert FakeRunner.instances[-1].out is not None  # a stored run, not the preview

    explorer.reset()
    assert explorer.state == "measuring"
    explorer.step()
    assert wait_until(lambda: explorer.epoch_done == 1, explorer)
    assert explorer.state == "paused"


@pytest.mark.parametrize("optimizer", ["gd", "bias_sweep"])
def test_a_full_batch_optimizer_ignores_the_disabled_batch_size(explorer, optimizer):
    # SZT trains with minibatches of 256; gd and the bias sweep take the full batch, and the
    # batch-size control they disable must not make the settings invalid.
    explorer.example = "szt"
    assert explorer.build_config().batch_size == 256
    explorer.optimizer = optimizer
    assert explorer.widgets["batch_size"].disabled
    assert "full batch" in explorer.disabled_reasons["batch_size"]
    assert explorer.state != "invalid", explorer._config_error
    assert explorer.build_config().batch_size is None


def test_the_density_view_of_a_layer_wider_than_one_draws_without_error(tmp_path):
    # SZT and the spiral have no layer of width 1; the density view falls back to layer 1,
    # whose snapshot holds several values per input, one label each. Drawing its centres
    # once failed on the length mismatch and broke the page's first render.
    ex = Explorer(runner_factory=FakeRunner, runs_folder=tmp_path / "runs",
                  measure_on_open=False, example="szt")
    try:
        rows = [metric_row(0, "i_xt", 1.0, layer=k, stderr=0.01) for k in (1, 2)]
        snapshots = {1: np.zeros((4, 3), dtype=np.float32), 2: np.ones((4, 2), dtype=np.float32)}
        record = EpochRecord(epoch=0, rows=rows, snapshots=snapshots,
                             snapshot_labels=np.array([0, 0, 1, 1]))
        ex.add_records([record])
        assert ex.density_select.value == 1
        plots.hv.render(ex.live.maps["density"], backend="bokeh")
        plots.hv.render(ex.live.maps["hidden"], backend="bokeh")
    finally:
        ex.close()
