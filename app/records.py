"""One measured epoch of a run: tidy metric rows and the arrays the plots need.

Metric rows
-----------
Every number the runner measures is one row with the columns of :data:`COLUMNS`. ``layer`` is
the hidden layer (numbered from 1) or None for whole-model rows; ``split`` says which inputs
the number is computed on; ``bin_size`` is the absolute bin size of binned quantities (None
otherwise); ``unit`` is the neuron of per-unit rows (None otherwise); ``stderr`` is the Monte
Carlo or bootstrap standard error where there is one. Every information quantity is in nats.

==================== ========================================================== ============
quantity             meaning                                                    split
==================== ========================================================== ============
``i_xt``             I(X;T_l), paired sample-propagation estimate, eq. (6)      estimation
``i_yt``             I(Y;T_l) on the same queries                               estimation
``h_t``              h(T_l)                                                     estimation
``h_t_given_x``      h(T_l|X) (exact for a layer whose S is a function of X)    estimation
``i_xt_boot``        bootstrap mean of I(X;T_l); stderr is the bootstrap spread estimation
``kl_upper``         pairwise KL upper bound on I(X;T_l)                        estimation
``bd_lower``         pairwise Bhattacharyya lower bound on I(X;T_l)             estimation
``i_xt_exact``       true I(X;T_l) of the 1-D toys by numerical integration     estimation
``h_bin``            H(Bin(T_l)) of the clean values, one replica per input     estimation
``i_yt_bin``         I(Y;Bin(T_l))                                              estimation
``h_bin_unit``       H(Bin(T_l(k))) of unit ``unit``                            estimation
``weight``/``bias``  the scalar weight and bias of a 1-D toy layer (not nats)   (empty)
``loss``             the training loss (nats for cross-entropy)                 train, test
``accuracy``         fraction of correct predictions (classifiers and toys)     train, test
==================== ========================================================== ============
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ("epoch", "layer", "quantity", "split", "bin_size", "unit", "value", "stderr")

QUANTITY_NAMES = (
    "i_xt",
    "i_yt",
    "h_t",
    "h_t_given_x",
    "i_xt_boot",
    "kl_upper",
    "bd_lower",
    "i_xt_exact",
    "h_bin",
    "i_yt_bin",
    "h_bin_unit",
    "weight",
    "bias",
    "loss",
    "accuracy",
)


def metric_row(
    epoch: int,
    quantity: str,
    value: float,
    *,
    layer: int | None = None,
    split: str = "estimation",
    bin_size: float | None = None,
    unit: int | None = None,
    stderr: float | None = None,
) -> dict[str, Any]:
    """Return one tidy metric row with every column of :data:`COLUMNS`."""
    return {
        "epoch": int(epoch),
        "layer": None if layer is None else int(layer),
        "quantity": quantity,
        "split": split,
        "bin_size": None if bin_size is None else float(bin_size),
        "unit": None if unit is None else int(unit),
        "value": float(value),
        "stderr": None if stderr is None else float(stderr),
    }


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Return metric rows as a DataFrame with fixed column order and dtypes.

    ``epoch`` is int64; ``layer`` and ``unit`` are nullable Int64 (missing for whole-model
    and whole-layer rows); ``bin_size``, ``value`` and ``stderr`` are float64 with NaN where
    empty; ``quantity`` and ``split`` are strings.
    """
    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    return frame.astype(
        {
            "epoch": "int64",
            "layer": "Int64",
            "quantity": "string",
            "split": "string",
            "bin_size": "float64",
            "unit": "Int64",
            "value": "float64",
            "stderr": "float64",
        }
    )


@dataclass
class EpochRecord:
    """Everything measured at one epoch of a run.

    Attributes
    ----------
    epoch : int
        Number of training epochs done (0 is the network before any update).
    rows : list of dict
        Tidy metric rows (see the module docstring for the quantities).
    snapshots : dict of int to numpy.ndarray
        Layer number to float32 array (n, d_l) of clean values S_l, one replica for each of
        the same n <= snapshot_size inputs at every epoch of the run.
    snapshot_labels : numpy.ndarray or None
        Labels of the snapshot inputs, shape (n,).
    snapshot_index : numpy.ndarray or None
        Positions of the snapshot inputs in the estimation set, shape (n,).
    distances : dict of int to tuple of numpy.ndarray
        Layer number to (edges, within, between): bin edges (bins + 1,) and the counts of
        within-class and between-class pairwise distances (bins,).
    densities : dict of int to tuple of numpy.ndarray
        For 1-D layers, layer number to (grid, density) of p_T on a grid.
    timings : dict of str to float
        Seconds spent: ``train`` (since the previous record), ``sample``, ``estimate``,
        ``total``.
    """

    epoch: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)
    snapshot_labels: np.ndarray | None = None
    snapshot_index: np.ndarray | None = None
    distances: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    densities: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        """Return the metric rows as a DataFrame (see :func:`rows_frame`)."""
        return rows_frame(self.rows)

    def value(
        self,
        quantity: str,
        layer: int | None = None,
        *,
        split: str | None = None,
        bin_size: float | None = None,
    ) -> float:
        """Return the value of the one row that matches, or raise KeyError.

        Parameters
        ----------
        quantity : str
            Quantity name, e.g. ``"i_xt"``.
        layer : int or None
            Layer number; None for whole-model rows.
        split : str, optional
            Needed for loss and accuracy (``"train"`` or ``"test"``).
        bin_size : float, optional
            Absolute bin size of a binned quantity.
        """
        return float(self.row(quantity, layer, split=split, bin_size=bin_size)["value"])

    def row(
        self,
        quantity: str,
        layer: int | None = None,
        *,
        split: str | None = None,
        bin_size: float | None = None,
    ) -> dict[str, Any]:
        """Return the one row that matches (see :meth:`value`)."""
        found = [
            row
            for row in self.rows
            if row["quantity"] == quantity
            and row["layer"] == layer
            and (split is None or row["split"] == split)
            and (bin_size is None or np.isclose(row["bin_size"] or np.nan, bin_size))
            and row["unit"] is None
        ]
        if len(found) != 1:
            raise KeyError(
                f"{len(found)} rows match quantity={quantity!r}, layer={layer!r}, "
                f"split={split!r}, bin_size={bin_size!r} at epoch {self.epoch}"
            )
        return found[0]
