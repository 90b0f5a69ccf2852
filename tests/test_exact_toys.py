"""The exact I(X;T) of the 1-D toys against closed forms, quadrature and Monte Carlo."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from app import exact

X_TANH = np.array([-3.0, -1.0, 1.0, 3.0])


def _quad_entropy(density, low, high, breakpoints):
    """-int p log p by scipy's adaptive quadrature, split at the breakpoints."""
    points = sorted(breakpoints)
    edges = [low, *points, high]
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        value, _ = integrate.quad(
            lambda t: -density(t) * math.log(density(t)) if density(t) > 0 else 0.0,
            a, b, limit=200, epsabs=1e-12, epsrel=1e-12,
        )
        total += value
    return total


def test_far_apart_centres_give_log_m():
    result = exact.mi_fed_by_input([0.0, 1.0, 2.0, 3.0], 0.01)
    assert result.mi == pytest.approx(math.log(4), abs=1e-9)
    assert result.conditional_entropy == pytest.approx(
        0.5 * math.log(2 * math.pi * math.e * 0.01**2), abs=1e-12
    )


def test_identical_centres_give_zero():
    assert exact.mi_fed_by_input([0.3, 0.3, 0.3, 0.3], 0.05).mi == pytest.approx(0, abs=1e-9)


def test_two_close_centres_match_adaptive_quadrature():
    beta, centers = 0.05, np.array([0.0, 0.07])
    density = lambda t: 0.5 * sum(stats.norm.pdf(t, c, beta) for c in centers)  # noqa: E731
    reference = _quad_entropy(density, -1.0, 1.07, [0.0, 0.035, 0.07])
    assert exact.mi_fed_by_input(centers, beta).entropy == pytest.approx(reference, abs=1e-9)


def test_agrees_with_the_estimators_quadrature():
    estimators = pytest.importorskip("estimators")
    if not hasattr(estimators, "mixture_entropy_exact_1d"):
        pytest.skip("estimators.mixture_entropy_exact_1d is not available in this checkout")
    for w in (0.0, 0.5, 2.0, 6.0):
        centers = np.tanh(w * X_TANH - 2 * w)
        ours = exact.mi_fed_by_input(centers, 0.05).entropy
        theirs = estimators.mixture_entropy_exact_1d(centers, 0.05)
        assert ours == pytest.approx(float(theirs), abs=1e-7)


def test_linear_second_layer_is_a_finite_gaussian_mixture():
    # T2 = w2 (s1 + Z1) + b2 + Z2 is a mixture of Gaussians of variance beta^2 (1 + w2^2).
    s1, w2, b2, beta = np.array([0.1, 0.4, 0.45, 1.3]), -0.8, 0.3, 0.05
    result = exact.mi_second_layer(s1, w2, b2, beta, activation="linear")
    reference = exact.mi_fed_by_input(w2 * s1 + b2, beta * math.sqrt(1 + w2**2))
    assert result.mi == pytest.approx(reference.mi, abs=1e-9)
    assert result.entropy == pytest.approx(reference.entropy, abs=1e-9)


@pytest.mark.parametrize("activation", ["leaky_relu", "relu"])
def test_closed_form_density_matches_gauss_hermite(activation):
    s1, w2, b2, beta = np.array([-0.3, 0.2, 1.0]), 1.5, -0.4, 0.05
    grid = np.linspace(-1.0, 2.0, 31)
    closed = exact.conditional_log_density_second_layer(
        grid, s1, w2, b2, beta, activation=activation
    )
    # Adaptive quadrature over Z1, split where the pre-activation crosses the kink.
    f = exact.activation_function(activation)
    for i, s in enumerate(s1):
        kink = -(w2 * s + b2) / (w2 * beta)
        for j, t in enumerate(grid):
            integrand = lambda z, s=s, t=t: stats.norm.pdf(z) * stats.norm.pdf(  # noqa: E731
                t, f(w2 * (s + beta * z) + b2), beta
            )
            value, _ = integrate.quad(integrand, -12, 12, points=[kink], limit=200,
                                      epsabs=1e-13, epsrel=1e-11)
            assert math.exp(closed[i, j]) == pytest.approx(value, rel=1e-7, abs=1e-10)


@pytest.mark.parametrize("activation", ["leaky_relu", "tanh"])
def test_second_layer_mi_matches_monte_carlo(activation):
    rng = np.random.default_rng(7)
    s1, w2, b2, beta = np.array([0.0, 0.05, 0.3, 1.1, 1.15]), -2.0, 0.5, 0.05
    result = exact.mi_second_layer(s1, w2, b2, beta, activation=activation)

    # Draw (X, T2) by simulation and average log p(t|x) - log p(t) with the exact densities.
    n = 20_000
    x = rng.integers(0, s1.size, n)
    t1 = s1[x] + beta * rng.standard_normal(n)
    t2 = exact.activation_function(activation)(w2 * t1 + b2) + beta * rng.standard_normal(n)
    log_cond = exact.conditional_log_density_second_layer(
        t2, s1, w2, b2, beta, activation=activation
    )
    log_marginal = np.logaddexp.reduce(log_cond, axis=0) - math.log(s1.size)
    terms = log_cond[x, np.arange(n)] - log_marginal
    stderr = terms.std(ddof=1) / math.sqrt(n)
    assert abs(terms.mean() - result.mi) <= 4 * stderr
    assert 0 < result.mi < math.log(s1.size)


def test_data_processing_second_layer_does_not_exceed_first():
    s1, beta = np.array([0.0, 0.2, 0.4, 0.6]), 0.05
    first = exact.mi_fed_by_input(s1, beta).mi
    for w2 in (-3.0, -0.5, 0.5, 3.0):
        second = exact.mi_second_layer(s1, w2, 0.1, beta, activation="leaky_relu").mi
        assert second <= first + 1e-9


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="beta must be greater than 0"):
        exact.mi_fed_by_input([0.0, 1.0], -0.1)
    with pytest.raises(ValueError, match="activation must be one of"):
        exact.mi_second_layer([0.0, 1.0], 1.0, 0.0, 0.1, activation="softplus")
    with pytest.raises(ValueError, match="one value per input"):
        exact.mi_fed_by_input(np.zeros((3, 2)), 0.1)
