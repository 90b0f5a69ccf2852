"""Gaussian-mixture log density and Monte Carlo entropy against closed forms."""

import math
import resource

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

import estimators.mixture as mixture
from estimators import (
    Estimate,
    batched_mixture_log_density,
    mixture_entropy,
    mixture_log_density,
)


def gaussian_entropy(d: int, beta: float) -> float:
    return 0.5 * d * math.log(2.0 * math.pi * math.e * beta**2)


def reference_log_density(points: np.ndarray, centers: np.ndarray, beta: float) -> np.ndarray:
    """Plain float64 numpy evaluation, differences first, one query at a time."""
    points = np.asarray(points, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64)
    d = centers.shape[1]
    out = np.empty(len(points))
    for k, point in enumerate(points):
        sq = ((point - centers) ** 2).sum(axis=1)
        out[k] = logsumexp(-sq / (2 * beta**2)) - math.log(len(centers))
    return out - 0.5 * d * math.log(2 * math.pi * beta**2)


def test_estimate_is_a_float_pair():
    estimate = Estimate(np.float32(1.5), torch.tensor(0.25))
    assert isinstance(estimate.value, float) and isinstance(estimate.stderr, float)
    assert repr(estimate) == "Estimate(value=1.5, stderr=0.25)"
    assert float(estimate) == 1.5
    with pytest.raises(AttributeError):
        estimate.value = 2.0


# "exact" sums every pair; "auto" may skip terms worth at most tol = 1e-6 nats in total.
TOLERANCE = {"exact": 1e-12, "auto": 1.1e-6}


@pytest.mark.parametrize("method", ["exact", "auto"])
def test_log_density_matches_reference(device, method):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(300, 3))
    points = rng.normal(size=(70, 3))
    got = mixture_log_density(
        torch.tensor(points, device=device),
        torch.tensor(centers, device=device),
        0.2,
        method=method,
    )
    assert got.dtype == np.float64 and got.shape == (70,)
    reference = reference_log_density(points, centers, 0.2)
    np.testing.assert_allclose(got, reference, rtol=0, atol=TOLERANCE[method])


def test_single_centre_is_the_gaussian_log_density():
    points = np.array([[0.0, 0.0], [0.3, -0.4]])
    got = mixture_log_density(points, [[0.0, 0.0]], 0.5)
    expected = -np.log(2 * np.pi * 0.25) - (points**2).sum(axis=1) / (2 * 0.25)
    np.testing.assert_allclose(got, expected, atol=1e-14)


def test_one_dimensional_arrays_are_points_in_one_dimension():
    got = mixture_log_density([0.0, 1.0], [0.0, 2.0], 1.0)
    np.testing.assert_allclose(
        got, reference_log_density([[0.0], [1.0]], [[0.0], [2.0]], 1.0), atol=1e-14
    )


def test_identical_centres_give_one_gaussian():
    points = np.random.default_rng(1).normal(size=(20, 4))
    many = mixture_log_density(points, np.ones((50, 4)), 0.3)
    one = mixture_log_density(points, np.ones((1, 4)), 0.3)
    np.testing.assert_allclose(many, one, atol=1e-12)


@pytest.mark.parametrize("method", ["exact", "auto"])
def test_small_beta_matches_float64_reference_for_float32_input(device, method):
    # At beta = 0.005 the |q|^2 + |c|^2 - 2 q.c shortcut in float32 is off by ~1e-2 nats.
    gen = torch.Generator().manual_seed(2)
    centers = torch.tanh(2 * torch.randn(512, 10, generator=gen)).float()
    points = (centers[:256] + 0.005 * torch.randn(256, 10, generator=gen)).float()
    got = mixture_log_density(points.to(device), centers.to(device), 0.005, method=method)
    reference = reference_log_density(points.double().numpy(), centers.double().numpy(), 0.005)
    np.testing.assert_allclose(got, reference, rtol=0, atol=min(TOLERANCE[method], 1e-6))

    # The same data through the expansion in float32 is measurably worse: the test has teeth.
    sq = (points**2).sum(1)[:, None] + (centers**2).sum(1)[None] - 2 * points @ centers.T
    expanded = torch.logsumexp(-sq.clamp_min(0) / (2 * 0.005**2), dim=1).double()
    expanded = expanded - math.log(512) - 5 * math.log(2 * math.pi * 0.005**2)
    assert np.abs(expanded.numpy() - reference).max() > 1e-3


def test_chunked_evaluation_equals_unchunked(monkeypatch):
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(37, 2))
    points = rng.normal(size=(23, 2))
    whole = mixture_log_density(points, centers, 0.4, method="exact")
    batched_points = rng.normal(size=(5, 11, 2))
    batched_centers = rng.normal(size=(5, 7, 2))
    batched_whole = batched_mixture_log_density(
        batched_points, batched_centers, 0.4, method="exact"
    )

    # A budget of a few pairs forces every chunk loop to run many times.
    monkeypatch.setattr(mixture, "_CHUNK_BYTES", 5 * mixture._BYTES_PER_PAIR)
    chunked = mixture_log_density(points, centers, 0.4, method="exact")
    np.testing.assert_allclose(chunked, whole, atol=1e-13)
    np.testing.assert_allclose(
        batched_mixture_log_density(batched_points, batched_centers, 0.4, method="exact"),
        batched_whole,
        atol=1e-13,
    )


def test_chunks_stay_within_the_memory_budget():
    for shape in [(1, 10**5, 10**5), (4096, 100, 100), (10**5, 3, 1)]:
        batch, query, centre = mixture._chunk_sizes(*shape)
        assert batch * query * centre * mixture._BYTES_PER_PAIR <= mixture._CHUNK_BYTES
        assert min(batch, query, centre) >= 1


def test_hundred_thousand_by_hundred_thousand_completes(device):
    # 10^10 pairs: one allocation would need 80 GB. On CUDA this runs the chunked exact
    # path; on a CPU "auto" takes the pruned kernel (the exact path would take minutes).
    gen = torch.Generator().manual_seed(4)
    centers = torch.rand(10**5, 1, generator=gen, dtype=torch.float64).to(device)
    points = torch.rand(10**5, 1, generator=gen, dtype=torch.float64).to(device)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    got = mixture_log_density(points, centers, 0.01)
    peak_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before

    assert got.shape == (10**5,) and np.isfinite(got).all()
    assert peak_growth_kib < 2**20  # less than 1 GiB of host memory
    head = reference_log_density(points[:50].cpu().numpy(), centers.cpu().numpy(), 0.01)
    np.testing.assert_allclose(got[:50], head, rtol=0, atol=1.1e-6)


@pytest.mark.parametrize("method", ["exact", "auto"])
def test_batched_equals_one_mixture_at_a_time(device, method):
    rng = np.random.default_rng(5)
    points = rng.normal(size=(4, 6, 3))
    centers = rng.normal(size=(4, 90, 3))
    got = batched_mixture_log_density(
        torch.tensor(points, device=device),
        torch.tensor(centers, device=device),
        0.2,
        method=method,
    )
    assert got.shape == (4, 6)
    for k in range(4):
        reference = reference_log_density(points[k], centers[k], 0.2)
        np.testing.assert_allclose(got[k], reference, rtol=0, atol=TOLERANCE[method])


@pytest.mark.parametrize("d", [1, 12, 100])
def test_entropy_of_a_single_gaussian(device, d):
    beta = 0.1
    estimate = mixture_entropy(torch.zeros(1, d, device=device), beta, n_mc=4000, seed=d)
    exact = gaussian_entropy(d, beta)

    # -log g(q) = |z|^2 / (2 beta^2) + const has variance d/2 per query.
    assert estimate.stderr == pytest.approx(math.sqrt(d / 2 / 4000), rel=0.1)
    assert abs(estimate.value - exact) < 4 * estimate.stderr


def test_entropy_of_identical_centres_is_one_gaussian():
    estimate = mixture_entropy(np.full((64, 3), 0.5), 0.2, n_mc=50, seed=6)
    assert abs(estimate.value - gaussian_entropy(3, 0.2)) < 4 * estimate.stderr


def test_entropy_of_far_apart_centres(device):
    # 16 centres on a unit grid with beta = 0.01: the components do not overlap at all.
    grid = np.stack(np.meshgrid(np.arange(4.0), np.arange(4.0)), axis=-1).reshape(-1, 2)
    estimate = mixture_entropy(torch.tensor(grid, device=device), 0.01, n_mc=200, seed=7)
    exact = math.log(16) + gaussian_entropy(2, 0.01)
    assert abs(estimate.value - exact) < 4 * estimate.stderr
    assert estimate.stderr < 0.05


def test_n_queries_spreads_queries_over_the_centres():
    grid = np.arange(10.0)[:, None]
    estimate = mixture_entropy(grid, 0.01, n_queries=5000, seed=8)
    assert abs(estimate.value - (math.log(10) + gaussian_entropy(1, 0.01))) < 4 * estimate.stderr
    components = mixture._stratified_components(10, 25, torch.Generator().manual_seed(0))
    counts = np.bincount(components.numpy(), minlength=10)
    assert counts.min() == 2 and counts.max() == 3 and counts.sum() == 25


def test_entropy_is_reproducible_and_device_independent(device):
    centers = torch.tanh(2 * torch.randn(200, 4, generator=torch.Generator().manual_seed(9)))
    first = mixture_entropy(centers, 0.1, n_mc=2, seed=10)
    again = mixture_entropy(centers.to(device), 0.1, n_mc=2, seed=10)
    other = mixture_entropy(centers, 0.1, n_mc=2, seed=11)
    # The same draws on every device; CPU and CUDA may differ by the pruning tolerance.
    assert again.value == pytest.approx(first.value, abs=1.1e-6)
    assert other.value != first.value


def test_single_query_has_unknown_stderr():
    estimate = mixture_entropy([[0.0]], 1.0, seed=0)
    assert math.isnan(estimate.stderr) and math.isfinite(estimate.value)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: mixture_log_density([[0.0]], [[0.0]], -0.1), ValueError,
         "beta must be greater than 0, not -0.1"),
        (lambda: mixture_log_density([[0.0]], [[0.0]], 0), ValueError,
         "beta must be greater than 0, not 0.0"),
        (lambda: mixture_log_density([[0.0]], [[0.0]], math.nan), ValueError,
         "beta must be finite, not nan"),
        (lambda: mixture_log_density([[math.nan]], [[0.0]], 1.0), ValueError,
         "points must contain only finite values, not 1 NaN or infinite"),
        (lambda: mixture_log_density([[0.0]], [[math.inf]], 1.0), ValueError,
         "centers must contain only finite values, not 1 NaN or infinite"),
        (lambda: mixture_log_density(np.zeros((2, 3)), np.zeros((4, 2)), 1.0), ValueError,
         "points and centers must have the same dimension d, not 3 and 2"),
        (lambda: mixture_log_density(np.zeros((2, 3, 1)), np.zeros((4, 3)), 1.0), ValueError,
         "points must have 1 or 2 dimensions, not 3 (shape (2, 3, 1))"),
        (lambda: mixture_log_density(np.zeros((0, 3)), np.zeros((4, 3)), 1.0), ValueError,
         "points must have at least 1 row, not 0"),
        (lambda: mixture_log_density([[0.0]], np.zeros((1, 0)), 1.0), ValueError,
         "centers must not be empty (shape (1, 0))"),
        (lambda: mixture_log_density([[0.0]], [[0.0]], 1.0, method="fast"), ValueError,
         ("method must be one of 'auto', 'exact'", "not 'fast'")),
        (lambda: mixture_log_density([[0.0]], [[0.0]], 1.0, tol=0.0), ValueError,
         "tol must be greater than 0, not 0.0"),
        (lambda: batched_mixture_log_density(np.zeros((2, 3, 1)), np.zeros((3, 3, 1)), 1.0),
         ValueError, "points and centers must hold the same number of mixtures, not 2 and 3"),
        (lambda: batched_mixture_log_density(np.zeros((2, 3, 1)), np.zeros((2, 3, 2)), 1.0),
         ValueError, "points and centers must have the same dimension d, not 1 and 2"),
        (lambda: batched_mixture_log_density(np.zeros((2, 3)), np.zeros((2, 3, 2)), 1.0),
         ValueError, "points must have 3 dimensions, not 2 (shape (2, 3))"),
        (lambda: mixture_entropy([[0.0]], 1.0, tol=-1), ValueError,
         "tol must be greater than 0, not -1.0"),
        (lambda: mixture_entropy([[0.0]], 1.0, n_mc=0), ValueError,
         "n_mc must be at least 1, not 0"),
        (lambda: mixture_entropy([[0.0]], 1.0, n_queries=0), ValueError,
         "n_queries must be at least 1, not 0"),
        (lambda: mixture_entropy([[0.0]], 1.0, n_mc=2, n_queries=5), ValueError,
         "give n_queries only with n_mc=1, not n_mc=2"),
        (lambda: mixture_entropy([[0.0]], 1.0, seed=-1), ValueError,
         "seed must be at least 0, not -1"),
        (lambda: mixture_entropy(np.zeros((0, 2)), 1.0), ValueError,
         "centers must have at least 1 row, not 0"),
        (lambda: mixture_entropy([["a"]], 1.0), TypeError,
         "centers must be an array of numbers"),
        (lambda: mixture_entropy([[0.0]], "1"), TypeError,
         "beta must be a real number, not '1'"),
    ],
)
def test_bad_input_is_refused_with_a_message(call, error, message):
    with pytest.raises(error) as info:
        call()
    for part in (message,) if isinstance(message, str) else message:
        assert part in str(info.value)
