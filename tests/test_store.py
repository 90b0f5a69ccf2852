"""RunStore: atomic part files, exact read-back, status of killed runs, listing, CSV."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from app.config import ExperimentConfig
from app.records import COLUMNS, EpochRecord, metric_row
from app.store import RunStore, list_runs, load_run


def _record(epoch, rng):
    rows = [
        metric_row(epoch, "i_xt", rng.random(), layer=1, stderr=0.01),
        metric_row(epoch, "h_bin", rng.random(), layer=2, bin_size=0.05),
        metric_row(epoch, "h_bin_unit", rng.random(), layer=2, bin_size=0.05, unit=3),
        metric_row(epoch, "loss", rng.random(), split="train"),
        metric_row(epoch, "accuracy", math.nan, split="test"),
    ]
    edges = np.linspace(0, 2, 6)
    return EpochRecord(
        epoch=epoch,
        rows=rows,
        snapshots={
            1: rng.random((7, 3)).astype(np.float32),
            2: rng.random((7, 1)).astype(np.float32),
        },
        snapshot_labels=np.arange(7) % 2,
        snapshot_index=np.arange(7),
        distances={1: (edges, rng.integers(0, 9, 5), rng.integers(0, 9, 5))},
        densities={2: (np.linspace(-1, 1, 11), rng.random(11))},
        timings={"train": 0.5, "estimate": 0.25},
    )


@pytest.fixture
def config():
    return ExperimentConfig.for_example("szt", epochs=10)


def test_records_read_back_exactly(tmp_path, config):
    rng = np.random.default_rng(0)
    store = RunStore(tmp_path / "run")
    store.create(config)
    records = [_record(epoch, rng) for epoch in (0, 3, 10)]
    for record in records:
        store.write_record(record)

    loaded_config, frame = load_run(tmp_path / "run")
    assert loaded_config == config
    expected = pd.concat([r.frame() for r in records], ignore_index=True)
    pd.testing.assert_frame_equal(frame, expected)
    assert list(frame.columns) == list(COLUMNS)
    assert store.measured_epochs() == [0, 3, 10]

    again = store.read_record(3)
    original = records[1]
    assert again.rows[:4] == original.rows[:4]
    assert math.isnan(again.rows[4]["value"])
    for layer, values in original.snapshots.items():
        np.testing.assert_array_equal(again.snapshots[layer], values)
        assert again.snapshots[layer].dtype == np.float32
    np.testing.assert_array_equal(again.snapshot_labels, original.snapshot_labels)
    for got, want in zip(again.distances[1], original.distances[1], strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(again.densities[2][1], original.densities[2][1])
    assert again.timings == original.timings


def test_no_temporary_files_remain_and_parts_are_complete(tmp_path, config):
    store = RunStore(tmp_path / "run")
    store.create(config)
    store.write_record(_record(5, np.random.default_rng(1)))
    store.write_checkpoint(5, {"weights": np.ones(3)})
    leftovers = [p for p in (tmp_path / "run").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert (tmp_path / "run/metrics/epoch_000005.parquet").is_file()
    assert (tmp_path / "run/snapshots/epoch_000005.npz").is_file()
    assert (tmp_path / "run/checkpoints/epoch_000005.pt").is_file()
    np.testing.assert_array_equal(store.read_checkpoint(5)["weights"], np.ones(3))


def test_an_interrupted_write_is_invisible(tmp_path, config):
    store = RunStore(tmp_path / "run")
    store.create(config)
    store.write_record(_record(0, np.random.default_rng(2)))
    # A writer killed before its rename leaves only a hidden temporary file.
    (store.metrics_dir / ".epoch_000001.parquet.123.tmp").write_bytes(b"PAR1 half")
    assert store.measured_epochs() == [0]
    assert len(load_run(tmp_path / "run")[1]) == 5
    store.remove_after(0)
    assert list(store.metrics_dir.glob(".*.tmp")) == []


def test_a_dead_writer_is_reported_incomplete(tmp_path, config):
    store = RunStore(tmp_path / "run")
    store.create(config)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.update_info(status="running", pid=dead.pid)
    assert store.read_info()["status"] == "running"
    assert store.status() == "incomplete"
    store.update_info(status="running", pid=os.getpid())
    assert store.status() == "running"


def test_create_refuses_an_existing_run_and_bad_status(tmp_path, config):
    store = RunStore(tmp_path / "run")
    store.create(config)
    with pytest.raises(FileExistsError, match="already holds a run"):
        store.create(config)
    with pytest.raises(ValueError, match="status must be one of"):
        store.update_info(status="sleeping")
    with pytest.raises(FileNotFoundError, match="holds no run"):
        load_run(tmp_path / "nothing")


def test_run_json_has_status_device_and_versions(tmp_path, config):
    store = RunStore(tmp_path / "run")
    store.create(config, device="cpu")
    info = json.loads((tmp_path / "run/run.json").read_text())
    assert info["status"] == "created"
    assert info["device"] == "cpu"
    assert {"python", "torch", "numpy"} <= set(info["versions"])
    assert set(info["timings"]) == {"train_s", "estimate_s", "wall_s"}


def test_list_runs_and_csv_export(tmp_path, config):
    for seed in (0, 1):
        store = RunStore(tmp_path / "grid" / f"seed{seed}")
        config.seed = seed
        store.create(config)
        store.write_record(_record(2, np.random.default_rng(seed)))
    runs = list_runs(tmp_path)
    assert sorted(runs["seed"]) == [0, 1]
    assert set(runs["last_measured"]) == {2}

    path = RunStore(tmp_path / "grid" / "seed1").export_csv()
    exported = pd.read_csv(path)
    _, frame = load_run(tmp_path / "grid" / "seed1")
    np.testing.assert_allclose(exported["value"], frame["value"].to_numpy(), equal_nan=True)
    assert list(exported.columns) == list(COLUMNS)
