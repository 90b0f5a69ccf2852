"""Sweeps: parameter curves of the toys (no training) and grids of training runs on dask.

Parameter curves, exact and SP side by side
-------------------------------------------
* :func:`weight_sweep`: the single tanh neuron S = tanh(w X - 2 w) on X = {-3, -1, 1, 3}
  against w for several beta (Fig. 5d).
* :func:`bias_sweep`: the leaky-ReLU neuron S = R(X - b) on X = {1, 2, 3, 4} against b: the
  density of T = S + Z on a grid and I(X;T) (Figs. 6a, 6b).

Grids of runs
-------------
:func:`run_sweep` runs every configuration of a grid over beta, activation, orthonormal_alpha
and seed (:func:`grid_configs`) as one dask task that writes its own run folder, so a lost
worker loses at most that run and a repeated sweep skips the folders already complete.
:func:`aggregate_runs` reports the mean and spread across seeds per epoch and layer.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import estimators
from app import exact
from app.config import ExperimentConfig
from app.store import RunStore, load_run

logger = logging.getLogger(__name__)

TANH_INPUTS = np.array([-3.0, -1.0, 1.0, 3.0])
LEAKY_INPUTS = np.array([1.0, 2.0, 3.0, 4.0])

# Columns that tell the runs of a grid apart, besides the seed.
GRID_KEYS = ("beta", "activation", "orthonormal_alpha")
ROW_KEYS = ("epoch", "layer", "quantity", "split", "bin_size", "unit")


def _sp_fed_by_input(centers: np.ndarray, beta: float, n_queries: int, seed: int) -> Any:
    """SP estimate for a 1-D layer fed by X (one replica per input, exact h(T|X))."""
    samples = np.asarray(centers, dtype=np.float64).reshape(-1, 1, 1)
    # Four inputs are below Theorem 5's worst-case sample size; the exact value beside the
    # estimate shows whether that matters, so the warning would only repeat itself.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", estimators.SampleSizeWarning)
        return estimators.sample_propagation_mi(
            samples,
            beta,
            deterministic=True,
            n_queries=n_queries * samples.shape[0],
            seed=seed,
            proposal_scale=2.0,  # 1-D components far apart: see sample_propagation_mi
        ).mi


def weight_sweep(
    weights: Iterable[float],
    betas: Iterable[float],
    *,
    n_queries: int = 2500,
    seed: int = 0,
) -> pd.DataFrame:
    """Return I(X;T) of the tanh neuron with bias -2w against the weight w (Fig. 5d).

    Parameters
    ----------
    weights : iterable of float
        Values of w; the bias is -2 w, so the tanh boundary sits at X = 2.
    betas : iterable of float
        Noise standard deviations, each greater than 0.
    n_queries : int, default=2500
        Monte Carlo queries per input of the SP estimate.
    seed : int, default=0
        Seed of the queries (each point gets its own derived seed).

    Returns
    -------
    pandas.DataFrame
        Columns ``beta, w, exact, sp, stderr`` in nats.
    """
    rows = []
    sequence = np.random.SeedSequence(seed)
    for beta in betas:
        for w in weights:
            centers = np.tanh(w * TANH_INPUTS - 2.0 * w)
            point_seed = int(sequence.spawn(1)[0].generate_state(1)[0])
            sp = _sp_fed_by_input(centers, beta, n_queries, point_seed)
            rows.append(
                {
                    "beta": float(beta),
                    "w": float(w),
                    "exact": exact.mi_fed_by_input(centers, beta).mi,
                    "sp": sp.value,
                    "stderr": sp.stderr,
                }
            )
    return pd.DataFrame(rows, columns=["beta", "w", "exact", "sp", "stderr"])


def bias_sweep(
    biases: Iterable[float],
    beta: float = 0.05,
    *,
    grid: Sequence[float] | None = None,
    n_queries: int = 2500,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Return I(X;T) and the density of T = R(X - b) + Z against b (Figs. 6a, 6b).

    R(x) = max(x, x/10) and X is uniform on {1, 2, 3, 4}.

    Parameters
    ----------
    biases : iterable of float
        Values of b.
    beta : float, default=0.05
        Noise standard deviation.
    grid : sequence of float, optional
        Points t of the density; by default 400 points covering every R(X - b) +- 5 beta.
    n_queries : int, default=2500
        Monte Carlo queries per input of the SP estimate.
    seed : int, default=0
        Seed of the queries.

    Returns
    -------
    frame : pandas.DataFrame
        Columns ``b, exact, sp, stderr`` in nats.
    grid : numpy.ndarray, shape (g,)
    densities : numpy.ndarray, shape (len(biases), g)
        p_T(t) for each b.
    """
    biases = [float(b) for b in biases]
    leaky = exact.activation_function("leaky_relu")
    constellations = [leaky(LEAKY_INPUTS - b) for b in biases]
    if grid is None:
        low = min(c.min() for c in constellations) - 5 * beta
        high = max(c.max() for c in constellations) + 5 * beta
        grid = np.linspace(low, high, 400)
    grid = np.asarray(grid, dtype=np.float64)

    rows, densities = [], []
    sequence = np.random.SeedSequence(seed)
    for b, centers in zip(biases, constellations, strict=True):
        point_seed = int(sequence.spawn(1)[0].generate_state(1)[0])
        sp = _sp_fed_by_input(centers, beta, n_queries, point_seed)
        rows.append(
            {
                "b": b,
                "exact": exact.mi_fed_by_input(centers, beta).mi,
                "sp": sp.value,
                "stderr": sp.stderr,
            }
        )
        densities.append(exact.density_fed_by_input(grid, centers, beta))
    frame = pd.DataFrame(rows, columns=["b", "exact", "sp", "stderr"])
    return frame, grid, np.stack(densities)


# ---------------------------------------------------------------------- grids of runs


def grid_configs(
    base: ExperimentConfig,
    *,
    beta: Sequence[float] | None = None,
    activation: Sequence[str] | None = None,
    orthonormal_alpha: Sequence[float] | None = None,
    seed: Sequence[int] | None = None,
) -> list[ExperimentConfig]:
    """Return one validated configuration per combination of the given values.

    Values not given keep ``base``'s. When beta is 0 in a grid point whose base bins are in
    units of beta, the point is refused by validation (give absolute bins for such grids).
    """
    axes = {
        "beta": [base.beta] if beta is None else list(beta),
        "activation": [base.activation] if activation is None else list(activation),
        "orthonormal_alpha": (
            [base.orthonormal_alpha] if orthonormal_alpha is None else list(orthonormal_alpha)
        ),
        "seed": [base.seed] if seed is None else list(seed),
    }
    configs = []
    for values in itertools.product(*axes.values()):
        config = base.copy()
        config.param.update(dict(zip(axes, values, strict=True)))
        configs.append(config.validate())
    return configs


def run_folder_name(config: ExperimentConfig) -> str:
    """Return the folder name of one grid point, e.g. ``tanh_beta0.005_alpha0_seed1``."""
    return (
        f"{config.activation}_beta{config.beta:g}_alpha{config.orthonormal_alpha:g}"
        f"_seed{config.seed}"
    )


def run_task(config_json: str, out: str) -> str:
    """Run one grid point into folder ``out``; return ``out`` (the dask task).

    A complete folder is left as it is; an incomplete one is resumed from its last checkpoint,
    so re-running a sweep after a lost worker redoes only what was lost.
    """
    from app.runner import Runner

    config = ExperimentConfig.from_json(config_json)
    store = RunStore(out)
    if store.exists():
        if store.status() == "complete":
            return out
        Runner.resume(out).run()
        return out
    Runner(config, out=out).run()
    return out


def run_sweep(
    configs: Sequence[ExperimentConfig],
    root: str | os.PathLike,
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    processes: bool = True,
    progress: Callable[[int, int], Any] | None = None,
) -> pd.DataFrame:
    """Run every configuration as a dask task, each into its own folder under ``root``.

    Parameters
    ----------
    configs : sequence of ExperimentConfig
        The grid, e.g. from :func:`grid_configs`.
    root : str or os.PathLike
        Folder receiving one run folder per configuration (named by
        :func:`run_folder_name`).
    scheduler : str, optional
        Address of a running dask scheduler; by default a LocalCluster is started for the
        sweep and closed after it.
    n_workers : int, optional
        Workers of the LocalCluster (default: CPU cores, at most 4), one thread each.
    processes : bool, default=True
        LocalCluster workers as processes (True) or threads of this process. Keep processes
        for grids whose initial weights are random: the models draw them from the global
        torch stream, which threads of one process share.
    progress : callable, optional
        Called as ``progress(done, total)`` as tasks finish.

    Returns
    -------
    pandas.DataFrame
        The aggregate of :func:`aggregate_runs`, also written to ``root/aggregate.csv``.
    """
    from dask.distributed import Client, LocalCluster, as_completed

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    folders = [str(root / run_folder_name(config)) for config in configs]
    if len(set(folders)) != len(folders):
        raise ValueError("configs must differ in beta, activation, orthonormal_alpha or seed")

    cluster = None
    if scheduler is None:
        workers = n_workers or max(1, min(4, os.cpu_count() or 1))
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
            host="127.0.0.1",
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = [
            client.submit(run_task, config.to_json(), folder, key=f"run-{Path(folder).name}")
            for config, folder in zip(configs, folders, strict=True)
        ]
        done = 0
        if progress is not None:
            progress(0, len(futures))
        for future in as_completed(futures):
            future.result()  # re-raises a failed run's exception here
            done += 1
            if progress is not None:
                progress(done, len(futures))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    aggregate = aggregate_runs(folders)
    aggregate.to_csv(root / "aggregate.csv", index=False)
    return aggregate


def aggregate_runs(folders: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Return the mean and spread across seeds of every metric, per grid point.

    Returns
    -------
    pandas.DataFrame
        Columns ``beta, activation, orthonormal_alpha, epoch, layer, quantity, split,
        bin_size, unit, mean, std, n_seeds``. ``std`` is the sample standard deviation
        across seeds (NaN for one seed).
    """
    frames = []
    for folder in folders:
        config, frame = load_run(folder)
        for key in (*GRID_KEYS, "seed"):
            frame[key] = getattr(config, key)
        frames.append(frame)
    if not frames:
        raise ValueError("folders must name at least one run")
    frame = pd.concat(frames, ignore_index=True)
    keys = [*GRID_KEYS, *ROW_KEYS]
    grouped = frame.groupby(keys, dropna=False, sort=True)["value"]
    result = grouped.agg(mean="mean", std="std", n_seeds="count").reset_index()
    return result


def sweep_summary(aggregate: pd.DataFrame, quantity: str = "i_xt") -> str:
    """Return a text table of ``quantity`` at the last epoch: mean +- std per grid point, layer."""
    rows = aggregate[aggregate["quantity"] == quantity]
    if rows.empty:
        rows = aggregate[aggregate["quantity"] == "loss"]
        quantity = "loss"
    if rows.empty:
        return "nothing measured"
    last = rows[rows["epoch"] == rows["epoch"].max()]
    lines = [f"{quantity} at epoch {int(last['epoch'].iloc[0])} (mean ± std across seeds, nats)"]
    lines.append(
        f"{'activation':>12}{'beta':>10}{'alpha':>10}{'layer':>7}{'mean':>10}{'std':>10}{'n':>4}"
    )
    for _, row in last.iterrows():
        layer = "" if pd.isna(row["layer"]) else int(row["layer"])
        split = "" if quantity != "loss" else f" {row['split']}"
        std = row["std"]
        lines.append(
            f"{row['activation']:>12}{row['beta']:>10g}{row['orthonormal_alpha']:>10g}"
            f"{layer!s:>7}{row['mean']:>10.4f}"
            f"{'' if math.isnan(std) else f'{std:.4f}':>10}{int(row['n_seeds']):>4}{split}"
        )
    return "\n".join(lines)
