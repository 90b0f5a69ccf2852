"""Geometry of hidden representations: pairwise-distance histograms and cosine similarity.

Section 5 of Goldfeld et al. identifies clustering of the representations as what binned
"compression" measures. Two views of it are computed here:

* :func:`distance_histograms` counts the Euclidean distances between every unordered pair of
  inputs, split into pairs of the same class (within) and of different classes (between), as
  in Figs. 8 and 14. Clusters show as within-class distances pulling away from between-class
  ones.
* :func:`cosine_similarity` compares two models' representations of the same inputs one input
  at a time, as in Fig. 3.

Distances are accumulated a block of rows at a time, so n = 10^4 inputs never form the
n x n distance matrix.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._validation import ArrayLike, as_labels, as_tensor, check_int, check_seed

__all__ = ["DistanceHistograms", "distance_histograms", "cosine_similarity"]

logger = logging.getLogger(__name__)

# float64 elements of one block of distances (32 MiB); torch holds a few such temporaries.
_BLOCK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class DistanceHistograms:
    """Histograms of within-class and between-class pairwise distances.

    Parameters
    ----------
    edges : numpy.ndarray of shape (bins + 1,)
        Bin edges. Bins are half-open [e_k, e_{k+1}) except the last, which is closed, as in
        ``numpy.histogram``.
    within : numpy.ndarray of shape (bins,)
        Number of unordered pairs of inputs with the same label in each bin (or, after
        :meth:`to_density`, a density that integrates to 1).
    between : numpy.ndarray of shape (bins,)
        The same for pairs with different labels.
    outside : int
        Pairs whose distance fell outside [edges[0], edges[-1]] and are in neither histogram
        (always 0 when the range was found from the data).
    n_pairs : int
        Pairs examined: n (n - 1) / 2, or ``max_pairs`` when pairs were sampled.
    """

    edges: np.ndarray
    within: np.ndarray
    between: np.ndarray
    outside: int
    n_pairs: int

    @property
    def centers(self) -> np.ndarray:
        """Return the midpoint of every bin."""
        return 0.5 * (self.edges[:-1] + self.edges[1:])

    def to_density(self) -> DistanceHistograms:
        """Return a copy whose two histograms are each normalised to integrate to 1.

        A histogram without any pair (e.g. ``within`` when every label differs) becomes all
        zeros rather than NaN.
        """
        widths = np.diff(self.edges)

        def normalise(counts: np.ndarray) -> np.ndarray:
            total = counts.sum()
            if total == 0:
                return np.zeros_like(widths)
            return counts / (total * widths)

        return DistanceHistograms(
            edges=self.edges,
            within=normalise(self.within),
            between=normalise(self.between),
            outside=self.outside,
            n_pairs=self.n_pairs,
        )


def _flatten_rows(
    name: str, value: ArrayLike, device: torch.device | None, *, keep_float: bool = False
) -> torch.Tensor:
    """Return ``value`` as a finite (n, D) tensor, every row one input flattened.

    The result is float64, or with ``keep_float`` the tensor's own float dtype (no copy).
    """
    own_float = isinstance(value, torch.Tensor) and value.is_floating_point()
    dtype = value.dtype if keep_float and own_float else torch.float64
    tensor = as_tensor(name, value, dtype=dtype, device=device)
    if tensor.ndim == 0:
        raise ValueError(f"{name} must have one row per input, not a scalar")
    return tensor.reshape(tensor.shape[0], -1)


def _check_bins(bins: Any, value_range: Any) -> tuple[int, np.ndarray | None]:
    """Return the number of bins and the explicit edges (or None when a range is to be used)."""
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        return check_int("bins", bins, minimum=1), None
    edges = as_tensor("bins", bins, ndim=1).cpu().numpy()
    if edges.shape[0] < 2:
        raise ValueError(f"bins must be a count or at least 2 edges, not {edges.shape[0]} edges")
    if (np.diff(edges) <= 0).any():
        raise ValueError("bins must be a count or strictly increasing edges")
    if value_range is not None:
        raise ValueError("range must be None when bins gives the edges")
    return edges.shape[0] - 1, edges


def _check_range(value_range: Any) -> tuple[float, float]:
    """Return (lo, hi) with 0 <= lo < hi, both finite."""
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"range must be a pair (lo, hi) of numbers, not {value_range!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"range must satisfy lo < hi with both finite, not ({lo}, {hi})")
    return lo, hi


def _pair_blocks(points: torch.Tensor, codes: torch.Tensor):
    """Yield (distances, same_label) for all pairs i < j, one block of rows at a time."""
    n = points.shape[0]
    rows = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, n - 1, rows):
        stop = min(start + rows, n - 1)
        block = points[start:stop]

        # Within the block's own rows only pairs above the diagonal count, so only this
        # small square needs a mask; every column after the block pairs with every row.
        square = torch.cdist(block, block, compute_mode="use_mm_for_euclid_dist")
        upper = torch.triu(torch.ones_like(square, dtype=torch.bool), diagonal=1)
        same = codes[start:stop, None] == codes[None, start:stop]
        yield square[upper], same[upper]

        if stop < n:
            rest = torch.cdist(block, points[stop:], compute_mode="use_mm_for_euclid_dist")
            same = codes[start:stop, None] == codes[None, stop:]
            yield rest.reshape(-1), same.reshape(-1)


def _largest_distance(points: torch.Tensor) -> float:
    """Return the largest pairwise distance, a block of rows at a time."""
    n = points.shape[0]
    rows = max(1, _BLOCK_ELEMENTS // n)
    largest = 0.0
    for start in range(0, n, rows):
        # Pairs j < i and the zero self-distances leave the maximum unchanged, so no mask.
        block = torch.cdist(
            points[start : start + rows], points, compute_mode="use_mm_for_euclid_dist"
        )
        largest = max(largest, float(block.max()))
    return largest


def _sampled_pair_blocks(points: torch.Tensor, codes: torch.Tensor, n_pairs: int, seed: int):
    """Yield (distances, same_label) for ``n_pairs`` pairs i != j drawn with replacement."""
    n, width = points.shape
    generator = torch.Generator().manual_seed(seed)

    # The indices come from a CPU generator so that CPU and CUDA draw the same pairs.
    first = torch.randint(0, n, (n_pairs,), generator=generator)
    second = (first + torch.randint(1, n, (n_pairs,), generator=generator)) % n
    first, second = first.to(points.device), second.to(points.device)

    chunk = max(1, _BLOCK_ELEMENTS // width)
    for start in range(0, n_pairs, chunk):
        i, j = first[start : start + chunk], second[start : start + chunk]
        distances = torch.linalg.vector_norm(points[i] - points[j], dim=1)
        yield distances, codes[i] == codes[j]


def distance_histograms(
    points: ArrayLike,
    labels: ArrayLike,
    *,
    bins: int | ArrayLike = 100,
    range: tuple[float, float] | None = None,  # noqa: A002
    max_pairs: int | None = None,
    seed: int | None = None,
    density: bool = False,
) -> DistanceHistograms:
    """Return histograms of within-class and between-class Euclidean pairwise distances.

    Every unordered pair {i, j} of inputs, i < j, contributes the distance
    ||points[i] - points[j]||_2 to the ``within`` histogram when labels[i] == labels[j] and to
    ``between`` otherwise (Figs. 8 and 14).

    Parameters
    ----------
    points : array_like of shape (n, ...)
        One representation per input (numpy array or torch tensor, on any device); trailing
        dimensions are flattened, so convolutional feature maps may be passed as they are.
    labels : array_like of shape (n,)
        Class of each input.
    bins : int or array_like, default=100
        Number of equal-width bins over ``range``, or strictly increasing edges.
    range : (float, float), optional
        Lower and upper edge. When None, the range is [0, the largest pairwise distance],
        found by a first pass over the same pairs, which doubles the work; pass a fixed range
        (which also keeps histograms of several epochs comparable) to skip it. When all
        distances are 0 the range is [0, 1].
    max_pairs : int, optional
        When given and smaller than n (n - 1) / 2, histogram this many pairs drawn uniformly
        with replacement instead of all pairs (cost proportional to ``max_pairs``).
    seed : int, optional
        Seed for drawing the pairs; used only with ``max_pairs``.
    density : bool, default=False
        Return each histogram normalised to integrate to 1 over the bins (see
        :meth:`DistanceHistograms.to_density`) instead of counts.

    Returns
    -------
    DistanceHistograms
        Counts of pairs per bin, with ``within.sum() + between.sum() + outside`` equal to
        ``n_pairs``, or densities when ``density`` is True.

    Notes
    -----
    Points are centred on their mean and distances are formed in float64 by
    ``torch.cdist`` a block of rows at a time, so the memory in use is a float64 copy of the
    points plus a block of about 4 million distances, never n x n. Centring keeps the
    |x|^2 + |y|^2 - 2 x.y expansion that ``cdist`` uses accurate: its absolute error on a
    squared distance is about 1e-16 times the squared spread of the points.
    """
    values = _flatten_rows("points", points, None)
    n = values.shape[0]
    if n < 2:
        raise ValueError(f"points must have at least 2 rows to form a pair, not {n}")
    label_array = as_labels("labels", labels, n)
    n_bins, explicit_edges = _check_bins(bins, range)
    if range is not None:
        lo, hi = _check_range(range)
    if max_pairs is not None:
        max_pairs = check_int("max_pairs", max_pairs, minimum=1)
    seed = check_seed(seed)
    if not isinstance(density, (bool, np.bool_)):
        raise TypeError(f"density must be True or False, not {density!r}")

    # Classes as small integers on the points' device, for one comparison per block.
    _, codes = np.unique(label_array, return_inverse=True)
    codes = torch.as_tensor(codes.reshape(-1), device=values.device)
    values = values - values.mean(dim=0, keepdim=True)

    total_pairs = n * (n - 1) // 2
    sampled = max_pairs is not None and max_pairs < total_pairs
    n_pairs = max_pairs if sampled else total_pairs
    if sampled and seed is None:
        # Both passes over the sampled pairs must see the same pairs, so fix a seed for them.
        seed = int(np.random.default_rng().integers(0, 2**62))

    def blocks():
        if sampled:
            return _sampled_pair_blocks(values, codes, n_pairs, seed)
        return _pair_blocks(values, codes)

    # Edges: given, from the range, or from the largest distance among the same pairs.
    from_data = explicit_edges is None and range is None
    if explicit_edges is not None:
        edges = explicit_edges
    else:
        if range is None:
            if sampled:
                largest = max(float(distances.max()) for distances, _ in blocks())
            else:
                largest = _largest_distance(values)
            lo, hi = 0.0, largest if largest > 0 else 1.0
        edges = np.linspace(lo, hi, n_bins + 1)
    # Nudging the last edge up by one float makes it belong to the last bin, as in
    # numpy.histogram, so bucketize alone sorts a distance: 0 below the range, 1..K inside,
    # K + 1 above it.
    search = np.append(edges[:-1], np.nextafter(edges[-1], np.inf))
    search = torch.as_tensor(search, dtype=torch.float64, device=values.device)
    stride = n_bins + 2

    # One bincount per block: slots 0..K+1 for pairs within a class, K+2.. for between.
    counts = torch.zeros(2 * stride, dtype=torch.int64, device=values.device)
    for distances, same in blocks():
        if from_data:
            # The first pass found the largest distance; the same pair formed in another
            # block may round a little above it and still belongs in the last bin.
            distances = distances.clamp_max(edges[-1])
        key = torch.bucketize(distances, search, right=True)
        key.add_((~same).to(torch.int64), alpha=stride)
        counts += torch.bincount(key, minlength=2 * stride)
    within = counts[1 : n_bins + 1]
    between = counts[stride + 1 : stride + n_bins + 1]

    within_counts = within.cpu().numpy()
    between_counts = between.cpu().numpy()
    outside = n_pairs - int(within_counts.sum()) - int(between_counts.sum())
    logger.debug("histogrammed %d pairs of %d inputs, %d outside the range", n_pairs, n, outside)
    result = DistanceHistograms(
        edges=edges,
        within=within_counts,
        between=between_counts,
        outside=outside,
        n_pairs=n_pairs,
    )
    return result.to_density() if density else result


def cosine_similarity(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Return the cosine similarity of two representations of each input.

    For row i, cos_i = <a_i, b_i> / (||a_i|| ||b_i||) with a_i and b_i flattened, as in
    Fig. 3, where ``a`` and ``b`` are two models' representations of the same inputs in the
    same order.

    Parameters
    ----------
    a, b : array_like of shape (n, ...)
        The two representations, of identical shape (numpy arrays or torch tensors; ``b`` is
        moved to ``a``'s device).

    Returns
    -------
    numpy.ndarray of shape (n,)
        Similarities in [-1, 1] (rounding is clipped). The angle to a zero vector is
        undefined, so a row where ``a_i`` or ``b_i`` is all zeros (a dead ReLU map, say)
        gives NaN; drop those rows, e.g. with ``numpy.isnan``, before histogramming.
    """
    first = _flatten_rows("a", a, None, keep_float=True)
    second = _flatten_rows("b", b, first.device, keep_float=True)
    a_shape = tuple(a.shape) if hasattr(a, "shape") else tuple(np.shape(a))
    b_shape = tuple(b.shape) if hasattr(b, "shape") else tuple(np.shape(b))
    if a_shape != b_shape:
        raise ValueError(f"a and b must have the same shape, not {a_shape} and {b_shape}")

    # Rows are taken a block at a time in float64, so wide feature maps are never copied
    # whole.
    rows = max(1, _BLOCK_ELEMENTS // first.shape[1])
    cosine = torch.empty(first.shape[0], dtype=torch.float64, device=first.device)
    for start in range(0, first.shape[0], rows):
        x = _scaled_rows(first[start : start + rows])
        y = _scaled_rows(second[start : start + rows])
        norms = torch.linalg.vector_norm(x, dim=1) * torch.linalg.vector_norm(y, dim=1)
        dots = (x * y).sum(dim=1)
        cosine[start : start + rows] = torch.where(
            norms > 0, dots / norms, torch.full_like(dots, math.nan)
        )
    return cosine.clamp(-1.0, 1.0).cpu().numpy()


def _scaled_rows(block: torch.Tensor) -> torch.Tensor:
    """Return ``block`` in float64 with each row divided by its largest absolute entry.

    Squaring then neither overflows nor underflows, and the cosine is unchanged by a positive
    scale; an all-zero row stays zero.
    """
    block = block.to(torch.float64)
    largest = block.abs().amax(dim=1, keepdim=True)
    return block / largest.clamp_min(torch.finfo(torch.float64).tiny)
