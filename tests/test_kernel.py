"""The pruned mixture kernel against an exact float64 log-sum-exp.

The kernel promises 0 <= exact - pruned <= -log(1 - tol) (plus float64 rounding); every
comparison below checks both sides of that promise.
"""

import math
import threading

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from estimators import batched_mixture_log_density, mixture_log_density
from estimators._kernel import (
    _PARALLEL_PAIRS,
    BLOCK_SIZE,
    batched_log_sum,
    batched_pruned_log_sum,
    pruned_log_sum,
)


def exact_log_sum(points, centers, beta):
    """log sum_j exp(-|q - c_j|^2 / (2 beta^2)) from coordinate differences, in float64."""
    points = np.asarray(points, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64)
    dist = ((points[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return logsumexp(-dist / (2.0 * beta**2), axis=1)


def assert_within_bound(pruned, exact, tol):
    """The pruned value is never above the exact one and at most -log(1 - tol) below it."""
    # float64 rounding of exponents of size |exact| on both sides.
    slack = 1e-12 * np.maximum(1.0, np.abs(exact))
    gap = exact - pruned
    assert np.all(gap >= -slack), float(gap.min())
    assert np.all(gap <= -math.log1p(-tol) + slack), float(gap.max())


def tanh_cloud(rng, n, d):
    return np.tanh(2.0 * rng.standard_normal((n, d)))


def queries_near(rng, centers, beta, count):
    picks = rng.integers(0, len(centers), count)
    return centers[picks] + beta * rng.standard_normal((count, centers.shape[1]))


@pytest.mark.parametrize("tol", [1e-6, 1e-2])
@pytest.mark.parametrize(
    "n, d, beta",
    [
        (1, 3, 0.1),  # a single centre
        (5, 2, 0.01),  # fewer centres than one block
        (BLOCK_SIZE, 4, 0.1),  # exactly one full block
        (BLOCK_SIZE + 1, 4, 0.05),  # one centre in a second block
        (700, 1, 0.001),
        (1500, 2, 1e-4),  # tiny beta
        (1000, 5, 0.005),
        (1200, 8, 0.05),
        (900, 12, 0.3),
    ],
)
def test_pruned_matches_exact_within_the_bound(n, d, beta, tol):
    rng = np.random.default_rng(n * 100 + d)
    centers = tanh_cloud(rng, n, d)
    points = queries_near(rng, centers, beta, 150)
    points[:5] += 3.0  # far outliers: every centre is far, the sum must stay stable
    points[5:10] = rng.uniform(-1.0, 1.0, (5, d))  # between the centres

    pruned = pruned_log_sum(points, centers, beta, tol=tol)
    assert_within_bound(pruned, exact_log_sum(points, centers, beta), tol)


@pytest.mark.parametrize("tol", [1e-6, 1e-2])
def test_dense_cloud_where_the_running_sum_tightens_the_threshold(tol):
    # Thousands of centres within a few beta of each query: the running sum grows large,
    # which tightens the skip threshold; the bound must still hold.
    rng = np.random.default_rng(11)
    centers = 0.05 * rng.standard_normal((6000, 3))
    points = queries_near(rng, centers, 0.01, 200)

    pruned = pruned_log_sum(points, centers, 0.01, tol=tol)
    assert_within_bound(pruned, exact_log_sum(points, centers, 0.01), tol)


def test_polynomial_exp_is_accurate_over_the_kept_range():
    # Two centres: the nearer contributes 1 and the other exp(-s) with s its exponent gap,
    # so the kernel's log-sum minus the nearer's exponent is log(1 + exp(-s)).
    beta = 0.1
    gaps = np.linspace(0.0, 30.0, 601)
    for s in gaps:
        radius = math.sqrt(2 * beta**2 * s)
        centers = np.array([[0.0], [radius]])
        got = pruned_log_sum(np.zeros((1, 1)), centers, beta, tol=1e-15)[0]
        # 4e-16: rounding of 1 + exp(-s) before the logarithm and of the gap itself.
        assert abs(got - math.log1p(math.exp(-s))) <= 2e-14 * math.exp(-s) + 4e-16, s


def test_duplicate_centres_give_log_n_plus_one_gaussian():
    rng = np.random.default_rng(3)
    centre = rng.standard_normal(6)
    centers = np.repeat(centre[None], 300, axis=0)
    points = centre + 0.02 * rng.standard_normal((40, 6))
    expected = math.log(300) - ((points - centre) ** 2).sum(axis=1) / (2 * 0.01**2)

    np.testing.assert_allclose(
        pruned_log_sum(points, centers, 0.01), expected, rtol=1e-12, atol=1e-12
    )


def test_many_duplicates_among_distinct_centres():
    rng = np.random.default_rng(4)
    distinct = tanh_cloud(rng, 40, 3)
    centers = distinct[rng.integers(0, 40, 2000)]  # every centre about 50 times
    points = queries_near(rng, centers, 0.01, 200)

    pruned = pruned_log_sum(points, centers, 0.01)
    assert_within_bound(pruned, exact_log_sum(points, centers, 0.01), 1e-6)


def test_far_outlier_centre_does_not_disturb_the_rest():
    rng = np.random.default_rng(5)
    centers = tanh_cloud(rng, 500, 4)
    centers[17] = 1e6  # its term underflows for every query near the cloud
    points = queries_near(rng, centers[:17], 0.05, 50)
    points = np.vstack([points, [[1e6 + 0.01, 1e6, 1e6, 1e6]]])  # a query at the outlier

    pruned = pruned_log_sum(points, centers, 0.05)
    assert_within_bound(pruned, exact_log_sum(points, centers, 0.05), 1e-6)
    assert pruned[-1] == pytest.approx(-0.01**2 / (2 * 0.05**2), abs=1e-9)


@pytest.mark.parametrize("n_far", [1, 3 * BLOCK_SIZE])
def test_skips_exactly_the_centres_the_bound_allows(n_far):
    # Centres at 0 and a cluster at distance r: the cluster's terms each weigh
    # w = exp(-r^2 / (2 beta^2)) relative to the one at 0. They are dropped when
    # w < tol / n, costing log(1 + n_far w) nats, and kept (error ~ 0) otherwise.
    beta, tol = 0.1, 1e-3
    n = 1 + n_far
    threshold = math.sqrt(2 * beta**2 * math.log(n / tol))
    for radius, dropped in [(threshold * 1.001, True), (threshold * 0.999, False)]:
        centers = np.zeros((n, 2))
        centers[1:, 0] = radius
        point = np.zeros((1, 2))
        exact = exact_log_sum(point, centers, beta)[0]
        pruned = pruned_log_sum(point, centers, beta, tol=tol)[0]
        lost = math.log1p(n_far * math.exp(-(radius**2) / (2 * beta**2)))
        if dropped:
            assert exact - pruned == pytest.approx(lost, rel=1e-9)
            assert exact - pruned < -math.log1p(-tol)
        else:
            assert abs(exact - pruned) < 1e-13


@pytest.mark.parametrize("tol", [1e-6, 1e-3, 0.1])
def test_threshold_follows_a_nearer_centre_found_in_a_later_block(tol):
    # In units where the exponent is the squared distance: the walk first meets a block
    # of 64 equal centres at 14 (nearer along the split), which makes the running sum 64;
    # the next block holds the nearest centre, at 4, and 63 centres whose exponent
    # relative to it is s = ln(n / tol) - ln 64 + 0.01. Measured from the new nearest
    # centre the first block weighs almost nothing, so the threshold becomes about
    # ln(n / tol) > s and the 63 terms are kept. A threshold left at ln(n / tol) - ln 64,
    # as it stood before the nearer centre was found, dropped them: an error of 31 tol.
    beta, n = 1.0 / math.sqrt(2.0), 2 * BLOCK_SIZE
    s = math.log(n / tol) - math.log(BLOCK_SIZE) + 0.01
    far = np.tile([-1.0, math.sqrt(13.0)], (BLOCK_SIZE, 1))
    near = np.array([[2.0, 0.0]] + [[2.0 + math.sqrt(4.0 + s) - 2.0, 0.0]] * (BLOCK_SIZE - 1))
    centers = np.vstack([far, near])
    point = np.zeros((1, 2))

    exact = exact_log_sum(point, centers, beta)
    pruned = pruned_log_sum(point, centers, beta, tol=tol)
    assert_within_bound(pruned, exact, tol)
    # Every dropped term lies beyond the threshold, so the 63 near ones are kept.
    assert exact[0] - pruned[0] < 1e-12


def test_float32_screening_keeps_every_term_inside_the_threshold():
    # The query sits on a centre at 1024 (so the nearest distance is 0) and 2 blocks of
    # centres lie on one axis just inside the skip threshold r*. float32 spaces numbers
    # near 1024 by 2^-13, and these centres are placed so that float32 rounds every one of
    # them to the grid point just beyond r*: a screen without its rounding margin would
    # drop both blocks. They must all be kept, so the result is exact, not merely within
    # the tolerance (each term is worth about tol / n, so dropping them stays inside it).
    d, n_far, tol = 16, 2 * BLOCK_SIZE, 1e-3
    grid = 2.0**-13
    threshold = 40 * grid - 1e-5  # r*, 1e-5 below a float32 grid point
    beta = threshold / math.sqrt(2 * math.log((1 + n_far) / tol))
    radii = np.linspace(threshold - 4e-5, threshold - 1e-6, n_far)
    offset = np.full(d, 1024.0)
    centers = np.repeat(offset[None], 1 + n_far, axis=0)
    centers[1:, 0] += radii
    assert np.all((centers[1:, 0].astype(np.float32) - 1024.0) ** 2 > threshold**2)
    screened = np.zeros((1, 1), np.int64)

    got = batched_log_sum(offset[None, None], centers[None], beta, tol, blocks_screened=screened)
    exact = exact_log_sum(offset[None], centers, beta)
    assert abs(got[0, 0] - exact[0]) < 1e-12
    assert screened[0, 0] == 0  # every block holds terms inside the threshold


def test_float32_screening_is_off_where_float32_could_overflow():
    rng = np.random.default_rng(14)
    centers = tanh_cloud(rng, 600, 16)
    centers[0] = 1e16  # |mu_k| above 1e15
    points = queries_near(rng, centers[1:], 0.05, 40)
    screened = np.zeros((1, 40), np.int64)

    got = batched_log_sum(points[None], centers[None], 0.05, 1e-6, blocks_screened=screened)
    assert_within_bound(got[0], exact_log_sum(points, centers, 0.05), 1e-6)
    assert screened.sum() == 0


def test_float32_screening_does_the_work_in_high_dimensions():
    # The case the screen is for: tanh clouds in d = 24, where most blocks the tree lets
    # through hold no term within the threshold.
    rng = np.random.default_rng(15)
    centers = tanh_cloud(rng, 2048, 24)
    points = queries_near(rng, centers, 0.2, 300)
    visited = np.zeros((1, 300), np.int64)
    screened = np.zeros((1, 300), np.int64)

    got = batched_log_sum(
        points[None], centers[None], 0.2, 1e-6, blocks_visited=visited, blocks_screened=screened
    )
    assert_within_bound(got[0], exact_log_sum(points, centers, 0.2), 1e-6)
    assert screened.sum() > visited.sum()


def test_batched_matches_each_mixture_alone():
    rng = np.random.default_rng(6)
    centers = tanh_cloud(rng, 7 * 150, 3).reshape(7, 150, 3)
    points = np.stack([queries_near(rng, c, 0.02, 9) for c in centers])

    batched = batched_pruned_log_sum(points, centers, 0.02)
    assert batched.shape == (7, 9)
    for k in range(7):
        assert_within_bound(batched[k], exact_log_sum(points[k], centers[k], 0.02), 1e-6)


def test_parallel_path_agrees_with_the_serial_one_and_the_bound():
    # Above _PARALLEL_PAIRS the trees are built and walked on all threads.
    rng = np.random.default_rng(12)
    centers = tanh_cloud(rng, 3000, 2)
    points = queries_near(rng, centers, 0.01, 1500)
    assert len(points) * len(centers) > _PARALLEL_PAIRS

    parallel = pruned_log_sum(points, centers, 0.01)
    assert_within_bound(parallel, exact_log_sum(points, centers, 0.01), 1e-6)
    pieces = [pruned_log_sum(points[i : i + 500], centers, 0.01) for i in range(0, 1500, 500)]
    np.testing.assert_allclose(np.concatenate(pieces), parallel, rtol=0, atol=1e-12)

    batch_centers = tanh_cloud(rng, 40 * 400, 3).reshape(40, 400, 3)
    batch_points = np.stack([queries_near(rng, c, 0.02, 300) for c in batch_centers])
    assert batch_points.size // 3 * 400 > _PARALLEL_PAIRS
    batched = batched_pruned_log_sum(batch_points, batch_centers, 0.02)
    for k in range(0, 40, 7):
        alone = pruned_log_sum(batch_points[k], batch_centers[k], 0.02)
        np.testing.assert_allclose(batched[k], alone, rtol=0, atol=1e-12)
        assert_within_bound(
            batched[k], exact_log_sum(batch_points[k], batch_centers[k], 0.02), 1e-6
        )


def test_batched_small_mixtures_of_one_block():
    rng = np.random.default_rng(7)
    centers = tanh_cloud(rng, 500 * 20, 5).reshape(500, 20, 5)
    points = centers[:, :2] + 0.005 * rng.standard_normal((500, 2, 5))

    batched = batched_pruned_log_sum(points, centers, 0.005)
    exact = np.stack([exact_log_sum(points[k], centers[k], 0.005) for k in range(500)])
    assert_within_bound(batched, exact, 1e-6)


def test_layout_and_dtype_of_the_inputs_do_not_matter():
    rng = np.random.default_rng(8)
    centers = tanh_cloud(rng, 300, 4).astype(np.float32)
    points = queries_near(rng, centers.astype(np.float64), 0.05, 30).astype(np.float32)
    reference = pruned_log_sum(points.astype(np.float64), centers.astype(np.float64), 0.05)

    variants = [
        (points, centers),  # float32
        (np.asfortranarray(points), np.asfortranarray(centers)),
        (np.repeat(points, 2, axis=0)[::2], np.repeat(centers, 2, axis=1)[:, ::2]),  # strided
        (torch.from_numpy(points), torch.from_numpy(centers)),
        (torch.from_numpy(points).T.contiguous().T, torch.from_numpy(centers).double()),
    ]
    for p, c in variants:
        np.testing.assert_array_equal(pruned_log_sum(p, c, 0.05), reference)

    np.testing.assert_allclose(
        pruned_log_sum(np.zeros((2, 1), dtype=np.int64), np.arange(3)[:, None], 1.0),
        math.log(1.0 + math.exp(-0.5) + math.exp(-2.0)),
        rtol=1e-14,
    )


def test_public_functions_route_cpu_input_through_the_kernel_within_tol():
    rng = np.random.default_rng(9)
    centers = tanh_cloud(rng, 2000, 6)
    points = queries_near(rng, centers, 0.01, 300)
    tol = 1e-4

    auto = mixture_log_density(points, centers, 0.01, tol=tol)
    exact = mixture_log_density(points, centers, 0.01, method="exact")
    gap = exact - auto
    assert np.all(gap >= -1e-9) and np.all(gap <= tol + 1e-9)

    batched_auto = batched_mixture_log_density(points[None], centers[None], 0.01, tol=tol)
    np.testing.assert_array_equal(batched_auto[0], auto)


def test_concurrent_calls_from_threads_agree():
    rng = np.random.default_rng(10)
    centers = tanh_cloud(rng, 5000, 3)
    points = queries_near(rng, centers, 0.01, 2000)
    reference = pruned_log_sum(points, centers, 0.01)
    results = [None] * 4

    def work(i):
        results[i] = pruned_log_sum(points, centers, 0.01)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        np.testing.assert_array_equal(result, reference)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: pruned_log_sum([[0.0]], [[0.0]], 0.0), ValueError,
         "beta must be greater than 0, not 0.0"),
        (lambda: pruned_log_sum([[0.0]], [[0.0]], 1.0, tol=-1.0), ValueError,
         "tol must be greater than 0, not -1.0"),
        (lambda: pruned_log_sum([[0.0]], [[0.0]], 1e-160), ValueError,
         "beta must lie between 1e-150 and 1e+150 (1 / (2 beta^2) must stay a finite"),
        (lambda: pruned_log_sum([[0.0]], [[0.0]], 1e152), ValueError, "not 1e+152"),
        (lambda: pruned_log_sum([[0.0, 1.0]], [[0.0]], 1.0), ValueError,
         "must have shapes (m, q, d) and (m, r, d) with the same m and d"),
        (lambda: batched_pruned_log_sum(np.zeros((2, 1, 1)), np.zeros((3, 4, 1)), 1.0),
         ValueError, "with the same m and d, not (2, 1, 1) and (3, 4, 1)"),
        (lambda: pruned_log_sum([[np.nan]], [[0.0]], 1.0), ValueError,
         "points must contain only finite values"),
        (lambda: pruned_log_sum([0.0], [[0.0]], 1.0), ValueError,
         "points must have 2 dimensions, not 1"),
    ],
)
def test_bad_input_is_refused_with_a_message(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)
