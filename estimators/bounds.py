"""Pairwise-distance bounds on the entropy of a Gaussian mixture and on I(X; T).

Kolchinsky and Tracey (2017, "Estimating mixture entropy with pairwise distances") bound
the entropy of a mixture sum_i c_i p_i by

    H(p_i) - sum_i c_i log sum_j c_j exp(-D(p_i || p_j)),

an upper bound with D the Kullback-Leibler divergence and a lower bound with D the
Bhattacharyya distance. For equal weights and components N(mu_i, beta^2 I),
KL = |mu_i - mu_j|^2 / (2 beta^2) and BD = |mu_i - mu_j|^2 / (8 beta^2), so each inner sum
is the mixture's own density at mu_i, with standard deviation beta (KL) or 2 beta (BD), up
to a constant:

    upper = d/2 - mean_i log g_beta(mu_i),
    lower = d/2 log(e/4) - mean_i log g_{2 beta}(mu_i).

Both are exact for a single component and for components that do not overlap.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from ._validation import ArrayLike, as_tensor, check_beta
from .mixture import _as_points, _check_method, _log_density

__all__ = ["Bounds", "pairwise_entropy_bounds", "pairwise_mi_bounds"]


class Bounds(NamedTuple):
    """A lower and an upper bound, in nats."""

    lower: float
    upper: float


def _bounds_per_mixture(
    centers: torch.Tensor, beta: float, method: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the (lower, upper) entropy bounds of each mixture in a (m, r, d) batch."""
    d = centers.shape[2]
    log_kl = _log_density(centers, centers, beta, method, 1e-6)
    log_bd = _log_density(centers, centers, 2.0 * beta, method, 1e-6)
    upper = 0.5 * d - log_kl.mean(dim=1)
    lower = 0.5 * d * math.log(math.e / 4.0) - log_bd.mean(dim=1)
    return lower, upper


def pairwise_entropy_bounds(centers: ArrayLike, beta: float, *, method: str = "auto") -> Bounds:
    """Return the Bhattacharyya lower and KL upper bounds on a Gaussian mixture's entropy.

    Parameters
    ----------
    centers : array_like or torch.Tensor, shape (n, d) or (n,)
        Centres of the equally weighted mixture (1/n) sum_i N(mu_i, beta^2 I).
    beta : float
        Component standard deviation, greater than 0.
    method : {"auto", "exact"}, default="auto"
        Evaluation method of the mixture densities, see ``mixture_log_density``.

    Returns
    -------
    Bounds
        ``(lower, upper)`` in nats with lower <= h(g) <= upper.
    """
    beta = check_beta(beta)
    method = _check_method(method)
    centers_t = _as_points("centers", centers)

    lower, upper = _bounds_per_mixture(centers_t[None], beta, method)
    return Bounds(float(lower[0]), float(upper[0]))


def pairwise_mi_bounds(samples: ArrayLike, beta: float, *, method: str = "auto") -> Bounds:
    """Return pairwise-distance bounds on I(X; T) from the samples of the SP estimator.

    With h(T) the entropy of the mixture on all m r samples and h(T | X = x_i) that of input
    i's r samples, the bounds on each entropy combine into

        upper = upper h(T) - mean_i lower h(T | x_i),
        lower = lower h(T) - mean_i upper h(T | x_i).

    For r = 1 the conditional mixtures are single Gaussians and both of their bounds equal
    d/2 log(2 pi e beta^2) exactly.

    Parameters
    ----------
    samples : array_like or torch.Tensor, shape (m, r, d)
        Clean values S of the layer, r replicas for each of m inputs.
    beta : float
        Noise standard deviation, greater than 0.
    method : {"auto", "exact"}, default="auto"
        Evaluation method of the mixture densities, see ``mixture_log_density``.

    Returns
    -------
    Bounds
        ``(lower, upper)`` on the I(X; T) of the mixtures, in nats. They are not clipped
        to [0, log m].
    """
    beta = check_beta(beta)
    method = _check_method(method)
    samples_t = as_tensor("samples", samples, ndim=3)
    n_inputs, n_replicas, d = samples_t.shape

    pooled_lower, pooled_upper = _bounds_per_mixture(samples_t.reshape(1, -1, d), beta, method)
    if n_replicas == 1:
        exact = 0.5 * d * math.log(2.0 * math.pi * math.e * beta**2)
        conditional_lower = conditional_upper = np.float64(exact)
    else:
        lower, upper = _bounds_per_mixture(samples_t, beta, method)
        conditional_lower, conditional_upper = lower.mean(), upper.mean()

    return Bounds(
        float(pooled_lower[0] - conditional_upper),
        float(pooled_upper[0] - conditional_lower),
    )
