"""The kNN and KDE entropy baselines against closed-form entropies and exact invariances."""

import math
import warnings

import numpy as np
import pytest
import torch

from estimators.baselines import (
    kde_entropy,
    knn_entropy,
    select_kde_bandwidth,
    silverman_bandwidth,
)


def _gaussian(d, n=2000, seed=0):
    """Samples of N(0, diag(0.5 .. 2)) and their entropy d/2 log(2 pi e) + 1/2 log det."""
    variances = np.linspace(0.5, 2.0, d)
    samples = np.random.default_rng(seed).normal(size=(n, d)) * np.sqrt(variances)
    entropy = 0.5 * d * math.log(2 * math.pi * math.e) + 0.5 * np.log(variances).sum()
    return samples, entropy


# Tolerances are about three standard deviations of each estimator at n = 2000, measured over
# independent seeds (kNN: 0.03 nats at d = 1, 0.04 at d = 3; KDE: 0.02 at d = 1, 2).
@pytest.mark.parametrize("d, tolerance", [(1, 0.1), (2, 0.1), (3, 0.15)])
def test_knn_entropy_of_a_gaussian(d, tolerance):
    samples, entropy = _gaussian(d, seed=d)
    assert knn_entropy(samples) == pytest.approx(entropy, abs=tolerance)
    assert knn_entropy(samples, k=4) == pytest.approx(entropy, abs=tolerance)


def test_knn_entropy_of_a_uniform_square_is_near_zero():
    samples = np.random.default_rng(1).uniform(size=(2000, 2))
    assert knn_entropy(samples, k=3) == pytest.approx(0.0, abs=0.06)


def test_knn_entropy_shifts_by_d_log_a_under_scaling():
    samples, _ = _gaussian(3, n=500)
    base = knn_entropy(samples, k=2)
    assert knn_entropy(2.5 * samples + 7.0, k=2) == pytest.approx(
        base + 3 * math.log(2.5), abs=1e-10
    )


def test_knn_entropy_accepts_torch_and_one_dimensional_input():
    samples, _ = _gaussian(1, n=300)
    expected = knn_entropy(samples)
    assert knn_entropy(torch.from_numpy(samples[:, 0])) == pytest.approx(expected, rel=1e-14)


def test_knn_entropy_rejects_duplicates_and_bad_k():
    samples = np.repeat(np.random.default_rng(2).normal(size=(50, 2)), 2, axis=0)
    with pytest.raises(
        ValueError, match="100 of 100 samples have their 1-th nearest neighbour at"
    ):
        knn_entropy(samples)
    assert math.isfinite(knn_entropy(samples, k=2))
    with pytest.raises(
        ValueError, match=r"k must be less than the number of samples \(100\), not 100"
    ):
        knn_entropy(samples, k=100)
    with pytest.raises(ValueError, match="k must be at least 1, not 0"):
        knn_entropy(samples, k=0)
    with pytest.raises(ValueError, match="samples must have at least 2 rows, not 1"):
        knn_entropy(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="samples must contain only finite values"):
        knn_entropy(np.array([[0.0], [np.nan], [1.0]]))


@pytest.mark.parametrize("d", [1, 2])
def test_kde_entropy_with_a_cross_validated_bandwidth(d):
    samples, entropy = _gaussian(d, seed=10 + d)
    # A coarse grid keeps the test quick; the default grid is exercised below.
    grid = silverman_bandwidth(samples) * 2.0 ** np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    bandwidth = select_kde_bandwidth(samples, grid, seed=0)
    assert kde_entropy(samples, bandwidth) == pytest.approx(entropy, abs=0.06)
    assert kde_entropy(samples, bandwidth, method="von_mises", seed=0) == pytest.approx(
        entropy, abs=0.08
    )


def test_kde_entropy_chooses_its_own_bandwidth_when_none_is_given():
    samples, entropy = _gaussian(1, n=600, seed=3)
    grid = silverman_bandwidth(samples) * np.array([0.5, 0.7, 1.0, 1.4, 2.0])
    chosen = select_kde_bandwidth(samples, grid, seed=4)
    value = kde_entropy(samples, bandwidths=grid, seed=4)
    assert value == kde_entropy(samples, chosen)
    assert value == pytest.approx(entropy, abs=0.08)


def test_kde_entropy_on_a_device_matches_numpy(device):
    samples, _ = _gaussian(2, n=300, seed=7)
    on_device = torch.as_tensor(samples, device=device)
    for method in ("loo", "von_mises"):
        expected = kde_entropy(samples, 0.3, method=method, seed=2)
        assert kde_entropy(on_device, 0.3, method=method, seed=2) == pytest.approx(
            expected, rel=1e-12
        )
    assert select_kde_bandwidth(on_device, seed=1) == select_kde_bandwidth(samples, seed=1)


def test_leave_one_out_kde_matches_a_direct_evaluation():
    samples = np.random.default_rng(5).normal(size=(40, 2))
    h = 0.3
    squared = ((samples[:, None, :] - samples[None, :, :]) ** 2).sum(-1)
    kernel = np.exp(-squared / (2 * h**2)) / (2 * math.pi * h**2)
    np.fill_diagonal(kernel, 0.0)
    expected = -np.mean(np.log(kernel.sum(1) / 39))
    assert kde_entropy(samples, h) == pytest.approx(expected, rel=1e-12)


def test_kde_entropy_shifts_by_d_log_a_when_samples_and_bandwidth_scale():
    samples, _ = _gaussian(2, n=400)
    base = kde_entropy(samples, 0.2)
    scaled = kde_entropy(3.0 * samples - 1.0, 0.6)
    assert scaled == pytest.approx(base + 2 * math.log(3.0), abs=1e-10)
    vm = kde_entropy(samples, 0.2, method="von_mises", seed=1)
    assert kde_entropy(3.0 * samples, 0.6, method="von_mises", seed=1) == pytest.approx(
        vm + 2 * math.log(3.0), abs=1e-10
    )


def test_kde_at_a_tiny_bandwidth_loses_no_precision():
    # Two well separated clusters of two points: each point's leave-one-out density is its
    # partner's kernel over n - 1 = 3, so h = log 3 - log N(0.001; 0, h^2) (the far pair
    # adds exp(-5e9), nothing).
    samples = np.array([[0.0], [1e-3], [10.0], [10.001]])
    h = 1e-4
    expected = math.log(3) + 0.5 * math.log(2 * math.pi * h**2) + (1e-3) ** 2 / (2 * h**2)
    assert kde_entropy(samples, h) == pytest.approx(expected, rel=1e-9)


def test_selected_bandwidth_is_near_silvermans_rule_on_a_gaussian():
    samples, _ = _gaussian(1, seed=6)
    silverman = silverman_bandwidth(samples)
    assert silverman == pytest.approx(1.06 * samples.std(ddof=1) * 2000 ** (-0.2), rel=1e-2)
    chosen = select_kde_bandwidth(samples, seed=0)
    assert silverman / 2 <= chosen <= 2 * silverman


def test_bandwidth_at_the_edge_of_the_grid_warns():
    samples, _ = _gaussian(1, n=200)
    with pytest.warns(UserWarning, match="at the edge of the candidates"):
        chosen = select_kde_bandwidth(samples, [1e-4, 1e-3], seed=0)
    assert chosen == 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert select_kde_bandwidth(samples, [0.3], seed=0) == 0.3


def test_kde_rejects_bad_options():
    samples, _ = _gaussian(1, n=20)
    with pytest.raises(ValueError, match="method must be one of 'loo', 'von_mises', not 'plugin'"):
        kde_entropy(samples, 0.1, method="plugin")
    with pytest.raises(ValueError, match="bandwidth must be greater than 0, not -0.1"):
        kde_entropy(samples, -0.1)
    with pytest.raises(ValueError, match="bandwidths must all be greater than 0, not 0.0"):
        select_kde_bandwidth(samples, [0.1, 0.0])
    with pytest.raises(ValueError, match="n_folds must be at least 2, not 1"):
        select_kde_bandwidth(samples, n_folds=1)
    with pytest.raises(ValueError, match="samples must have at least 5 rows, not 3"):
        select_kde_bandwidth(samples[:3])
    with pytest.raises(ValueError, match="seed must be at least 0, not -3"):
        kde_entropy(samples, 0.1, seed=-3)
    with pytest.raises(ValueError, match="samples must not all be equal"):
        silverman_bandwidth(np.ones((10, 2)))
