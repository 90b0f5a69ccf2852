"""The theory functions against the values quoted in the paper and independent evaluations."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from estimators import theory

# Dimensions of section 3.4.1: k* = 3 for d <= 11 and 2 for 12 <= d <= 10^4 at beta = 0.1.
K_STAR_CASES = [(d, 3) for d in range(1, 12)] + [(12, 2), (100, 2), (1000, 2), (10000, 2)]


def test_q_function_matches_quadrature_of_the_normal_density():
    for x in (-1.5, 0.0, 0.7, 3.0):
        tail, _ = integrate.quad(
            lambda t: math.exp(-t * t / 2) / math.sqrt(2 * math.pi), x, math.inf
        )
        assert theory.q_function(x) == pytest.approx(tail, rel=1e-9)


def test_q_function_keeps_precision_far_in_the_tail():
    # Q(10) = 7.6198530241605e-24 (Mills ratio series); 1 - Phi(10) would round to 0.
    assert theory.q_function(10.0) == pytest.approx(7.6198530241605e-24, rel=1e-10)


def test_q_function_of_an_array_keeps_its_shape():
    values = theory.q_function(np.array([[0.0, 1.0], [2.0, -2.0]]))
    assert values.shape == (2, 2)
    np.testing.assert_allclose(values, stats.norm.sf([[0.0, 1.0], [2.0, -2.0]]), rtol=1e-12)


def test_q_inverse_inverts_q_function():
    for p in (1e-12, 0.005, 0.3, 0.5, 0.9):
        assert theory.q_function(theory.q_inverse(p)) == pytest.approx(p, rel=1e-10)
    assert theory.q_inverse(0.5) == 0.0
    assert theory.q_inverse(0.0) == math.inf


def test_q_inverse_rejects_a_probability_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\], not 1.5"):
        theory.q_inverse(1.5)
    with pytest.raises(ValueError, match="p must not contain NaN"):
        theory.q_inverse(float("nan"))


def test_binary_entropy_of_one_percent_is_the_quoted_0_056():
    assert theory.binary_entropy(0.01) == pytest.approx(0.056, abs=5e-4)
    assert theory.binary_entropy(0.5) == pytest.approx(math.log(2), rel=1e-15)
    assert theory.binary_entropy(0.0) == 0.0
    assert theory.binary_entropy(1.0) == 0.0
    assert theory.binary_entropy(0.2) == pytest.approx(theory.binary_entropy(0.8), rel=1e-14)


def test_binary_entropy_rejects_a_value_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"eps must lie in \[0, 1\], not -0.1"):
        theory.binary_entropy(-0.1)


@pytest.mark.parametrize("d, expected", K_STAR_CASES)
def test_k_star_reproduces_the_values_quoted_after_theorem_5(d, expected):
    assert theory.bias_k_star(d, 0.1, 0.01) == expected


def test_eps_limit_is_at_most_0_0057_up_to_d_ten_thousand():
    limits = [theory.bias_eps_lower_limit(d, 0.1) for d in (1, 10, 100, 1000, 10000)]
    assert all(b > a for a, b in zip(limits, limits[1:], strict=False))
    assert round(limits[-1], 4) == 0.0057

    # Direct evaluation of 1 - (1 - 2Q(5))^d at a size where no cancellation arises.
    direct = 1.0 - (1.0 - 2.0 * stats.norm.sf(5.0)) ** 10
    assert theory.bias_eps_lower_limit(10, 0.1) == pytest.approx(direct, rel=1e-6)


def test_k_star_rejects_eps_outside_the_admissible_interval():
    # beta = 1: the limit 1 - (1 - 2Q(1/2))^1 = 0.617 exceeds eps = 0.01.
    with pytest.raises(ValueError, match=r"eps must lie in \(0.617075, 1\) .* not 0.01"):
        theory.bias_k_star(1, 1.0, 0.01)
    with pytest.raises(ValueError, match="eps must lie in"):
        theory.bias_k_star(10, 0.1, 1.0)
    with pytest.raises(ValueError, match="beta must be greater than 0, not -0.1"):
        theory.bias_k_star(10, -0.1)
    with pytest.raises(ValueError, match="d must be at least 1, not 0"):
        theory.bias_k_star(0, 0.1)


def test_bias_sample_size_is_k_star_to_the_power_d_times_one_minus_eps():
    assert theory.bias_sample_size(10, 0.1) == pytest.approx(3.0 ** (0.99 * 10), rel=1e-12)
    assert theory.bias_sample_size(12, 0.1) == pytest.approx(2.0 ** (0.99 * 12), rel=1e-12)
    assert theory.bias_sample_size(10000, 0.1) == math.inf
    assert theory.log_bias_sample_size(10000, 0.1) == pytest.approx(
        0.99 * 10000 * math.log(2), rel=1e-12
    )


def test_bias_lower_bound_is_eq_14_and_vanishes_at_the_stated_sample_size():
    n = 1000
    expected = math.log(3.0 ** (0.99 * 5) / n) - theory.binary_entropy(0.01)
    assert theory.bias_lower_bound(n, 5, 0.1) == pytest.approx(expected, rel=1e-12)

    # Theorem 5: the bound equals delta at n = k*^(d(1 - eps)) exp(-(delta + H_b(eps))).
    delta = 0.5
    n_delta = theory.bias_sample_size(20, 0.1) * math.exp(-(delta + theory.binary_entropy(0.01)))
    assert theory.bias_lower_bound(round(n_delta), 20, 0.1) == pytest.approx(delta, abs=1e-4)


def _risk_bounded_direct(n, d, beta, eps):
    spread = 2 + 2 * beta * math.sqrt((2 + eps) * math.log(n))
    first = (
        1
        / (2 * (4 * math.pi * beta**2) ** (d / 4))
        * math.log(n * spread**d / (math.pi * beta**2) ** (d / 2))
        * spread ** (d / 2)
        / math.sqrt(n)
    )
    c = d / 2 * math.log(2 * math.pi * beta**2) + d / beta**2
    second = (
        (
            c**2
            + 2 * c * d * (1 + beta**2) / beta**2
            + 8 * d * (d + 2 * beta**4 + d * beta**4) / beta**4
        )
        * 2
        / n
    )
    return first + second


def _risk_subgaussian_direct(n, d, beta, k):
    ratio = (k + beta) ** 2 / ((math.e - 1) * math.pi * beta**2)
    first = (
        math.log(math.sqrt(n) * (8 * ratio) ** (d / 4))
        * (2 * ratio * math.log(n)) ** (d / 4)
        / math.sqrt(n)
    )
    c = d / 2 * math.log(2 * math.pi * beta**2)
    s = c + 2 * d * k**2
    second = (
        (
            s**2
            + 2 * s * (beta**2 * d + 2 * d * k**2) / beta**2
            + 8 * (16 * d**2 * k**4 + beta**4 * d * (2 + d)) / beta**4
        )
        * math.e
        * d
        / n
    )
    return first + second


@pytest.mark.parametrize("n, d, beta", [(10**4, 1, 0.1), (10**6, 3, 0.2), (10**8, 5, 0.5)])
def test_risk_bounds_match_a_direct_evaluation_of_eqs_10_and_12(n, d, beta):
    assert theory.risk_bound_bounded(n, d, beta, 0.1) == pytest.approx(
        _risk_bounded_direct(n, d, beta, 0.1), rel=1e-10
    )
    assert theory.risk_bound_subgaussian(n, d, beta, 1.0) == pytest.approx(
        _risk_subgaussian_direct(n, d, beta, 1.0), rel=1e-10
    )


def test_risk_bounds_decrease_towards_zero_and_overflow_to_inf():
    sizes = [10**k for k in range(6, 30, 4)]
    bounded = [theory.risk_bound_bounded(n, 2, 0.1, 0.5) for n in sizes]
    subgaussian = [theory.risk_bound_subgaussian(n, 2, 0.1, 1.0) for n in sizes]
    for values in (bounded, subgaussian):
        assert all(b < a for a, b in zip(values, values[1:], strict=False))
        assert values[-1] < 1e-3 * values[0]
    assert theory.risk_bound_bounded(10**6, 5000, 0.01, 0.1) == math.inf
    assert theory.risk_bound_subgaussian(1, 3, 0.1, 1.0) == pytest.approx(
        _risk_subgaussian_direct(1, 3, 0.1, 1.0), rel=1e-12
    )


def test_risk_bounds_reject_bad_parameters():
    with pytest.raises(ValueError, match="eps must be greater than 0, not 0.0"):
        theory.risk_bound_bounded(100, 2, 0.1, 0.0)
    with pytest.raises(ValueError, match="K must be greater than 0, not -1.0"):
        theory.risk_bound_subgaussian(100, 2, 0.1, -1.0)
    with pytest.raises(ValueError, match="n must be at least 1, not 0"):
        theory.risk_bound_bounded(0, 2, 0.1, 0.1)


def test_mc_mse_bounds_are_eqs_18_and_19_and_scale_as_one_over_n_n_mc():
    assert theory.mc_mse_bound_bounded(1, 1, 10, 0.1) == pytest.approx(
        2 * 10 * 2.01 / 0.01, rel=1e-12
    )
    m_c, d, beta = 4.0, 9, 0.5
    expected = (9 * d * beta**2 + 8 * (2 + beta * 3) * m_c + 3 * (11 * beta * 3 + 1) * 2) / beta**2
    assert theory.mc_mse_bound_second_moment(1, 1, d, beta, m_c) == pytest.approx(expected)

    base = theory.mc_mse_bound_bounded(100, 2, 10, 0.1)
    assert theory.mc_mse_bound_bounded(400, 2, 10, 0.1) == pytest.approx(base / 4, rel=1e-12)
    assert theory.mc_mse_bound_bounded(100, 8, 10, 0.1) == pytest.approx(base / 4, rel=1e-12)
    base = theory.mc_mse_bound_second_moment(100, 2, d, beta, m_c)
    assert theory.mc_mse_bound_second_moment(300, 6, d, beta, m_c) == pytest.approx(
        base / 9, rel=1e-12
    )


def test_mc_mse_bounds_reject_bad_parameters():
    with pytest.raises(ValueError, match="n_mc must be at least 1, not 0"):
        theory.mc_mse_bound_bounded(10, 0, 3, 0.1)
    with pytest.raises(ValueError, match="second_moment must be at least 0, not -1.0"):
        theory.mc_mse_bound_second_moment(10, 1, 3, 0.1, -1.0)
    with pytest.raises(ValueError, match="beta must be finite, not nan"):
        theory.mc_mse_bound_bounded(10, 1, 3, float("nan"))


def test_input_distribution_gap_is_remark_1():
    # d / (4 sqrt(m)) log(1 + 1/beta^2) = 10 / 256 * log(101).
    assert theory.input_distribution_gap(10, 4096, 0.1) == pytest.approx(
        10 / 256 * math.log(101), rel=1e-14
    )
    with pytest.raises(ValueError, match="m must be at least 1, not 0"):
        theory.input_distribution_gap(10, 0, 0.1)
