"""Background worker: one thread per run that drives a :class:`~app.runner.Runner`.

Training and estimation never run on the server's event loop. The worker thread builds the
runner (loading data can take seconds), measures epoch 0, and then carries out the explorer's
commands: Start and Resume hand training to the runner's own background loop, which trains in
chunks of about 0.1 s up to each scheduled epoch; Pause pauses that loop; Step trains one
epoch with :meth:`Runner.step` while paused. Everything the run has to tell goes into a bounded
:class:`queue.Queue` as :class:`WorkerMessage` objects; the explorer drains that queue from a
periodic callback on the event loop. A full queue makes the run wait, so a slow browser slows
training down instead of filling memory.

Commands (:meth:`RunWorker.pause`, :meth:`RunWorker.step`, :meth:`RunWorker.stop`,
:meth:`RunWorker.set_learning_rate`) return at once; the worker thread applies them within
about 0.1 s, between two chunks of training.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

MESSAGE_KINDS = ("started", "record", "progress", "paused", "finished", "error")
STATES = ("idle", "starting", "running", "paused", "finished", "stopped", "failed")

_thread_lock = threading.Lock()
_threads_limited: int | None = None


def torch_thread_limit() -> int:
    """Return how many CPU threads torch may use in a server process.

    ``INFOFLOW_TORCH_THREADS`` sets it; otherwise half the cores (at least 1, at most 4), so
    that training in one session leaves a core for the event loop and the other sessions.
    """
    text = os.environ.get("INFOFLOW_TORCH_THREADS")
    if text:
        try:
            value = int(text)
        except ValueError as exc:
            raise ValueError(
                f"INFOFLOW_TORCH_THREADS must be a positive integer, not {text!r}") from exc
        if value < 1:
            raise ValueError(f"INFOFLOW_TORCH_THREADS must be at least 1, not {value}")
        return value
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def limit_torch_threads(limit: int | None = None) -> int:
    """Cap torch's intra-op threads for the whole process (once; later calls only lower it)."""
    global _threads_limited
    import torch

    wanted = torch_thread_limit() if limit is None else int(limit)
    with _thread_lock:
        if _threads_limited is None or wanted < _threads_limited:
            torch.set_num_threads(wanted)
            _threads_limited = wanted
        return _threads_limited


class RunFailed(RuntimeError):
    """The runner's own training loop failed; the message is the runner's last error line."""


@dataclass(frozen=True)
class WorkerMessage:
    """One message from a worker thread to the explorer.

    Attributes
    ----------
    kind : str
        ``started`` (payload: dict with ``device``, ``n_inputs``, ``label_entropy``),
        ``record`` (an EpochRecord), ``progress`` (dict with ``epoch``, ``epochs``,
        ``epochs_per_second``), ``paused`` (dict with ``epoch``: training has stopped there),
        ``finished`` (dict with ``state``), ``error`` (dict with ``message`` and
        ``traceback``).
    payload : Any
        As above.
    run_id : int
        The worker that sent it, so messages of a replaced run can be told apart.
    time : float
        ``time.time()`` when it was posted.
    """

    kind: str
    payload: Any
    run_id: int
    time: float = field(default_factory=time.time)


def _default_runner_factory(config: Any, *, out: Any = None,
                            callback: Callable[..., Any] | None = None) -> Any:
    from app.runner import Runner

    return Runner(config, out=out, callback=callback)


class RunWorker:
    """Drive one run in a background thread and post what it measures to a bounded queue.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment.
    out : str or os.PathLike, optional
        Run folder the runner writes to (None: nothing is stored).
    runner_factory : callable, optional
        ``factory(config, out=..., callback=...)`` returning an object with the Runner's
        ``step()``, ``epoch``, ``records`` and ``device``; the default builds an
        :class:`app.runner.Runner`. Tests pass a light stand-in.
    maxsize : int
        Capacity of the message queue.
    run_id : int
        Number stamped on every message.
    """

    _ids = 0

    def __init__(self, config: Any, *, out: Any = None,
                 runner_factory: Callable[..., Any] | None = None, maxsize: int = 64,
                 run_id: int | None = None) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, not {maxsize}")
        RunWorker._ids += 1
        self.run_id = RunWorker._ids if run_id is None else int(run_id)
        self.config = config
        self.out = out
        self.queue: queue.Queue[WorkerMessage] = queue.Queue(maxsize=maxsize)
        self._factory = runner_factory or _default_runner_factory
        self._wake = threading.Condition()
        self._running = False
        self._steps = 0
        self._stop = False
        self._learning_rate: float | None = None
        self._thread: threading.Thread | None = None
        self._posted: set[int] = set()
        self._measure_only = False
        self.state = "idle"
        self.epoch = 0
        self.epochs = int(getattr(config, "epochs", 0) or 0)
        self.device: str | None = None
        self.epochs_per_second = 0.0
        self.error: str | None = None
        self.runner: Any = None

    # ------------------------------------------------------------------ control

    def start(self, *, running: bool = True, measure_only: bool = False) -> None:
        """Start the thread; it measures epoch 0, then trains if ``running`` else waits.

        With ``measure_only`` the worker measures epoch 0 and never trains (the preview of a
        configuration before the user starts it).
        """
        if self._thread is not None:
            raise RuntimeError("a RunWorker can be started only once; make a new one")
        self._running = running and not measure_only
        self._measure_only = measure_only
        self.state = "starting"
        self._thread = threading.Thread(target=self._main, name=f"infoflow-run-{self.run_id}",
                                        daemon=True)
        self._thread.start()

    def resume(self) -> None:
        """Train epoch after epoch until paused, stopped or done."""
        with self._wake:
            self._running = True
            self._wake.notify_all()

    def pause(self) -> None:
        """Stop after the epoch in progress and wait."""
        with self._wake:
            self._running = False
            self._steps = 0
            self._wake.notify_all()

    def step(self, n: int = 1) -> None:
        """Train ``n`` more epochs, then wait (only while paused)."""
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        with self._wake:
            self._steps += n
            self._wake.notify_all()

    def set_learning_rate(self, learning_rate: float) -> None:
        """Use ``learning_rate`` from the next epoch on."""
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be greater than 0, not {learning_rate}")
        with self._wake:
            self._learning_rate = float(learning_rate)
            self._wake.notify_all()

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Ask the thread to end after the epoch in progress; return whether it has ended."""
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        thread = self._thread
        if thread is None:
            self.state = "stopped"
            return True
        if thread is not threading.current_thread():
            thread.join(timeout)
        return not thread.is_alive()

    @property
    def alive(self) -> bool:
        """Whether the worker thread is still running."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def running(self) -> bool:
        """Whether the worker trains without waiting for steps."""
        return self._running

    # ------------------------------------------------------------------ the thread

    def _post(self, kind: str, payload: Any) -> bool:
        """Put a message on the queue, waiting while it is full unless the run is stopped."""
        message = WorkerMessage(kind, payload, self.run_id)
        while True:
            try:
                self.queue.put(message, timeout=0.1)
                return True
            except queue.Full:
                if self._stop:
                    return False

    def _on_record(self, record: Any) -> None:
        """Queue a record handed over by the runner's callback (from whichever thread measured)."""
        if not _is_record(record):
            return
        epoch = int(record.epoch)
        if epoch in self._posted or (self._measure_only and epoch > 0):
            return
        self._posted.add(epoch)
        self._post("record", record)

    def _next_command(self) -> tuple[bool, int, float | None]:
        """Wait briefly for a command; return (keep running, steps to take, new rate)."""
        with self._wake:
            if not self._stop and self._steps == 0 and self._learning_rate is None:
                self._wake.wait(0.1)
            steps, self._steps = (1, self._steps - 1) if self._steps else (0, 0)
            rate, self._learning_rate = self._learning_rate, None
            return self._running, steps, rate

    def _report_progress(self, window: list[tuple[float, int]]) -> None:
        """Post the epoch reached and the training speed over the last seconds."""
        now = time.perf_counter()
        epoch = int(self.runner.epoch)
        window.append((now, epoch))
        while len(window) > 2 and now - window[0][0] > 5.0:
            window.pop(0)
        (t0, e0), (t1, e1) = window[0], window[-1]
        self.epochs_per_second = (e1 - e0) / (t1 - t0) if t1 > t0 else 0.0
        if epoch != self.epoch or not self._measure_only:
            self.epoch = epoch
            self._post("progress", {"epoch": epoch, "epochs": self.epochs,
                                    "epochs_per_second": self.epochs_per_second})

    def _wait_paused(self, runner: Any, timeout: float = 60.0) -> None:
        """Wait until the runner's loop has finished its chunk of training and paused."""
        deadline = time.monotonic() + timeout
        while (getattr(runner, "running", False) and not self._stop
               and getattr(runner, "status", "paused") not in ("paused", "failed")
               and time.monotonic() < deadline):
            time.sleep(0.02)

    def _main(self) -> None:
        runner = None
        try:
            config = _with_thread_limit(self.config)
            runner = self.runner = self._factory(config, out=self.out, callback=self._on_record)
            self.device = str(getattr(runner, "device", "cpu"))
            self._post("started", {"device": self.device, **data_bounds(runner)})
            runner.measure_initial()
            self.state = "paused"

            window: list[tuple[float, int]] = []
            last_report = 0.0
            started = False  # whether the runner's own loop was started (it runs once)
            paused = False  # whether that loop was told to pause
            while not self._stop:
                running, steps, rate = self._next_command()
                if self._stop:
                    break
                if rate is not None:
                    runner.set_learning_rate(rate)
                    logger.info("run %d: learning rate set to %g", self.run_id, rate)
                if getattr(runner, "status", "") == "failed":
                    message = str(getattr(runner, "error", "") or "the run failed")
                    raise RunFailed(message.strip().splitlines()[-1])
                done = int(runner.epoch) >= self.epochs
                if running and not done and not self._measure_only:
                    if not started:
                        runner.start()
                        started = True
                    elif paused:
                        runner.resume()
                    paused = False
                    self.state = "running"
                elif getattr(runner, "running", False) and not paused:
                    runner.pause()
                    paused = True
                    self.state = "paused"
                    self._wait_paused(runner)
                    self._report_progress(window)
                    self._post("paused", {"epoch": int(runner.epoch)})
                if steps and not running and not done and not self._measure_only:
                    runner.step()
                if time.perf_counter() - last_report > 0.1 or steps:
                    last_report = time.perf_counter()
                    self._report_progress(window)
                if int(runner.epoch) >= self.epochs and not getattr(runner, "running", False):
                    self._report_progress(window)
                    self.state = "finished"
                    break
            else:
                self.state = "stopped"
        except Exception as exc:  # noqa: BLE001 - any failure must reach the user
            self.state = "failed"
            self.error = str(exc) if isinstance(exc, RunFailed) else f"{type(exc).__name__}: {exc}"
            logger.exception("run %d failed", self.run_id)
            self._post("error", {"message": self.error, "traceback": traceback.format_exc()})
        finally:
            if runner is not None and getattr(runner, "running", False):
                try:
                    runner.stop(timeout=30.0)
                except Exception:  # noqa: BLE001 - closing must not hide the real outcome
                    logger.exception("run %d: stopping the runner failed", self.run_id)
            self._post("finished", {"state": self.state})


def _with_thread_limit(config: Any) -> Any:
    """Return ``config`` with its torch thread count capped for a shared server."""
    limit = torch_thread_limit()
    threads = getattr(config, "threads", None)
    if threads is not None and threads <= limit:
        return config
    if hasattr(config, "copy"):
        config = config.copy()
    try:
        config.threads = limit
    except (AttributeError, ValueError):
        pass
    return config


def data_bounds(runner: Any) -> dict[str, float | int | None]:
    """Return what bounds the information plots: m inputs (I(X;T) <= ln m) and H(Y) (nats).

    ``n_inputs`` is the size of the estimation set; ``label_entropy`` the entropy of its
    labels when they are classes (at most 1000 distinct values), else None.
    """
    import numpy as np

    data = getattr(runner, "data", None)
    inputs = getattr(data, "estimation_x", None)
    labels = getattr(data, "estimation_y", None)
    n_inputs = int(inputs.shape[0]) if inputs is not None else None
    label_entropy = None
    if labels is not None:
        values = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
        if values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1):
            _, counts = np.unique(values.ravel(), return_counts=True)
            if len(counts) <= 1000:
                p = counts / counts.sum()
                label_entropy = float(-(p * np.log(p)).sum())
    return {"n_inputs": n_inputs, "label_entropy": label_entropy}


def _is_record(value: Any) -> bool:
    return hasattr(value, "epoch") and hasattr(value, "rows")
