"""General-purpose differential entropy estimators that ignore the structure S + Z.

Remark 7 and Fig. 4 of Goldfeld et al. compare the sample propagation estimator with two
estimators that see only samples of T = S + Z: the Kozachenko-Leonenko nearest-neighbour
estimator and a Gaussian-kernel density estimator (KDE) of the von Mises type of Kandasamy
et al. (the paper's reference [13]). They are provided here for that comparison; for a noisy
network layer the SP estimator is the one to use.

All entropies are in nats. Samples are rows of an (n, d) array; a 1-D array is n samples of
dimension 1.

References
----------
.. [1] L. F. Kozachenko and N. N. Leonenko, "Sample estimate of the entropy of a random
   vector", Problems of Information Transmission 23(2), 95-101, 1987.
.. [2] A. Kraskov, H. Stoegbauer and P. Grassberger, "Estimating mutual information",
   Physical Review E 69, 066138, 2004 (eq. (20) gives the digamma form used here).
.. [3] K. Kandasamy, A. Krishnamurthy, B. Poczos, L. Wasserman and J. M. Robins,
   "Nonparametric von Mises estimators for entropies, divergences and mutual informations",
   NIPS 2015, 397-405.
.. [4] B. W. Silverman, "Density Estimation for Statistics and Data Analysis", Chapman and
   Hall, 1986 (normal reference rule, eq. (4.14)).
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.special import digamma, gammaln

from ._validation import ArrayLike, as_tensor, check_int, check_positive, check_seed

__all__ = ["knn_entropy", "kde_entropy", "select_kde_bandwidth", "silverman_bandwidth"]

logger = logging.getLogger(__name__)

#: Estimators that ``kde_entropy`` accepts.
KDE_METHODS = ("loo", "von_mises")

# Float64 elements of one block of squared distances (32 MiB).
_BLOCK_ELEMENTS = 1 << 22

# The default bandwidth grid: Silverman's rule times 2^k for k from -4 to 2 in steps of 1/2.
_GRID_LOW, _GRID_HIGH, _GRID_POINTS = -4.0, 2.0, 13


def _as_samples(samples: ArrayLike, *, min_rows: int) -> torch.Tensor:
    """Return samples as a finite float64 (n, d) tensor; a 1-D array is n samples of d = 1."""
    tensor = as_tensor("samples", samples, ndim=(1, 2), min_rows=min_rows)
    return tensor[:, None] if tensor.ndim == 1 else tensor


def knn_entropy(samples: ArrayLike, k: int = 1) -> float:
    """Return the Kozachenko-Leonenko k-nearest-neighbour estimate of h(X), in nats.

    With eps_i the Euclidean distance from sample i to its k-th nearest other sample,

        h = psi(n) - psi(k) + log V_d + (d / n) sum_i log eps_i,

    where psi is the digamma function and V_d = pi^(d/2) / Gamma(d/2 + 1) the volume of the
    unit ball in R^d ([1]_, in the form of eq. (20) of [2]_). No tuning parameter is needed;
    the bias grows with d at a fixed n.

    Parameters
    ----------
    samples : array_like of shape (n, d) or (n,)
        Independent samples (numpy array or torch tensor); for a layer, samples of T = S + Z.
    k : int, default=1
        Which neighbour's distance to use, 1 <= k < n.

    Returns
    -------
    float
        The estimate in nats.

    Raises
    ------
    ValueError
        If some sample has its k-th neighbour at distance 0 (k or more exact duplicates of
        it): log 0 would make the estimate -inf. Samples from a continuous distribution
        never repeat; add the noise, or use a larger k.
    """
    k = check_int("k", k, minimum=1)
    points = _as_samples(samples, min_rows=2).cpu().numpy()
    n, d = points.shape
    if k >= n:
        raise ValueError(f"k must be less than the number of samples ({n}), not {k}")

    # The nearest point found for each sample is the sample itself, hence k + 1 neighbours.
    distances, _ = cKDTree(points).query(points, k=k + 1)
    radius = distances[:, k]
    repeated = int((radius == 0).sum())
    if repeated:
        raise ValueError(
            f"samples must not repeat: {repeated} of {n} samples have their {k}-th nearest "
            "neighbour at distance 0, which makes the estimate -inf; add noise or raise k"
        )

    log_unit_ball = 0.5 * d * math.log(math.pi) - gammaln(0.5 * d + 1.0)
    return float(digamma(n) - digamma(k) + log_unit_ball + d * np.mean(np.log(radius)))


def silverman_bandwidth(samples: ArrayLike) -> float:
    """Return the normal-reference bandwidth (4 / ((d + 2) n))^(1 / (d + 4)) * sigma.

    sigma is the root of the mean per-coordinate variance, so one isotropic bandwidth serves
    all d coordinates; the rule is optimal (in mean integrated squared error) for Gaussian
    data ([4]_, eq. (4.14)).

    Parameters
    ----------
    samples : array_like of shape (n, d) or (n,)
        Samples, at least 2.

    Returns
    -------
    float
        The bandwidth, in the units of the samples.
    """
    points = _as_samples(samples, min_rows=2)
    n, d = points.shape
    sigma = math.sqrt(float(points.var(dim=0, unbiased=True).mean()))
    if sigma == 0:
        raise ValueError("samples must not all be equal (their spread is 0)")
    return (4.0 / ((d + 2.0) * n)) ** (1.0 / (d + 4.0)) * sigma


def _log_kde(
    queries: torch.Tensor,
    centers: torch.Tensor,
    bandwidths: np.ndarray,
    *,
    exclude_self: bool = False,
) -> torch.Tensor:
    """Return log p_h(q) of a Gaussian KDE on ``centers`` for every bandwidth, (H, q).

    p_h(q) = (1 / n) sum_j N(q; c_j, h^2 I). With ``exclude_self`` the queries are the
    centres themselves and query i leaves out centre i (sum over n - 1 centres).
    """
    n_queries, d = queries.shape
    n_centers = centers.shape[0] - (1 if exclude_self else 0)
    h = torch.as_tensor(bandwidths, dtype=torch.float64, device=queries.device)
    log_norm = math.log(n_centers) + 0.5 * d * torch.log(2.0 * math.pi * h**2)

    rows = max(1, _BLOCK_ELEMENTS // centers.shape[0])
    out = torch.empty(len(bandwidths), n_queries, dtype=torch.float64, device=queries.device)
    for start in range(0, n_queries, rows):
        block = queries[start : start + rows]

        # Differences first (no |q|^2 + |c|^2 - 2 q.c), so small bandwidths lose no digits;
        # the squared distances are reused for every bandwidth.
        squared = torch.cdist(block, centers, compute_mode="donot_use_mm_for_euclid_dist") ** 2
        if exclude_self:
            own = torch.arange(block.shape[0], device=queries.device)
            squared[own, own + start] = math.inf
        for index in range(len(bandwidths)):
            exponent = squared / (-2.0 * h[index] ** 2)
            out[index, start : start + rows] = torch.logsumexp(exponent, dim=1) - log_norm[index]
    return out


def _check_bandwidths(bandwidths: ArrayLike) -> np.ndarray:
    """Return the candidate bandwidths as a 1-D array of positive values."""
    grid = as_tensor("bandwidths", bandwidths, ndim=(0, 1)).reshape(-1).cpu().numpy()
    if (grid <= 0).any():
        raise ValueError(f"bandwidths must all be greater than 0, not {grid[grid <= 0][0]}")
    return grid


def _folds(n: int, n_folds: int, seed: int | None) -> list[np.ndarray]:
    """Return ``n_folds`` disjoint index arrays covering 0..n-1 in random order."""
    order = np.random.default_rng(seed).permutation(n)
    return np.array_split(order, n_folds)


def select_kde_bandwidth(
    samples: ArrayLike,
    bandwidths: ArrayLike | None = None,
    n_folds: int = 5,
    seed: int | None = None,
) -> float:
    """Return the Gaussian-KDE bandwidth with the best held-out log-likelihood.

    The samples are split at random into ``n_folds`` folds; for each candidate h the score is
    (1 / n) sum over folds f and held-out x in f of log p_h(x; samples outside f), and the h
    with the largest score is returned (likelihood cross-validation).

    Parameters
    ----------
    samples : array_like of shape (n, d) or (n,)
        Samples, at least ``n_folds``.
    bandwidths : array_like, optional
        Candidate bandwidths. The default is the log grid h_S * 2^k for k = -4, -3.5, ...,
        2 (13 values), with h_S :func:`silverman_bandwidth` of the samples.
    n_folds : int, default=5
        Number of folds, at least 2.
    seed : int, optional
        Seed of the random assignment to folds.

    Returns
    -------
    float
        The chosen bandwidth. A ``UserWarning`` says so when it is the smallest or largest
        candidate, since the best bandwidth may then lie outside the grid.
    """
    n_folds = check_int("n_folds", n_folds, minimum=2)
    seed = check_seed(seed)
    points = _as_samples(samples, min_rows=n_folds)
    if bandwidths is None:
        exponents = np.linspace(_GRID_LOW, _GRID_HIGH, _GRID_POINTS)
        grid = silverman_bandwidth(points) * 2.0**exponents
    else:
        grid = _check_bandwidths(bandwidths)

    # Sum the held-out log-likelihood of every point over the folds, one row per bandwidth.
    scores = np.zeros(len(grid))
    for held_out in _folds(points.shape[0], n_folds, seed):
        inside = np.ones(points.shape[0], dtype=bool)
        inside[held_out] = False
        log_density = _log_kde(points[held_out], points[inside], grid)
        scores += log_density.sum(dim=1).cpu().numpy()

    best = int(np.argmax(scores))
    logger.debug("held-out log-likelihood per sample %s for bandwidths %s", scores, grid)
    if len(grid) > 1 and best in (0, len(grid) - 1):
        warnings.warn(
            f"the selected bandwidth {grid[best]:.4g} is at the edge of the candidates "
            f"[{grid.min():.4g}, {grid.max():.4g}]; the best one may lie beyond them",
            stacklevel=2,
        )
    return float(grid[best])


def kde_entropy(
    samples: ArrayLike,
    bandwidth: float | None = None,
    *,
    method: str = "loo",
    bandwidths: ArrayLike | None = None,
    n_folds: int = 5,
    seed: int | None = None,
) -> float:
    """Return a Gaussian-kernel density estimate of h(X), in nats.

    The density estimate on a set A of samples is p_A(x) = (1 / |A|) sum_{j in A}
    N(x; x_j, h^2 I_d).

    * ``method="loo"``: the leave-one-out resubstitution estimate
      h = -(1 / n) sum_i log p_{-i}(x_i), where p_{-i} leaves sample i out.
    * ``method="von_mises"``: the data-split von Mises estimator of Kandasamy et al. [3]_.
      The first-order von Mises expansion of h(p) = -int p log p around an estimate q is
      h(p) ~ h(q) + E_p[psi(X; q)], with influence function psi(x; q) = -log q(x) - h(q).
      Estimating q on one half A of the samples and the expectation on the other half B
      gives h(q_A) + mean_B psi = -mean_{x in B} log q_A(x); the roles are then swapped and
      the two values averaged. For entropy the correction cancels h(q) exactly, so no
      numerical integration of the plug-in h(q) is needed; the leave-one-out variant of
      the same estimator equals ``method="loo"``.

    Parameters
    ----------
    samples : array_like of shape (n, d) or (n,)
        Independent samples (numpy array or torch tensor, CPU or CUDA).
    bandwidth : float, optional
        Kernel standard deviation h. When None it is chosen by
        :func:`select_kde_bandwidth` (``bandwidths``, ``n_folds``, ``seed``) on all samples.
    method : {"loo", "von_mises"}, default="loo"
        Which estimator, as above.
    bandwidths, n_folds
        Passed to :func:`select_kde_bandwidth` when ``bandwidth`` is None.
    seed : int, optional
        Seed for the folds of the bandwidth selection and the halves of ``"von_mises"``.

    Returns
    -------
    float
        The estimate in nats. Fig. 4 of the paper shows how sensitive it is to h.
    """
    if method not in KDE_METHODS:
        choices = ", ".join(repr(name) for name in KDE_METHODS)
        raise ValueError(f"method must be one of {choices}, not {method!r}")
    seed = check_seed(seed)
    points = _as_samples(samples, min_rows=2)
    if bandwidth is None:
        bandwidth = select_kde_bandwidth(points, bandwidths, n_folds=n_folds, seed=seed)
    h = np.array([check_positive("bandwidth", bandwidth)])

    if method == "loo":
        return float(-_log_kde(points, points, h, exclude_self=True).mean())

    # Two halves; each estimates the density at the other's points.
    first, second = _folds(points.shape[0], 2, seed)
    one_way = -_log_kde(points[second], points[first], h).mean()
    other_way = -_log_kde(points[first], points[second], h).mean()
    return float(0.5 * (one_way + other_way))
