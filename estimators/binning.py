"""Entropy of binned layer activations, H(Bin(T)), and the quantities built from it.

Section 2 and section 5 of Goldfeld et al. discuss the binned estimate of earlier work: every
neuron of a layer is discretised into bins, and the discrete entropy of the joint bin index of
the layer is computed from counts over the inputs. For a deterministic network (beta = 0),
Bin(T) is a function of X, H(Bin(T) | X) = 0 and so H(Bin(T)) = I(X; Bin(T)), the quantity
plotted in Fig. 1. The paper shows it measures how clustered the representations are rather
than I(X; T) (section 5, Figs. 7, 11-13).

Two ways of forming the bins are offered:

* ``bin_size=B``: every neuron gets the half-open bins [origin + k B, origin + (k + 1) B) for
  all integers k. The bin of a value is an integer floor, so unbounded (ReLU or linear) values
  never pile into one last bin, and the bins of B/2 from the same origin nest inside those of
  B, so halving the bin never lowers the entropy.
* ``edges=e``: explicit monotone edges shared by every neuron, with right-closed bins
  [e_0, e_1], (e_1, e_2], ..., (e_{K-1}, e_K]; ``edges=[-1, 0, 1]`` gives the two bins
  [-1, 0] and (0, 1] of Fig. 13, and ``numpy.linspace(-1, 1, 31)`` the 30 equal bins over a
  tanh layer's range used in earlier work. Values outside [e_0, e_K] raise a ``ValueError``.

For a noisy network, bin the clean values S of one replica per input (for example
``samples[:, 0, :]`` of an (m, r, d) array of replicas): the noise is what binning stands in
for, and binning the noisy T would count it twice. All entropies are in nats.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from ._validation import ArrayLike, _describe, as_labels, as_tensor, check_positive

__all__ = ["binned_entropy", "per_unit_binned_entropy", "binned_label_mi"]

logger = logging.getLogger(__name__)

# Elements of the int64 bin-index block formed at once (32 MiB); a layer of any width is
# handled a block of neurons at a time.
_BLOCK_ELEMENTS = 1 << 22

# Floor indices beyond this magnitude would not fit an int64 after the floor.
_MAX_INDEX = 2.0**62


class _Binner:
    """Checked activations and bin specification, producing int64 bin indices by blocks."""

    def __init__(
        self,
        activations: ArrayLike,
        bin_size: float | None,
        edges: ArrayLike | None,
        value_range: Sequence[float] | None,
        origin: float,
    ) -> None:
        self.values = _as_activations(activations)
        self.n, self.d = self.values.shape

        if (bin_size is None) == (edges is None):
            raise ValueError(
                "exactly one of bin_size and edges must be given, not "
                f"{'both' if bin_size is not None else 'neither'}"
            )
        self.bin_size = None if bin_size is None else check_positive("bin_size", bin_size)
        self.origin = _check_finite_real("origin", origin)
        self.edges = None if edges is None else _as_edges(edges)

        low, high = self._observed_range()
        if value_range is not None:
            _check_value_range(value_range, low, high)
        if self.edges is not None and (low < self.edges[0] or high > self.edges[-1]):
            raise ValueError(
                f"activations must lie within the edges [{self.edges[0]:g}, "
                f"{self.edges[-1]:g}], not range over [{low:g}, {high:g}]"
            )
        if self.bin_size is not None:
            reach = max(abs(low - self.origin), abs(high - self.origin))
            if reach / self.bin_size >= _MAX_INDEX:
                raise ValueError(
                    f"bin_size must be at least {reach / _MAX_INDEX:.3g} "
                    f"for activations ranging over [{low:g}, {high:g}], not {self.bin_size:g}"
                )

    def _observed_range(self) -> tuple[float, float]:
        """Return the smallest and largest activation."""
        return float(self.values.min()), float(self.values.max())

    def index_blocks(self) -> Iterator[np.ndarray]:
        """Yield (n, c) int64 bin indices for consecutive blocks of c neurons."""
        width = max(1, _BLOCK_ELEMENTS // max(self.n, 1))
        for start in range(0, self.d, width):
            block = self.values[:, start : start + width].to(torch.float64)
            yield self._indices(block)

    def _indices(self, block: torch.Tensor) -> np.ndarray:
        """Return the bin index of every entry of ``block``."""
        if self.bin_size is not None:
            # Division (not multiplication by 1/B) keeps halving exact: fl(x/(B/2)) = 2 fl(x/B).
            scaled = (block - self.origin) / self.bin_size
            return torch.floor(scaled).to(torch.int64).cpu().numpy()

        # Right-closed bins: searchsorted(side="left") puts x in (e_{k-1}, e_k] at k, and the
        # first edge itself joins the first bin.
        values = block.cpu().numpy()
        index = np.searchsorted(self.edges, values, side="left") - 1
        return np.maximum(index, 0)


def _check_finite_real(name: str, value: object) -> float:
    """Return ``value`` as a finite float of any sign."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, not {_describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value}")
    return value


def _as_activations(activations: ArrayLike) -> torch.Tensor:
    """Return a finite (n, d) tensor; a 1-D array is a single neuron."""
    if isinstance(activations, torch.Tensor) and activations.is_floating_point():
        # Keep the caller's float dtype so a wide layer is not copied whole to float64.
        dtype = activations.dtype
    else:
        dtype = torch.float64
    values = as_tensor("activations", activations, ndim=(1, 2, 3), dtype=dtype)
    if values.ndim == 3:
        raise ValueError(
            "activations must have shape (n, d) with one replica per input, not "
            f"{tuple(values.shape)}; pass samples[:, 0, :] to bin the first replica"
        )
    return values.reshape(-1, 1) if values.ndim == 1 else values


def _as_edges(edges: ArrayLike) -> np.ndarray:
    """Return ``edges`` as a strictly increasing float64 array of at least two entries."""
    array = as_tensor("edges", edges, ndim=1).cpu().numpy()
    if array.shape[0] < 2:
        raise ValueError(f"edges must have at least 2 entries, not {array.shape[0]}")
    steps = np.diff(array)
    if (steps <= 0).any():
        position = int(np.flatnonzero(steps <= 0)[0])
        raise ValueError(
            "edges must be strictly increasing, not "
            f"{array[position]:g} followed by {array[position + 1]:g} at index {position}"
        )
    return array


def _check_value_range(value_range: Sequence[float], low: float, high: float) -> None:
    """Check that (lo, hi) is an interval and that the activations lie in it."""
    try:
        lo, hi = value_range
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"value_range must be a pair (lo, hi), not {_describe(value_range)}"
        ) from exc
    lo = _check_finite_real("value_range[0]", lo)
    hi = _check_finite_real("value_range[1]", hi)
    if not lo < hi:
        raise ValueError(f"value_range must satisfy lo < hi, not ({lo:g}, {hi:g})")
    if low < lo or high > hi:
        raise ValueError(
            f"activations must lie within value_range [{lo:g}, {hi:g}], "
            f"not range over [{low:g}, {high:g}]"
        )


def _entropy_of_counts(counts: np.ndarray, total: int) -> float:
    """Return -sum p log p for p = counts / total, in nats."""
    counts = counts[counts > 0].astype(np.float64)
    return math.log(total) - float(np.sum(counts * np.log(counts))) / total


def _joint_bins(binner: _Binner) -> np.ndarray:
    """Return for every input the id (0..K-1) of its joint bin across all neurons."""
    group = np.zeros(binner.n, dtype=np.int64)
    n_groups = 1
    for block in binner.index_blocks():
        # Refine the partition by one block of neurons: rows (group, indices) are the key.
        keys = np.column_stack([group, block])
        _, inverse = np.unique(keys, axis=0, return_inverse=True)
        group = inverse.reshape(-1).astype(np.int64)
        n_groups = int(group.max()) + 1

        # Once every input has its own bin no further neuron can change the partition.
        if n_groups == binner.n:
            break
    logger.debug("%d inputs fall into %d joint bins", binner.n, n_groups)
    return group


def binned_entropy(
    activations: ArrayLike,
    bin_size: float | None = None,
    *,
    edges: ArrayLike | None = None,
    value_range: Sequence[float] | None = None,
    origin: float = 0.0,
) -> float:
    """Return H(Bin(T)), the discrete entropy of a layer's joint bin index, in nats.

    Each input's vector of per-neuron bin indices is one symbol; with ``n`` inputs falling
    into joint bins of counts c_k, H(Bin(T)) = -sum_k (c_k / n) log(c_k / n). With n distinct
    inputs and bins small enough to separate them this is log n; one bin holding every input
    gives 0. For a deterministic network (beta = 0), H(Bin(T)) = I(X; Bin(T)) (section 5).

    Parameters
    ----------
    activations : array_like of shape (n, d) or (n,)
        Layer values, one row per input (numpy array or torch tensor on any device). For a
        noisy network pass the clean values S of one replica per input.
    bin_size : float, optional
        Width B of the half-open bins [origin + k B, origin + (k + 1) B), k any integer.
    edges : array_like, optional
        Strictly increasing bin edges e_0 < ... < e_K giving the bins [e_0, e_1],
        (e_1, e_2], ..., (e_{K-1}, e_K]. Exactly one of ``bin_size`` and ``edges`` is given.
    value_range : (float, float), optional
        The dynamic range (lo, hi) the activations are expected to lie in, e.g. (-1, 1) for a
        tanh layer; a value outside [lo, hi] raises a ``ValueError``. It does not change the
        bins.
    origin : float, default=0.0
        Where the grid of ``bin_size`` bins starts; ignored with ``edges``.

    Returns
    -------
    float
        H(Bin(T)) in nats, between 0 and log n.

    Raises
    ------
    ValueError
        If both or neither of ``bin_size`` and ``edges`` are given, activations are not
        finite or of the wrong shape, edges are not increasing or do not cover the
        activations, or activations leave ``value_range``.

    Notes
    -----
    The joint index is refined a block of neurons at a time with ``numpy.unique`` on rows of
    int64 indices, so memory stays at n times a fixed block width whatever the layer width.
    A value within rounding error of a bin edge may fall on either side of it; the same value
    always falls on the same side.

    Examples
    --------
    >>> binned_entropy([[0.1], [0.35], [0.9]], bin_size=0.5)  # two inputs share [0, 0.5)
    0.636514168294813
    """
    binner = _Binner(activations, bin_size, edges, value_range, origin)
    group = _joint_bins(binner)
    return _entropy_of_counts(np.bincount(group), binner.n)


def per_unit_binned_entropy(
    activations: ArrayLike,
    bin_size: float | None = None,
    *,
    edges: ArrayLike | None = None,
    value_range: Sequence[float] | None = None,
    origin: float = 0.0,
) -> np.ndarray:
    """Return H(Bin(T(j))) of every neuron j of a layer separately, in nats (section 5.3).

    Section 5.3 tracks these per-unit entropies over training to see compression at the level
    of single units when the whole layer stays near-injective.

    Parameters
    ----------
    activations, bin_size, edges, value_range, origin
        As in :func:`binned_entropy`.

    Returns
    -------
    numpy.ndarray of shape (d,)
        The entropy of each neuron's bin index, in nats.
    """
    binner = _Binner(activations, bin_size, edges, value_range, origin)

    entropies = []
    for block in binner.index_blocks():
        # Runs of equal indices in each sorted column are that neuron's bin counts.
        ordered = np.sort(block, axis=0).T
        starts = np.ones(ordered.shape, dtype=bool)
        starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        first = np.flatnonzero(starts.ravel())
        counts = np.diff(np.append(first, ordered.size)).astype(np.float64)
        column = first // binner.n
        weighted = np.bincount(column, weights=counts * np.log(counts), minlength=len(ordered))
        entropies.append(math.log(binner.n) - weighted / binner.n)
    return np.concatenate(entropies)


def binned_label_mi(
    activations: ArrayLike,
    labels: ArrayLike,
    bin_size: float | None = None,
    *,
    edges: ArrayLike | None = None,
    value_range: Sequence[float] | None = None,
    origin: float = 0.0,
) -> float:
    """Return I(Y; Bin(T)) = H(Bin(T)) - sum_y p(y) H(Bin(T) | Y = y), in nats.

    The label distribution p(y) is the empirical one over the inputs. The value lies between
    0 and min(H(Y), H(Bin(T))).

    Parameters
    ----------
    activations, bin_size, edges, value_range, origin
        As in :func:`binned_entropy`.
    labels : array_like of shape (n,)
        One class label per input (row of ``activations``).

    Returns
    -------
    float
        I(Y; Bin(T)) in nats.
    """
    binner = _Binner(activations, bin_size, edges, value_range, origin)
    labels = as_labels("labels", labels, binner.n)
    group = _joint_bins(binner)

    # H(Bin T) - H(Bin T | Y) = H(Bin T) + H(Y) - H(Bin T, Y), all from counts.
    _, label_ids = np.unique(labels, return_inverse=True)
    label_ids = label_ids.reshape(-1)
    joint = group * (int(label_ids.max()) + 1) + label_ids
    value = (
        _entropy_of_counts(np.bincount(group), binner.n)
        + _entropy_of_counts(np.bincount(label_ids), binner.n)
        - _entropy_of_counts(np.unique(joint, return_counts=True)[1], binner.n)
    )

    # The three entropies are exact sums, so only rounding can push the result below 0.
    return max(value, 0.0)
