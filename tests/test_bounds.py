"""Pairwise-distance entropy and MI bounds against exact values and the SP estimate."""

import math
import warnings

import numpy as np
import pytest
import torch

from estimators import (
    Bounds,
    SampleSizeWarning,
    mixture_entropy,
    mixture_entropy_exact_1d,
    pairwise_entropy_bounds,
    pairwise_mi_bounds,
    sample_propagation_mi,
)


@pytest.fixture(autouse=True)
def quiet_bias_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleSizeWarning)
        yield


def gaussian_entropy(d: int, beta: float) -> float:
    return 0.5 * d * math.log(2.0 * math.pi * math.e * beta**2)


def test_bounds_are_a_named_pair():
    bounds = pairwise_entropy_bounds([[0.0], [1.0]], 0.5)
    assert isinstance(bounds, Bounds)
    lower, upper = bounds
    assert (lower, upper) == (bounds.lower, bounds.upper)
    assert isinstance(lower, float) and isinstance(upper, float)


@pytest.mark.parametrize("d", [1, 5, 40])
def test_single_gaussian_bounds_are_exact(d):
    bounds = pairwise_entropy_bounds(np.zeros((1, d)), 0.3)
    assert bounds.lower == pytest.approx(gaussian_entropy(d, 0.3), abs=1e-12)
    assert bounds.upper == pytest.approx(gaussian_entropy(d, 0.3), abs=1e-12)


def test_separated_centres_make_both_bounds_exact(device):
    centers = torch.arange(6, dtype=torch.float64, device=device).reshape(3, 2)
    bounds = pairwise_entropy_bounds(centers, 0.01)
    expected = math.log(3) + gaussian_entropy(2, 0.01)
    assert bounds.lower == pytest.approx(expected, abs=1e-12)
    assert bounds.upper == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("seed", "beta"), [(0, 0.02), (1, 0.1), (2, 0.3), (3, 1.0)])
def test_exact_entropy_lies_between_the_bounds(seed, beta):
    centers = np.tanh(2 * np.random.default_rng(seed).normal(size=40))
    exact = mixture_entropy_exact_1d(centers, beta)
    lower, upper = pairwise_entropy_bounds(centers, beta)
    assert lower <= exact <= upper
    assert upper - lower > 1e-3  # overlapping centres: the bounds really differ


def test_monte_carlo_entropy_lies_between_the_bounds_in_three_dimensions():
    centers = np.tanh(np.random.default_rng(4).normal(size=(50, 3)))
    estimate = mixture_entropy(centers, 0.2, n_mc=200, seed=5)
    lower, upper = pairwise_entropy_bounds(centers, 0.2)
    assert lower - 4 * estimate.stderr <= estimate.value <= upper + 4 * estimate.stderr


def test_two_centres_closed_form():
    # Two centres at distance D: the bounds replace log g(mu_i) by explicit sums.
    beta, distance = 0.1, 0.15
    lower, upper = pairwise_entropy_bounds([[0.0], [distance]], beta)
    kl, bd = distance**2 / (2 * beta**2), distance**2 / (8 * beta**2)
    h = gaussian_entropy(1, beta)
    assert upper == pytest.approx(h - math.log((1 + math.exp(-kl)) / 2), abs=1e-12)
    assert lower == pytest.approx(h - math.log((1 + math.exp(-bd)) / 2), abs=1e-12)


@pytest.mark.parametrize("w", [0.5, 1.0, 2.0])
def test_neuron_exact_and_sp_between_the_mi_bounds(device, w):
    beta = 0.05
    centers = np.tanh(w * np.array([-3.0, -1.0, 1.0, 3.0]) - 2 * w)
    samples = torch.tensor(centers[:, None, None], device=device)
    lower, upper = pairwise_mi_bounds(samples, beta)
    exact = mixture_entropy_exact_1d(centers, beta) - gaussian_entropy(1, beta)
    assert lower <= exact <= upper

    result = sample_propagation_mi(samples, beta, deterministic=True, n_mc=2000, seed=6)
    assert lower - 4 * result.mi.stderr <= result.mi.value <= upper + 4 * result.mi.stderr


def test_one_replica_mi_bounds_are_entropy_bounds_minus_noise_entropy():
    centers = np.random.default_rng(7).uniform(-1, 1, size=(20, 2))
    lower, upper = pairwise_mi_bounds(centers[:, None, :], 0.1)
    h_lower, h_upper = pairwise_entropy_bounds(centers, 0.1)
    assert lower == pytest.approx(h_lower - gaussian_entropy(2, 0.1), abs=1e-12)
    assert upper == pytest.approx(h_upper - gaussian_entropy(2, 0.1), abs=1e-12)
    assert upper <= math.log(20) + 1e-12


def test_sp_with_replicas_between_the_mi_bounds(device):
    rng = np.random.default_rng(8)
    samples = np.tanh(rng.uniform(-1, 1, size=(10, 1, 2)) + 0.15 * rng.normal(size=(10, 8, 2)))
    samples = torch.tensor(samples, device=device)
    lower, upper = pairwise_mi_bounds(samples, 0.1)
    result = sample_propagation_mi(samples, 0.1, n_mc=50, seed=9)
    assert lower < upper
    assert lower - 4 * result.mi.stderr <= result.mi.value <= upper + 4 * result.mi.stderr


def test_mi_bounds_with_replicas_use_the_conditional_bounds():
    rng = np.random.default_rng(10)
    samples = rng.uniform(-1, 1, size=(4, 6, 1))
    lower, upper = pairwise_mi_bounds(samples, 0.2)
    pooled = pairwise_entropy_bounds(samples.reshape(-1, 1), 0.2)
    conditional = [pairwise_entropy_bounds(samples[i], 0.2) for i in range(4)]
    assert upper == pytest.approx(
        pooled.upper - np.mean([c.lower for c in conditional]), abs=1e-12
    )
    assert lower == pytest.approx(
        pooled.lower - np.mean([c.upper for c in conditional]), abs=1e-12
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pairwise_entropy_bounds([[0.0]], -1.0), "beta must be greater than 0, not -1.0"),
        (lambda: pairwise_entropy_bounds([[np.nan]], 1.0),
         "centers must contain only finite values, not 1 NaN or infinite"),
        (lambda: pairwise_entropy_bounds(np.zeros((0, 2)), 1.0),
         "centers must have at least 1 row, not 0"),
        (lambda: pairwise_entropy_bounds([[0.0]], 1.0, method="guess"),
         ("method must be one of 'auto', 'exact'", "not 'guess'")),
        (lambda: pairwise_mi_bounds(np.zeros((3, 2)), 1.0),
         "samples must have 3 dimensions, not 2 (shape (3, 2))"),
        (lambda: pairwise_mi_bounds(np.zeros((3, 0, 2)), 1.0),
         "samples must not be empty (shape (3, 0, 2))"),
        (lambda: pairwise_mi_bounds(np.zeros((3, 1, 1)), math.inf),
         "beta must be finite, not inf"),
    ],
)
def test_bad_input_is_refused_with_a_message(call, message):
    with pytest.raises(ValueError) as info:
        call()
    for part in (message,) if isinstance(message, str) else message:
        assert part in str(info.value)


def test_demo_table_is_consistent(capsys):
    from estimators import demo

    rows = demo.neuron_table(weights=(0.0, 1.0, 20.0), n_mc=500, seed=1)
    for row in rows:
        assert row["lower"] - 1e-12 <= row["exact"] <= row["upper"] + 1e-12
        assert abs(row["sp"] - row["exact"]) <= 4 * row["sp_stderr"] + 1e-12
    assert rows[0]["exact"] == pytest.approx(0.0, abs=1e-9)

    demo.main()
    lines = capsys.readouterr().out.splitlines()
    assert "KL upper" in lines[3] and len(lines) == 5 + len(demo.WEIGHTS)
