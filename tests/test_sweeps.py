"""Parameter sweeps of the toys (Figs. 5d, 6a-b) and the dask grid of training runs."""

import math

import numpy as np
import pandas as pd
import pytest

from app import exact, sweeps
from app.config import ExperimentConfig
from app.store import RunStore, load_run

LN4 = math.log(4)
H_3_1 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # H(3/4, 1/4) = 0.562


@pytest.fixture(scope="module")
def weight_curve():
    weights = np.concatenate([[0.0], np.geomspace(0.05, 20, 25)])
    return sweeps.weight_sweep(weights, [0.01, 0.05, 0.5], n_queries=2500, seed=3)


def test_weight_sweep_sp_matches_exact(weight_curve):
    assert (weight_curve["stderr"] <= 0.01).all()
    gap = (weight_curve["sp"] - weight_curve["exact"]).abs()
    # Absolute slack for the points right at ln 4, where the spread understates the error.
    assert (gap <= 4 * weight_curve["stderr"] + 2e-3).all()


def test_weight_sweep_shows_merging_for_small_beta_only(weight_curve):
    small = weight_curve[weight_curve["beta"] == 0.05].set_index("w")["exact"]
    large = weight_curve[weight_curve["beta"] == 0.5].set_index("w")["exact"]
    assert small.loc[0.0] == pytest.approx(0.0, abs=1e-9)  # w = 0: one Gaussian
    # The four Gaussians separate (at best to 1.368 here: tanh(-5w) and tanh(-3w) stay
    # close), then the class -1 ones merge in two stages: a plateau near H(1/2, 1/4, 1/4)
    # = 1.040, then H(3/4, 1/4).
    assert small.max() >= 1.35
    after = small[small.index > small.idxmax()]
    assert ((after >= 1.00) & (after <= 1.08)).any()
    assert small.iloc[-1] == pytest.approx(H_3_1, abs=0.01)
    # Large beta: the class -1 points are never resolved, so I only rises with w.
    assert large.max() < 0.75
    assert (np.diff(large.to_numpy()) >= -1e-3).all()


def test_bias_sweep_density_and_mi():
    biases = np.linspace(0.0, 5.0, 26)
    frame, grid, densities = sweeps.bias_sweep(biases, 0.05, n_queries=2500, seed=1)
    assert densities.shape == (26, grid.size)
    np.testing.assert_allclose(np.trapezoid(densities, grid, axis=1), 1.0, atol=1e-6)
    curve = frame.set_index("b")["exact"]
    # Spacing 1 for b <= 1: four resolved Gaussians; spacing 1/10 for b >= 4: merged.
    assert curve.loc[0.0] == pytest.approx(LN4, abs=1e-3)
    assert curve.loc[1.0] == pytest.approx(LN4, abs=1e-3)
    reference = exact.mi_fed_by_input(np.array([0.0, 0.1, 0.2, 0.3]), 0.05).mi
    assert curve.loc[5.0] == pytest.approx(reference, abs=1e-9)
    assert curve.loc[5.0] < 1.0
    assert (np.diff(curve.to_numpy()) <= 1e-9).all()  # b only ever slows points down
    gap = (frame["sp"] - frame["exact"]).abs()
    assert (gap <= 4 * frame["stderr"] + 2e-3).all()


def test_grid_configs_cover_the_product():
    base = ExperimentConfig.for_example("tanh_neuron", epochs=10)
    configs = sweeps.grid_configs(base, beta=[0.05, 0.1], seed=[0, 1, 2])
    assert len(configs) == 6
    assert {(c.beta, c.seed) for c in configs} == {(b, s) for b in (0.05, 0.1) for s in (0, 1, 2)}
    assert len({sweeps.run_folder_name(c) for c in configs}) == 6
    assert all(c.epochs == 10 for c in configs)


def _grid():
    base = ExperimentConfig.for_example(
        "tanh_neuron", epochs=40, n_queries=100, schedule="every", schedule_every=10,
        quantities=["sp"],
    )  # fmt: skip
    return sweeps.grid_configs(base, beta=[0.05, 0.1], seed=[0, 1])


@pytest.mark.slow
def test_sweep_on_a_local_cluster_aggregates_and_repeats_exactly(tmp_path):
    configs = _grid()
    first = sweeps.run_sweep(configs, tmp_path / "a", n_workers=2)
    second = sweeps.run_sweep(configs, tmp_path / "b", n_workers=2)
    pd.testing.assert_frame_equal(first, second)

    assert set(first["n_seeds"]) == {2}
    assert set(first["beta"]) == {0.05, 0.1}
    assert (tmp_path / "a" / "aggregate.csv").is_file()

    # The aggregate is the mean and spread of the two seeds' own values.
    runs = [load_run(tmp_path / "a" / sweeps.run_folder_name(c))[1] for c in configs[:2]]
    pick = [r[(r["quantity"] == "i_xt") & (r["layer"] == 1) & (r["epoch"] == 40)] for r in runs]
    values = [p["value"].iloc[0] for p in pick]
    row = first[
        (first["beta"] == 0.05) & (first["quantity"] == "i_xt") & (first["layer"] == 1)
        & (first["epoch"] == 40)
    ]  # fmt: skip
    assert row["mean"].iloc[0] == pytest.approx(np.mean(values), rel=1e-12)
    assert row["std"].iloc[0] == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    assert values[0] != values[1]  # the seeds differ

    summary = sweeps.sweep_summary(first)
    assert "mean" in summary and "0.05" in summary


def test_run_task_skips_complete_runs_and_resumes_incomplete_ones(tmp_path):
    config = ExperimentConfig.for_example(
        "tanh_neuron", epochs=15, n_queries=50, quantities=["sp"]
    )
    folder = str(tmp_path / "run")
    sweeps.run_task(config.to_json(), folder)
    store = RunStore(folder)
    assert store.status() == "complete"
    stamp = (store.path / "run.json").stat().st_mtime_ns
    sweeps.run_task(config.to_json(), folder)
    assert (store.path / "run.json").stat().st_mtime_ns == stamp

    # Pretend the worker died after epoch 7: the task resumes and ends where a full run does.
    full = load_run(folder)[1]
    store.remove_after(7)
    store.update_info(status="incomplete")
    sweeps.run_task(config.to_json(), folder)
    pd.testing.assert_frame_equal(load_run(folder)[1], full)
