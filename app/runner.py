"""Run an experiment: train, and at each scheduled epoch measure every hidden layer.

A :class:`Runner` joins ``models`` (network, data, trainer, sampling of hidden layers) and
``estimators`` (SP estimator, bounds, binning, geometry) into one :class:`EpochRecord` per
measured epoch, handed to a callback and written to a run folder as it goes.

Estimation never changes what is learned. The trainer owns the training random streams;
sampling, Monte Carlo queries and bootstraps draw from seeds derived from the configuration's
``seed`` and the epoch alone, and the global torch and numpy streams are restored after each
measurement. Measuring at every epoch or at none therefore gives the same weights, and a run
resumed from a checkpoint measures what the uninterrupted run measured.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

import estimators
from app import exact
from app.config import TOY_EXAMPLES, ExperimentConfig
from app.records import EpochRecord, metric_row
from app.store import RunStore

logger = logging.getLogger(__name__)

# Streams of the estimation seeds (see _derived_seed); fixed numbers keep old runs comparable.
_STREAM_SAMPLE, _STREAM_SNAPSHOT, _STREAM_GEOMETRY = 1, 2, 3
_STREAM_SP, _STREAM_BOOTSTRAP = 100, 200

# One-dimensional layers (the toys) have components far apart compared with beta for most of
# training, where plain Monte Carlo misses the mass between them and understates its own
# error; their queries use defensive importance sampling (see sample_propagation_mi).
_ONE_D_PROPOSAL_SCALE = 2.0


def _proposal_scale(samples) -> float | None:
    """Return the SP query proposal scale for samples (m, r, d): wider for d = 1."""
    return _ONE_D_PROPOSAL_SCALE if samples.shape[-1] == 1 else None

# Inputs propagated at once when taking the deterministic pass of a big model.
_CLEAN_CHUNK = 512
# Pairs of the distance histograms beyond which pairs are sampled rather than all taken.
_MAX_PAIRS = 250_000
# Points of the density grid of 1-D layers.
_DENSITY_POINTS = 400
# Layers of at most this many inputs get densities (the 1-D toys).
_DENSITY_MAX_INPUTS = 64

# The models draw initial weights from the global torch stream (seeded, in a forked state);
# runners built at once in threads of one process must not interleave those draws.
_BUILD_LOCK = threading.Lock()

STATUSES = ("created", "running", "paused", "complete", "incomplete", "failed")


def resolve_device(name: str) -> torch.device:
    """Return the torch device of a configuration's ``device`` setting.

    Raises
    ------
    ValueError
        When ``"cuda"`` is asked for and no CUDA device is present.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device must be 'cpu' or 'auto' on a machine without CUDA, not 'cuda'")
    return torch.device(name)


def default_threads(config: ExperimentConfig) -> int:
    """Return the torch thread count of a run: ``config.threads``, else a sensible cap.

    The fully connected examples run on one thread: their tensors are so small that handing
    work to other threads costs more than it saves (on a busy machine, SZT training is
    tens of times slower on two threads than on one). The MNIST CNN takes up to 4 cores.
    """
    if config.threads is not None:
        return int(config.threads)
    if config.example != "mnist_cnn":
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def _derived_seed(seed: int, epoch: int, stream: int) -> int:
    """Return a 63-bit seed that depends only on the run's seed, the epoch and the stream."""
    sequence = np.random.SeedSequence([int(seed), int(epoch), int(stream)])
    return int(sequence.generate_state(1, dtype=np.uint64)[0]) >> 1


class _RestoreGlobalStreams:
    """Save the global torch, CUDA and numpy random states and restore them on exit."""

    def __enter__(self) -> _RestoreGlobalStreams:
        self._torch = torch.get_rng_state()
        self._cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        self._numpy = np.random.get_state()  # noqa: NPY002 - restoring, not drawing
        return self

    def __exit__(self, *exc: object) -> None:
        torch.set_rng_state(self._torch)
        if self._cuda is not None:
            torch.cuda.set_rng_state_all(self._cuda)
        np.random.set_state(self._numpy)  # noqa: NPY002 - restoring, not drawing


class _ClassOrInstance:
    """A method name that means one thing on the class and another on an instance.

    ``Runner.resume(path)`` continues a run folder; ``runner.resume()`` continues a paused
    background run.
    """

    def __init__(self, class_method: str, instance_method: str) -> None:
        self.class_method = class_method
        self.instance_method = instance_method

    def __get__(self, instance: object, owner: type) -> Callable[..., Any]:
        if instance is None:
            return getattr(owner, self.class_method)
        return getattr(instance, self.instance_method)


class Runner:
    """Train one experiment and measure it at the scheduled epochs.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment; it is validated and copied, so later changes to it do not reach a
        running experiment.
    out : str or os.PathLike, optional
        Run folder to write (created; it must not hold a run already). None keeps everything
        in memory, checkpoints included.
    callback : callable, optional
        Called as ``callback(record)`` with each :class:`EpochRecord`, from the thread that
        trains.
    progress : callable, optional
        Called as ``progress(epoch, epochs)`` after each chunk of training.

    Attributes
    ----------
    records : list of EpochRecord
        The measured epochs so far, in order.
    status : str
        One of ``created``, ``running``, ``paused``, ``complete``, ``incomplete`` (stopped or
        killed before the end) and ``failed``.
    error : str or None
        The message and traceback of the exception that failed the run.
    epoch : int
        Epochs trained so far.
    device : torch.device
        Where the model trains and is sampled.
    schedule : list of int
        Epochs that are measured.
    sp_available, sp_reason : bool, str
        Whether the SP estimator applies and why not (also in ``run.json`` under ``sp``); without
        it the run offers binning and geometry.

    Notes
    -----
    ``Runner.resume(path)``, called on the class, returns a runner that continues the run
    folder ``path`` (the same as :meth:`resume_run`); ``runner.resume()``, called on an
    instance, continues a paused background run.

    Examples
    --------
    >>> config = ExperimentConfig.for_example("tanh_neuron", epochs=100)
    >>> frame = Runner(config).run().frame()            # doctest: +SKIP
    """

    def __init__(
        self,
        config: ExperimentConfig,
        *,
        out: str | os.PathLike | None = None,
        callback: Callable[[EpochRecord], Any] | None = None,
        progress: Callable[[int, int], Any] | None = None,
        _create: bool = True,
    ) -> None:
        if not isinstance(config, ExperimentConfig):
            raise TypeError(f"config must be an ExperimentConfig, not {type(config).__name__}")
        self.config = config.copy().validate()
        self.callback = callback
        self.progress = progress
        self.device = resolve_device(self.config.device)
        torch.set_num_threads(default_threads(self.config))

        from models import every_schedule, get_example, log_schedule

        self.spec = get_example(self.config.example)
        self.data = self.spec.load_data(seed=self.config.seed)
        self.model = self._build_model()
        self.trainer = self._build_trainer(self.model)
        if self.config.schedule == "log":
            schedule = log_schedule(self.config.epochs, self.config.schedule_points)
        else:
            schedule = every_schedule(self.config.epochs, self.config.schedule_every)
        self.schedule = sorted(set(schedule))
        self._scheduled = set(self.schedule)

        self._labels = self._estimation_labels()
        m = int(self.data.estimation_x.shape[0])
        rng = np.random.default_rng(_derived_seed(self.config.seed, 0, _STREAM_SNAPSHOT))
        size = min(m, self.config.snapshot_size)
        self._snapshot_index = np.sort(rng.choice(m, size=size, replace=False))

        self.records: list[EpochRecord] = []
        self.status = "created"
        self.error: str | None = None
        self._checkpoints: dict[int, dict[str, Any]] = {}
        self._measured: set[int] = set()
        self._lock = threading.RLock()
        self._pause = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._chunk = 1
        self._train_seconds = 0.0
        self._estimate_seconds = 0.0
        self._since_record = 0.0
        self._started = time.time()

        self.sp_available, self.sp_reason = self.config.sp_status()
        if not self.sp_available:
            logger.info("no SP estimate for this run: %s", self.sp_reason)
        self._check_sample_memory(m)

        self.store: RunStore | None = None
        if out is not None:
            self.store = RunStore(out)
            if _create:
                self.store.create(self.config, device=str(self.device))
                self.store.update_info(
                    sp={"available": self.sp_available, "reason": self.sp_reason}
                )

    # ------------------------------------------------------------------ construction

    def _build_model(self) -> torch.nn.Module:
        config = self.config
        with _BUILD_LOCK:
            return self.spec.build_model(
                activation=config.activation,
                beta=config.beta,
                noise=config.noise,
                dropout_p=config.dropout_p,
                seed=config.seed,
            )

    def _build_trainer(self, model: torch.nn.Module) -> Any:
        from models import Trainer

        config = self.config
        # Settings of the example that the configuration does not expose (loss, augmentation).
        defaults = self.spec.trainer_defaults()
        extra = {key: defaults[key] for key in ("loss", "augment", "eval_noise")}
        return Trainer(
            model,
            self.data,
            optimizer=config.optimizer,
            learning_rate=config.learning_rate,
            lr_final=config.lr_final,
            epochs=config.epochs,
            batch_size=config.batch_size,
            orthonormal_alpha=config.orthonormal_alpha,
            seed=config.seed,
            device=self.device,
            **extra,
        )

    def _estimation_labels(self) -> np.ndarray | None:
        """Labels of the estimation inputs for I(Y;T), or None when they are not classes."""
        data = self.data
        if data.task == "classification" or data.class_values is not None:
            return data.estimation_y.cpu().numpy()
        return None

    # ------------------------------------------------------------------ state

    @property
    def epoch(self) -> int:
        """Epochs trained so far."""
        return int(self.trainer.epoch)

    def frame(self) -> pd.DataFrame:
        """Return the metric rows of every record so far as one DataFrame."""
        from app.records import rows_frame

        return rows_frame([row for record in self.records for row in record.rows])

    def _set_status(self, status: str, message: str = "") -> None:
        self.status = status
        if self.store is not None:
            self.store.update_info(
                status=status,
                message=message,
                pid=os.getpid(),
                epochs_done=self.epoch,
                last_measured=max(self._measured) if self._measured else None,
                timings=self._timings(),
            )

    def _timings(self) -> dict[str, float]:
        return {
            "train_s": self._train_seconds,
            "estimate_s": self._estimate_seconds,
            "wall_s": time.time() - self._started,
        }

    # ------------------------------------------------------------------ synchronous use

    def run(self) -> Runner:
        """Train to the last epoch, measuring at every scheduled epoch; return ``self``.

        Raises
        ------
        Exception
            Whatever training or estimation raised; the run is then marked failed.
        """
        self._set_status("running")
        try:
            while self._advance():
                if self._stop.is_set():
                    break
        except KeyboardInterrupt:
            self._set_status("incomplete", "interrupted")
            raise
        except BaseException as exc:
            self.error = "".join(traceback.format_exception(exc))
            self._set_status("failed", str(exc))
            raise
        self._finish()
        return self

    def step(self) -> EpochRecord | None:
        """Train one epoch and measure it when it is scheduled; return its record or None.

        Safe to call while a background run is paused.
        """
        with self._lock:
            record = self._measure_current()
            if self.epoch >= self.config.epochs:
                return record
            self._train(1)
            record = self._measure_current() or record
            if self.epoch >= self.config.epochs:
                self._finish()
            elif self.status not in ("running", "paused"):
                # Stepped by hand: not finished, not running, ready to go on.
                self._set_status("paused")
            return record

    def _check_sample_memory(self, n_inputs: int) -> None:
        """Refuse replica counts whose samples of one layer would not fit in memory.

        The SP estimator holds a layer's m x r x d samples in float64 together with as many
        query points, so the widest layer needs about 16 m r d bytes; the limit is
        ``INFOFLOW_SAMPLE_MEMORY_GB`` (default 4 GiB).
        """
        if not self.sp_available or self.config.replicas <= 1:
            return
        widest = max(self.model.layer_widths)
        needed = 16 * n_inputs * self.config.replicas * widest
        limit = float(os.environ.get("INFOFLOW_SAMPLE_MEMORY_GB", "4")) * 2**30
        if needed > limit:
            largest = max(1, int(limit // (16 * n_inputs * widest)))
            raise ValueError(
                f"replicas must be at most {largest} for {n_inputs} inputs and a layer of "
                f"width {widest} (about {needed / 2**30:.1f} GiB of samples, limit "
                f"{limit / 2**30:.1f} GiB; INFOFLOW_SAMPLE_MEMORY_GB raises it), not "
                f"{self.config.replicas}"
            )

    def measure_initial(self) -> EpochRecord | None:
        """Measure the epoch the run stands at, if scheduled and not yet measured (no training).

        For a new run this records epoch 0 at once, so a display has something to show before
        the first epoch is trained.
        """
        with self._lock:
            return self._measure_current()

    def set_learning_rate(self, learning_rate: float) -> None:
        """Use ``learning_rate`` from the next update on (a geometric decay keeps its shape)."""
        with self._lock:
            self.trainer.set_learning_rate(learning_rate)

    def _advance(self) -> bool:
        """Train up to the next scheduled epoch (in bounded chunks); False when finished."""
        with self._lock:
            self._measure_current()
            if self.epoch >= self.config.epochs:
                return False
            target = min([e for e in self.schedule if e > self.epoch] + [self.config.epochs])
            self._train(min(target - self.epoch, self._chunk))
            self._measure_current()
            return self.epoch < self.config.epochs

    def _train(self, n: int) -> None:
        start = time.perf_counter()
        self.trainer.train_epochs(n)
        elapsed = time.perf_counter() - start
        self._train_seconds += elapsed
        self._since_record += elapsed
        # Chunks of about 0.1 s keep pause and stop responsive without per-epoch overhead.
        if elapsed < 0.05 and n == self._chunk:
            self._chunk = min(self._chunk * 2, 4096)
        elif elapsed > 0.2 and self._chunk > 1:
            self._chunk //= 2
        if self.progress is not None:
            self.progress(self.epoch, self.config.epochs)

    def _finish(self) -> None:
        complete = self.epoch >= self.config.epochs
        self._set_status("complete" if complete else "incomplete")

    # ------------------------------------------------------------------ background use

    def start(self) -> None:
        """Run in a background thread; returns at once. Errors mark the run failed."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the runner is already running; pause, resume or stop it")
        self._stop.clear()
        self._pause.clear()
        self._thread = threading.Thread(target=self._loop, name="infoflow-runner", daemon=True)
        self._set_status("running")
        self._thread.start()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                if self._pause.is_set():
                    if self.status != "paused":
                        self._set_status("paused")
                    time.sleep(0.02)
                    continue
                if self.status != "running":
                    self._set_status("running")
                if not self._advance():
                    break
        except Exception as exc:  # noqa: BLE001 - reported through status and error
            self.error = "".join(traceback.format_exception(exc))
            logger.error("run failed at epoch %d: %s", self.epoch, exc)
            self._set_status("failed", str(exc))
            return
        self._finish()

    def pause(self) -> None:
        """Pause the background run after the current chunk of training."""
        self._pause.set()

    def _resume_paused(self) -> None:
        """Continue a paused background run."""
        self._pause.clear()

    resume = _ClassOrInstance("resume_run", "_resume_paused")

    def stop(self, timeout: float | None = None) -> None:
        """Stop the background run and wait for its thread to end."""
        self._stop.set()
        self._pause.clear()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"the runner thread did not stop within {timeout} s")
        self._thread = None

    @property
    def running(self) -> bool:
        """Whether a background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ resumption

    @classmethod
    def resume_run(
        cls,
        path: str | os.PathLike,
        *,
        callback: Callable[[EpochRecord], Any] | None = None,
        progress: Callable[[int, int], Any] | None = None,
    ) -> Runner:
        """Return a runner that continues the run in folder ``path`` from its last checkpoint.

        Also available as ``Runner.resume(path)`` when called on the class.
        """
        store = RunStore(path)
        if not store.exists():
            raise FileNotFoundError(f"{path} holds no run (no config.json)")
        runner = cls(
            store.read_config(), out=path, callback=callback, progress=progress, _create=False
        )
        runner._load_from_store()
        return runner

    def resume_from(self, path: str | os.PathLike) -> Runner:
        """Continue the run in folder ``path`` with this runner (same configuration).

        Raises
        ------
        ValueError
            When the folder's configuration differs from this runner's.
        """
        store = RunStore(path)
        if store.read_config() != self.config:
            raise ValueError(f"the run in {path} has a different configuration from this runner")
        if self.records or self.epoch:
            raise ValueError("resume_from needs a runner that has not trained or measured yet")
        self.store = store
        self._load_from_store()
        return self

    def _load_from_store(self) -> None:
        store = self.store
        measured = set(store.measured_epochs())
        usable = [e for e in store.checkpoint_epochs() if e in measured]
        if not usable:
            # Killed before the first epoch was complete: start over in the same folder.
            store.remove_after(-1)
            return
        last = usable[-1]
        store.remove_after(last)
        state = store.read_checkpoint(last)
        self.trainer.load_state_dict(state["trainer"])
        self._measured = {e for e in store.measured_epochs()}
        self.records = [store.read_record(e) for e in sorted(self._measured)]
        info = store.read_info()
        timings = info.get("timings", {})
        self._train_seconds = float(timings.get("train_s", 0.0))
        self._estimate_seconds = float(timings.get("estimate_s", 0.0))
        self.status = "incomplete"
        logger.info("resuming %s from epoch %d", store.path, last)

    # ------------------------------------------------------------------ measuring

    def _measure_current(self) -> EpochRecord | None:
        """Record the current epoch when it is scheduled and not yet measured."""
        if self.epoch in self._scheduled and self.epoch not in self._measured:
            return self._record(self.epoch)
        return None

    def _record(self, epoch: int) -> EpochRecord:
        start = time.perf_counter()
        state = self.trainer.state_dict()
        record = self._measure(self.model, self.trainer, epoch)
        record.timings["train"] = self._since_record
        self._since_record = 0.0

        if self.store is not None:
            # The checkpoint goes first: a metrics part on disk implies its checkpoint.
            self.store.write_checkpoint(epoch, {"trainer": state, "epoch": epoch})
            self.store.write_record(record)
        else:
            self._checkpoints[epoch] = state
        self._estimate_seconds += time.perf_counter() - start
        record.timings["total"] = time.perf_counter() - start
        self._measured.add(epoch)
        self.records.append(record)
        if self.store is not None:
            self.store.update_info(
                epochs_done=epoch, last_measured=epoch, timings=self._timings(), pid=os.getpid()
            )
        if self.callback is not None:
            self.callback(record)
        return record

    def _measure(
        self,
        model: torch.nn.Module,
        trainer: Any,
        epoch: int,
        *,
        replicas: int | None = None,
        n_queries: int | None = None,
    ) -> EpochRecord:
        """Measure ``model`` at ``epoch`` without touching any training stream."""
        with _RestoreGlobalStreams():
            return self._measure_unguarded(model, trainer, epoch, replicas, n_queries)

    def _measure_unguarded(
        self,
        model: torch.nn.Module,
        trainer: Any,
        epoch: int,
        replicas: int | None,
        n_queries: int | None,
    ) -> EpochRecord:
        config = self.config
        quantities = set(config.quantities)
        record = EpochRecord(epoch=epoch)
        rows = record.rows

        scores = trainer.evaluate()
        for split in ("train", "test"):
            rows.append(metric_row(epoch, "loss", scores[f"{split}_loss"], split=split))
            if scores.get(f"{split}_accuracy") is not None:
                rows.append(
                    metric_row(epoch, "accuracy", scores[f"{split}_accuracy"], split=split)
                )

        start = time.perf_counter()
        layers, deterministic = self._layer_samples(model, epoch, replicas)
        record.timings["sample"] = time.perf_counter() - start

        start = time.perf_counter()
        for number, (samples, det) in enumerate(zip(layers, deterministic, strict=True), 1):
            self._measure_layer(record, model, number, samples, det, quantities, layers, n_queries)
        if "snapshots" in quantities:
            record.snapshot_index = self._snapshot_index.copy()
            if self._labels is not None:
                record.snapshot_labels = self._labels[self._snapshot_index]
        record.timings["estimate"] = time.perf_counter() - start
        return record

    def _layer_samples(
        self, model: torch.nn.Module, epoch: int, replicas: int | None
    ) -> tuple[list[torch.Tensor], list[bool]]:
        """Return (m, r, d) clean samples of every reported layer and their determinism flags."""
        from models import sample_hidden_layers

        x = self.data.estimation_x
        if self.config.sp_status()[0]:
            widths = list(model.layer_widths)
            r = self.config.replicas if replicas is None else int(replicas)
            # With one noisy layer only, S_1 is a function of X: one replica says everything.
            r = 1 if len(widths) == 1 else r
            hidden = sample_hidden_layers(
                model, x, r, seed=_derived_seed(self.config.seed, epoch, _STREAM_SAMPLE)
            )
            return list(hidden.layers), list(hidden.deterministic)

        # No SP: the deterministic pass of the network (batch norm in eval mode).
        parameter = next(model.parameters())
        was_training = model.training
        model.eval()
        outputs: list[list[torch.Tensor]] = []
        try:
            with torch.no_grad():
                for begin in range(0, x.shape[0], _CLEAN_CHUNK):
                    chunk = x[begin : begin + _CLEAN_CHUNK].to(parameter.device, parameter.dtype)
                    layer_outputs = model.hidden_layers(chunk, noise=False)
                    outputs.append(
                        [out.clean.reshape(chunk.shape[0], -1) for out in layer_outputs]
                    )
        finally:
            model.train(was_training)
        layers = [torch.cat(parts)[:, None, :] for parts in zip(*outputs, strict=True)]
        return layers, [True] * len(layers)

    def _measure_layer(
        self,
        record: EpochRecord,
        model: torch.nn.Module,
        number: int,
        samples: torch.Tensor,
        deterministic: bool,
        quantities: set[str],
        all_layers: Sequence[torch.Tensor],
        n_queries: int | None,
    ) -> None:
        config, epoch, rows = self.config, record.epoch, record.rows
        beta = config.beta
        m = int(samples.shape[0])
        one_replica = samples[:, 0, :]
        sp_samples = samples[:, :1, :] if deterministic else samples
        per_input = config.n_queries if n_queries is None else int(n_queries)
        labels = self._labels

        if "sp" in quantities:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", estimators.SampleSizeWarning)
                result = estimators.sample_propagation_mi(
                    sp_samples,
                    beta,
                    labels=labels,
                    deterministic=deterministic,
                    n_queries=per_input * m,
                    seed=_derived_seed(config.seed, epoch, _STREAM_SP + number),
                    proposal_scale=_proposal_scale(sp_samples),
                )
            for name, estimate in (
                ("i_xt", result.mi),
                ("i_yt", result.label_mi),
                ("h_t", result.entropy),
                ("h_t_given_x", result.conditional_entropy),
            ):
                if estimate is not None:
                    rows.append(
                        metric_row(
                            epoch, name, estimate.value, layer=number, stderr=estimate.stderr
                        )
                    )

        if "bounds" in quantities:
            bounds = estimators.pairwise_mi_bounds(sp_samples, beta)
            rows.append(metric_row(epoch, "kl_upper", bounds.upper, layer=number))
            rows.append(metric_row(epoch, "bd_lower", bounds.lower, layer=number))

        if "bootstrap" in quantities:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", estimators.SampleSizeWarning)
                boot = estimators.bootstrap_mi(
                    sp_samples,
                    beta,
                    n_boot=config.n_bootstrap,
                    deterministic=deterministic,
                    n_queries=per_input * m,
                    seed=_derived_seed(config.seed, epoch, _STREAM_BOOTSTRAP + number),
                    proposal_scale=_proposal_scale(sp_samples),
                )
            rows.append(
                metric_row(
                    epoch, "i_xt_boot", float(np.mean(boot.values)), layer=number, stderr=boot.std
                )
            )

        if "exact" in quantities:
            value = self._exact_mi(model, number, all_layers)
            if value is not None:
                rows.append(metric_row(epoch, "i_xt_exact", value.mi, layer=number))

        if config.example in TOY_EXAMPLES:
            weight, bias = self._toy_parameters(model, number)
            rows.append(metric_row(epoch, "weight", weight, layer=number, split=""))
            rows.append(metric_row(epoch, "bias", bias, layer=number, split=""))

        if "binning" in quantities or "per_unit_binning" in quantities:
            for size in config.absolute_bin_sizes():
                if "binning" in quantities:
                    value = estimators.binned_entropy(one_replica, size)
                    rows.append(metric_row(epoch, "h_bin", value, layer=number, bin_size=size))
                    if labels is not None:
                        value = estimators.binned_label_mi(one_replica, labels, size)
                        rows.append(
                            metric_row(epoch, "i_yt_bin", value, layer=number, bin_size=size)
                        )
                if "per_unit_binning" in quantities:
                    values = estimators.per_unit_binned_entropy(one_replica, size)
                    for unit, value in enumerate(np.asarray(values)):
                        rows.append(
                            metric_row(
                                epoch, "h_bin_unit", value, layer=number, bin_size=size, unit=unit
                            )
                        )

        if "geometry" in quantities and labels is not None and m > 1:
            d = int(one_replica.shape[1])
            # A fixed range keeps the histograms of all epochs comparable for tanh layers.
            fixed = (0.0, 2.0 * math.sqrt(d)) if config.activation == "tanh" else None
            histograms = estimators.distance_histograms(
                one_replica,
                labels,
                bins=config.distance_bins,
                range=fixed,
                max_pairs=_MAX_PAIRS if m * (m - 1) // 2 > _MAX_PAIRS else None,
                seed=_derived_seed(config.seed, epoch, _STREAM_GEOMETRY),
            )
            record.distances[number] = (
                np.asarray(histograms.edges),
                np.asarray(histograms.within),
                np.asarray(histograms.between),
            )

        if "snapshots" in quantities:
            index = torch.as_tensor(self._snapshot_index, device=one_replica.device)
            record.snapshots[number] = one_replica[index].detach().cpu().numpy().astype(np.float32)

        if (
            ("snapshots" in quantities or "exact" in quantities)
            and samples.shape[2] == 1
            and m <= _DENSITY_MAX_INPUTS
            and beta > 0
        ):
            record.densities[number] = self._density(model, number, samples, all_layers)

    def _toy_parameters(self, model: torch.nn.Module, number: int) -> tuple[float, float]:
        linear = model.layers[number - 1].linear
        weight, bias = linear.weight.detach(), linear.bias.detach()
        return float(weight.reshape(-1)[0]), float(bias.reshape(-1)[0])

    def _exact_mi(
        self, model: torch.nn.Module, number: int, all_layers: Sequence[torch.Tensor]
    ) -> exact.ExactMI | None:
        """Return the true I(X;T_l) of a 1-D toy layer, or None where no method applies."""
        beta = self.config.beta
        first = all_layers[0][:, 0, 0].detach().cpu().numpy().astype(np.float64)
        if number == 1:
            return exact.mi_fed_by_input(first, beta)
        if number == 2 and len(all_layers) == 2:
            w2, b2 = self._toy_parameters(model, 2)
            return exact.mi_second_layer(first, w2, b2, beta, activation=self.config.activation)
        return None

    def _density(
        self,
        model: torch.nn.Module,
        number: int,
        samples: torch.Tensor,
        all_layers: Sequence[torch.Tensor],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Density of T_l on a grid: exact for the toys, the SP mixture otherwise."""
        beta = self.config.beta
        values = samples[:, :, 0].detach().cpu().numpy().astype(np.float64)
        low, high = values.min() - 5 * beta, values.max() + 5 * beta
        grid = np.linspace(low, high, _DENSITY_POINTS)
        if number == 1:
            density = estimators.mixture_density_1d(grid, values[:, 0], beta)
        elif (
            number == 2
            and len(all_layers) == 2
            and self.config.activation in exact.NEGATIVE_SLOPES
        ):
            first = all_layers[0][:, 0, 0].detach().cpu().numpy().astype(np.float64)
            w2, b2 = self._toy_parameters(model, 2)
            density = exact.density_second_layer(
                grid, first, w2, b2, beta, activation=self.config.activation
            )
        else:
            density = estimators.mixture_density_1d(grid, values.ravel(), beta)
        return grid, np.asarray(density, dtype=np.float64)

    # ------------------------------------------------------------------ re-estimation

    def _checkpoint(self, epoch: int) -> dict[str, Any]:
        if epoch in self._checkpoints:
            return self._checkpoints[epoch]
        if self.store is not None and epoch in self.store.checkpoint_epochs():
            return self.store.read_checkpoint(epoch)["trainer"]
        raise ValueError(
            f"epoch must be a measured epoch with a checkpoint, not {epoch} "
            f"(measured: {sorted(self._measured)[:10]}{'...' if len(self._measured) > 10 else ''})"
        )

    def _restored(self, epoch: int) -> tuple[torch.nn.Module, Any]:
        """Return a fresh model and trainer in the state of ``epoch`` (the run is untouched)."""
        state = self._checkpoint(epoch)
        model = self._build_model()
        trainer = self._build_trainer(model)
        trainer.load_state_dict(state)
        return model, trainer

    def reestimate(
        self, epoch: int, *, replicas: int | None = None, n_queries: int | None = None
    ) -> EpochRecord:
        """Measure a stored epoch again, e.g. with more replicas or queries.

        Parameters
        ----------
        epoch : int
            A measured epoch (its checkpoint is loaded).
        replicas, n_queries : int, optional
            Replace the configuration's values for this measurement.

        Returns
        -------
        EpochRecord
            Not added to :attr:`records` nor written to the run folder.
        """
        with self._lock:
            model, trainer = self._restored(int(epoch))
            return self._measure(
                model, trainer, int(epoch), replicas=replicas, n_queries=n_queries
            )

    def convergence(
        self,
        epoch: int,
        layer: int,
        *,
        replicas: Sequence[int] | None = None,
        n_queries: Sequence[int] | None = None,
    ) -> pd.DataFrame:
        """Return I(X;T_layer) at ``epoch`` for each number of replicas and of queries.

        Section 3.4.1: no empirical test shows the SP estimator's bias, so this shows how the
        estimate moves as r (and the number of Monte Carlo queries per input) grows; a value
        that still changes with r is not yet to be trusted.

        Returns
        -------
        pandas.DataFrame
            Columns ``epoch, layer, replicas, n_queries, quantity, value, stderr`` with
            quantities ``i_xt``, ``h_t`` and ``h_t_given_x``.
        """
        from models import sample_hidden_layers

        if not self.config.sp_status()[0]:
            raise ValueError(f"convergence needs the SP estimator: {self.config.sp_status()[1]}")
        widths = None
        replicas = [self.config.replicas] if replicas is None else [int(r) for r in replicas]
        n_queries = [self.config.n_queries] if n_queries is None else [int(n) for n in n_queries]
        rows = []
        with self._lock, _RestoreGlobalStreams():
            model, _ = self._restored(int(epoch))
            widths = list(model.layer_widths)
            if not 1 <= layer <= len(widths):
                raise ValueError(f"layer must be between 1 and {len(widths)}, not {layer}")
            x = self.data.estimation_x
            m = int(x.shape[0])
            for r in replicas:
                hidden = sample_hidden_layers(
                    model,
                    x,
                    r,
                    seed=_derived_seed(self.config.seed, epoch, _STREAM_SAMPLE),
                    layers=[layer],
                )
                samples, det = hidden.layers[0], hidden.deterministic[0]
                samples = samples[:, :1] if det else samples
                for per_input in n_queries:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", estimators.SampleSizeWarning)
                        result = estimators.sample_propagation_mi(
                            samples,
                            self.config.beta,
                            deterministic=det,
                            n_queries=per_input * m,
                            seed=_derived_seed(self.config.seed, epoch, _STREAM_SP + layer),
                            proposal_scale=_proposal_scale(samples),
                        )
                    for name, estimate in (
                        ("i_xt", result.mi),
                        ("h_t", result.entropy),
                        ("h_t_given_x", result.conditional_entropy),
                    ):
                        rows.append(
                            {
                                "epoch": int(epoch),
                                "layer": int(layer),
                                "replicas": r,
                                "n_queries": per_input,
                                "quantity": name,
                                "value": estimate.value,
                                "stderr": estimate.stderr,
                            }
                        )
        return pd.DataFrame(rows)
