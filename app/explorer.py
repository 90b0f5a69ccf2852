"""The InfoFlow explorer: a Panel app that trains a noisy network and draws its information flow.

One :class:`Explorer` per browser session (or notebook cell). Its parameters are the sidebar
controls; :meth:`Explorer.build_config` turns them into an
:class:`~app.config.ExperimentConfig`. A :class:`~app.worker.RunWorker` thread trains and
estimates; a periodic callback on the event loop drains the worker's queue every
:attr:`Explorer.DRAIN_PERIOD_MS` milliseconds and feeds the streams of
:class:`~app.plots.LivePlots`, so the plots are patched, not redrawn.

Life of a run
-------------
On opening, and after every change of a setting that defines the run, the explorer starts a
worker that only measures epoch 0 and waits; nothing is stored for it. Start (or Step)
replaces it by a worker that trains and writes its run folder under :func:`runs_root`
(``runs/`` in the current directory, or ``$INFOFLOW_RUNS``). Pause, Step and Start again act
on that worker; Reset (or a change of a setting other than the learning rate) stops it and
measures epoch 0 of the new configuration. The learning rate may change while running.

The configuration (seed included) lives in the URL query, so a link reproduces a view.
"""

from __future__ import annotations

import io
import logging
import math
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param

from app import plots
from app.config import ACTIVATIONS, OPTIMIZERS, ExperimentConfig
from app.worker import RunWorker, WorkerMessage
from models import get_example

logger = logging.getLogger(__name__)

# How long a reset or a closed tab waits for the old run's thread on the event loop.
_STOP_WAIT_SECONDS = 1.0

pn.extension(notifications=False)

EXAMPLE_LABELS = {
    "Single tanh neuron": "tanh_neuron",
    "Single leaky-ReLU neuron": "leaky_relu_neuron",
    "Two-layer leaky-ReLU net": "two_layer_leaky_relu",
    "SZT (12-bit patterns)": "szt",
    "Spiral": "spiral",
    "MNIST CNN": "mnist_cnn",
}
BETA_CHOICES = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
# Examples whose nonlinearity the user may choose; the others define their own.
ACTIVATION_EXAMPLES = ("szt", "spiral")
DEFAULT_ALPHA = 5e-5  # the paper's best orthonormality strength (section 5.1)
# Optimisers that train on the full batch, whatever the batch-size control says.
FULL_BATCH_OPTIMIZERS = {"gd": "gradient descent (gd)", "bias_sweep": "the bias sweep"}

# Settings that define a run: changing one resets it. The learning rate is not among them.
RUN_PARAMETERS = (
    "example", "activation", "beta", "noise", "dropout_p", "optimizer", "epochs",
    "batch_size", "orthonormal", "orthonormal_alpha", "seed", "replicas", "n_queries",
    "bin_sizes", "bootstrap", "device",
)
URL_PARAMETERS = (*RUN_PARAMETERS, "learning_rate", "units")
PLOT_SLOTS = ("i_xt", "i_yt", "loss", "accuracy", "plane", "h_bin", "density", "evolution",
              "hidden", "distances")
MEASURING = "Measuring epoch 0 …"
CANNOT_RUN = "Nothing is measured: these settings cannot run (the line above the tabs says why)."


def runs_root() -> Path:
    """Return the folder that holds the explorer's run folders (``$INFOFLOW_RUNS`` or runs/)."""
    return Path(os.environ.get("INFOFLOW_RUNS", "runs")).expanduser()


def cuda_description() -> tuple[bool, str]:
    """Say whether torch finds a CUDA device, and which."""
    try:
        import torch

        if torch.cuda.is_available():
            return True, f"CUDA ({torch.cuda.get_device_name(0)})"
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install means CPU only
        logger.info("CUDA query failed: %s", exc)
    return False, "CPU only (torch finds no CUDA device)"


def parse_positive_numbers(text: str, name: str) -> list[float]:
    """Return the positive numbers written comma-separated in ``text`` (``name`` in errors).

    Raises
    ------
    ValueError
        Naming ``name`` and the entry that is not a positive finite number.
    """
    sizes = []
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError as exc:
            raise ValueError(f"{name} must be numbers separated by commas, not {part!r}"
                             ) from exc
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be finite and greater than 0, not {part}")
        sizes.append(value)
    if not sizes:
        raise ValueError(f"{name} must hold at least one number, not an empty text")
    return sizes


def parse_bin_sizes(text: str) -> list[float]:
    """Return the bin sizes written as comma-separated numbers in ``text``."""
    return parse_positive_numbers(text, "bin sizes")


def _format_sizes(sizes: list[float]) -> str:
    return ", ".join(f"{s:g}" for s in sizes)


def _refusal(name: str, error: Exception) -> str:
    """Return param's refusal of a value as "name must be ..., not ...".

    param words it as "Integer parameter 'Explorer.epochs' must be at least 1, not 0.";
    other messages are returned as they are.
    """
    text = str(error).rstrip(".")
    marker = f".{name}' "
    if marker in text:
        return f"{name} {text.split(marker, 1)[1]}"
    return text


class NumberText(param.String):
    """A text parameter that also takes a number and keeps it as its text.

    A page's query hands ``bin_sizes=10`` over as the number 10, which a plain
    ``param.String`` refuses.
    """

    def __set__(self, obj: Any, val: Any) -> None:
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            val = f"{val:g}"
        super().__set__(obj, val)


class Explorer(pn.viewable.Viewer):
    """Train one of the paper's examples and watch its information flow, epoch by epoch.

    Parameters
    ----------
    runner_factory : callable, optional
        ``factory(config, out=..., callback=...)`` building the runner; the default is
        :class:`app.runner.Runner`. Tests pass a light stand-in.
    runs_folder : str or os.PathLike, optional
        Where run folders go; default :func:`runs_root`.
    measure_on_open : bool
        Whether to measure epoch 0 at once (and after each reset).
    **params
        Initial values of the controls.
    """

    DRAIN_PERIOD_MS = 200
    MAX_MESSAGES_PER_DRAIN = 200

    example = param.Selector(default="tanh_neuron", objects=EXAMPLE_LABELS,
                             doc="Which network and data set of the paper to train.")
    activation = param.Selector(default="tanh", objects=list(ACTIVATIONS),
                                doc="Nonlinearity of the hidden layers.")
    beta = param.Selector(default=0.05, objects=list(BETA_CHOICES),
                          doc="Noise standard deviation beta; 0 is the deterministic network.")
    noise = param.Selector(default="additive", objects=["additive", "dropout"],
                           doc="Additive Gaussian noise of standard deviation beta, or dropout.")
    dropout_p = param.Number(default=0.2, bounds=(0.0, 1.0), inclusive_bounds=(True, False),
                             doc="Dropout probability, below 1 as for the command line.")
    optimizer = param.Selector(default="gd", objects=list(OPTIMIZERS),
                               doc="gd: full-batch gradient descent; sgd; adam.")
    learning_rate = param.Number(default=0.01, bounds=(0.0, 10.0),
                                 inclusive_bounds=(False, True),
                                 doc="Learning rate; may change while training.")
    epochs = param.Integer(default=1000, bounds=(1, 10_000_000), doc="Training epochs.")
    batch_size = param.Integer(default=0, bounds=(0, None),
                               doc="Minibatch size; 0 trains on the full batch.")
    orthonormal = param.Boolean(default=False,
                                doc="Whether to apply the orthonormality step after updates.")
    orthonormal_alpha = param.Number(default=DEFAULT_ALPHA, bounds=(0.0, 1.0),
                                     doc="Strength alpha of the orthonormality step.")
    seed = param.Integer(default=0, bounds=(0, 2**32 - 1), doc="Seed of everything random.")
    replicas = param.Integer(default=1, bounds=(1, 100_000),
                             doc="Replicas r per input for the SP estimator.")
    n_queries = param.Integer(default=4000, bounds=(1, 1_000_000),
                              doc="Monte Carlo queries per input for the SP estimator.")
    bin_sizes = NumberText(default="1, 10",
                           doc="Bin sizes of H(Bin(T)), comma-separated: multiples of beta, "
                           "absolute when beta is 0.")
    bootstrap = param.Boolean(default=False, doc="Whether to draw a bootstrap band of I(X;T).")
    device = param.Selector(default="auto", objects=["auto", "cpu", "cuda"],
                            doc="Where to train: auto takes CUDA when torch finds it.")
    units = param.Selector(default="nats", objects=list(plots.UNITS),
                           doc="Unit of the information plots.")

    def __init__(self, *, runner_factory: Callable[..., Any] | None = None,
                 runs_folder: str | os.PathLike | None = None, measure_on_open: bool = True,
                 **params: Any) -> None:
        explicit = set(params)
        super().__init__(**params)
        self._runner_factory = runner_factory
        self.runs_folder = Path(runs_folder) if runs_folder is not None else runs_root()
        self._measure_on_open = measure_on_open
        self._applying = False
        self.worker: RunWorker | None = None
        self._ended: str | None = None  # "finished" or "failed" once the worker says so
        self._paused_confirmed = True  # the worker has stopped training after a Pause
        self.stored = False  # whether the current worker writes a run folder
        self.run_path: Path | None = None
        self.viewing_path: Path | None = None
        self.records: dict[int, Any] = {}
        self.layer_widths: dict[int, int] = {}
        self.live: plots.LivePlots | None = None
        self._signature: tuple | None = None
        self._drain_callback: Any = None
        self._last_estimate: float | None = None
        self.device_used: str | None = None
        self.data_bounds: dict[str, Any] = {}
        self.epochs_per_second = 0.0
        self.epoch_done = 0
        self.disabled_reasons: dict[str, str] = {}
        self.cuda_found, self.cuda_text = cuda_description()
        self._closed = False
        self._queued: str | None = None  # "start" or "step", pressed while measuring epoch 0
        self._refused_box: str | None = None  # the number box whose entry the alert refuses
        self._link_refusals: dict[str, str] = {}  # settings of the page's link refused

        self._build_widgets()
        self._apply_example_defaults(keep=explicit)
        self.param.watch(self._on_run_change, list(RUN_PARAMETERS))
        self.param.watch(self._on_learning_rate, ["learning_rate"])
        self.param.watch(self._on_units, ["units"])
        self._update_controls()
        self._sync_url()
        if pn.state.curdoc is not None:
            pn.state.on_session_destroyed(self._on_session_destroyed)
            self._ensure_drain()
        self.refresh_runs()
        self.reset()
        if self._link_refusals:
            self._on_url_error(self._link_refusals)

    # ------------------------------------------------------------------ configuration

    def build_config(self) -> ExperimentConfig:
        """Return the experiment that the controls describe.

        Raises
        ------
        ValueError
            When the controls describe something that cannot run (the message says why).
        """
        beta = float(self.beta)
        full_batch = self.optimizer in FULL_BATCH_OPTIMIZERS or self.batch_size == 0
        overrides: dict[str, Any] = {
            "beta": beta,
            "noise": self.noise,
            "optimizer": self.optimizer,
            "learning_rate": float(self.learning_rate),
            "epochs": int(self.epochs),
            "batch_size": None if full_batch else int(self.batch_size),
            "orthonormal_alpha": float(self.orthonormal_alpha) if self.orthonormal else 0.0,
            "seed": int(self.seed),
            "replicas": int(self.replicas),
            "n_queries": int(self.n_queries),
            "bin_sizes": parse_bin_sizes(self.bin_sizes),
            "bin_size_units": "beta" if beta > 0 else "absolute",
            "device": self.device,
        }
        if self.example in ACTIVATION_EXAMPLES:
            overrides["activation"] = self.activation
        if self.noise == "dropout":
            overrides["dropout_p"] = float(self.dropout_p)
        config = ExperimentConfig.for_example(self.example, **overrides)
        if self.bootstrap and config.sp_status()[0] and "bootstrap" not in config.quantities:
            config.quantities = [*config.quantities, "bootstrap"]
        if self.device == "cuda" and not self.cuda_found:
            raise ValueError("device must be 'auto' or 'cpu' here: torch finds no CUDA device")
        return config.validate()

    def _apply_example_defaults(self, keep: set[str] = frozenset()) -> None:
        """Set the controls to the defaults of the chosen example, except those in ``keep``."""
        overrides = {}
        if "beta" in keep:
            overrides["beta"] = float(self.beta)
        config = ExperimentConfig.for_example(self.example, **overrides)
        values: dict[str, Any] = {
            "activation": config.activation,
            "beta": self._beta_choice(config.beta),
            "noise": config.noise,
            "dropout_p": min(config.dropout_p, 0.95),
            "optimizer": config.optimizer,
            "learning_rate": config.learning_rate,
            "epochs": config.epochs,
            "batch_size": config.batch_size or 0,
            "orthonormal": config.orthonormal_alpha > 0,
            "orthonormal_alpha": config.orthonormal_alpha or DEFAULT_ALPHA,
            "replicas": config.replicas,
            "n_queries": config.n_queries,
            "bin_sizes": _format_sizes(config.bin_sizes),
            "bootstrap": "bootstrap" in config.quantities,
        }
        values = {k: v for k, v in values.items() if k not in keep}
        self._applying = True
        try:
            self.param.update(**values)
        finally:
            self._applying = False

    def _beta_choice(self, beta: float) -> float:
        """Return ``beta`` as one of the choices, adding it to them when it is new."""
        choices = list(self.param.beta.objects)
        for choice in choices:
            if math.isclose(choice, beta, rel_tol=1e-9, abs_tol=0.0):
                return choice
        self.param.beta.objects = sorted([*choices, float(beta)])
        self._beta_widget_options()
        return float(beta)

    def _bin_defaults(self) -> None:
        """Reload the example's bin sizes (they change units between beta = 0 and beta > 0)."""
        config = ExperimentConfig.for_example(self.example, beta=float(self.beta))
        self._applying = True
        try:
            self.bin_sizes = _format_sizes(config.bin_sizes)
        finally:
            self._applying = False

    def _on_run_change(self, *events: param.parameterized.Event) -> None:
        if self._applying:
            return
        names = {event.name for event in events}
        if "example" in names:
            self._apply_example_defaults(keep=names - {"example"})
        elif "beta" in names and "bin_sizes" not in names:
            old = next(e.old for e in events if e.name == "beta")
            if (old == 0) != (self.beta == 0):
                self._bin_defaults()
        self._update_controls()
        self.reset()

    def _on_learning_rate(self, event: param.parameterized.Event) -> None:
        if self.worker is not None and self.stored and self.worker.alive:
            self.worker.set_learning_rate(float(event.new))
            self._set_status_note(f"learning rate {event.new:g} from the next epoch on")

    def _on_units(self, event: param.parameterized.Event) -> None:
        if self.live is not None:
            self.live.set_units(event.new)

    # ------------------------------------------------------------------ controls

    def _build_widgets(self) -> None:
        w = pn.widgets
        width = 270
        self.widgets: dict[str, Any] = {
            "example": w.Select.from_param(self.param.example, label="Example", width=width),
            "activation": w.Select.from_param(self.param.activation, label="Activation",
                                              width=width),
            "beta": w.DiscreteSlider.from_param(self.param.beta, label="β (noise std)",
                                                width=width),
            "noise": w.RadioButtonGroup.from_param(self.param.noise, width=width),
            "dropout_p": self._number_input("dropout_p", label="Dropout p",
                                            step=0.05, width=width),
            "optimizer": w.RadioButtonGroup.from_param(self.param.optimizer, width=width),
            "learning_rate": self._number_input("learning_rate",
                                                label="Learning rate (live)",
                                                format="0.[000000]", width=width),
            "epochs": self._number_input("epochs", label="Epochs", width=width),
            "batch_size": self._number_input("batch_size",
                                             label="Batch size (0 = full batch)", width=width),
            "orthonormal": w.Checkbox.from_param(self.param.orthonormal,
                                                 label="Orthonormality step", width=width),
            "orthonormal_alpha": self._number_input("orthonormal_alpha",
                                                    label="α (orthonormality)",
                                                    format="0.[000000]", width=width),
            "seed": self._number_input("seed", label="Seed", width=170),
            "replicas": self._number_input("replicas",
                                           label="Replicas r per input", width=width),
            "n_queries": self._number_input("n_queries",
                                            label="Monte Carlo queries per input",
                                            width=width),
            "bin_sizes": w.TextInput.from_param(self.param.bin_sizes, label="Bin sizes (× β)",
                                                width=width),
            "bootstrap": w.Checkbox.from_param(self.param.bootstrap,
                                               label="Bootstrap band of I(X;T)", width=width),
            "device": w.RadioButtonGroup.from_param(self.param.device, width=width),
            "units": w.RadioButtonGroup.from_param(self.param.units, width=150),
        }
        self._beta_widget_options()
        self.new_seed_button = w.Button(label="New seed", width=90, margin=(28, 5, 5, 5))
        self.new_seed_button.on_click(lambda event: self.new_seed())

        self.start_button = w.Button(label="Start", color="success", width=110)
        self.step_button = w.Button(label="Step", color="primary", width=80)
        self.reset_button = w.Button(label="Reset", color="warning", width=80)
        self.start_button.on_click(lambda event: self.start_pause())
        self.step_button.on_click(lambda event: self.step())
        self.reset_button.on_click(lambda event: self.reset())
        self.epoch_text = pn.pane.Markdown("epoch 0 / 0", width=170, margin=(5, 10),
                                           styles={"font-size": "15px"})
        self.progress = pn.indicators.Progress(value=0, max=100, width=180, height=20,
                                               margin=(14, 10), bar_color="success")
        self.status_text = pn.pane.Markdown("", styles={"font-size": "13px"},
                                            sizing_mode="stretch_width", margin=(0, 10))
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False,
                                   sizing_mode="stretch_width", margin=(0, 10))
        self.reasons_text = pn.pane.Markdown("", styles={"font-size": "12px"}, width=280)
        self.sp_note = pn.pane.Alert("", alert_type="info", visible=False,
                                     margin=(5, 10), styles={"font-size": "14px"})
        self.device_text = pn.pane.Markdown(f"Found: {self.cuda_text}",
                                            styles={"font-size": "12px"}, width=280)

        self.epoch_slider = w.DiscreteSlider(label="Look back at epoch", options=[0], value=0,
                                             width=300, margin=(0, 10))
        self.follow = w.Checkbox(label="follow the newest epoch", value=True, width=190,
                                 margin=(22, 5))
        self.epoch_slider.param.watch(self._on_epoch_selected, "value")
        self.layer_select = w.Select(label="Layer", options=[1], value=1, width=120)
        self.layer_select.param.watch(lambda event: self._show_epoch(), "value")
        self.density_select = w.Select(label="Layer (width 1)", options=[1], value=1, width=150)
        self.density_select.param.watch(lambda event: self._show_epoch(evolution=True), "value")
        self.azimuth = w.IntSlider(label="View angle of a 3-D layer (°)", start=0, end=350,
                                   step=10, value=35, width=260)
        self.azimuth.param.watch(lambda event: self._show_epoch(), "value")

        self.run_list = w.Select(label="Stored runs", options={}, width=560, size=8)
        self.open_button = w.Button(label="Open selected run", color="primary", width=170)
        self.refresh_button = w.Button(label="Refresh list", width=120)
        self.open_button.on_click(lambda event: self.open_selected_run())
        self.refresh_button.on_click(lambda event: self.refresh_runs())
        self.downloads = [
            w.FileDownload(callback=self.metrics_csv, filename="metrics.csv",
                           label="Metrics (CSV)", color="primary", width=180),
            w.FileDownload(callback=self.metrics_parquet, filename="metrics.parquet",
                           label="Metrics (Parquet)", color="primary", width=180),
            w.FileDownload(callback=self.config_json, filename="config.json",
                           label="Configuration (JSON)", color="primary", width=180),
            w.FileDownload(callback=self.plots_html, filename="infoflow-plots.html",
                           label="Plots (standalone HTML)", color="primary", width=200),
        ]
        self.density_slot_note = pn.pane.Markdown("", margin=(25, 10))
        # What a plot's place shows before the first measurement arrives.
        self.placeholders = {name: pn.pane.Markdown(MEASURING) for name in PLOT_SLOTS}
        self.slots = {name: pn.Column(self.placeholders[name], margin=0) for name in PLOT_SLOTS}

    def _number_input(self, name: str, **options: Any) -> Any:
        """Return a number box bound both ways to parameter ``name``, without bounds.

        A box with bounds clamps or drops an out-of-range entry in the browser without a
        word, and the browser's integer box reads "1e6" as 16. This one is a float box that
        hands every entry to the parameter (whole numbers as int); an entry that is refused
        is answered in the alert with the rule and the value, and the box shows the value
        kept.
        """
        widget = pn.widgets.FloatInput(value=getattr(self, name), **options)
        label = options.get("label", name)
        integer = isinstance(self.param[name], param.Integer)
        syncing = False

        def typed(event: param.parameterized.Event) -> None:
            nonlocal syncing
            if syncing or event.new == getattr(self, name):
                return
            try:
                value = event.new
                if value is None:
                    raise ValueError(f"{name} must be a number, not an empty box")
                if integer:
                    if not float(value).is_integer():
                        raise ValueError(f"{name} must be a whole number, not {value:g}")
                    value = int(value)
                setattr(self, name, value)
            except ValueError as exc:
                kept = getattr(self, name)
                shown = kept if isinstance(kept, int) else f"{kept:g}"
                self._show_error(f"{label}: {_refusal(name, exc)}; it stays {shown}.")
                self._refused_box = name
                syncing = True
                try:
                    widget.value = kept
                finally:
                    syncing = False
                return
            if self._refused_box == name:  # the entry that the alert refused is mended
                self._refused_box = None
                self.alert.visible = False

        def changed(event: param.parameterized.Event) -> None:
            nonlocal syncing
            syncing = True
            try:
                widget.value = event.new
            finally:
                syncing = False

        widget.param.watch(typed, "value")
        self.param.watch(changed, name)
        return widget

    def _beta_widget_options(self) -> None:
        widget = getattr(self, "widgets", {}).get("beta")
        if widget is None:
            return
        widget.options = {("0 (deterministic)" if b == 0 else f"{b:g}"): b
                          for b in self.param.beta.objects}

    def _update_controls(self) -> None:
        """Enable the controls that apply and say why the others do not."""
        reasons: dict[str, str] = {}
        if self.example not in ACTIVATION_EXAMPLES:
            reasons["activation"] = "this example defines its own nonlinearity"
        if self.noise == "additive" and "dropout" not in get_example(self.example).noise_kinds:
            # Left enabled while it reads dropout, so that it can be switched back.
            reasons["noise"] = "this example is defined with additive noise only"
        if self.noise != "dropout":
            reasons["dropout_p"] = "noise is additive, not dropout"
        if self.optimizer in FULL_BATCH_OPTIMIZERS:
            reasons["batch_size"] = (f"{FULL_BATCH_OPTIMIZERS[self.optimizer]} trains on the "
                                     "full batch")
        if self.example == "mnist_cnn":
            reasons["orthonormal"] = ("the orthonormality step is defined for fully connected "
                                      "layers, not the CNN")
            reasons["orthonormal_alpha"] = reasons["orthonormal"]
        elif not self.orthonormal:
            reasons["orthonormal_alpha"] = "the orthonormality step is off"
        try:
            sp_ok, sp_reason = ExperimentConfig.for_example(
                self.example, beta=float(self.beta), noise=self.noise).sp_status()
        except ValueError as exc:
            sp_ok, sp_reason = False, str(exc)
        if not sp_ok:
            for name in ("replicas", "n_queries", "bootstrap"):
                reasons[name] = f"no SP estimate: {sp_reason}"
        # The information plots stay empty without SP; say why where they are.
        self.sp_note.object = (
            f"**I(X;T) and I(Y;T) are not estimated here:** {sp_reason}. The *Plane & "
            "binning* tab shows H(Bin(T_l)), and *Hidden layers* the clustering."
            if not sp_ok else ""
        )
        self.sp_note.visible = not sp_ok
        self.disabled_reasons = reasons
        for name, widget in self.widgets.items():
            widget.disabled = name in reasons
        self.widgets["bin_sizes"].label = ("Bin sizes (× β)" if self.beta > 0
                                          else "Bin sizes (absolute, β = 0)")
        notes = "\n".join(f"- **{self.widgets[k].label or k}**: {v}" for k, v in reasons.items())
        self.reasons_text.object = ("Not available for this setting:\n" + notes) if notes else ""
        self._config_error = None
        try:
            self.build_config()
        except ValueError as exc:
            self._config_error = str(exc)
        self._update_transport()

    def new_seed(self) -> int:
        """Draw a new random seed (which resets the run) and return it."""
        self.seed = random.SystemRandom().randrange(0, 2**31)
        return self.seed

    # ------------------------------------------------------------------ URL

    def _sync_url(self) -> None:
        """Apply the settings of the page's link now, and keep the URL in step from then on.

        The link's values are applied at once, so that the first measurement is already of
        the linked configuration; the two-way sync starts when the page has loaded, and then
        writes every setting (seed included) into the URL.
        """
        location = pn.state.location if pn.state.curdoc is not None else None
        if location is None:
            return
        mapping = {name: name for name in URL_PARAMETERS}
        values = {}
        for name, text in (location.query_params or {}).items():
            if name not in mapping:
                continue
            try:
                values[name] = self._whole(name, self.param[name].deserialize(text))
            except Exception:  # noqa: BLE001 - plain strings are not JSON
                values[name] = text
        if values:
            # One value at a time: a value that param refuses then neither stops the others
            # nor leaves the controls showing values that the explorer does not hold (a
            # refused update sets the values before it without telling the widgets).
            failed: dict[str, Any] = {}
            self._applying = True
            try:
                for name in sorted(values, key=lambda name: name != "example"):
                    try:
                        self.param.update({name: values[name]})
                    except Exception as exc:  # noqa: BLE001 - a bad link must not break the app
                        failed[name] = _refusal(name, exc)
                if "example" in values and "example" not in failed:
                    self._apply_example_defaults(keep=set(values) - set(failed))
            finally:
                self._applying = False
            # Said after the first reset, which clears the alert.
            self._link_refusals = failed

        def start_sync() -> None:
            try:
                location.sync(self, mapping, on_error=self._on_url_error)
            except Exception as exc:  # noqa: BLE001 - a bad link must not break the app
                self._on_url_error({"error": str(exc)})

        pn.state.onload(start_sync)

    def _whole(self, name: str, value: Any) -> Any:
        """Return a whole float as int for an integer setting (links carry -3 as -3.0)."""
        if isinstance(self.param[name], param.Integer) and isinstance(value, float):
            if value.is_integer():
                return int(value)
        return value

    def _on_url_error(self, values: dict[str, Any]) -> None:
        """Say which settings of the link were refused and why; the controls keep theirs.

        ``values`` maps each setting to param's refusal, or (from the live sync) to the value
        refused, whose refusal is then asked of the parameter again.
        """
        parts = []
        for name, text in values.items():
            if not (isinstance(text, str) and text.startswith(name)) and name in self.param:
                try:
                    self.param[name]._validate(self._whole(name, text))
                except Exception as exc:  # noqa: BLE001 - any refusal is reported
                    text = _refusal(name, exc)
            parts.append(text if isinstance(text, str) else f"{name}={text!r}")
        self._show_error("Some settings in the link could not be applied, and those controls "
                         f"keep their values: {'; '.join(parts)}.")

    # ------------------------------------------------------------------ transport

    @property
    def state(self) -> str:
        """Return what the run is doing, as one word.

        ``measuring`` (epoch 0 of a preview), ``ready``, ``running``, ``pausing``, ``paused``,
        ``finished``, ``failed``, ``viewing`` (a stored run) or ``invalid`` (the controls
        describe something that cannot run).
        """
        if self.viewing_path is not None:
            return "viewing"
        if self._config_error:
            return "invalid"
        worker = self.worker
        if worker is None:
            return "ready"
        # The worker's end is known from its messages, so that everything it sent before
        # ending has been shown when the state changes.
        if self._ended in ("failed", "finished"):
            return self._ended
        if not self.stored:
            return "ready" if 0 in self.records else "measuring"
        if worker.running:
            return "running"
        # Training stops at the end of the chunk in progress; until the worker says so,
        # the run is still pausing.
        return "paused" if self._paused_confirmed else "pausing"

    def _new_worker(self, *, stored: bool, running: bool) -> None:
        self._stop_worker()
        config = self.build_config()
        out = None
        if stored:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = f"{stamp}-{config.example}-beta{config.beta:g}-seed{config.seed}"
            out = self.runs_folder / name
            suffix = 1
            while out.exists():
                suffix += 1
                out = self.runs_folder / f"{name}-{suffix}"
            self.runs_folder.mkdir(parents=True, exist_ok=True)
        self.run_path = out
        self.stored = stored
        self._ended = None
        self._paused_confirmed = True
        self.worker = RunWorker(config, out=out, runner_factory=self._runner_factory)
        self.worker.start(running=running, measure_only=not stored)
        self._ensure_drain()
        if stored:
            self.refresh_runs()

    def _stop_worker(self) -> None:
        # This runs on the server's event loop, so it waits only briefly: a worker still in
        # the middle of an epoch finishes it on its own thread and its late messages are
        # dropped by run id.
        worker, self.worker = self.worker, None
        if worker is not None:
            if not worker.stop(timeout=_STOP_WAIT_SECONDS):
                logger.info("run %d is finishing its epoch in the background", worker.run_id)

    def start_pause(self) -> None:
        """Start training, pause it, or resume it, depending on the state."""
        state = self.state
        if state == "measuring":
            self._queue("start")
            return
        if state in ("invalid", "failed", "finished", "viewing", "pausing"):
            return
        if state == "ready":
            self._new_worker(stored=True, running=True)
        elif state == "running":
            self._paused_confirmed = False
            self.worker.pause()
        elif state == "paused":
            self.worker.resume()
        self._update_transport()

    def step(self) -> None:
        """Train one epoch (starting a stored run when none is), then wait."""
        state = self.state
        if state == "measuring":
            self._queue("step")
            return
        if state == "ready":
            self._new_worker(stored=True, running=False)
            self.worker.step()
        elif state == "paused":
            self.worker.step()
        elif state == "running":
            self._paused_confirmed = False
            self.worker.pause()
        self._update_transport()

    def _queue(self, action: str) -> None:
        # A press that arrives while epoch 0 is measured (a busy server still shows the last
        # state) is carried out when the measurement is in, not dropped.
        self._queued = action
        self._update_transport()

    def _run_queued(self) -> None:
        action, self._queued = self._queued, None
        if action == "start":
            self.start_pause()
        elif action == "step":
            self.step()

    def reset(self) -> None:
        """Stop the run, forget its data and measure epoch 0 of the current settings."""
        self._queued = None
        self._stop_worker()
        self.viewing_path = None
        self.records = {}
        self.epoch_done = 0
        self.epochs_per_second = 0.0
        self._last_estimate = None
        self.alert.visible = False
        if self.live is not None:
            self.live.clear()
        self.epoch_slider.options = [0]
        self.epoch_slider.value = 0
        self._update_controls()
        for placeholder in self.placeholders.values():
            placeholder.object = MEASURING if self._config_error is None else CANNOT_RUN
        if self._config_error is None and self._measure_on_open and not self._closed:
            try:
                self._new_worker(stored=False, running=False)
            except Exception as exc:  # noqa: BLE001 - shown to the user, app stays usable
                self._show_error(f"Could not start: {exc}")
        self._update_transport()

    def close(self) -> None:
        """Stop the worker and the periodic callback (the tab was closed)."""
        self._closed = True
        self._stop_worker()
        if self._drain_callback is not None:
            self._drain_callback.stop()
            self._drain_callback = None

    def _on_session_destroyed(self, session_context: Any) -> None:
        logger.info("session closed; stopping its run")
        self.close()

    def _ensure_drain(self) -> None:
        # A server session has a document; a notebook kernel has none but runs an event loop
        # that Panel's periodic callbacks use. A plain script (or a test) drains by hand.
        in_kernel = "ipykernel" in sys.modules
        if self._drain_callback is not None or self._closed:
            return
        if pn.state.curdoc is None and not in_kernel:
            return
        self._drain_callback = pn.state.add_periodic_callback(self.drain,
                                                              period=self.DRAIN_PERIOD_MS)

    def _update_transport(self) -> None:
        state = self.state
        labels = {"running": "Pause", "paused": "Resume", "pausing": "Resume"}
        self.start_button.label = labels.get(state, "Start")
        self.start_button.color = "warning" if state == "running" else "success"
        blocked = {
            "invalid": f"cannot run: {self._config_error}",
            "failed": "the run failed; press Reset",
            "finished": "the run is complete; press Reset for a new one",
            "viewing": "a stored run is shown; press Reset for a new one",
            "measuring": "measuring epoch 0 …",
            "pausing": "pausing after the epochs in progress …",
        }
        reason = blocked.get(state)
        self.start_button.disabled = reason is not None
        self.step_button.disabled = reason is not None
        self.start_button.description = reason
        self.disabled_reasons.pop("start", None)
        if reason is not None:
            self.disabled_reasons["start"] = reason
        total = int(self.epochs)
        self.epoch_text.object = f"**epoch {self.epoch_done} / {total}**"
        self.progress.max = max(total, 1)
        self.progress.value = min(self.epoch_done, total)
        parts = [f"state: {state}"]
        device = self.device_used or ("cuda" if self.device == "cuda" else
                                      "auto" if self.device == "auto" else "cpu")
        parts.append(f"device: {device}")
        if self.epochs_per_second:
            parts.append(f"{self.epochs_per_second:.1f} epochs/s")
        if self._last_estimate is not None:
            parts.append("last estimate " + time.strftime("%H:%M:%S",
                                                          time.localtime(self._last_estimate)))
        if self.run_path is not None and self.stored:
            parts.append(f"saved to {self.run_path}")
        if self.viewing_path is not None:
            parts.append(f"viewing {self.viewing_path}")
        if state == "invalid":
            parts.append(f"cannot run: {self._config_error}")
        if self._queued is not None:
            parts.append(f"{self._queued} once epoch 0 is measured")
        self.status_text.object = " · ".join(parts)

    def _set_status_note(self, note: str) -> None:
        self._update_transport()
        self.status_text.object += f" · {note}"

    def _show_error(self, message: str) -> None:
        self.alert.object = message
        self.alert.visible = True

    # ------------------------------------------------------------------ queue → streams

    def drain(self, max_messages: int | None = None) -> int:
        """Move the worker's queued messages into the plots; return how many were handled.

        An error while drawing is shown in the app (and logged) instead of ending the
        periodic callback silently.
        """
        try:
            return self._drain(max_messages)
        except Exception as exc:  # noqa: BLE001 - shown to the user, app stays usable
            logger.exception("drawing the measured epochs failed")
            self._show_error(f"Drawing the measured epochs failed: {type(exc).__name__}: {exc}")
            return 0

    def _drain(self, max_messages: int | None) -> int:
        worker = self.worker
        if worker is None:
            return 0
        limit = self.MAX_MESSAGES_PER_DRAIN if max_messages is None else max_messages
        messages: list[WorkerMessage] = []
        while len(messages) < limit:
            try:
                messages.append(worker.queue.get_nowait())
            except Exception:  # noqa: BLE001 - queue.Empty
                break
        if not messages:
            return 0
        new_records = []
        for message in messages:
            if message.run_id != worker.run_id:
                continue
            if message.kind == "started":
                self.device_used = message.payload.get("device")
                self.data_bounds = {k: message.payload.get(k)
                                    for k in ("n_inputs", "label_entropy")}
            elif message.kind == "record":
                new_records.append(message.payload)
            elif message.kind == "paused":
                self._paused_confirmed = True
                self.epoch_done = int(message.payload["epoch"])
            elif message.kind == "progress":
                self.epoch_done = int(message.payload["epoch"])
                self.epochs_per_second = float(message.payload["epochs_per_second"])
            elif message.kind == "error":
                self._ended = "failed"
                self._show_error("The run stopped with an error: "
                                 f"{message.payload['message']}. The settings are kept; "
                                 "press Reset to try again.")
            elif message.kind == "finished":
                logger.info("run %d ended: %s", worker.run_id, message.payload["state"])
                if self._ended is None and message.payload["state"] == "finished":
                    self._ended = "finished"
                if self.stored:
                    self.refresh_runs()
        if new_records:
            self.add_records(new_records)
        self._update_transport()
        if self._queued is not None and self.state != "measuring":
            self._run_queued()
        return len(messages)

    def add_records(self, records: list[Any]) -> None:
        """Show measured epochs: append their rows to the streams and update the views."""
        fresh = []
        for record in records:
            if int(record.epoch) not in self.records:
                fresh.append(record)
            self.records[int(record.epoch)] = record
        if not self.records:
            return
        self._last_estimate = time.time()
        self._prepare_plots(records[-1])
        rows = [row for record in fresh for row in record.rows]
        if rows:
            self.live.push_rows(rows)
        measured = sorted(self.records)
        follow = self.follow.value or self.epoch_slider.value == self.epoch_slider.options[-1]
        self.epoch_slider.options = measured
        if follow:
            self.epoch_slider.value = measured[-1]
        self._show_epoch(evolution=True)

    def _layers_of(self, record: Any) -> tuple[list[int], dict[int, int]]:
        widths = {int(k): int(np.asarray(v).reshape(len(v), -1).shape[1])
                  for k, v in record.snapshots.items()}
        layers = set(widths)
        for row in record.rows:
            if row.get("layer") is not None and not pd.isna(row.get("layer")):
                layers.add(int(row["layer"]))
        for layer in record.densities:
            layers.add(int(layer))
            widths.setdefault(int(layer), 1)
        return sorted(layers), widths

    def _prepare_plots(self, record: Any) -> None:
        """Build the plots for this run's layers, or reuse them when the layout is the same."""
        layers, widths = self._layers_of(record)
        self.layer_widths.update(widths)
        try:
            bin_sizes = self.build_config().absolute_bin_sizes()
        except ValueError:
            bin_sizes = []
        found = sorted({float(r["bin_size"]) for r in record.rows
                        if r.get("quantity") == "h_bin" and r.get("bin_size") is not None})
        bin_sizes = found or bin_sizes
        one_d = sorted(k for k, v in self.layer_widths.items() if v == 1)
        signature = (tuple(layers), tuple(bin_sizes), int(self.epochs), tuple(one_d),
                     tuple(sorted(self.data_bounds.items())))
        if self.live is not None and signature == self._signature:
            return
        bounds = self._axis_bounds(record)
        self._signature = signature
        self.live = plots.LivePlots(layers, bin_sizes=bin_sizes, max_epoch=int(self.epochs),
                                    units=self.units, one_dimensional=one_d, bounds=bounds)
        for name, slot in self.slots.items():
            slot[:] = [pn.pane.HoloViews(self.live.maps[name], linked_axes=False, margin=0)]
        self.layer_select.options = layers
        self.layer_select.value = self._default_layer(layers)
        self.density_select.options = one_d or [layers[0] if layers else 1]
        self.density_select.value = self.density_select.options[0]
        self.density_slot_note.object = (
            "" if one_d else "Densities are drawn for layers of width 1 (the 1-D toys).")
        # Rows of epochs that arrived before the rebuild go into the new streams.
        earlier = [row for epoch, rec in sorted(self.records.items()) if rec is not record
                   for row in rec.rows]
        if earlier:
            self.live.push_rows(earlier)

    def _axis_bounds(self, record: Any) -> dict[str, float | None]:
        """Return the tops of the value axes: ln m and H(Y) from the data, else the values.

        A stored run has no data at hand; its axes cover the largest values it recorded.
        """
        n_inputs = self.data_bounds.get("n_inputs")
        label_entropy = self.data_bounds.get("label_entropy")
        records = list(self.records.values()) or [record]

        def largest(*quantities: str) -> float | None:
            values = [row["value"] for rec in records for row in rec.rows
                      if row.get("quantity") in quantities and row.get("unit") is None
                      and row.get("value") is not None and math.isfinite(row["value"])]
            return max(values) if values else None

        log_m = math.log(n_inputs) if n_inputs else None
        return {
            "i_xt": log_m or largest("i_xt", "i_xt_exact", "kl_upper"),
            "i_yt": label_entropy or largest("i_yt"),
            "h_bin": log_m or largest("h_bin"),
            "loss": largest("loss"),
        }

    def _default_layer(self, layers: list[int]) -> int:
        small = [k for k in layers if self.layer_widths.get(k, 99) in (2, 3)]
        return small[-1] if small else (layers[-1] if layers else 1)

    def _on_epoch_selected(self, event: param.parameterized.Event) -> None:
        options = self.epoch_slider.options
        if options and event.new != options[-1]:
            self.follow.value = False
        self._show_epoch()

    def _show_epoch(self, evolution: bool = False) -> None:
        """Send the selected epoch's snapshot, density and distances to their plots."""
        if self.live is None or not self.records:
            return
        epoch = self.epoch_slider.value
        record = self.records.get(epoch) or self.records[max(self.records)]
        layer = self.layer_select.value
        self.azimuth.visible = self.layer_widths.get(layer) == 3
        labels = record.snapshot_labels
        self.live.pipes["hidden"].send({
            "values": record.snapshots.get(layer), "labels": labels, "layer": layer,
            "epoch": record.epoch, "azimuth": self.azimuth.value})
        self.live.pipes["distances"].send({
            "distances": record.distances.get(layer), "layer": layer, "epoch": record.epoch})
        dlayer = self.density_select.value
        grid, density = record.densities.get(dlayer, (None, None))
        # The centres are ticks on the t axis, one per input: a layer wider than one (the
        # fallback when no layer has width 1) has none, and its values do not match the labels.
        centres = record.snapshots.get(dlayer) if self.layer_widths.get(dlayer) == 1 else None
        self.live.pipes["density"].send({
            "grid": grid, "density": density, "layer": dlayer, "epoch": record.epoch,
            "centres": centres, "labels": labels})
        if evolution:
            epochs = [e for e in sorted(self.records) if dlayer in self.records[e].densities]
            self.live.pipes["evolution"].send({
                "epochs": epochs, "layer": dlayer,
                "grids": [self.records[e].densities[dlayer][0] for e in epochs],
                "densities": [self.records[e].densities[dlayer][1] for e in epochs]})

    # ------------------------------------------------------------------ export

    def metrics_frame(self) -> pd.DataFrame:
        """Return every metric row shown so far (the tidy columns, nats)."""
        if self.live is None:
            return plots.empty_frame()[plots.METRIC_COLUMNS]
        return self.live.frame[plots.METRIC_COLUMNS].sort_values(
            ["epoch", "quantity"], kind="stable").reset_index(drop=True)

    def metrics_csv(self) -> io.StringIO:
        """Return the metrics as CSV text."""
        buffer = io.StringIO()
        self.metrics_frame().to_csv(buffer, index=False)
        buffer.seek(0)
        return buffer

    def metrics_parquet(self) -> io.BytesIO:
        """Return the metrics as a Parquet file."""
        buffer = io.BytesIO()
        self.metrics_frame().to_parquet(buffer, index=False)
        buffer.seek(0)
        return buffer

    def config_json(self) -> io.StringIO:
        """Return the configuration as JSON (that of the stored run being viewed, if any)."""
        if self.viewing_path is not None:
            from app.store import RunStore

            text = RunStore(self.viewing_path).read_config().to_json()
        else:
            text = self.build_config().to_json()
        return io.StringIO(text)

    def static_layout(self) -> Any:
        """Return the current plots as a static HoloViews layout (for the HTML export)."""
        frame = self.live.frame if self.live is not None else plots.empty_frame()
        layers = self.live.layers if self.live is not None else []
        bins = self.live.bin_sizes if self.live is not None else []
        max_epoch = int(self.epochs)
        live = self.live if self.live is not None else plots.LivePlots([], max_epoch=max_epoch)
        elements = [
            live.limit_axes(plots.mi_plot(frame, layers, quantity="i_xt", units=self.units,
                                          max_epoch=max_epoch), y="i_xt"),
            live.limit_axes(plots.mi_plot(frame, layers, quantity="i_yt", units=self.units,
                                          max_epoch=max_epoch), y="i_yt"),
            live.limit_axes(plots.loss_plot(frame, quantity="loss", max_epoch=max_epoch),
                            y="loss", convert=False),
            plots.loss_plot(frame, quantity="accuracy", max_epoch=max_epoch).opts(
                plots.hv.opts.Overlay(ylim=(-0.02, 1.02))),
            live.limit_axes(plots.information_plane(frame, layers, units=self.units,
                                                    max_epoch=max_epoch),
                            x="i_xt", y="i_yt"),
            live.limit_axes(plots.binned_entropy_plot(frame, layers, bins, units=self.units,
                                                      max_epoch=max_epoch), y="h_bin"),
        ]
        # The plots of the epoch on the slider, as the page shows them.
        pipes = self.live.pipes if self.live is not None else {}
        hidden = pipes["hidden"].data if pipes else {}
        if hidden:
            elements.append(plots.hidden_layer_plot(
                hidden.get("values"), hidden.get("labels"), layer=hidden.get("layer", 1),
                epoch=hidden.get("epoch"), azimuth=hidden.get("azimuth", 35.0)))
            distances = pipes["distances"].data
            elements.append(plots.distance_plot(distances.get("distances"),
                                                layer=distances.get("layer", 1),
                                                epoch=distances.get("epoch")))
        density = pipes["density"].data if pipes else {}
        if density and density.get("grid") is not None:
            elements.append(plots.density_plot(
                density["grid"], density["density"], layer=density["layer"],
                epoch=density["epoch"], centres=density.get("centres"),
                labels=density.get("labels")))
            evolution = pipes["evolution"].data
            elements.append(plots.density_evolution(
                evolution["epochs"], evolution["grids"], evolution["densities"],
                layer=evolution["layer"], max_epoch=max_epoch))
        return plots.hv.Layout(elements).cols(2)

    def plots_html(self) -> io.BytesIO:
        """Return the plots as one standalone HTML file (scripts inlined, works offline).

        The Bokeh model is rendered into a document of its own and written by Bokeh alone:
        Panel's save switches the server's resource mode while it writes, after which the
        running sessions load their stylesheets from the CDN, which an offline machine
        cannot reach.
        """
        from bokeh.document import Document
        from bokeh.embed import file_html
        from bokeh.resources import INLINE

        plot = plots.hv.renderer("bokeh").get_plot(self.static_layout(), doc=Document())
        html = file_html(plot.state, INLINE, title="InfoFlow Explorer plots")
        return io.BytesIO(html.encode("utf-8"))

    # ------------------------------------------------------------------ stored runs

    def refresh_runs(self) -> None:
        """List the run folders under the runs folder, newest first."""
        from app.store import list_runs

        try:
            table = list_runs(self.runs_folder) if self.runs_folder.is_dir() else None
        except Exception as exc:  # noqa: BLE001 - an unreadable folder must not break the app
            logger.warning("could not list runs in %s: %s", self.runs_folder, exc)
            table = None
        options: dict[str, str] = {}
        if table is not None and len(table):
            table = table.sort_values("created", ascending=False, na_position="last")
            for row in table.itertuples():
                label = (f"{Path(row.path).name} · {row.status} · last epoch "
                         f"{row.last_measured}")
                options[label] = row.path
        self.run_list.options = options

    def open_selected_run(self) -> None:
        """Open the run selected in the list."""
        if self.run_list.value:
            self.open_run(self.run_list.value)

    def open_run(self, path: str | os.PathLike) -> None:
        """Show a stored run: its settings in the controls and every measured epoch."""
        from app.store import RunStore

        store = RunStore(path)
        try:
            config = store.read_config()
            records = [store.read_record(epoch) for epoch in store.measured_epochs()]
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._show_error(f"Could not open {path}: {exc}")
            return
        self._stop_worker()
        self.data_bounds = {}
        self._signature = None
        self._applying = True
        try:
            values = {
                "example": config.example, "beta": self._beta_choice(config.beta),
                "noise": config.noise, "optimizer": config.optimizer,
                "learning_rate": config.learning_rate, "epochs": config.epochs,
                "batch_size": config.batch_size or 0,
                "orthonormal": config.orthonormal_alpha > 0,
                "orthonormal_alpha": config.orthonormal_alpha or DEFAULT_ALPHA,
                "seed": config.seed, "replicas": config.replicas,
                "n_queries": config.n_queries, "bin_sizes": _format_sizes(config.bin_sizes),
                "bootstrap": "bootstrap" in config.quantities, "device": config.device,
            }
            if config.activation in self.param.activation.objects:
                values["activation"] = config.activation
            self.param.update(**values)
        finally:
            self._applying = False
        self._update_controls()
        self.records = {}
        if self.live is not None:
            self.live.clear()
        self.viewing_path = Path(path)
        self.run_path = None
        self.epoch_done = max((r.epoch for r in records), default=0)
        self.alert.visible = False
        if records:
            self.add_records(records)
        self._update_transport()

    # ------------------------------------------------------------------ layout

    def _sidebar(self) -> pn.Column:
        w = self.widgets
        head = {"styles": {"font-size": "14px"}, "margin": (10, 10, 0, 10)}
        return pn.Column(
            pn.pane.Markdown("### Network", **head),
            w["example"], w["activation"], w["beta"], w["noise"], w["dropout_p"],
            pn.pane.Markdown("### Training", **head),
            w["optimizer"], w["learning_rate"], w["epochs"], w["batch_size"],
            w["orthonormal"], w["orthonormal_alpha"],
            pn.Row(w["seed"], self.new_seed_button, margin=0),
            pn.pane.Markdown("### Estimation", **head),
            w["replicas"], w["n_queries"], w["bin_sizes"], w["bootstrap"],
            pn.pane.Markdown("### Device", **head),
            w["device"], self.device_text, self.reasons_text,
            width=300, scroll=True, sizing_mode="stretch_height",
            styles={"background": "#f4f6f8", "border-right": "1px solid #dde"},
        )

    def _main(self) -> pn.Column:
        s = self.slots
        transport = pn.Row(self.start_button, self.step_button, self.reset_button,
                           self.epoch_text, self.progress, pn.pane.Markdown("Units:",
                                                                            margin=(12, 2)),
                           self.widgets["units"], margin=(5, 5, 0, 5))
        look_back = pn.Row(self.epoch_slider, self.follow, margin=0)
        tabs = pn.Tabs(
            ("Information", pn.Column(self.sp_note, pn.Row(s["i_xt"], s["i_yt"]),
                                      pn.Row(s["loss"], s["accuracy"]))),
            ("Plane & binning", pn.Row(s["plane"], s["h_bin"])),
            ("Density (1-D)", pn.Column(pn.Row(self.density_select, self.density_slot_note),
                                        pn.Row(s["density"], s["evolution"]))),
            ("Hidden layers", pn.Column(pn.Row(self.layer_select, self.azimuth),
                                        pn.Row(s["hidden"], s["distances"]))),
            ("Sweeps", self._sweep_view()),
            ("Runs & export", pn.Column(
                pn.pane.Markdown(f"Runs are saved under `{self.runs_folder}`."),
                self.run_list, pn.Row(self.open_button, self.refresh_button),
                pn.pane.Markdown("### Export"), pn.Row(*self.downloads[:2]),
                pn.Row(*self.downloads[2:]))),
            dynamic=True, margin=(0, 5),
        )
        return pn.Column(transport, self.status_text, self.alert, look_back, tabs,
                         sizing_mode="stretch_both", margin=0)

    def _sweep_view(self) -> SweepView:
        if not hasattr(self, "sweeps"):
            self.sweeps = SweepView(units=self.units)
            self.param.watch(lambda event: setattr(self.sweeps, "units", event.new), "units")
        return self.sweeps

    def __panel__(self) -> pn.Row:
        if not hasattr(self, "_layout"):
            self._layout = pn.Row(self._sidebar(), self._main(), sizing_mode="stretch_both",
                                  min_height=700)
        self._ensure_drain()
        return self._layout



SWEEP_KINDS = {
    "Weight w of the tanh neuron, bias -2w (Fig. 5d)": "weight",
    "Bias b of the leaky-ReLU neuron (Figs. 6a-b)": "bias",
}


class SweepView(pn.viewable.Viewer):
    """I(X;T) of a 1-D toy against one parameter, exact and SP side by side (no training).

    The weight sweep (Fig. 5d) sets the tanh neuron to S = tanh(w X - 2 w) for several beta;
    the bias sweep (Figs. 6a-b) sets the leaky-ReLU neuron to S = R(X - b). A slider picks
    the value of w or b: the curve marks the exact and SP values there and the second plot
    shows the Gaussian-mixture density p_T(t) at that value. The sweep is computed in a
    background thread on request.
    """

    kind = param.Selector(default="weight", objects=SWEEP_KINDS, doc="Which sweep.")
    position = param.Number(default=1.0, bounds=(0.0, 5.0), doc="Value of w or b shown.")
    betas = param.String(default="0.01, 0.05, 0.1, 0.2",
                         doc="Noise standard deviations of the weight sweep.")
    beta = param.Selector(default=0.05, objects=[b for b in BETA_CHOICES if b > 0],
                          doc="Noise standard deviation of the bias sweep.")
    units = param.Selector(default="nats", objects=list(plots.UNITS))

    GRID = np.round(np.linspace(0.0, 5.0, 51), 6)
    N_QUERIES = 500

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.frame: pd.DataFrame | None = None
        self.grid: np.ndarray | None = None
        self.densities: np.ndarray | None = None
        self._thread: Any = None
        self.compute_button = pn.widgets.Button(label="Compute sweep", color="primary",
                                                width=150)
        self.compute_button.on_click(lambda event: self.compute())
        self.message = pn.pane.Markdown("Press *Compute sweep* (a few seconds).",
                                        styles={"font-size": "13px"})
        self.curve_pane = pn.pane.HoloViews(None, margin=0)
        self.density_pane = pn.pane.HoloViews(None, margin=0)
        self.image_pane = pn.pane.HoloViews(None, margin=0, visible=False)
        self.param.watch(lambda event: self._redraw(), ["position", "units"])
        self.param.watch(lambda event: self._forget(), ["kind", "betas", "beta"])

    def _forget(self) -> None:
        self.frame = self.grid = self.densities = None
        self.curve_pane.object = self.density_pane.object = self.image_pane.object = None
        self.message.object = "Settings changed: press *Compute sweep*."

    def _sweep(self) -> tuple[pd.DataFrame, np.ndarray | None, np.ndarray | None]:
        from app import sweeps

        if self.kind == "weight":
            betas = parse_positive_numbers(self.betas, "β values")
            return sweeps.weight_sweep(self.GRID, betas, n_queries=self.N_QUERIES), None, None
        return sweeps.bias_sweep(self.GRID, float(self.beta), n_queries=self.N_QUERIES)

    def compute(self, *, wait: bool = False) -> None:
        """Compute the sweep in a background thread (or here when ``wait``) and draw it."""
        import threading

        if self._thread is not None and self._thread.is_alive():
            return
        if self.kind == "weight":
            try:
                parse_positive_numbers(self.betas, "β values")
            except ValueError as exc:
                self.message.object = f"The sweep cannot run: {exc}."
                return
        doc = pn.state.curdoc
        self.message.object = "Computing the sweep …"
        self.compute_button.disabled = True

        def work() -> None:
            try:
                result: Any = self._sweep()
                error = None
            except Exception as exc:  # noqa: BLE001 - shown to the user
                logger.exception("sweep failed")
                result, error = None, f"{type(exc).__name__}: {exc}"
            if doc is not None and doc.session_context is not None and not wait:
                doc.add_next_tick_callback(lambda: self._deliver(result, error))
            else:
                self._deliver(result, error)

        if wait:
            work()
            return
        self._thread = threading.Thread(target=work, name="infoflow-sweep", daemon=True)
        self._thread.start()

    def _deliver(self, result: Any, error: str | None) -> None:
        self.compute_button.disabled = False
        if error is not None:
            self.message.object = f"The sweep failed: {error}"
            return
        self.frame, self.grid, self.densities = result
        self.message.object = (f"{len(self.frame)} points; SP (crosses, ±2 s.e. bars) with "
                               f"{self.N_QUERIES} queries per input; lines are exact.")
        self._redraw()

    def density_at(self) -> plots.hv.Overlay:
        """Return the density p_T(t) at the slider's value (one curve per beta)."""
        hv = plots.hv
        tdim = hv.Dimension("t", label="t (value of the neuron)")
        pdim = hv.Dimension("p", label="density p_T(t)")
        value = float(self.position)
        curves = []
        if self.kind == "weight":
            grid = np.linspace(-1.3, 1.3, 600)
            from app.sweeps import TANH_INPUTS

            centres = np.tanh(value * TANH_INPUTS - 2.0 * value)
            for k, beta in enumerate(sorted(self.frame["beta"].unique())):
                curves.append(hv.Curve((grid, plots.mixture_density(centres, beta, grid)),
                                       tdim, pdim, label=f"β={beta:g}").opts(
                    color=plots.LAYER_COLOURS[k % 10], line_width=2))
            title = f"Density of T at w = {value:g} (bias {-2 * value:g})"
        else:
            index = int(np.argmin(np.abs(self.frame["b"].to_numpy() - value)))
            b = float(self.frame["b"].iloc[index])
            curves.append(hv.Area((self.grid, self.densities[index]), tdim, pdim,
                                  label=f"β={self.beta:g}").opts(alpha=0.4, line_width=2))
            title = f"Density of R(X - b) + Z at b = {b:g}"
        return hv.Overlay(curves).opts(hv.opts.Overlay(
            title=title, legend_position="top_right", width=plots.PLOT_WIDTH,
            height=plots.PLOT_HEIGHT, fontsize=plots.FONTSIZE, show_grid=True))

    def density_image(self) -> plots.hv.Image:
        """Return the density over b as an image (Fig. 6b); bias sweep only."""
        hv = plots.hv
        b = self.frame["b"].to_numpy()
        image = hv.Image((b, self.grid, self.densities.T),
                         [hv.Dimension("b", label="bias b"),
                          hv.Dimension("t", label="t (value of the neuron)")],
                         hv.Dimension("p", label="density p_T(t)"))
        return image.opts(cmap="viridis", colorbar=True, title="Density of T against b",
                          width=plots.PLOT_WIDTH, height=plots.PLOT_HEIGHT,
                          fontsize=plots.FONTSIZE)

    def _redraw(self) -> None:
        if self.frame is None:
            return
        parameter = "w" if self.kind == "weight" else "b"
        group = "beta" if self.kind == "weight" else None
        self.curve_pane.object = plots.sweep_curve(self.frame, parameter=parameter,
                                                   position=float(self.position),
                                                   units=self.units, group=group)
        self.density_pane.object = self.density_at()
        self.image_pane.visible = self.kind == "bias"
        if self.kind == "bias":
            self.image_pane.object = self.density_image()

    def __panel__(self) -> pn.Column:
        w = pn.widgets
        slider = w.FloatSlider.from_param(self.param.position, label="w or b", step=0.1,
                                          width=260)
        return pn.Column(
            pn.Row(w.Select.from_param(self.param.kind, label="Sweep", width=330),
                   w.TextInput.from_param(self.param.betas, label="β values (weight sweep)",
                                          width=170),
                   w.Select.from_param(self.param.beta, label="β (bias sweep)", width=110),
                   self.compute_button),
            pn.Row(slider, self.message),
            pn.Row(self.curve_pane, self.density_pane),
            self.image_pane,
        )
