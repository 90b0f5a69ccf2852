"""Theoretical guarantees of the sample propagation (SP) estimator as plain functions.

Every function transcribes one displayed formula of Goldfeld et al., "Estimating Information
Flow in Neural Networks" (sections 3.2-3.5 and Remark 1), whose equation number is given in
its docstring. The notation follows the paper: ``d`` is the dimension of the layer, ``beta``
the standard deviation of the Gaussian noise Z ~ N(0, beta^2 I_d), ``n`` the number of samples
of S that form the estimator's mixture and ``n_mc`` the number of Monte Carlo draws per mixture
component. Logarithms are natural and every value is in nats.

The bounds are worst-case statements over whole classes of distributions; they say how many
samples are enough (or too few) for every distribution in the class, not for the one at hand.
Values too large for a float are returned as ``math.inf``.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from ._validation import check_beta, check_int, check_positive

__all__ = [
    "q_function",
    "q_inverse",
    "binary_entropy",
    "bias_eps_lower_limit",
    "bias_k_star",
    "bias_sample_size",
    "log_bias_sample_size",
    "bias_lower_bound",
    "risk_bound_bounded",
    "risk_bound_subgaussian",
    "mc_mse_bound_bounded",
    "mc_mse_bound_second_moment",
    "input_distribution_gap",
]

# exp() of anything larger overflows a float64.
_LOG_FLOAT_MAX = math.log(np.finfo(np.float64).max)


def _exp_or_inf(log_value: float) -> float:
    """Return ``exp(log_value)``, or ``inf`` where the result exceeds the float range."""
    return math.inf if log_value > _LOG_FLOAT_MAX else math.exp(log_value)


def _times_exp(factor: float, log_prefactor: float) -> float:
    """Return ``factor * exp(log_prefactor)`` without overflowing in the intermediate."""
    if factor == 0.0:
        return 0.0
    return math.copysign(_exp_or_inf(log_prefactor + math.log(abs(factor))), factor)


def _check_real(name: str, value: Any) -> float:
    """Return ``value`` as a finite float (any sign)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, not {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value}")
    return value


def _check_probability(name: str, value: Any) -> float:
    """Return ``value`` as a float in [0, 1]."""
    value = _check_real(name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], not {value}")
    return value


def _as_float_array(name: str, value: Any) -> np.ndarray:
    """Return ``value`` as a float64 numpy array without NaN."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number or an array of them") from exc
    if np.isnan(array).any():
        raise ValueError(f"{name} must not contain NaN")
    return array


def _scalar_or_array(array: np.ndarray) -> float | np.ndarray:
    """Return a Python float for a 0-d array and the array itself otherwise."""
    return float(array) if array.ndim == 0 else array


def q_function(x: Any) -> float | np.ndarray:
    """Return the Gaussian tail probability Q(x).

    Q(x) = (2 pi)^(-1/2) * integral from x to infinity of exp(-t^2 / 2) dt (the paper's
    footnote 10), the probability that a standard normal variable exceeds ``x``.

    Parameters
    ----------
    x : float or array_like
        Points at which to evaluate Q; infinite values are allowed (Q(inf) = 0).

    Returns
    -------
    float or numpy.ndarray
        Q(x), a float for a scalar ``x`` and an array of the same shape otherwise.
    """
    array = _as_float_array("x", x)

    # ndtr(-x) keeps full relative precision far in the upper tail, unlike 1 - ndtr(x).
    return _scalar_or_array(ndtr(-array))


def q_inverse(p: Any) -> float | np.ndarray:
    """Return the inverse Q^{-1}(p) of the Gaussian tail probability.

    Parameters
    ----------
    p : float or array_like
        Probabilities in [0, 1]; Q^{-1}(0) = inf and Q^{-1}(1) = -inf.

    Returns
    -------
    float or numpy.ndarray
        The x with Q(x) = p, a float for a scalar ``p`` and an array otherwise.
    """
    array = _as_float_array("p", p)
    if ((array < 0) | (array > 1)).any():
        bad = array[(array < 0) | (array > 1)].ravel()[0]
        raise ValueError(f"p must lie in [0, 1], not {bad}")

    # Q^{-1}(p) = -Phi^{-1}(p), and ndtri is accurate for tiny p.
    return _scalar_or_array(-ndtri(array))


def binary_entropy(eps: float) -> float:
    """Return the binary entropy H_b(eps) = -eps log eps - (1 - eps) log(1 - eps) in nats.

    Parameters
    ----------
    eps : float
        A probability in [0, 1]; H_b(0) = H_b(1) = 0.

    Returns
    -------
    float
        H_b(eps) in nats, e.g. H_b(0.01) = 0.0560 as quoted after Theorem 5.
    """
    eps = _check_probability("eps", eps)
    if eps in (0.0, 1.0):
        return 0.0
    return -eps * math.log(eps) - (1.0 - eps) * math.log1p(-eps)


def bias_eps_lower_limit(d: int, beta: float) -> float:
    """Return the left end 1 - (1 - 2 Q(1 / (2 beta)))^d of Theorem 5's interval for eps.

    Theorem 5 holds for eps in (1 - (1 - 2 Q(1 / (2 beta)))^d, 1]; for beta = 0.1 the limit
    is at most 0.0057 for every d up to 10^4 (section 3.4.1).

    Parameters
    ----------
    d : int
        Dimension of the layer, at least 1.
    beta : float
        Noise standard deviation, greater than 0.

    Returns
    -------
    float
        The open lower end of the admissible interval for eps.
    """
    d = check_int("d", d, minimum=1)
    beta = check_beta(beta)

    # 1 - (1 - 2Q)^d without cancellation when 2Q is tiny.
    tail = 2.0 * float(ndtr(-1.0 / (2.0 * beta)))
    return -math.expm1(d * math.log1p(-tail))


def _check_eps(d: int, beta: float, eps: Any) -> float:
    """Return ``eps`` after checking that it lies in Theorem 5's interval (lower, 1)."""
    eps = _check_real("eps", eps)
    lower = bias_eps_lower_limit(d, beta)
    if not lower < eps < 1.0:
        raise ValueError(
            f"eps must lie in ({lower:.6g}, 1) for d={d} and beta={beta:g} "
            f"(Theorem 5 needs eps > 1 - (1 - 2Q(1/(2 beta)))^d, and k* is unbounded at "
            f"eps = 1), not {eps}"
        )
    return eps


def bias_k_star(d: int, beta: float, eps: float = 0.01) -> int:
    """Return Theorem 5's k* = floor(1 / (beta Q^{-1}((1 - (1 - eps)^(1/d)) / 2))).

    Parameters
    ----------
    d : int
        Dimension of the layer, at least 1.
    beta : float
        Noise standard deviation, greater than 0.
    eps : float, default=0.01
        Theorem 5's free parameter. It must exceed
        :func:`bias_eps_lower_limit` ``(d, beta)`` and be less than 1 (at eps = 1 the argument
        of Q^{-1} is 1/2, Q^{-1}(1/2) = 0 and k* is unbounded, while the bound (14) reduces to
        the trivial -log n).

    Returns
    -------
    int
        k*, at least 2 whenever eps is admissible. For beta = 0.1 and eps = 0.01 it is 3 for
        d <= 11 and 2 for 12 <= d <= 10^4 (section 3.4.1).

    Raises
    ------
    ValueError
        If eps lies outside the admissible interval, naming the interval.
    """
    d = check_int("d", d, minimum=1)
    beta = check_beta(beta)
    eps = _check_eps(d, beta, eps)

    # 1 - (1 - eps)^(1/d) written to keep its digits for large d.
    p = -math.expm1(math.log1p(-eps) / d) / 2.0
    k_star = math.floor(1.0 / (beta * float(-ndtri(p))))

    # Admissible eps gives k* > 2 in exact arithmetic; rounding can only bite at the limit.
    if k_star < 2:
        raise ValueError(
            f"eps must exceed the admissible limit for d={d} and beta={beta:g} by more than "
            f"rounding error, not {eps}"
        )
    return k_star


def log_bias_sample_size(d: int, beta: float, eps: float = 0.01) -> float:
    """Return log(k*^(d (1 - eps))) = d (1 - eps) log k*, the logarithm of Theorem 5's size.

    Parameters
    ----------
    d, beta, eps
        As in :func:`bias_k_star`.

    Returns
    -------
    float
        The natural logarithm of :func:`bias_sample_size`; finite even where that overflows.
    """
    k_star = bias_k_star(d, beta, eps)
    return d * (1.0 - float(eps)) * math.log(k_star)


def bias_sample_size(d: int, beta: float, eps: float = 0.01) -> float:
    """Return k*^(d (1 - eps)), the sample size below which SP can be biased (Theorem 5).

    Section 3.4.1 reads eq. (14) as: for small eps the SP estimator does not have negligible
    bias unless n > k*^(d (1 - eps)). The statement is a worst case over all distributions
    supported in [-1, 1]^d, so a given network may need far fewer samples.

    Parameters
    ----------
    d, beta, eps
        As in :func:`bias_k_star`.

    Returns
    -------
    float
        k*^(d (1 - eps)), or ``math.inf`` where it exceeds the float range (d of a few
        thousand); see :func:`log_bias_sample_size` for its logarithm.
    """
    return _exp_or_inf(log_bias_sample_size(d, beta, eps))


def bias_lower_bound(n: int, d: int, beta: float, eps: float = 0.01) -> float:
    """Return the right-hand side log(k*^(d (1 - eps)) / n) - H_b(eps) of eq. (14).

    Theorem 5: sup over P in F_d of E|h(P * phi) - h_SP(S^n)| is at least this value, so the
    bias cannot be below delta while n <= k*^(d (1 - eps)) exp(-(delta + H_b(eps))).

    Parameters
    ----------
    n : int
        Number of samples of S, at least 1.
    d, beta, eps
        As in :func:`bias_k_star`.

    Returns
    -------
    float
        The lower bound in nats; negative values mean the bound says nothing.
    """
    n = check_int("n", n, minimum=1)
    log_size = log_bias_sample_size(d, beta, eps)
    return log_size - math.log(n) - binary_entropy(eps)


def risk_bound_bounded(n: int, d: int, beta: float, eps: float) -> float:
    """Return the right-hand side of eq. (10), Theorem 3's risk bound for bounded support.

    For S supported in [-1, 1]^d (tanh or sigmoid layers) and n sufficiently large,

        sup_P E|h(P * phi) - h_SP(S^n)|
            <= 1 / (2 (4 pi beta^2)^(d/4))
               * log(n (2 + 2 beta sqrt((2 + eps) log n))^d / (pi beta^2)^(d/2))
               * (2 + 2 beta sqrt((2 + eps) log n))^(d/2) / sqrt(n)
             + (c^2 + 2 c d (1 + beta^2) / beta^2 + 8 d (d + 2 beta^4 + d beta^4) / beta^4)
               * 2 / n,

    with c = c_{beta,d} = d/2 log(2 pi beta^2) + d / beta^2.

    Parameters
    ----------
    n : int
        Number of samples of S, at least 1.
    d : int
        Dimension, at least 1.
    beta : float
        Noise standard deviation, greater than 0.
    eps : float
        Theorem 3's free parameter, greater than 0.

    Returns
    -------
    float
        The bound in nats, or ``math.inf`` where it exceeds the float range. The theorem
        holds only for n large enough; at small n the first term can even be negative.
    """
    n = check_int("n", n, minimum=1)
    d = check_int("d", d, minimum=1)
    beta = check_beta(beta)
    eps = check_positive("eps", eps)

    # The first term multiplies powers that overflow for moderate d, so build it in logs.
    spread = 2.0 + 2.0 * beta * math.sqrt((2.0 + eps) * math.log(n))
    log_argument = math.log(n) + d * math.log(spread) - (d / 2.0) * math.log(math.pi * beta**2)
    log_prefactor = (
        -math.log(2.0)
        - (d / 4.0) * math.log(4.0 * math.pi * beta**2)
        + (d / 2.0) * math.log(spread)
        - 0.5 * math.log(n)
    )
    first = _times_exp(log_argument, log_prefactor)

    c = (d / 2.0) * math.log(2.0 * math.pi * beta**2) + d / beta**2
    second = (
        (
            c**2
            + 2.0 * c * d * (1.0 + beta**2) / beta**2
            + 8.0 * d * (d + 2.0 * beta**4 + d * beta**4) / beta**4
        )
        * 2.0
        / n
    )
    return first + second


def risk_bound_subgaussian(n: int, d: int, beta: float, K: float) -> float:  # noqa: N803
    """Return the right-hand side of eq. (12), Theorem 4's risk bound for subgaussian S.

    For S whose coordinates have subgaussian norm at most K (e.g. ReLU layers) and n
    sufficiently large,

        sup_P E|h(P * phi) - h_SP(S^n)|
            <= log(sqrt(n) (8 (K + beta)^2 / ((e - 1) pi beta^2))^(d/4))
               * (2 (K + beta)^2 / ((e - 1) pi beta^2) * log n)^(d/4) / sqrt(n)
             + ((c' + 2 d K^2)^2 + 2 (c' + 2 d K^2)(beta^2 d + 2 d K^2) / beta^2
                + 8 (16 d^2 K^4 + beta^4 d (2 + d)) / beta^4) * e d / n,

    with c' = c'_{beta,d} = d/2 log(2 pi beta^2).

    Parameters
    ----------
    n : int
        Number of samples of S, at least 1.
    d : int
        Dimension, at least 1.
    beta : float
        Noise standard deviation, greater than 0.
    K : float
        Bound on the subgaussian norm of every coordinate of S, greater than 0.

    Returns
    -------
    float
        The bound in nats, or ``math.inf`` where it exceeds the float range (the first term
        is 0 at n = 1 because log n = 0).
    """
    n = check_int("n", n, minimum=1)
    d = check_int("d", d, minimum=1)
    beta = check_beta(beta)
    K = check_positive("K", K)  # noqa: N806

    ratio = (K + beta) ** 2 / ((math.e - 1.0) * math.pi * beta**2)
    log_argument = 0.5 * math.log(n) + (d / 4.0) * math.log(8.0 * ratio)
    if n == 1:
        # (... log n)^(d/4) vanishes at n = 1.
        first = 0.0
    else:
        log_prefactor = (d / 4.0) * math.log(2.0 * ratio * math.log(n)) - 0.5 * math.log(n)
        first = _times_exp(log_argument, log_prefactor)

    # c'_{beta,d} + 2 d K^2 appears three times in the second term.
    shifted = (d / 2.0) * math.log(2.0 * math.pi * beta**2) + 2.0 * d * K**2
    second = (
        (
            shifted**2
            + 2.0 * shifted * (beta**2 * d + 2.0 * d * K**2) / beta**2
            + 8.0 * (16.0 * d**2 * K**4 + beta**4 * d * (2.0 + d)) / beta**4
        )
        * math.e
        * d
        / n
    )
    return first + second


def mc_mse_bound_bounded(n: int, n_mc: int, d: int, beta: float) -> float:
    """Return the right-hand side of eq. (18), Theorem 6(i): MSE of h_MC for C in [-1, 1]^d.

        MSE(h_MC) <= 1 / (n n_mc) * 2 d (2 + beta^2) / beta^2.

    Parameters
    ----------
    n : int
        Number of mixture components (centres), at least 1.
    n_mc : int
        Monte Carlo draws per component, at least 1.
    d : int
        Dimension, at least 1.
    beta : float
        Noise standard deviation, greater than 0.

    Returns
    -------
    float
        The bound on the mean squared error of eq. (16b), in nats squared.
    """
    n = check_int("n", n, minimum=1)
    n_mc = check_int("n_mc", n_mc, minimum=1)
    d = check_int("d", d, minimum=1)
    beta = check_beta(beta)
    return 2.0 * d * (2.0 + beta**2) / beta**2 / (n * n_mc)


def mc_mse_bound_second_moment(
    n: int, n_mc: int, d: int, beta: float, second_moment: float
) -> float:
    """Return the right-hand side of eq. (19), Theorem 6(ii): MSE of h_MC given E||C||^2.

        MSE(h_MC) <= 1 / (n n_mc)
                     * (9 d beta^2 + 8 (2 + beta sqrt(d)) M_C + 3 (11 beta sqrt(d) + 1) sqrt(M_C))
                     / beta^2,

    with M_C = E||C||_2^2 the second moment of a uniformly chosen centre (e.g. a ReLU layer).

    Parameters
    ----------
    n : int
        Number of mixture components (centres), at least 1.
    n_mc : int
        Monte Carlo draws per component, at least 1.
    d : int
        Dimension, at least 1.
    beta : float
        Noise standard deviation, greater than 0.
    second_moment : float
        M_C = E||C||_2^2, at least 0 (for centres c_i: mean of ||c_i||^2).

    Returns
    -------
    float
        The bound on the mean squared error of eq. (16b), in nats squared.
    """
    n = check_int("n", n, minimum=1)
    n_mc = check_int("n_mc", n_mc, minimum=1)
    d = check_int("d", d, minimum=1)
    beta = check_beta(beta)
    m_c = check_positive("second_moment", second_moment, allow_zero=True)

    root_d = math.sqrt(d)
    numerator = (
        9.0 * d * beta**2
        + 8.0 * (2.0 + beta * root_d) * m_c
        + 3.0 * (11.0 * beta * root_d + 1.0) * math.sqrt(m_c)
    )
    return numerator / beta**2 / (n * n_mc)


def input_distribution_gap(d: int, m: int, beta: float) -> float:
    """Return Remark 1's gap d / (4 sqrt(m)) log(1 + 1 / beta^2).

    Roughly, I(X; T) with X drawn from the data distribution P_X lies within this additive gap
    of I(X; T) with X uniform on the m data points (Remark 1; the precise statement is
    Proposition 1 of the paper's reference [11]).

    Parameters
    ----------
    d : int
        Dimension of the layer, at least 1.
    m : int
        Number of data points, at least 1.
    beta : float
        Noise standard deviation, greater than 0.

    Returns
    -------
    float
        The gap in nats.
    """
    d = check_int("d", d, minimum=1)
    m = check_int("m", m, minimum=1)
    beta = check_beta(beta)
    return d / (4.0 * math.sqrt(m)) * math.log1p(1.0 / beta**2)
