"""Binned entropies against counts done by hand and by brute force."""

import math
from collections import Counter

import numpy as np
import pytest
import torch

from estimators import binning
from estimators.binning import binned_entropy, binned_label_mi, per_unit_binned_entropy


def _entropy(counts):
    counts = np.asarray(list(counts), dtype=float)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def _brute_force_entropy(values, bin_size, origin=0.0):
    rows = [tuple(math.floor((v - origin) / bin_size) for v in row) for row in values]
    return _entropy(Counter(rows).values())


def test_tiny_bins_give_log_m_for_m_distinct_points():
    points = np.random.default_rng(0).uniform(-1, 1, size=(500, 3))
    assert binned_entropy(points, 1e-9) == pytest.approx(math.log(500), rel=1e-14)


def test_repeated_points_give_the_entropy_of_their_multiplicities():
    distinct = np.random.default_rng(1).normal(size=(4, 6))
    points = np.repeat(distinct, [1, 2, 3, 4], axis=0)
    assert binned_entropy(points, 1e-6) == pytest.approx(_entropy([1, 2, 3, 4]), rel=1e-14)


def test_one_huge_bin_gives_zero():
    points = np.tanh(np.random.default_rng(2).normal(size=(300, 4)))
    assert binned_entropy(points, 10.0, origin=-1.0) == 0.0
    assert binned_entropy(points, edges=[-1.0, 1.0]) == 0.0


def test_entropy_never_rises_when_the_bin_grows_by_doubling():
    layer = np.tanh(3 * np.random.default_rng(3).normal(size=(400, 2)))
    sizes = [2.0**-k for k in range(0, 16)]
    values = [binned_entropy(layer, b, origin=-1.0) for b in sizes]
    assert all(coarse <= fine for coarse, fine in zip(values, values[1:], strict=False))

    # Halving from the same origin refines the partition: each fine bin lies in one coarse bin.
    coarse = np.floor((layer + 1.0) / 0.25)
    fine = np.floor((layer + 1.0) / 0.125)
    np.testing.assert_array_equal(np.floor(fine / 2), coarse)
    assert values[0] < values[-1] == pytest.approx(math.log(400))


def test_matches_brute_force_counting():
    values = np.random.default_rng(4).normal(size=(200, 3))
    for bin_size, origin in [(0.3, 0.0), (0.7, 0.05), (2.0, -1.0)]:
        assert binned_entropy(values, bin_size, origin=origin) == pytest.approx(
            _brute_force_entropy(values, bin_size, origin), rel=1e-12
        )


def test_relu_values_up_to_fifty_stay_apart():
    values = np.array([[0.0], [0.0], [0.0], [10.2], [20.7], [35.1], [49.9]])

    # Bins [0, 0.5), [10, 10.5), [20.5, 21), [35, 35.5), [49.5, 50): counts 3, 1, 1, 1, 1.
    expected = _entropy([3, 1, 1, 1, 1])
    assert binned_entropy(values, 0.5) == pytest.approx(expected, rel=1e-14)
    assert binned_entropy(values, 0.5, value_range=(0.0, 50.0)) == pytest.approx(expected)

    # A grid of equal bins over [0, 5] would need every value above 5 in the last bin instead.
    relu = np.maximum(np.random.default_rng(5).normal(0, 20, size=(1000, 2)), 0)
    assert relu.max() > 50
    assert binned_entropy(relu, 1e-6) == pytest.approx(_brute_force_entropy(relu, 1e-6), rel=1e-12)


def test_two_bins_of_fig_13_are_right_closed():
    values = np.array([-1.0, -0.5, 0.0, 0.3, 1.0])

    # [-1, 0] holds -1, -0.5 and 0; (0, 1] holds 0.3 and 1.
    assert binned_entropy(values, edges=[-1.0, 0.0, 1.0]) == pytest.approx(_entropy([3, 2]))
    layer = np.array([[-1.0, 0.0], [0.0, -0.2], [0.5, 0.5], [1.0, 0.1]])
    assert binned_entropy(layer, edges=[-1, 0, 1]) == pytest.approx(_entropy([2, 2]))
    np.testing.assert_allclose(
        per_unit_binned_entropy(layer, edges=[-1, 0, 1]), [_entropy([2, 2]), _entropy([2, 2])]
    )


def test_thirty_equal_bins_over_the_tanh_range_match_numpy_digitize():
    layer = np.tanh(np.random.default_rng(6).normal(size=(300, 2)))
    edges = np.linspace(-1, 1, 31)
    index = np.digitize(layer, edges, right=True)
    expected = _entropy(Counter(map(tuple, index)).values())
    assert binned_entropy(layer, edges=edges) == pytest.approx(expected, rel=1e-12)


def test_per_unit_entropies_equal_the_entropy_of_each_column():
    layer = np.round(np.random.default_rng(7).normal(size=(250, 5)), 1)
    per_unit = per_unit_binned_entropy(layer, 0.25)
    assert per_unit.shape == (5,)
    for j in range(5):
        assert per_unit[j] == pytest.approx(binned_entropy(layer[:, j], 0.25), rel=1e-12)
    assert per_unit_binned_entropy(layer[:, 0], 100.0, origin=-50.0).tolist() == [0.0]


def test_blocks_of_neurons_give_the_same_answer_as_one_block(monkeypatch):
    rng = np.random.default_rng(8)
    layer = np.hstack([np.zeros((60, 7)), rng.integers(0, 2, size=(60, 9)).astype(float)])
    whole = binned_entropy(layer, 0.5)
    whole_units = per_unit_binned_entropy(layer, 0.5)
    labels = rng.integers(0, 3, size=60)
    whole_mi = binned_label_mi(layer, labels, 0.5)

    # Blocks of two neurons: the joint bin is refined eight times.
    monkeypatch.setattr(binning, "_BLOCK_ELEMENTS", 120)
    assert binned_entropy(layer, 0.5) == pytest.approx(whole, rel=1e-14)
    np.testing.assert_allclose(per_unit_binned_entropy(layer, 0.5), whole_units, rtol=1e-14)
    assert binned_label_mi(layer, labels, 0.5) == pytest.approx(whole_mi, rel=1e-14)
    assert whole == pytest.approx(_brute_force_entropy(layer, 0.5), rel=1e-12)


def test_a_tensor_on_a_device_gives_the_numpy_result(device):
    layer = np.maximum(np.random.default_rng(12).normal(0, 5, size=(300, 4)), 0)
    labels = np.arange(300) % 3
    on_device = torch.as_tensor(layer, device=device)
    assert binned_entropy(on_device, 0.5) == binned_entropy(layer, 0.5)
    assert binned_entropy(on_device, edges=[0, 1, 2, 50]) == binned_entropy(
        layer, edges=[0, 1, 2, 50]
    )
    np.testing.assert_array_equal(
        per_unit_binned_entropy(on_device, 0.5), per_unit_binned_entropy(layer, 0.5)
    )
    assert binned_label_mi(on_device, labels, 0.5) == binned_label_mi(layer, labels, 0.5)


def test_torch_float32_input_gives_the_numpy_result():
    layer = np.tanh(np.random.default_rng(9).normal(size=(300, 3))).astype(np.float32)
    assert binned_entropy(torch.from_numpy(layer), 0.05) == binned_entropy(layer, 0.05)


def test_label_mi_matches_counting_and_is_at_most_the_label_entropy():
    rng = np.random.default_rng(10)
    layer = rng.normal(size=(400, 2))
    labels = rng.integers(0, 4, size=400)
    bins = [tuple(row) for row in np.floor(layer / 0.8).astype(int)]
    h_bins = _entropy(Counter(bins).values())
    h_labels = _entropy(Counter(labels.tolist()).values())
    h_joint = _entropy(Counter(zip(bins, labels.tolist(), strict=True)).values())

    value = binned_label_mi(layer, labels, 0.8)
    assert value == pytest.approx(h_bins + h_labels - h_joint, rel=1e-12)
    assert 0.0 <= value <= h_labels
    assert binned_label_mi(layer, torch.from_numpy(labels), 100.0, origin=-50.0) == 0.0


def test_label_mi_equals_the_label_entropy_when_the_bins_separate_the_classes():
    labels = np.repeat([0, 1, 2], [10, 20, 30])
    layer = labels[:, None] + np.random.default_rng(11).uniform(0, 0.5, size=(60, 1))
    assert binned_label_mi(layer, labels, 1.0) == pytest.approx(_entropy([10, 20, 30]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "exactly one of bin_size and edges must be given, not neither"),
        ({"bin_size": 0.1, "edges": [0, 1]}, "exactly one of bin_size and edges .* not both"),
        ({"bin_size": 0.0}, "bin_size must be greater than 0, not 0.0"),
        ({"bin_size": float("inf")}, "bin_size must be finite, not inf"),
        ({"edges": [0.0, 0.5, 0.5, 1.0]}, "edges must be strictly increasing, not 0.5 followed"),
        ({"edges": [0.0]}, "edges must have at least 2 entries, not 1"),
        ({"edges": [0.0, 0.5]}, r"activations must lie within the edges \[0, 0.5\]"),
        ({"bin_size": 0.1, "value_range": (0, 0.5)}, r"must lie within value_range \[0, 0.5\]"),
        ({"bin_size": 0.1, "value_range": (1, 0)}, "value_range must satisfy lo < hi"),
        ({"bin_size": 0.1, "value_range": 1.0}, "value_range must be a pair"),
        ({"bin_size": 0.1, "origin": float("nan")}, "origin must be finite, not nan"),
        ({"bin_size": 1e-300}, "bin_size must be at least"),
    ],
)
def test_bad_bins_are_rejected_with_a_message(kwargs, message):
    layer = np.array([[0.0, 0.2], [0.9, 0.4]])
    with pytest.raises(ValueError, match=message):
        binned_entropy(layer, **kwargs)


def test_bad_activations_and_labels_are_rejected_with_a_message():
    with pytest.raises(ValueError, match="activations must contain only finite values"):
        binned_entropy([[0.0], [float("nan")]], 0.1)
    with pytest.raises(ValueError, match=r"one replica per input, not \(4, 2, 3\).*samples\[:, 0"):
        binned_entropy(np.zeros((4, 2, 3)), 0.1)
    with pytest.raises(ValueError, match="activations must not be empty"):
        per_unit_binned_entropy(np.zeros((3, 0)), 0.1)
    with pytest.raises(ValueError, match=r"labels must have one entry per input \(2\), not 3"):
        binned_label_mi([[0.0], [1.0]], [0, 1, 1], 0.1)
    with pytest.raises(TypeError, match="bin_size must be a real number"):
        binned_entropy([[0.0]], "0.1")
