"""Pairwise-distance histograms and cosine similarity against brute-force references."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist

from estimators import geometry
from estimators.geometry import cosine_similarity, distance_histograms


def _brute_force(points, labels, edges):
    flat = points.reshape(len(points), -1)
    distances = pdist(flat)
    i, j = np.triu_indices(len(flat), k=1)
    same = labels[i] == labels[j]
    within, _ = np.histogram(distances[same], bins=edges)
    between, _ = np.histogram(distances[~same], bins=edges)
    return distances, within, between


@pytest.fixture
def small_case():
    rng = np.random.default_rng(0)
    return rng.normal(size=(120, 2, 3)), rng.integers(0, 3, size=120)


def test_counts_equal_a_brute_force_histogram(small_case, device):
    points, labels = small_case
    result = distance_histograms(torch.as_tensor(points, device=device), labels, bins=25)
    distances, within, between = _brute_force(points, labels, result.edges)

    assert result.edges[0] == 0.0
    assert result.edges[-1] == pytest.approx(distances.max(), rel=1e-12)
    np.testing.assert_array_equal(result.within, within)
    np.testing.assert_array_equal(result.between, between)
    assert result.within.sum() + result.between.sum() == 120 * 119 // 2 == result.n_pairs
    assert result.outside == 0


def test_a_given_range_drops_the_pairs_outside_it(small_case):
    points, labels = small_case
    result = distance_histograms(points, labels, bins=10, range=(1.0, 3.0))
    distances, within, between = _brute_force(points, labels, np.linspace(1.0, 3.0, 11))

    np.testing.assert_array_equal(result.within, within)
    np.testing.assert_array_equal(result.between, between)
    assert result.outside == int(((distances < 1.0) | (distances > 3.0)).sum()) > 0
    assert result.within.sum() + result.between.sum() + result.outside == result.n_pairs


def test_explicit_edges_are_used_as_given(small_case):
    points, labels = small_case
    edges = np.array([0.0, 0.5, 2.0, 2.5, 10.0])
    result = distance_histograms(points, labels, bins=edges)
    _, within, between = _brute_force(points, labels, edges)
    np.testing.assert_array_equal(result.edges, edges)
    np.testing.assert_array_equal(result.within, within)
    np.testing.assert_array_equal(result.between, between)


def test_ten_thousand_points_never_form_the_full_distance_matrix(monkeypatch):
    rng = np.random.default_rng(1)
    n = 10_000
    points = rng.normal(size=(n, 2))
    labels = rng.integers(0, 10, size=n)

    largest_block = 0
    cdist = torch.cdist

    def recording_cdist(x1, x2, **kwargs):
        nonlocal largest_block
        largest_block = max(largest_block, x1.shape[0] * x2.shape[0])
        return cdist(x1, x2, **kwargs)

    monkeypatch.setattr(geometry.torch, "cdist", recording_cdist)
    result = distance_histograms(points, labels, bins=50, range=(0.0, 12.0))

    assert result.within.sum() + result.between.sum() + result.outside == n * (n - 1) // 2
    assert result.outside == 0
    assert largest_block <= geometry._BLOCK_ELEMENTS + n
    assert largest_block < n * n // 20

    # About one pair in ten shares a label.
    fraction = result.within.sum() / result.n_pairs
    assert fraction == pytest.approx(0.1, abs=0.005)


def test_sampled_pairs_follow_the_full_histogram():
    rng = np.random.default_rng(2)
    points, labels = rng.normal(size=(400, 3)), rng.integers(0, 3, size=400)
    full = distance_histograms(points, labels, bins=8, range=(0.0, 7.0)).to_density()
    sampled = distance_histograms(
        points, labels, bins=8, range=(0.0, 7.0), max_pairs=20_000, seed=3
    )
    assert sampled.n_pairs == 20_000 == sampled.within.sum() + sampled.between.sum()

    # 20 000 draws: each density within a few standard errors of the full one.
    density = sampled.to_density()
    np.testing.assert_allclose(density.between, full.between, atol=0.02)
    np.testing.assert_allclose(density.within, full.within, atol=0.04)

    again = distance_histograms(points, labels, bins=8, range=(0.0, 7.0), max_pairs=20_000, seed=3)
    np.testing.assert_array_equal(again.within, sampled.within)
    unseeded = distance_histograms(points, labels, bins=8, max_pairs=5_000)
    assert unseeded.within.sum() + unseeded.between.sum() == 5_000
    assert unseeded.outside == 0


def test_density_integrates_to_one_and_an_empty_histogram_stays_zero():
    points = np.random.default_rng(4).normal(size=(50, 3))
    result = distance_histograms(points, np.zeros(50), bins=12, density=True)
    counts = distance_histograms(points, np.zeros(50), bins=12)
    np.testing.assert_allclose(result.within, counts.to_density().within, rtol=1e-15)
    widths = np.diff(result.edges)
    assert (result.within * widths).sum() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_array_equal(result.between, np.zeros(12))
    np.testing.assert_allclose(result.centers, result.edges[:-1] + widths / 2)


def test_identical_points_give_one_bin_of_zero_distances():
    result = distance_histograms(np.ones((5, 4)), [0, 0, 1, 1, 1], bins=4)
    np.testing.assert_array_equal(result.edges, [0.0, 0.25, 0.5, 0.75, 1.0])
    assert result.within.tolist() == [4, 0, 0, 0]
    assert result.between.tolist() == [6, 0, 0, 0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"bins": 0}, "bins must be at least 1, not 0"),
        ({"bins": [1.0]}, "bins must be a count or at least 2 edges, not 1 edges"),
        ({"bins": [0.0, 2.0, 1.0]}, "bins must be a count or strictly increasing edges"),
        ({"bins": [0.0, 1.0], "range": (0, 1)}, "range must be None when bins gives the edges"),
        ({"range": (2.0, 1.0)}, r"range must satisfy lo < hi with both finite, not \(2.0, 1.0\)"),
        ({"range": 3.0}, "range must be a pair"),
        ({"max_pairs": 0}, "max_pairs must be at least 1, not 0"),
        ({"seed": -1}, "seed must be at least 0, not -1"),
    ],
)
def test_bad_histogram_options_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        distance_histograms(np.zeros((4, 2)), [0, 1, 0, 1], **kwargs)


def test_bad_points_and_labels_are_rejected():
    with pytest.raises(TypeError, match="density must be True or False, not 'yes'"):
        distance_histograms(np.zeros((3, 2)), [0, 1, 0], density="yes")
    with pytest.raises(ValueError, match="points must have at least 2 rows to form a pair, not 1"):
        distance_histograms(np.zeros((1, 3)), [0])
    with pytest.raises(ValueError, match=r"labels must have one entry per input \(3\), not 2"):
        distance_histograms(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="points must contain only finite values"):
        distance_histograms(np.array([[0.0], [np.inf]]), [0, 1])


def test_cosine_of_identical_negated_and_orthogonal_representations(device):
    a = torch.as_tensor(np.random.default_rng(5).normal(size=(40, 3, 4, 4)), device=device)
    np.testing.assert_allclose(cosine_similarity(a, a), np.ones(40), atol=1e-14)
    np.testing.assert_allclose(cosine_similarity(a, -a), -np.ones(40), atol=1e-14)
    np.testing.assert_allclose(cosine_similarity(a, 7.5 * a), np.ones(40), atol=1e-14)

    e1 = np.array([[1.0, 0.0, 0.0]])
    e2 = np.array([[0.0, 2.0, 0.0]])
    assert cosine_similarity(e1, e2).tolist() == [0.0]
    assert cosine_similarity(e1, e1 + e2)[0] == pytest.approx(1 / np.sqrt(5), rel=1e-14)


def test_cosine_matches_the_definition_and_survives_extreme_scales():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(30, 8)), rng.normal(size=(30, 8))
    expected = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(cosine_similarity(a, b), expected, rtol=1e-12)
    np.testing.assert_allclose(cosine_similarity(1e-200 * a, 1e200 * b), expected, rtol=1e-12)
    assert cosine_similarity(torch.from_numpy(a).float(), b).dtype == np.float64


def test_cosine_by_blocks_of_rows_equals_one_block(monkeypatch):
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(25, 2, 3)), rng.normal(size=(25, 2, 3))
    whole = cosine_similarity(a, b)
    monkeypatch.setattr(geometry, "_BLOCK_ELEMENTS", 12)
    np.testing.assert_array_equal(cosine_similarity(torch.from_numpy(a), b), whole)


def test_cosine_with_a_zero_vector_is_nan():
    a = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    b = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    assert np.isnan(cosine_similarity(a, b)).all()


def test_cosine_rejects_mismatched_shapes_and_bad_values():
    with pytest.raises(
        ValueError, match=r"a and b must have the same shape, not \(3, 4\) and \(3, 2, 2\)"
    ):
        cosine_similarity(np.ones((3, 4)), np.ones((3, 2, 2)))
    with pytest.raises(ValueError, match="b must contain only finite values"):
        cosine_similarity(np.ones((2, 2)), np.array([[1.0, np.nan], [1.0, 1.0]]))
