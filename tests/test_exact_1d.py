"""Exact 1-D mixture entropy by quadrature against closed forms and an independent rule."""

import math

import numpy as np
import pytest
import torch

from estimators import mixture_density_1d, mixture_entropy, mixture_entropy_exact_1d


def gaussian_entropy(beta: float) -> float:
    return 0.5 * math.log(2.0 * math.pi * math.e * beta**2)


def trapezoid_entropy(centers: np.ndarray, beta: float) -> float:
    """-integral g log g by the trapezoid rule on a fine uniform grid.

    For a smooth integrand that vanishes at both ends the trapezoid rule converges faster
    than any power of the step; with a step of beta/20 its error is far below 1e-10.
    """
    centers = np.asarray(centers, dtype=np.float64)
    grid = np.arange(centers.min() - 15 * beta, centers.max() + 15 * beta, beta / 20)
    sq = (grid[:, None] - centers[None]) ** 2 / (2 * beta**2)
    shift = sq.min(axis=1)
    log_g = (
        -shift
        + np.log(np.exp(-(sq - shift[:, None])).mean(axis=1))
        - 0.5 * math.log(2 * math.pi * beta**2)
    )
    integrand = -np.exp(log_g) * log_g
    return float(np.sum(integrand) * (grid[1] - grid[0]))


@pytest.mark.parametrize("beta", [0.001, 0.05, 3.0])
def test_single_gaussian(beta):
    exact = mixture_entropy_exact_1d([0.3], beta)
    assert exact == pytest.approx(gaussian_entropy(beta), abs=1e-10)


def test_identical_centres_are_one_gaussian():
    assert mixture_entropy_exact_1d(np.full(7, -0.2), 0.01) == pytest.approx(
        gaussian_entropy(0.01), abs=1e-10
    )


def test_far_apart_centres_add_log_n():
    centers = np.array([-1.0, 0.0, 1.0, 5.0, 100.0])
    expected = math.log(5) + gaussian_entropy(0.005)
    assert mixture_entropy_exact_1d(centers, 0.005) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("gap", [0.5, 1.0, 2.0, 4.0])
def test_two_centres_against_the_trapezoid_rule(gap):
    beta = 0.1
    centers = np.array([0.0, gap * beta])
    exact = mixture_entropy_exact_1d(centers, beta)
    assert exact == pytest.approx(trapezoid_entropy(centers, beta), abs=1e-9)
    # Overlapping centres lie strictly between one Gaussian and two separated ones.
    assert gaussian_entropy(beta) < exact < gaussian_entropy(beta) + math.log(2)


def test_two_centres_monte_carlo_agrees_with_quadrature(device):
    centers = torch.tensor([[0.0], [0.15]], device=device)
    estimate = mixture_entropy(centers, 0.1, n_mc=5000, seed=1)
    exact = mixture_entropy_exact_1d(centers.cpu(), 0.1)
    assert abs(estimate.value - exact) < 4 * estimate.stderr
    assert estimate.stderr < 0.01


def test_clustered_neuron_outputs_against_the_trapezoid_rule():
    # Saturated tanh outputs: three centres within 1e-4 and one far away, beta = 0.05.
    centers = np.tanh(5.0 * np.array([-3.0, -1.0, 1.0, 3.0]) - 10.0)
    exact = mixture_entropy_exact_1d(centers, 0.05)
    assert exact == pytest.approx(trapezoid_entropy(centers, 0.05), abs=1e-9)


def test_many_random_centres_against_the_trapezoid_rule():
    centers = np.random.default_rng(2).uniform(-1, 1, size=300)
    exact = mixture_entropy_exact_1d(centers, 0.02)
    assert exact == pytest.approx(trapezoid_entropy(centers, 0.02), abs=1e-9)


def test_order_and_shape_do_not_matter():
    centers = np.array([0.4, -0.3, 0.1])
    flat = mixture_entropy_exact_1d(centers, 0.2)
    assert mixture_entropy_exact_1d(centers[::-1, None], 0.2) == pytest.approx(flat, abs=1e-12)
    assert mixture_entropy_exact_1d(torch.tensor(centers + 7.0), 0.2) == pytest.approx(
        flat, abs=1e-10
    )


@pytest.mark.parametrize(("method", "rtol"), [("exact", 1e-12), ("auto", 1.1e-6)])
def test_density_on_a_grid(device, method, rtol):
    centers = torch.tensor([-0.5, 0.0, 0.2], dtype=torch.float64, device=device)
    grid = np.linspace(-2, 2, 4001)
    density = mixture_density_1d(grid, centers, 0.1, method=method)
    bumps = [np.exp(-((grid - c) ** 2) / 0.02) for c in (-0.5, 0.0, 0.2)]
    direct = np.mean(bumps, axis=0) / math.sqrt(2 * math.pi * 0.01)
    np.testing.assert_allclose(density, direct, rtol=rtol, atol=1e-300)
    assert np.sum(density) * (grid[1] - grid[0]) == pytest.approx(1.0, abs=max(rtol, 1e-10))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mixture_entropy_exact_1d([0.0], 0.0), "beta must be greater than 0, not 0.0"),
        (lambda: mixture_entropy_exact_1d([], 1.0), "centers must have at least 1 row, not 0"),
        (lambda: mixture_entropy_exact_1d([0.0, np.inf], 1.0),
         "centers must contain only finite values, not 1 NaN or infinite"),
        (lambda: mixture_entropy_exact_1d(np.zeros((3, 2)), 1.0),
         "centers must be one-dimensional, of shape (n,) or (n, 1), not (3, 2)"),
        (lambda: mixture_entropy_exact_1d(np.zeros((3, 1, 1)), 1.0),
         "centers must have 1 or 2 dimensions, not 3"),
        (lambda: mixture_density_1d(np.zeros((3, 1)), [0.0], 1.0),
         "grid must have 1 dimensions, not 2"),
        (lambda: mixture_density_1d([np.nan], [0.0], 1.0),
         "grid must contain only finite values"),
        (lambda: mixture_density_1d([0.0], [0.0], -2.0), "beta must be greater than 0, not -2.0"),
    ],
)
def test_bad_input_is_refused_with_a_message(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)
