"""Log density and differential entropy of isotropic Gaussian mixtures.

The mixture is g(t) = (1/n) sum_i N(t; mu_i, beta^2 I) in d dimensions. Everything here is
in nats. Densities are evaluated by log-sum-exp over the centres with squared distances
formed as sum((t - mu)^2), difference first, in float64: the shortcut
|t|^2 + |mu|^2 - 2 t.mu cancels catastrophically when beta is small (in float32 it costs
about 1e-2 nats at beta = 0.005). Queries and centres are processed in chunks, so the
memory in use stays near ``_CHUNK_BYTES`` whatever the number of pairs.

The entropy follows eqs. (15)-(16) of the paper: query points are drawn from the mixture
itself, h(g) = -E log g(V), and the Monte Carlo standard error comes from the spread of the
per-query terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import _kernel
from ._validation import (
    ArrayLike,
    as_tensor,
    check_beta,
    check_positive,
    check_query_count,
    check_seed,
)

__all__ = [
    "Estimate",
    "METHODS",
    "batched_mixture_log_density",
    "mixture_entropy",
    "mixture_log_density",
]

#: Evaluation methods that ``mixture_log_density`` accepts. "auto" picks the best available.
METHODS = ("auto", "exact")

# Memory for one chunk of pairwise terms; torch keeps a few float64 temporaries of this
# size alive at once, so the peak stays at a small multiple of it.
_CHUNK_BYTES = 64 * 2**20
_BYTES_PER_PAIR = 8 * 4


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate and its standard error, both in nats.

    Parameters
    ----------
    value : float
        The estimate.
    stderr : float
        Its Monte Carlo standard error; 0.0 for a value known exactly and NaN when a single
        query leaves the spread unknown.
    """

    value: float
    stderr: float

    def __post_init__(self) -> None:
        # Coerce numpy and torch scalars so that results compare and serialise as floats.
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "stderr", float(self.stderr))

    def __repr__(self) -> str:
        return f"Estimate(value={self.value:.6g}, stderr={self.stderr:.2g})"

    def __str__(self) -> str:
        return f"{self.value:.4f} ± {self.stderr:.4f} nats"

    def __float__(self) -> float:
        return self.value


def _check_method(method: Any) -> str:
    """Return ``method`` after checking that it names an evaluation method."""
    if method not in METHODS:
        choices = ", ".join(repr(name) for name in METHODS)
        raise ValueError(f"method must be one of {choices}, not {method!r}")
    return method


def _common_device(*tensors: torch.Tensor) -> torch.device:
    """Return the device to compute on: an accelerator if any input lives on one."""
    for tensor in tensors:
        if tensor.device.type != "cpu":
            return tensor.device
    return torch.device("cpu")


def _as_points(name: str, value: ArrayLike) -> torch.Tensor:
    """Return points as a float64 (n, d) tensor; a 1-D array holds n points of dimension 1."""
    tensor = as_tensor(name, value, ndim=(1, 2))
    return tensor[:, None] if tensor.ndim == 1 else tensor


def _chunk_sizes(n_batch: int, n_queries: int, n_centers: int) -> tuple[int, int, int]:
    """Return (batch, query, centre) chunk sizes whose pairwise terms fit in the budget."""
    pairs = max(1, _CHUNK_BYTES // _BYTES_PER_PAIR)
    centre_chunk = min(n_centers, pairs)
    query_chunk = min(n_queries, max(1, pairs // centre_chunk))
    batch_chunk = min(n_batch, max(1, pairs // (centre_chunk * query_chunk)))
    return batch_chunk, query_chunk, centre_chunk


def _exact_log_sum(points: torch.Tensor, centers: torch.Tensor, beta: float) -> torch.Tensor:
    """Return log sum_j exp(-|q - c_j|^2 / (2 beta^2)) for every query, shape (m, q).

    ``points`` is (m, q, d) and ``centers`` (m, r, d), both float64 on one device. The sum
    over centres is accumulated chunk by chunk with logaddexp, so no more than one chunk of
    pairwise distances exists at a time.
    """
    n_batch, n_queries, _ = points.shape
    n_centers = centers.shape[1]
    batch_chunk, query_chunk, centre_chunk = _chunk_sizes(n_batch, n_queries, n_centers)
    scale = -0.5 / beta**2
    out = torch.empty((n_batch, n_queries), dtype=torch.float64, device=points.device)

    for b0 in range(0, n_batch, batch_chunk):
        batch_centers = centers[b0 : b0 + batch_chunk]
        for q0 in range(0, n_queries, query_chunk):
            block = points[b0 : b0 + batch_chunk, q0 : q0 + query_chunk]
            total = torch.full(
                block.shape[:2], -math.inf, dtype=torch.float64, device=block.device
            )
            for c0 in range(0, n_centers, centre_chunk):
                # cdist without the matrix-product path forms each distance from the
                # coordinate differences, which is what keeps small beta accurate.
                dist = torch.cdist(
                    block,
                    batch_centers[:, c0 : c0 + centre_chunk],
                    compute_mode="donot_use_mm_for_euclid_dist",
                )
                exponent = dist.square_().mul_(scale)
                total = torch.logaddexp(total, torch.logsumexp(exponent, dim=2))
            out[b0 : b0 + batch_chunk, q0 : q0 + query_chunk] = total
    return out


def _log_sum(
    points: torch.Tensor, centers: torch.Tensor, beta: float, method: str, tol: float
) -> torch.Tensor:
    """Return log sum_j exp(-|q - c_j|^2 / (2 beta^2)), shape (m, q), by ``method``.

    This is the one place where an evaluation method is chosen; every public function in
    this module goes through it. ``tol`` is the absolute error in nats that an approximate
    method may make; the exact path ignores it.

    "auto" takes the pruned numba kernel for CPU inputs and the exact torch path on an
    accelerator, where evaluating every pair is fast. The kernel skips mass of relative
    size at most 1 - exp(-tol), which lowers log g by at most ``tol`` nats.
    """
    on_cpu = points.device.type == "cpu"
    if method == "exact" or (method == "auto" and not on_cpu):
        return _exact_log_sum(points, centers, beta)
    if method == "auto":
        log_sum = _kernel.batched_log_sum(
            np.ascontiguousarray(points.cpu().numpy()),
            np.ascontiguousarray(centers.cpu().numpy()),
            beta,
            -math.expm1(-tol),
        )
        return torch.from_numpy(log_sum).to(points.device)
    raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, not {method!r}")


def _log_normaliser(n_centers: int, d: int, beta: float) -> float:
    """Return log(n) + d/2 log(2 pi beta^2), subtracted from the log sum to give log g."""
    return math.log(n_centers) + 0.5 * d * math.log(2.0 * math.pi * beta**2)


def _log_density(
    points: torch.Tensor, centers: torch.Tensor, beta: float, method: str, tol: float
) -> torch.Tensor:
    """Return log g for validated batched tensors (m, q, d) and (m, r, d), as a tensor."""
    log_sum = _log_sum(points, centers, beta, method, tol)
    return log_sum - _log_normaliser(centers.shape[1], centers.shape[2], beta)


def mixture_log_density(
    points: ArrayLike,
    centers: ArrayLike,
    beta: float,
    *,
    method: str = "auto",
    tol: float = 1e-6,
) -> np.ndarray:
    """Return log g(t) at each point for g = (1/n) sum_i N(t; mu_i, beta^2 I).

    Parameters
    ----------
    points : array_like or torch.Tensor, shape (q, d) or (q,)
        Query points t. A 1-D array holds q points of dimension 1.
    centers : array_like or torch.Tensor, shape (n, d) or (n,)
        Mixture centres mu_i, equally weighted.
    beta : float
        Noise standard deviation, greater than 0.
    method : {"auto", "exact"}, default="auto"
        "exact" sums every centre by log-sum-exp. "auto" does the same on CUDA and, for
        CPU inputs, runs a numba kernel that skips centres whose total weight is provably
        too small to change log g by more than ``tol`` (``estimators._kernel``).
    tol : float, default=1e-6
        Absolute error in nats allowed to approximate methods.

    Returns
    -------
    numpy.ndarray of float64, shape (q,)
        log g at each point, in nats.

    Notes
    -----
    The computation runs on the device of the inputs (CUDA if either tensor lives there)
    in float64, in chunks of about 64 MiB, so 10^5 x 10^5 pairs never allocate at once.

    Examples
    --------
    >>> float(mixture_log_density([[0.0]], [[0.0]], 1.0)[0])  # -log(sqrt(2 pi))
    -0.9189385332046727
    """
    beta = check_beta(beta)
    method = _check_method(method)
    tol = check_positive("tol", tol)
    points_t = _as_points("points", points)
    centers_t = _as_points("centers", centers)
    if points_t.shape[1] != centers_t.shape[1]:
        raise ValueError(
            f"points and centers must have the same dimension d, not {points_t.shape[1]} "
            f"and {centers_t.shape[1]}"
        )

    device = _common_device(points_t, centers_t)
    log_g = _log_density(points_t.to(device)[None], centers_t.to(device)[None], beta, method, tol)
    return log_g[0].cpu().numpy()


def batched_mixture_log_density(
    points: ArrayLike,
    centers: ArrayLike,
    beta: float,
    *,
    method: str = "auto",
    tol: float = 1e-6,
) -> np.ndarray:
    """Return log g_k(t) for m independent mixtures, each at its own query points.

    Mixture k is g_k(t) = (1/r) sum_j N(t; mu_kj, beta^2 I); the conditional mixtures of
    the sample-propagation estimator are of this kind, one per input.

    Parameters
    ----------
    points : array_like or torch.Tensor, shape (m, q, d)
        Query points; ``points[k]`` are evaluated under mixture k.
    centers : array_like or torch.Tensor, shape (m, r, d)
        ``centers[k]`` are the r centres of mixture k.
    beta : float
        Noise standard deviation, greater than 0.
    method : {"auto", "exact"}, default="auto"
        As in :func:`mixture_log_density`.
    tol : float, default=1e-6
        As in :func:`mixture_log_density`.

    Returns
    -------
    numpy.ndarray of float64, shape (m, q)
        log g_k at each of mixture k's points, in nats.
    """
    beta = check_beta(beta)
    method = _check_method(method)
    tol = check_positive("tol", tol)
    points_t = as_tensor("points", points, ndim=3)
    centers_t = as_tensor("centers", centers, ndim=3)
    if points_t.shape[0] != centers_t.shape[0]:
        raise ValueError(
            f"points and centers must hold the same number of mixtures, not "
            f"{points_t.shape[0]} and {centers_t.shape[0]}"
        )
    if points_t.shape[2] != centers_t.shape[2]:
        raise ValueError(
            f"points and centers must have the same dimension d, not {points_t.shape[2]} "
            f"and {centers_t.shape[2]}"
        )

    device = _common_device(points_t, centers_t)
    log_g = _log_density(points_t.to(device), centers_t.to(device), beta, method, tol)
    return log_g.cpu().numpy()


# Salt that separates the estimators' query stream from any other stream seeded alike.
_QUERY_STREAM = 0x5350_5155  # "SPQU"


def _generator(seed: int | None) -> torch.Generator:
    """Return a CPU generator, seeded when ``seed`` is given and from entropy otherwise.

    Random numbers are always drawn on the CPU, so one seed gives the same draws whether
    the computation then runs on the CPU or on CUDA. The generator's state is derived from
    ``seed`` and a constant of its own rather than being ``seed`` itself: a user who samples
    a network's layers with ``torch.Generator().manual_seed(k)`` and then estimates with
    ``seed=k`` must not get query noise equal to the sampling noise, which would correlate
    the queries with the centres and bias the estimate.
    """
    generator = torch.Generator(device="cpu")
    if seed is None:
        generator.seed()
    else:
        state = np.random.SeedSequence([seed, _QUERY_STREAM]).generate_state(1, np.uint64)[0]
        generator.manual_seed(int(state) >> 1)
    return generator


def _stratified_components(
    n_components: int, n_draws: int, generator: torch.Generator
) -> torch.Tensor:
    """Return ``n_draws`` component indices, each component equally often up to one.

    Every index is marginally uniform over the components, so averages over the draws are
    unbiased for the equally weighted mixture, with less variance than independent picks.
    """
    full, rest = divmod(n_draws, n_components)
    parts = [torch.arange(n_components).repeat(full)]
    if rest:
        parts.append(torch.randperm(n_components, generator=generator)[:rest])
    return torch.cat(parts)


def _mean_estimate(terms: torch.Tensor) -> Estimate:
    """Return the mean of per-query terms and its standard error from their spread."""
    n = terms.numel()
    mean = float(terms.mean())
    if n < 2:
        return Estimate(mean, math.nan)
    return Estimate(mean, float(terms.std(correction=1)) / math.sqrt(n))


def mixture_entropy(
    centers: ArrayLike,
    beta: float,
    *,
    n_mc: int = 1,
    n_queries: int | None = None,
    seed: int | None = None,
    method: str = "auto",
    tol: float = 1e-6,
) -> Estimate:
    """Estimate the differential entropy of a Gaussian mixture by Monte Carlo, eqs. (15)-(16).

    h(g) = -(1/n) sum_i E log g(mu_i + Z) with Z ~ N(0, beta^2 I); each expectation is
    replaced by the mean over ``n_mc`` draws of Z.

    Parameters
    ----------
    centers : array_like or torch.Tensor, shape (n, d) or (n,)
        Mixture centres mu_i, equally weighted.
    beta : float
        Noise standard deviation, greater than 0.
    n_mc : int, default=1
        Query points per centre.
    n_queries : int, optional
        Total number of query points instead of ``n_mc`` per centre, for large mixtures.
        The components of the queries are spread evenly over the centres (each centre
        used equally often, up to one).
    seed : int, optional
        Seed for the query points; None draws fresh ones.
    method : {"auto", "exact"}, default="auto"
        Evaluation method, as in :func:`mixture_log_density`.
    tol : float, default=1e-6
        Absolute error in nats allowed to approximate methods.

    Returns
    -------
    Estimate
        h(g) in nats and its Monte Carlo standard error (std of -log g(q) over the queries
        divided by sqrt(number of queries); NaN for a single query).
    """
    beta = check_beta(beta)
    n_mc, n_queries = check_query_count(n_mc, n_queries)
    seed = check_seed(seed)
    method = _check_method(method)
    tol = check_positive("tol", tol)
    centers_t = _as_points("centers", centers)
    n_centers, d = centers_t.shape

    # Components first, then the noise, both from one CPU generator.
    generator = _generator(seed)
    n_draws = n_centers * n_mc if n_queries is None else n_queries
    components = _stratified_components(n_centers, n_draws, generator)
    noise = torch.randn((n_draws, d), generator=generator, dtype=torch.float64)
    device = centers_t.device
    queries = centers_t[components.to(device)] + beta * noise.to(device)

    log_g = _log_density(queries[None], centers_t[None], beta, method, tol)[0]
    return _mean_estimate(-log_g)
