"""HoloViews plots of a run: information flow, losses, densities, hidden layers, sweeps.

Every builder takes plain data (a tidy metrics frame, arrays of one epoch) and returns a
HoloViews element, so the same plots serve the live explorer, notebooks and the standalone
HTML export. :class:`LivePlots` joins them to HoloViews streams: the time series hang on
:class:`holoviews.streams.Buffer` streams, to which each measured epoch appends rows, so a
plot is patched rather than redrawn. Their axes are fixed when the plots are built (the whole
run on the epoch axis; ln m, H(Y) or the first loss on the value axis), so new epochs never
move them and a user's zoom or pan is kept; the reset tool returns to the fixed view. The
plots of one epoch (hidden layers, densities, distances) hang on
:class:`holoviews.streams.Pipe` streams and fit their axes to each epoch shown.

Epoch axes are logarithmic but must still show epoch 0, so they plot ``epoch + 1`` and label
their ticks with the epoch itself: the tick written "0" sits at 1, "10" at 11, and so on. The
shift is invisible on a log axis beyond the first few epochs.

All information quantities arrive in nats; the ``units`` argument ``"bits"`` divides them by
ln 2 for display only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd

hv.extension("bokeh", logo=False)

METRIC_COLUMNS = ["epoch", "layer", "quantity", "split", "bin_size", "unit", "value",
                  "stderr"]
UNITS = ("nats", "bits")

# Category10, so that layer l has the same colour in every plot.
LAYER_COLOURS = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

# Sizes chosen so that two plots side by side and two rows fit the main area of a 1280x720
# window next to the sidebar; every text is at least 12 px.
PLOT_WIDTH = 470
PLOT_HEIGHT = 250
FONTSIZE = {"title": "15px", "labels": "13px", "xticks": "12px", "yticks": "12px",
            "legend": "12px", "cticks": "12px", "clabel": "13px"}
BAND_SE = 2.0  # Monte Carlo bands span the estimate +- 2 standard errors (about 95 %)

_COMMON = {"width": PLOT_WIDTH, "height": PLOT_HEIGHT, "fontsize": FONTSIZE,
           "tools": ["hover"], "show_grid": True, "autohide_toolbar": True}


def layer_colour(layer: int) -> str:
    """Return the colour of hidden layer ``layer`` (numbered from 1)."""
    return LAYER_COLOURS[(int(layer) - 1) % len(LAYER_COLOURS)]


def unit_factor(units: str) -> float:
    """Return the factor that turns nats into ``units`` ("nats" or "bits")."""
    if units not in UNITS:
        raise ValueError(f"units must be one of {UNITS}, not {units!r}")
    return 1.0 if units == "nats" else 1.0 / math.log(2.0)


def tidy_frame(rows: Iterable[Mapping[str, Any]] | pd.DataFrame | None) -> pd.DataFrame:
    """Return metric rows as a frame with the tidy columns and fixed dtypes.

    ``layer`` and ``unit`` become float columns with NaN for whole-model (loss, accuracy) and
    whole-layer rows, ``split`` and ``quantity`` plain strings, ``bin_size`` a float with NaN
    where it does not apply, and ``x = epoch + 1`` is added for the log epoch axes. Fixed
    dtypes let frames of successive epochs be appended to one stream.
    """
    frame = pd.DataFrame(list(rows) if rows is not None and not isinstance(
        rows, pd.DataFrame) else rows, columns=METRIC_COLUMNS)
    frame = frame.reindex(columns=METRIC_COLUMNS)
    out = pd.DataFrame({
        "epoch": pd.to_numeric(frame["epoch"]).astype("int64"),
        "layer": pd.to_numeric(frame["layer"], errors="coerce").astype("float64"),
        "quantity": frame["quantity"].astype(object).where(frame["quantity"].notna(), "")
        .astype(str),
        "split": frame["split"].astype(object).where(frame["split"].notna(), "").astype(str),
        "bin_size": pd.to_numeric(frame["bin_size"], errors="coerce").astype("float64"),
        "unit": pd.to_numeric(frame["unit"], errors="coerce").astype("float64"),
        "value": pd.to_numeric(frame["value"], errors="coerce").astype("float64"),
        "stderr": pd.to_numeric(frame["stderr"], errors="coerce").astype("float64"),
    })
    out["x"] = (out["epoch"] + 1).astype("float64")
    return out.reset_index(drop=True)


def empty_frame() -> pd.DataFrame:
    """Return a tidy metrics frame with no rows (the start of every stream)."""
    return tidy_frame([])


def epoch_ticks(max_epoch: int = 10**6) -> list[tuple[float, str]]:
    """Return ticks for an ``epoch + 1`` log axis, labelled with the epoch itself.

    Parameters
    ----------
    max_epoch : int
        Largest epoch that needs a tick.

    Returns
    -------
    list of (position, label)
        Positions are ``epoch + 1`` for epoch 0 and every power of ten up to ``max_epoch``.
    """
    ticks = [(1.0, "0")]
    power = 0
    while 10**power <= max(max_epoch, 1):
        epoch = 10**power
        label = f"{epoch:d}" if epoch < 10**4 else f"1e{power}"
        ticks.append((float(epoch + 1), label))
        power += 1
    return ticks


def _epoch_dim() -> hv.Dimension:
    return hv.Dimension("x", label="epoch (log scale, 0 at left)")


def _value_dim(name: str, label: str, units: str | None) -> hv.Dimension:
    """Return an information axis that spans at least 0 to 0.5 nats.

    The values of an untrained network are all close to 0; without the span, rounding noise
    of 1e-18 would fill the whole axis.
    """
    span = 0.5 * unit_factor(units) if units in UNITS else 0.5
    return hv.Dimension(name, label=label, unit=units, soft_range=(0.0, span))


def _select(frame: pd.DataFrame, quantity: str, **equal: Any) -> pd.DataFrame:
    mask = frame["quantity"] == quantity
    for column, value in equal.items():
        mask &= frame[column] == value
    return frame[mask]


def _layer_rows(frame: pd.DataFrame, quantity: str, layer: int) -> pd.DataFrame:
    """Rows of one whole-layer quantity, one per epoch (the last one wins)."""
    rows = frame[(frame["quantity"] == quantity) & (frame["layer"] == layer)
                 & frame["unit"].isna()]
    return rows.sort_values("epoch").drop_duplicates("epoch", keep="last")


def mi_plot(
    frame: pd.DataFrame,
    layers: Sequence[int],
    *,
    quantity: str = "i_xt",
    units: str = "nats",
    show_exact: bool = True,
    show_bootstrap: bool = True,
    max_epoch: int | None = None,
) -> hv.Overlay:
    """Plot I(X;T_l) or I(Y;T_l) against epoch, one line per hidden layer.

    Each line carries a band of +- 2 Monte Carlo standard errors. For ``quantity="i_xt"``,
    where the frame holds ``i_xt_boot`` rows their spread draws a second, lighter band around
    the bootstrap mean, and the exact values (``i_xt_exact`` rows, the 1-D toys) are drawn
    dashed.

    Parameters
    ----------
    frame : pandas.DataFrame
        Tidy metrics (:func:`tidy_frame`).
    layers : sequence of int
        Hidden layers to draw; one line each even while it has no data yet, so that a live
        plot keeps the same set of glyphs as data arrive.
    quantity : {"i_xt", "i_yt"}
        Which mutual information.
    units : {"nats", "bits"}
        Display unit.
    show_exact, show_bootstrap : bool
        Whether to draw the exact values and the bootstrap bands where present.
    max_epoch : int, optional
        Last epoch of the run, for the ticks.

    Returns
    -------
    holoviews.Overlay
    """
    factor = unit_factor(units)
    name = {"i_xt": "I(X;T)", "i_yt": "I(Y;T)"}.get(quantity, quantity)
    value_dim = _value_dim(quantity, name, units)
    elements: list[hv.Element] = []
    for layer in layers:
        colour = layer_colour(layer)
        rows = _layer_rows(frame, quantity, layer)
        x = rows["x"].to_numpy()
        y = rows["value"].to_numpy() * factor
        se = np.nan_to_num(rows["stderr"].to_numpy() * factor) * BAND_SE
        band = hv.Spread((x, y, se), _epoch_dim(), [value_dim, "band"],
                         label=f"±{BAND_SE:g} s.e., Monte Carlo")
        elements.append(band.opts(color=colour, alpha=0.25, line_alpha=0, muted_alpha=0))
        if show_bootstrap and quantity == "i_xt":
            boot = _layer_rows(frame, "i_xt_boot", layer)
            bx = boot["x"].to_numpy()
            by = boot["value"].to_numpy() * factor
            bse = np.nan_to_num(boot["stderr"].to_numpy() * factor) * BAND_SE
            if len(boot):
                elements.append(
                    hv.Spread((bx, by, bse), _epoch_dim(), [value_dim, "band"],
                              label=f"±{BAND_SE:g} s.e., bootstrap")
                    .opts(color=colour, alpha=0.12, line_alpha=0, muted_alpha=0))
        elements.extend(_line_with_markers(x, y, value_dim, f"layer {layer}", colour))
        if show_exact and quantity == "i_xt":
            exact = _layer_rows(frame, "i_xt_exact", layer)
            if len(exact):
                elements.append(
                    hv.Curve((exact["x"].to_numpy(), exact["value"].to_numpy() * factor),
                             _epoch_dim(), value_dim, label="exact")
                    .opts(color="black", line_dash="dashed", line_width=1.5))
    title = f"{name} per hidden layer"
    return _epoch_overlay(elements, title, max_epoch)


def _line_with_markers(x: np.ndarray, y: np.ndarray, value_dim: hv.Dimension, label: str,
                       colour: str, dash: str = "solid") -> list[hv.Element]:
    """Return a line and its points (so that a single measured epoch is visible too)."""
    return [
        hv.Curve((x, y), _epoch_dim(), value_dim, label=label)
        .opts(color=colour, line_width=2, line_dash=dash),
        hv.Scatter((x, y), _epoch_dim(), value_dim, label=label)
        .opts(color=colour, size=4),
    ]


def epoch_range(max_epoch: int | None) -> tuple[float, float]:
    """Return the x range of an epoch axis: epoch 0 (at 1) to the last epoch, with margins."""
    last = float(max_epoch or 10**6) + 1.0
    return 0.85, last * 1.15


def _epoch_overlay(elements: list[hv.Element], title: str, max_epoch: int | None) -> hv.Overlay:
    ticks = epoch_ticks(max_epoch or 10**6)
    if not elements:
        elements = [hv.Curve([], _epoch_dim(), "value")]
    overlay = hv.Overlay(elements)
    # The x range is the whole run, fixed: the curves grow into it and never shift.
    return overlay.opts(
        hv.opts.Overlay(title=title, logx=True, xticks=ticks, xlim=epoch_range(max_epoch),
                        legend_position="right",
                        legend_opts={"background_fill_alpha": 0.6, "label_height": 14,
                                     "glyph_height": 14, "spacing": 0, "padding": 4,
                                     "margin": 2}, **_COMMON),
    )


def loss_plot(frame: pd.DataFrame, *, quantity: str = "loss",
              max_epoch: int | None = None) -> hv.Overlay:
    """Plot train and test loss (or accuracy) against epoch.

    Parameters
    ----------
    frame : pandas.DataFrame
        Tidy metrics with ``quantity`` rows of splits ``train`` and ``test``.
    quantity : {"loss", "accuracy"}
        Which metric.
    max_epoch : int, optional
        Last epoch of the run, for the ticks.

    Returns
    -------
    holoviews.Overlay
    """
    label = "loss" if quantity == "loss" else "accuracy (fraction correct)"
    value_dim = hv.Dimension(quantity, label=label, soft_range=(0.0, 1.0))
    elements = []
    for split, colour, dash in (("train", "#1f77b4", "solid"), ("test", "#d62728", "dashed")):
        rows = _select(frame, quantity, split=split).sort_values("epoch")
        rows = rows.drop_duplicates("epoch", keep="last")
        elements.extend(_line_with_markers(rows["x"].to_numpy(), rows["value"].to_numpy(),
                                           value_dim, split, colour, dash))
    title = "Training and test loss" if quantity == "loss" else "Training and test accuracy"
    overlay = _epoch_overlay(elements, title, max_epoch)
    return overlay


def information_plane(frame: pd.DataFrame, layers: Sequence[int], *,
                      units: str = "nats", max_epoch: int | None = None) -> hv.Overlay:
    """Plot the information plane: I(X;T_l) on x, I(Y;T_l) on y, one path per layer.

    Points are coloured by epoch on a log colour scale; the path joins the epochs of a layer
    in order.

    Parameters
    ----------
    frame : pandas.DataFrame
        Tidy metrics with ``i_xt`` and ``i_yt`` rows.
    layers : sequence of int
        Hidden layers to draw.
    units : {"nats", "bits"}
        Display unit.
    max_epoch : int, optional
        Last epoch of the run: the colour scale spans epochs 0 to it.

    Returns
    -------
    holoviews.Overlay
    """
    factor = unit_factor(units)
    xdim = _value_dim("i_xt", "I(X;T)", units)
    ydim = _value_dim("i_yt", "I(Y;T)", units)
    edim = hv.Dimension("x", label="epoch + 1")
    elements: list[hv.Element] = []
    points = []
    for layer in layers:
        ixt = _layer_rows(frame, "i_xt", layer).set_index("epoch")["value"]
        iyt = _layer_rows(frame, "i_yt", layer).set_index("epoch")["value"]
        joined = pd.concat({"i_xt": ixt, "i_yt": iyt}, axis=1).dropna().sort_index()
        xs = joined["i_xt"].to_numpy() * factor
        ys = joined["i_yt"].to_numpy() * factor
        elements.append(hv.Curve((xs, ys), xdim, ydim, label=f"layer {layer}")
                        .opts(color=layer_colour(layer), line_width=1.5, alpha=0.8))
        points.append(pd.DataFrame({"i_xt": xs, "i_yt": ys,
                                    "x": joined.index.to_numpy() + 1.0,
                                    "layer": float(layer)}))
    data = pd.concat(points) if points else pd.DataFrame(
        {"i_xt": [], "i_yt": [], "x": [], "layer": []})
    elements.append(hv.Points(data, [xdim, ydim], [edim, "layer"]).opts(
        color="x", cmap="viridis", cnorm="log", colorbar=True, size=6,
        clim=(1.0, float(max_epoch or 10**6) + 1.0), clabel="epoch + 1", tools=["hover"]))
    return hv.Overlay(elements).opts(hv.opts.Overlay(
        title="Information plane", legend_position="bottom_right", **_COMMON))


def binned_entropy_plot(frame: pd.DataFrame, layers: Sequence[int], bin_sizes: Sequence[float],
                        *, units: str = "nats", max_epoch: int | None = None) -> hv.Overlay:
    """Plot H(Bin(T_l)) against epoch: colour per layer, dash style per bin size.

    Parameters
    ----------
    frame : pandas.DataFrame
        Tidy metrics with ``h_bin`` rows whose ``bin_size`` is the absolute bin width.
    layers : sequence of int
        Hidden layers to draw.
    bin_sizes : sequence of float
        Bin widths to draw (absolute).
    units : {"nats", "bits"}
        Display unit.
    max_epoch : int, optional
        Last epoch of the run, for the ticks.

    Returns
    -------
    holoviews.Overlay
    """
    factor = unit_factor(units)
    value_dim = _value_dim("h_bin", "H(Bin(T))", units)
    dashes = ("solid", "dashed", "dotted", "dashdot")
    elements = []
    rows_all = frame[frame["quantity"] == "h_bin"]
    for k, bin_size in enumerate(bin_sizes):
        for layer in layers:
            rows = rows_all[(rows_all["layer"] == layer)
                            & np.isclose(rows_all["bin_size"], bin_size, rtol=1e-9, atol=0)]
            rows = rows.sort_values("epoch").drop_duplicates("epoch", keep="last")
            elements.extend(_line_with_markers(
                rows["x"].to_numpy(), rows["value"].to_numpy() * factor, value_dim,
                f"layer {layer}, B={bin_size:.3g}", layer_colour(layer),
                dashes[k % len(dashes)]))
    return _epoch_overlay(elements, "Binned entropy H(Bin(T)) per layer", max_epoch)


def density_plot(grid: np.ndarray | None, density: np.ndarray | None, *, layer: int,
                 epoch: int | None, centres: np.ndarray | None = None,
                 labels: np.ndarray | None = None) -> hv.Overlay:
    """Plot the Gaussian-mixture density p_T(t) of a one-dimensional layer at one epoch.

    Parameters
    ----------
    grid, density : numpy.ndarray or None
        Points t and density values p_T(t); None draws an empty plot.
    layer : int
        The layer, for the title and colour.
    epoch : int or None
        The epoch shown.
    centres, labels : numpy.ndarray, optional
        Mixture centres (clean outputs S of each input) and their classes, drawn as ticks
        on the t axis.

    Returns
    -------
    holoviews.Overlay
    """
    tdim = hv.Dimension("t", label=f"t (value of layer {layer})")
    pdim = hv.Dimension("p", label="density p_T(t)")
    grid = np.asarray(grid if grid is not None else [], dtype=float)
    density = np.asarray(density if density is not None else [], dtype=float)
    elements: list[hv.Element] = [
        hv.Area((grid, density), tdim, pdim, label="p_T(t)")
        .opts(color=layer_colour(layer), alpha=0.35, line_width=2)]
    if centres is not None and len(centres):
        centres = np.asarray(centres, dtype=float).ravel()
        classes = (np.char.add("class ", np.asarray(labels).ravel().astype(str))
                   if labels is not None else np.full(len(centres), "all"))
        spikes = pd.DataFrame({"t": centres, "class": classes})
        elements.append(hv.Spikes(spikes, tdim, ["class"], label="centres S(x)").opts(
            color="class", cmap=list(CLASS_COLOURS), spike_length=0.08 * max(
                float(density.max()) if density.size else 1.0, 1e-12), line_width=2))
    title = f"Density of layer {layer}" + (f" at epoch {epoch}" if epoch is not None else "")
    return hv.Overlay(elements).opts(hv.opts.Overlay(title=title, legend_position="top_right",
                                                     **_COMMON))


def density_evolution(epochs: Sequence[int], grids: Sequence[np.ndarray],
                      densities: Sequence[np.ndarray], *, layer: int,
                      n_points: int = 200, max_epoch: int | None = None) -> hv.QuadMesh:
    """Show p_T(t) of a one-dimensional layer over the measured epochs as an image.

    The densities of the epochs are resampled onto one common t grid (linear interpolation,
    zero outside an epoch's own grid); columns are epochs on a log axis whose cell edges are
    geometric midpoints between ``epoch + 1`` values.

    Parameters
    ----------
    epochs : sequence of int
        Measured epochs, ascending.
    grids, densities : sequences of numpy.ndarray
        The grid and density of each epoch.
    layer : int
        The layer, for the title.
    n_points : int
        Size of the common t grid.
    max_epoch : int, optional
        Last epoch of the run, for the ticks.

    Returns
    -------
    holoviews.QuadMesh
    """
    tdim = hv.Dimension("t", label=f"t (value of layer {layer})")
    zdim = hv.Dimension("p", label="density p_T(t)")
    epochs = np.asarray(epochs, dtype=float)
    if len(epochs) == 0:
        x_edges = np.array([1.0, 2.0])
        t = np.linspace(-1, 1, 2)
        z = np.zeros((1, 1))
        t_edges = t
    else:
        low = min(float(np.min(g)) for g in grids)
        high = max(float(np.max(g)) for g in grids)
        t_edges = np.linspace(low, high, n_points + 1)
        t = 0.5 * (t_edges[1:] + t_edges[:-1])
        columns = [np.interp(t, np.asarray(g, float), np.asarray(d, float), left=0.0, right=0.0)
                   for g, d in zip(grids, densities, strict=True)]
        z = np.stack(columns, axis=1)
        x = epochs + 1.0
        if len(x) == 1:
            x_edges = np.array([x[0] / 1.5, x[0] * 1.5])
        else:
            mids = np.sqrt(x[1:] * x[:-1])
            x_edges = np.concatenate([[x[0] ** 2 / mids[0]], mids, [x[-1] ** 2 / mids[-1]]])
    mesh = hv.QuadMesh((x_edges, t_edges, z), [_epoch_dim(), tdim], zdim)
    return mesh.opts(title=f"Density of layer {layer} over epochs", logx=True, cmap="viridis",
                     colorbar=True, xticks=epoch_ticks(max_epoch or 10**6),
                     xlim=epoch_range(max_epoch), **_COMMON)


def _project(points: np.ndarray, azimuth: float, elevation: float = 25.0) -> np.ndarray:
    """Orthographic projection of 3-D points seen from (azimuth, elevation) in degrees."""
    a, e = np.radians(azimuth), np.radians(elevation)
    right = np.array([np.cos(a), np.sin(a), 0.0])
    up = np.array([-np.sin(e) * np.sin(a), np.sin(e) * np.cos(a), np.cos(e)])
    return np.column_stack([points @ right, points @ up])


def hidden_layer_plot(values: np.ndarray | None, labels: np.ndarray | None, *, layer: int,
                      epoch: int | None, azimuth: float = 35.0, bins: int = 40) -> hv.Element:
    """Plot the values S_l of one hidden layer at one epoch.

    Width 1 or more than 3: a histogram of all neuron values of the layer (Fig. 7, top).
    Width 2: a scatter plot coloured by class. Width 3: a scatter plot of an orthographic
    projection seen from ``azimuth`` degrees, coloured by class.

    Parameters
    ----------
    values : numpy.ndarray of shape (n, d) or None
        The layer's snapshot (one replica per input).
    labels : numpy.ndarray of shape (n,), optional
        Class of each input.
    layer : int
        Layer number, for the title.
    epoch : int or None
        Epoch shown, for the title.
    azimuth : float
        Viewing angle of a 3-D layer, degrees.
    bins : int
        Histogram bins.

    Returns
    -------
    holoviews.Element
    """
    at = f" at epoch {epoch}" if epoch is not None else ""
    values = np.zeros((0, 1)) if values is None else np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    n, d = values.shape
    if d in (2, 3):
        xy = values if d == 2 else _project(values, azimuth)
        classes = (np.char.add("class ", np.asarray(labels).ravel().astype(str))
                   if labels is not None and len(labels) == n else np.full(n, "all"))
        data = pd.DataFrame({"u": xy[:, 0], "v": xy[:, 1], "class": classes})
        names = ("neuron 1", "neuron 2") if d == 2 else ("projection u", "projection v")
        title = (f"Layer {layer} (width {d}){at}" if d == 2
                 else f"Layer {layer} (width 3, view {azimuth:.0f}°){at}")
        return hv.Points(data, [hv.Dimension("u", label=names[0]),
                                hv.Dimension("v", label=names[1])], ["class"]).opts(
            color="class", cmap=list(CLASS_COLOURS), size=4, alpha=0.6, legend_position="right",
            title=title, **_COMMON)
    flat = values.ravel()
    if flat.size:
        counts, edges = np.histogram(flat, bins=bins)
        fractions = counts / flat.size
    else:
        fractions, edges = np.zeros(1), np.array([0.0, 1.0])
    return hv.Histogram((edges, fractions),
                        kdims=[hv.Dimension("s", label=f"neuron value (layer {layer})")],
                        vdims=[hv.Dimension("f", label="fraction of values")]).opts(
        color=layer_colour(layer), title=f"Neuron values of layer {layer} (width {d}){at}",
        **_COMMON)


def distance_plot(distances: tuple[np.ndarray, np.ndarray, np.ndarray] | None, *, layer: int,
                  epoch: int | None) -> hv.Overlay:
    """Plot the within- and between-class histograms of pairwise distances of one layer.

    Parameters
    ----------
    distances : (edges, within, between) or None
        Bin edges and the two histograms (counts or densities, drawn as fractions).
    layer : int
        Layer number.
    epoch : int or None
        Epoch shown.

    Returns
    -------
    holoviews.Overlay
    """
    ddim = hv.Dimension("distance", label=f"pairwise distance in layer {layer}")
    fdim = hv.Dimension("fraction", label="fraction of pairs")
    missing = distances is None
    if missing:
        edges, within, between = np.array([0.0, 1.0]), np.zeros(1), np.zeros(1)
    else:
        edges, within, between = (np.asarray(a, dtype=float) for a in distances)

    def normalised(h: np.ndarray) -> np.ndarray:
        total = h.sum()
        return h / total if total > 0 else h

    at = f" at epoch {epoch}" if epoch is not None else ""
    if missing:
        at = " (not measured for this run)"
    return hv.Overlay([
        hv.Histogram((edges, normalised(within)), kdims=[ddim], vdims=[fdim],
                     label="within class")
        .opts(color="#1f77b4", alpha=0.5),
        hv.Histogram((edges, normalised(between)), kdims=[ddim], vdims=[fdim],
                     label="between classes")
        .opts(color="#d62728", alpha=0.5),
    ]).opts(hv.opts.Overlay(title=f"Distances in layer {layer}{at}",
                            legend_position="top_right", **_COMMON))


def mixture_density(centres: np.ndarray, beta: float, grid: np.ndarray) -> np.ndarray:
    """Return g(t) = (1/n) sum_i N(t; mu_i, beta^2) of one-dimensional centres on ``grid``."""
    centres = np.asarray(centres, dtype=float).ravel()
    grid = np.asarray(grid, dtype=float)
    z = (grid[:, None] - centres[None, :]) / beta
    return np.exp(-0.5 * z**2).mean(axis=1) / (beta * math.sqrt(2.0 * math.pi))


def sweep_curve(frame: pd.DataFrame, *, parameter: str, position: float,
                units: str = "nats", group: str | None = "beta") -> hv.Overlay:
    """Plot I(X;T) against a swept parameter, exact and SP side by side, marking one value.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per grid point and group with columns ``parameter``, ``exact``, ``sp`` and
        optionally ``stderr`` (drawn as +- 2 s.e. bars) and ``group`` (nats).
    parameter : str
        The swept column ("w" or "b").
    position : float
        Value of the parameter whose exact and SP values are marked.
    units : {"nats", "bits"}
        Display unit.
    group : str or None
        Column that tells curves apart (β for Fig. 5d).

    Returns
    -------
    holoviews.Overlay
    """
    factor = unit_factor(units)
    pdim = hv.Dimension(parameter, label={"w": "weight w (bias -2w)",
                                          "b": "bias b"}.get(parameter, parameter))
    idim = hv.Dimension("i", label="I(X;T)", unit=units)
    groups = [None] if group is None or group not in frame else sorted(frame[group].unique())
    elements: list[hv.Element] = []
    marks = []
    for k, value in enumerate(groups):
        rows = frame if value is None else frame[frame[group] == value]
        rows = rows.sort_values(parameter)
        colour = LAYER_COLOURS[k % len(LAYER_COLOURS)]
        tag = "" if value is None else f", β={value:g}"
        p = rows[parameter].to_numpy(dtype=float)
        elements.append(hv.Curve((p, rows["exact"].to_numpy() * factor), pdim, idim,
                                 label=f"exact{tag}").opts(color=colour, line_width=2))
        if "sp" in rows:
            sp = rows["sp"].to_numpy() * factor
            elements.append(hv.Scatter((p, sp), pdim, idim, label=f"SP{tag}")
                            .opts(color=colour, marker="x", size=7))
            if "stderr" in rows:
                spread = BAND_SE * rows["stderr"].to_numpy() * factor
                elements.append(hv.ErrorBars((p, sp, spread), pdim, [idim, "spread"])
                                .opts(line_color=colour, upper_head=None, lower_head=None))
        if len(p):
            exact_at = float(np.interp(position, p, rows["exact"].to_numpy(dtype=float)))
            marks.append((position, exact_at * factor))
            if "sp" in rows:
                marks.append((position, float(np.interp(position, p, rows["sp"].to_numpy(
                    dtype=float))) * factor))
    elements.append(hv.VLine(position).opts(color="gray", line_dash="dotted"))
    elements.append(hv.Scatter(marks, pdim, idim, label="at slider").opts(
        color="black", size=10, marker="circle"))
    return hv.Overlay(elements).opts(hv.opts.Overlay(
        title=f"I(X;T) against {parameter}: exact and SP", legend_position="top_right",
        legend_opts={"background_fill_alpha": 0.7, "label_height": 12, "glyph_height": 12,
                     "spacing": 0, "padding": 3}, **_COMMON))


class LivePlots:
    """The explorer's plots, fed by streams so that new epochs patch them in place.

    Parameters
    ----------
    layers : sequence of int
        Hidden layers of the run.
    bin_sizes : sequence of float
        Absolute bin widths of the H(Bin(T)) rows.
    max_epoch : int
        Last epoch of the run (axis ticks).
    units : {"nats", "bits"}
        Display unit of information.
    one_dimensional : sequence of int
        Layers of width 1 whose density is drawn.
    bounds : dict, optional
        Upper ends of the value axes, in nats (loss and accuracy as they are): keys
        ``i_xt`` (ln m), ``i_yt`` (H(Y)), ``h_bin`` (ln m) and ``loss``. The time-series
        axes are fixed at these ranges, so that new epochs never move them and a zoom
        survives; a missing bound leaves that axis to the data of the first frame.
    """

    BUFFER_LENGTH = 1_000_000

    def __init__(self, layers: Sequence[int], *, bin_sizes: Sequence[float] = (),
                 max_epoch: int = 10**6, units: str = "nats",
                 one_dimensional: Sequence[int] = (),
                 bounds: Mapping[str, float | None] | None = None) -> None:
        unit_factor(units)
        self.bounds = {k: float(v) for k, v in (bounds or {}).items()
                       if v is not None and math.isfinite(v) and v > 0}
        self.layers = [int(k) for k in layers]
        self.bin_sizes = [float(b) for b in bin_sizes]
        self.max_epoch = int(max_epoch)
        self.units = units
        self.one_dimensional = [int(k) for k in one_dimensional]
        self.frame = empty_frame()
        self._buffers: dict[str, hv.streams.Buffer] = {}
        self.pipes: dict[str, hv.streams.Pipe] = {
            name: hv.streams.Pipe(data={}) for name in ("density", "evolution", "hidden",
                                                          "distances")}
        self.maps: dict[str, hv.DynamicMap] = {}
        series: dict[str, Callable[[pd.DataFrame], hv.Element]] = {
            "i_xt": lambda data: self.limit_axes(mi_plot(
                data, self.layers, quantity="i_xt", units=self.units,
                max_epoch=self.max_epoch), y="i_xt"),
            "i_yt": lambda data: self.limit_axes(mi_plot(
                data, self.layers, quantity="i_yt", units=self.units,
                max_epoch=self.max_epoch), y="i_yt"),
            "loss": lambda data: self.limit_axes(loss_plot(
                data, quantity="loss", max_epoch=self.max_epoch), y="loss", convert=False),
            "accuracy": lambda data: loss_plot(data, quantity="accuracy",
                                               max_epoch=self.max_epoch).opts(
                hv.opts.Overlay(ylim=(-0.02, 1.02))),
            "plane": lambda data: self.limit_axes(information_plane(
                data, self.layers, units=self.units, max_epoch=self.max_epoch),
                x="i_xt", y="i_yt"),
            "h_bin": lambda data: self.limit_axes(binned_entropy_plot(
                data, self.layers, self.bin_sizes, units=self.units,
                max_epoch=self.max_epoch), y="h_bin"),
        }
        for name, build in series.items():
            # following=False: the axes are set once from known bounds and never moved by
            # new data, so a user's zoom or pan stays as it is.
            buffer = hv.streams.Buffer(empty_frame(), length=self.BUFFER_LENGTH, index=False,
                                       following=False)
            self._buffers[name] = buffer
            self.maps[name] = hv.DynamicMap(_from_data(build), streams=[buffer]).opts(
                framewise=False)
        self.maps["density"] = hv.DynamicMap(
            _from_data(lambda d: density_plot(layer=d.get("layer", 1), epoch=d.get("epoch"),
                                              grid=d.get("grid"), density=d.get("density"),
                                              centres=d.get("centres"),
                                              labels=d.get("labels"))),
            streams=[self.pipes["density"]]).opts(framewise=True)
        self.maps["evolution"] = hv.DynamicMap(
            _from_data(lambda d: density_evolution(
                d.get("epochs", []), d.get("grids", []), d.get("densities", []),
                layer=d.get("layer", 1), max_epoch=self.max_epoch)),
            streams=[self.pipes["evolution"]]).opts(framewise=True)
        self.maps["hidden"] = hv.DynamicMap(
            _from_data(lambda d: hidden_layer_plot(d.get("values"), d.get("labels"),
                                                   layer=d.get("layer", 1),
                                                   epoch=d.get("epoch"),
                                                   azimuth=d.get("azimuth", 35.0))),
            streams=[self.pipes["hidden"]]).opts(framewise=True)
        self.maps["distances"] = hv.DynamicMap(
            _from_data(lambda d: distance_plot(d.get("distances"), layer=d.get("layer", 1),
                                               epoch=d.get("epoch"))),
            streams=[self.pipes["distances"]]).opts(framewise=True)

    def limit_axes(self, overlay: hv.Overlay, *, x: str | None = None, y: str | None = None,
               convert: bool = True) -> hv.Overlay:
        """Fix the axes at the known bounds (5 % headroom), in the display unit."""
        factor = unit_factor(self.units) if convert else 1.0
        limits = {}
        for axis, key in (("xlim", x), ("ylim", y)):
            if key is not None and key in self.bounds:
                limits[axis] = (0.0, 1.05 * self.bounds[key] * factor)
        return overlay.opts(hv.opts.Overlay(**limits)) if limits else overlay

    @property
    def buffers(self) -> dict[str, hv.streams.Buffer]:
        """The Buffer stream behind each time-series plot, by plot name."""
        return self._buffers

    def push_rows(self, rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> int:
        """Append metric rows to every time-series plot; return the number of rows added."""
        frame = rows if isinstance(rows, pd.DataFrame) and "x" in rows else tidy_frame(rows)
        if frame.empty:
            return 0
        self.frame = pd.concat([self.frame, frame], ignore_index=True)
        wanted = {
            "i_xt": {"i_xt", "i_xt_exact", "i_xt_boot"}, "i_yt": {"i_yt"}, "loss": {"loss"},
            "accuracy": {"accuracy"}, "plane": {"i_xt", "i_yt"}, "h_bin": {"h_bin"},
        }
        for name, quantities in wanted.items():
            part = frame[frame["quantity"].isin(quantities) & frame["unit"].isna()]
            if len(part):
                self._buffers[name].send(part.reset_index(drop=True))
        return len(frame)

    def clear(self) -> None:
        """Forget all data (a reset run)."""
        self.frame = empty_frame()
        for buffer in self._buffers.values():
            buffer.clear()
        for pipe in self.pipes.values():
            pipe.send({})

    def set_units(self, units: str) -> None:
        """Switch the display unit and redraw the information plots."""
        unit_factor(units)
        self.units = units
        for name in ("i_xt", "i_yt", "plane", "h_bin"):
            # An empty chunk leaves the data as it is but counts as an update.
            self._buffers[name].send(empty_frame())

    def redraw(self) -> None:
        """Redraw every time-series plot from its buffered data."""
        for buffer in self._buffers.values():
            buffer.send(empty_frame())


def _from_data(build: Callable[[Any], hv.Element]) -> Callable[..., hv.Element]:
    """Wrap a builder as a DynamicMap callback that receives the stream's ``data``."""
    def callback(data: Any) -> hv.Element:
        return build(data)
    return callback
