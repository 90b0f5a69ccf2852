"""The true I(X;T) of the paper's 1-D toy networks, by numerical integration.

For a noisy neuron fed by X directly, T = S(X) + Z with S a function of X, so T is a finite
Gaussian mixture and

    I(X;T) = h(T) - h(T|X),   h(T|X) = 1/2 log(2 pi e beta^2).

For the second layer of the two-layer net, T_2 = f(w_2 T_1 + b_2) + Z_2 with
T_1 = S_1(X) + Z_1: given X = x the pre-activation U = w_2 T_1 + b_2 is Gaussian,
N(mu_x, sigma^2) with mu_x = w_2 S_1(x) + b_2 and sigma = |w_2| beta, so T_2 given X is a
*continuous* mixture, not a finite one. For a piecewise-linear f (leaky ReLU, ReLU, linear)
its density has a closed form: on each linear piece u -> c u over a half-line D,

    int_D N(u; mu, sigma^2) N(t; c u, beta^2) du
        = N(t; c mu, beta^2 + c^2 sigma^2) * P(U in D | T_2 = t),

and U given T_2 = t is Gaussian, so the probability is a normal CDF. Other activations use
Gauss-Hermite quadrature over Z_1. The entropies are then one-dimensional integrals, done by
composite Gauss-Legendre quadrature on panels narrower than the smoothing scale beta, which
for these smooth integrands is accurate to about 1e-9 nats.

All values are in nats.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, logsumexp

from estimators._validation import as_tensor, check_beta, check_int

# Slope of each piecewise-linear activation below zero (above zero it is 1).
NEGATIVE_SLOPES = {"leaky_relu": 0.1, "relu": 0.0, "linear": 1.0}

_LOG_2PI = math.log(2.0 * math.pi)
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(12)
_TAIL = 12.0  # integrate this many standard deviations beyond the outermost mass


@dataclass(frozen=True)
class ExactMI:
    """True mutual information and the entropies it is made of (nats)."""

    mi: float
    entropy: float
    conditional_entropy: float


def _as_points_1d(name: str, value: object) -> np.ndarray:
    """Return a 1-D float64 numpy array of finite values."""
    tensor = as_tensor(name, value, ndim=(1, 2))
    if tensor.ndim == 2:
        if tensor.shape[1] != 1:
            raise ValueError(
                f"{name} must hold one value per input (shape (m,) or (m, 1)), "
                f"not shape {tuple(tensor.shape)}"
            )
        tensor = tensor[:, 0]
    return tensor.cpu().numpy().astype(np.float64)


def _check_activation(activation: str) -> str:
    """Return ``activation`` after checking that it is a known name."""
    known = ("tanh", *NEGATIVE_SLOPES)
    if activation not in known:
        raise ValueError(f"activation must be one of {', '.join(known)}, not {activation!r}")
    return activation


def activation_function(activation: str) -> Callable[[np.ndarray], np.ndarray]:
    """Return the numpy function of an activation name (leaky ReLU is max(x, x/10))."""
    activation = _check_activation(activation)
    if activation == "tanh":
        return np.tanh
    slope = NEGATIVE_SLOPES[activation]
    return lambda u: np.where(u >= 0, u, slope * u)


def _log_normal(t: np.ndarray, mean: np.ndarray | float, var: np.ndarray | float) -> np.ndarray:
    """Return log N(t; mean, var) elementwise."""
    return -0.5 * (_LOG_2PI + np.log(var) + (t - mean) ** 2 / var)


def _panels(intervals: list[tuple[float, float]], width: float) -> np.ndarray:
    """Return quadrature nodes and weights covering the union of ``intervals``.

    Returns
    -------
    numpy.ndarray
        Array of shape (2, n): nodes and weights.
    """
    intervals = sorted(intervals)
    merged = [list(intervals[0])]
    for low, high in intervals[1:]:
        if low <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])

    nodes, weights = [], []
    for low, high in merged:
        count = max(1, math.ceil((high - low) / width))
        edges = np.linspace(low, high, count + 1)
        half = 0.5 * np.diff(edges)
        mid = 0.5 * (edges[1:] + edges[:-1])
        nodes.append((mid[:, None] + half[:, None] * _GL_NODES[None, :]).ravel())
        weights.append((half[:, None] * _GL_WEIGHTS[None, :]).ravel())
    return np.stack([np.concatenate(nodes), np.concatenate(weights)])


def _entropy(log_density: np.ndarray, weights: np.ndarray) -> float:
    """Return -int p log p from log p at quadrature nodes."""
    density = np.exp(log_density)
    terms = np.where(density > 0, density * log_density, 0.0)
    return float(-np.sum(weights * terms))


# ---------------------------------------------------------------------- layer fed by X


def log_density_fed_by_input(grid: object, centers: object, beta: float) -> np.ndarray:
    """Return log p_T on ``grid`` for T = S(X) + Z, X uniform on the inputs.

    Parameters
    ----------
    grid : array_like, shape (g,)
        Points t.
    centers : array_like, shape (m,) or (m, 1)
        S(x) for every input x, each input once.
    beta : float
        Noise standard deviation.
    """
    beta = check_beta(beta)
    centers = _as_points_1d("centers", centers)
    grid = _as_points_1d("grid", grid)
    terms = _log_normal(grid[:, None], centers[None, :], beta**2)
    return logsumexp(terms, axis=1) - math.log(centers.size)


def mi_fed_by_input(centers: object, beta: float) -> ExactMI:
    """Return the true I(X;T) of a noisy 1-D layer whose S is a function of X.

    Parameters
    ----------
    centers : array_like, shape (m,) or (m, 1)
        S(x) for every input x, each input once (X uniform on them).
    beta : float
        Noise standard deviation, greater than 0.

    Returns
    -------
    ExactMI
        ``mi`` = h(T) - h(T|X) with h(T|X) = 1/2 log(2 pi e beta^2).
    """
    beta = check_beta(beta)
    centers = _as_points_1d("centers", centers)

    # Panels a quarter of beta wide resolve every Gaussian; empty stretches are skipped.
    intervals = [(c - _TAIL * beta, c + _TAIL * beta) for c in np.unique(centers)]
    nodes, weights = _panels(intervals, beta / 2.0)
    entropy = _entropy(log_density_fed_by_input(nodes, centers, beta), weights)
    conditional = 0.5 * math.log(2.0 * math.pi * math.e * beta**2)
    return ExactMI(mi=entropy - conditional, entropy=entropy, conditional_entropy=conditional)


# ---------------------------------------------------------------------- second layer


def _check_second_layer(
    s1: object, w2: float, b2: float, beta: float, beta1: float | None
) -> tuple[np.ndarray, float, float, float, float]:
    beta = check_beta(beta)
    beta1 = beta if beta1 is None else check_beta(beta1)
    s1 = _as_points_1d("s1", s1)
    for name, value in (("w2", w2), ("b2", b2)):
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite real number, not {value!r}")
    return s1, float(w2), float(b2), beta, beta1


def conditional_log_density_second_layer(
    grid: object,
    s1: object,
    w2: float,
    b2: float,
    beta: float,
    *,
    activation: str,
    beta1: float | None = None,
    n_nodes: int = 200,
) -> np.ndarray:
    """Return log p(t | X = x) of T_2 = f(w_2 (S_1(x) + Z_1) + b_2) + Z_2 for every input.

    Parameters
    ----------
    grid : array_like, shape (g,)
        Points t.
    s1 : array_like, shape (m,)
        Layer 1's clean value S_1(x) of every input.
    w2, b2 : float
        Weight and bias of the second layer.
    beta : float
        Noise standard deviation of layer 2 (and of layer 1 unless ``beta1`` is given).
    activation : str
        Layer 2's activation: piecewise-linear ones (leaky_relu, relu, linear) use the closed
        form, tanh uses Gauss-Hermite quadrature with ``n_nodes`` nodes over Z_1.
    beta1 : float, optional
        Noise standard deviation of layer 1.
    n_nodes : int, default=200
        Gauss-Hermite nodes for activations that are not piecewise linear.

    Returns
    -------
    numpy.ndarray, shape (m, g)
    """
    activation = _check_activation(activation)
    s1, w2, b2, beta, beta1 = _check_second_layer(s1, w2, b2, beta, beta1)
    grid = _as_points_1d("grid", grid)
    mu = (w2 * s1 + b2)[:, None]
    sigma = abs(w2) * beta1
    t = grid[None, :]
    f = activation_function(activation)

    if sigma == 0.0:
        return np.broadcast_to(_log_normal(t, f(mu), beta**2), (s1.size, grid.size)).copy()

    if activation in NEGATIVE_SLOPES:
        pieces = []
        for slope, sign in ((1.0, 1.0), (NEGATIVE_SLOPES[activation], -1.0)):
            total_var = beta**2 + slope**2 * sigma**2
            cond_var = sigma**2 * beta**2 / total_var
            cond_mean = mu + slope * sigma**2 * (t - slope * mu) / total_var
            # P(U >= 0 | t) for the positive piece and P(U < 0 | t) for the negative one.
            log_prob = log_ndtr(sign * cond_mean / math.sqrt(cond_var))
            pieces.append(_log_normal(t, slope * mu, total_var) + log_prob)
        return np.logaddexp(pieces[0], pieces[1])

    n_nodes = check_int("n_nodes", n_nodes, minimum=2)
    xi, weights = np.polynomial.hermite.hermgauss(n_nodes)
    means = f(mu[:, :, None] + math.sqrt(2.0) * sigma * xi[None, None, :])  # (m, 1, k)
    terms = _log_normal(t[:, :, None], means, beta**2) + np.log(weights / math.sqrt(math.pi))
    return logsumexp(terms, axis=2)


def _second_layer_nodes(
    s1: np.ndarray, w2: float, b2: float, beta: float, beta1: float, activation: str
) -> np.ndarray:
    """Return quadrature nodes and weights covering the mass of T_2 for every input."""
    f = activation_function(activation)
    sigma = abs(w2) * beta1
    intervals = []
    for mean in w2 * s1 + b2:
        low, high = f(np.array([mean - _TAIL * sigma, mean + _TAIL * sigma]))
        intervals.append((float(low) - _TAIL * beta, float(high) + _TAIL * beta))
    return _panels(intervals, beta / 2.0)


def mi_second_layer(
    s1: object,
    w2: float,
    b2: float,
    beta: float,
    *,
    activation: str,
    beta1: float | None = None,
    n_nodes: int = 200,
) -> ExactMI:
    """Return the true I(X;T_2) of the second noisy layer of a 1-1 network.

    Parameters are as for :func:`conditional_log_density_second_layer`; X is uniform on the
    inputs whose layer-1 values are ``s1``.

    Returns
    -------
    ExactMI
        ``mi`` = h(T_2) - mean_x h(T_2 | X = x).
    """
    s1, w2, b2, beta, beta1 = _check_second_layer(s1, w2, b2, beta, beta1)
    nodes, weights = _second_layer_nodes(s1, w2, b2, beta, beta1, activation)
    conditional = conditional_log_density_second_layer(
        nodes, s1, w2, b2, beta, activation=activation, beta1=beta1, n_nodes=n_nodes
    )
    marginal = logsumexp(conditional, axis=0) - math.log(s1.size)
    entropy = _entropy(marginal, weights)
    conditional_entropy = float(np.mean([_entropy(row, weights) for row in conditional]))
    return ExactMI(
        mi=entropy - conditional_entropy,
        entropy=entropy,
        conditional_entropy=conditional_entropy,
    )


def density_second_layer(
    grid: object,
    s1: object,
    w2: float,
    b2: float,
    beta: float,
    *,
    activation: str,
    beta1: float | None = None,
) -> np.ndarray:
    """Return the density p_{T_2} on ``grid`` (X uniform on the inputs of ``s1``)."""
    conditional = conditional_log_density_second_layer(
        grid, s1, w2, b2, beta, activation=activation, beta1=beta1
    )
    return np.exp(logsumexp(conditional, axis=0) - math.log(conditional.shape[0]))


def density_fed_by_input(grid: object, centers: object, beta: float) -> np.ndarray:
    """Return the density p_T on ``grid`` of a noisy 1-D layer fed by X."""
    return np.exp(log_density_fed_by_input(grid, centers, beta))
