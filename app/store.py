"""Run folders on disk: configuration, metrics, snapshots, checkpoints and status.

A run folder holds::

    run.json                       status, timings, device, versions
    config.json                    ExperimentConfig.to_json()
    metrics/epoch_000000.parquet   tidy metric rows of one measured epoch
    snapshots/epoch_000000.npz     snapshots of S_l, labels, distance histograms, densities
    checkpoints/epoch_000000.pt    trainer state: weights, optimiser and random states

Every file is written under a temporary name in its own folder and moved into place with
``os.replace``, which is atomic on POSIX and Windows, so a reader never sees half a file and a
run killed at any moment keeps every epoch measured before it. The metrics part of an epoch is
written last: its presence means that the epoch's checkpoint and snapshot are complete.
"""

from __future__ import annotations

import io
import json
import logging
import os
import platform
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.config import ExperimentConfig
from app.records import COLUMNS, EpochRecord, rows_frame

logger = logging.getLogger(__name__)

STATUSES = ("created", "running", "paused", "complete", "incomplete", "failed")
_PART = "epoch_{:06d}"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _part_epoch(path: Path) -> int:
    """Return the epoch number of a part file named ``epoch_NNNNNN.ext``."""
    return int(path.stem.split("_", 1)[1])


def _pid_alive(pid: int) -> bool:
    """Return whether a process with ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def versions() -> dict[str, str]:
    """Return the versions of Python and the numerical stack, for ``run.json``."""
    import torch

    from_package = "unknown"
    try:
        from importlib.metadata import version

        from_package = version("infoflow-explorer")
    except Exception:  # noqa: BLE001 - an uninstalled checkout has no metadata
        pass
    return {
        "infoflow_explorer": from_package,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


class RunStore:
    """One run folder: write as the run goes, read back for plots and resumption.

    Parameters
    ----------
    path : str or os.PathLike
        The run folder; created when a run is started in it.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    # ------------------------------------------------------------------ layout

    @property
    def metrics_dir(self) -> Path:
        """Folder of the per-epoch metric parts."""
        return self.path / "metrics"

    @property
    def snapshots_dir(self) -> Path:
        """Folder of the per-epoch snapshot files."""
        return self.path / "snapshots"

    @property
    def checkpoints_dir(self) -> Path:
        """Folder of the per-epoch checkpoints."""
        return self.path / "checkpoints"

    def exists(self) -> bool:
        """Return whether the folder holds a run (a ``config.json``)."""
        return (self.path / "config.json").is_file()

    # ------------------------------------------------------------------ writing

    def create(self, config: ExperimentConfig, *, device: str = "cpu") -> None:
        """Start a new run in the folder: write ``config.json`` and ``run.json``.

        Raises
        ------
        FileExistsError
            When the folder already holds a run (resume it with ``Runner.resume`` instead).
        """
        if self.exists():
            raise FileExistsError(
                f"{self.path} already holds a run; continue it with `python -m app run "
                f"--resume {self.path}` (or Runner.resume(path) in Python), or choose another "
                "folder"
            )
        for folder in (self.path, self.metrics_dir, self.snapshots_dir, self.checkpoints_dir):
            folder.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(self.path / "config.json", config.to_json().encode())
        now = time.time()
        self.write_info(
            {
                "status": "created",
                "created": now,
                "updated": now,
                "device": device,
                "versions": versions(),
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "epochs": config.epochs,
                "epochs_done": 0,
                "last_measured": None,
                "timings": {"train_s": 0.0, "estimate_s": 0.0, "wall_s": 0.0},
                "message": "",
            }
        )

    def write_info(self, info: dict[str, Any]) -> None:
        """Replace ``run.json`` with ``info``."""
        _atomic_write_bytes(self.path / "run.json", json.dumps(info, indent=2).encode())

    def update_info(self, **changes: Any) -> dict[str, Any]:
        """Change some fields of ``run.json`` and stamp ``updated``; return the new info."""
        info = self.read_info()
        info.update(changes)
        info["updated"] = time.time()
        if "status" in changes and changes["status"] not in STATUSES:
            raise ValueError(
                f"status must be one of {', '.join(STATUSES)}, not {changes['status']!r}"
            )
        self.write_info(info)
        return info

    def write_record(self, record: EpochRecord) -> None:
        """Write the snapshot file and then the metrics part of one measured epoch."""
        name = _PART.format(record.epoch)
        arrays = _record_arrays(record)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        _atomic_write_bytes(self.snapshots_dir / f"{name}.npz", buffer.getvalue())

        buffer = io.BytesIO()
        record.frame().to_parquet(buffer, index=False)
        _atomic_write_bytes(self.metrics_dir / f"{name}.parquet", buffer.getvalue())

    def write_checkpoint(self, epoch: int, state: dict[str, Any]) -> None:
        """Write the trainer state of ``epoch`` (anything ``torch.save`` accepts)."""
        import torch

        buffer = io.BytesIO()
        torch.save(state, buffer)
        _atomic_write_bytes(self.checkpoints_dir / f"{_PART.format(epoch)}.pt", buffer.getvalue())

    def remove_after(self, epoch: int) -> None:
        """Delete every part file of an epoch after ``epoch`` (before resuming from it)."""
        for folder in (self.metrics_dir, self.snapshots_dir, self.checkpoints_dir):
            for path in folder.glob("epoch_*.*"):
                if _part_epoch(path) > epoch:
                    path.unlink()
            for path in folder.glob(".*.tmp"):
                path.unlink()

    # ------------------------------------------------------------------ reading

    def read_config(self) -> ExperimentConfig:
        """Return the run's configuration."""
        return ExperimentConfig.from_json((self.path / "config.json").read_text())

    def read_info(self) -> dict[str, Any]:
        """Return ``run.json`` as a dict (empty when missing)."""
        path = self.path / "run.json"
        if not path.is_file():
            return {}
        return json.loads(path.read_text())

    def status(self) -> str:
        """Return the run's status; a run whose process died is reported as incomplete."""
        info = self.read_info()
        status = info.get("status", "incomplete")
        if status in ("running", "paused", "created"):
            same_host = info.get("host") == socket.gethostname()
            pid = info.get("pid")
            if same_host and isinstance(pid, int) and not _pid_alive(pid):
                return "incomplete"
        return status

    def measured_epochs(self) -> list[int]:
        """Return the epochs with a complete metrics part, in order."""
        if not self.metrics_dir.is_dir():
            return []
        return sorted(_part_epoch(p) for p in self.metrics_dir.glob("epoch_*.parquet"))

    def checkpoint_epochs(self) -> list[int]:
        """Return the epochs with a checkpoint, in order."""
        if not self.checkpoints_dir.is_dir():
            return []
        return sorted(_part_epoch(p) for p in self.checkpoints_dir.glob("epoch_*.pt"))

    def read_metrics(self, epochs: Iterable[int] | None = None) -> pd.DataFrame:
        """Return the metric rows of every measured epoch (or of ``epochs``) in one frame."""
        wanted = self.measured_epochs() if epochs is None else sorted(epochs)
        parts = [
            pd.read_parquet(self.metrics_dir / f"{_PART.format(epoch)}.parquet")
            for epoch in wanted
        ]
        if not parts:
            return rows_frame([])
        frame = pd.concat(parts, ignore_index=True)
        return rows_frame(frame[list(COLUMNS)].to_dict("records"))

    def read_checkpoint(self, epoch: int) -> dict[str, Any]:
        """Return the trainer state saved at ``epoch``."""
        import torch

        path = self.checkpoints_dir / f"{_PART.format(epoch)}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint at epoch {epoch} in {self.path}")
        return torch.load(path, map_location="cpu", weights_only=False)

    def read_record(self, epoch: int) -> EpochRecord:
        """Return the full record of one measured epoch: rows, snapshots, histograms."""
        rows = self.read_metrics([epoch]).astype(object)
        rows = rows.where(rows.notna(), None).to_dict("records")
        record = EpochRecord(epoch=epoch, rows=[_plain_row(r) for r in rows])
        path = self.snapshots_dir / f"{_PART.format(epoch)}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as arrays:
                _fill_record(record, arrays)
        return record

    def export_csv(self, dest: str | os.PathLike | None = None) -> Path:
        """Write every metric row to a CSV file (``metrics.csv`` in the run folder by default).

        Returns
        -------
        pathlib.Path
            The file written.
        """
        target = Path(dest) if dest is not None else self.path / "metrics.csv"
        buffer = io.StringIO()
        self.read_metrics().to_csv(buffer, index=False)
        _atomic_write_bytes(target, buffer.getvalue().encode())
        return target


def load_run(path: str | os.PathLike) -> tuple[ExperimentConfig, pd.DataFrame]:
    """Return the configuration and the metric rows of the run in folder ``path``.

    The rows have the columns of :data:`app.records.COLUMNS` and cover every epoch whose
    metrics part was completely written, also for a run that was killed part-way.
    """
    store = RunStore(path)
    if not store.exists():
        raise FileNotFoundError(f"{path} holds no run (no config.json)")
    return store.read_config(), store.read_metrics()


def list_runs(root: str | os.PathLike) -> pd.DataFrame:
    """Return one row per run folder under ``root`` (searched recursively).

    Columns: ``path``, ``status``, ``example``, ``activation``, ``beta``, ``noise``,
    ``orthonormal_alpha``, ``seed``, ``epochs``, ``last_measured``, ``created``.
    """
    columns = [
        "path",
        "status",
        "example",
        "activation",
        "beta",
        "noise",
        "orthonormal_alpha",
        "seed",
        "epochs",
        "last_measured",
        "created",
    ]
    rows = []
    for config_path in sorted(Path(root).rglob("config.json")):
        store = RunStore(config_path.parent)
        try:
            config = store.read_config()
        except (ValueError, OSError) as exc:
            logger.warning("skipping %s: %s", config_path.parent, exc)
            continue
        measured = store.measured_epochs()
        rows.append(
            {
                "path": str(store.path),
                "status": store.status(),
                "example": config.example,
                "activation": config.activation,
                "beta": config.beta,
                "noise": config.noise,
                "orthonormal_alpha": config.orthonormal_alpha,
                "seed": config.seed,
                "epochs": config.epochs,
                "last_measured": measured[-1] if measured else None,
                "created": store.read_info().get("created"),
            }
        )
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------- npz packing


def _record_arrays(record: EpochRecord) -> dict[str, np.ndarray]:
    """Flatten a record's arrays into npz entries (no pickled objects)."""
    arrays: dict[str, np.ndarray] = {
        "timings": np.array(json.dumps(record.timings)),
    }
    for layer, values in record.snapshots.items():
        arrays[f"snapshot_{layer}"] = np.asarray(values, dtype=np.float32)
    if record.snapshot_labels is not None:
        arrays["snapshot_labels"] = np.asarray(record.snapshot_labels)
    if record.snapshot_index is not None:
        arrays["snapshot_index"] = np.asarray(record.snapshot_index, dtype=np.int64)
    for layer, (edges, within, between) in record.distances.items():
        arrays[f"distances_{layer}_edges"] = np.asarray(edges)
        arrays[f"distances_{layer}_within"] = np.asarray(within)
        arrays[f"distances_{layer}_between"] = np.asarray(between)
    for layer, (grid, density) in record.densities.items():
        arrays[f"density_{layer}_grid"] = np.asarray(grid)
        arrays[f"density_{layer}_value"] = np.asarray(density)
    return arrays


def _fill_record(record: EpochRecord, arrays: Any) -> None:
    """Restore the arrays written by :func:`_record_arrays` into ``record``."""
    names = set(arrays.files)
    record.timings = json.loads(str(arrays["timings"])) if "timings" in names else {}
    for name in names:
        parts = name.split("_")
        if parts[0] == "snapshot" and parts[1].isdigit():
            record.snapshots[int(parts[1])] = arrays[name]
        elif parts[0] == "distances" and parts[2] == "edges":
            layer = int(parts[1])
            record.distances[layer] = (
                arrays[name],
                arrays[f"distances_{layer}_within"],
                arrays[f"distances_{layer}_between"],
            )
        elif parts[0] == "density" and parts[2] == "grid":
            layer = int(parts[1])
            record.densities[layer] = (arrays[name], arrays[f"density_{layer}_value"])
    record.snapshots = dict(sorted(record.snapshots.items()))
    record.distances = dict(sorted(record.distances.items()))
    record.densities = dict(sorted(record.densities.items()))
    if "snapshot_labels" in names:
        record.snapshot_labels = arrays["snapshot_labels"]
    if "snapshot_index" in names:
        record.snapshot_index = arrays["snapshot_index"]


def _plain_row(row: dict[str, Any]) -> dict[str, Any]:
    """Turn a row read from Parquet back into plain Python values."""
    out = {}
    for key in COLUMNS:
        value = row.get(key)
        if key == "value":
            out[key] = float("nan") if value is None else float(value)
        elif value is None or (isinstance(value, float) and np.isnan(value)):
            out[key] = None
        elif key in ("epoch", "layer", "unit"):
            out[key] = int(value)
        elif key in ("bin_size", "value", "stderr"):
            out[key] = float(value)
        else:
            out[key] = str(value)
    return out
