"""The data sets: SZT against the reference file and its symmetry, spirals, MNIST and IDX."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from models import data as datasets
from models import mnist_dataset, read_idx, spiral_dataset, spiral_points, szt_dataset, szt_split

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "var_u.mat"


# -- SZT --------------------------------------------------------------------------------


def test_szt_patterns_are_binary_counting_order_msb_first() -> None:
    patterns, labels = szt_dataset()
    assert patterns.shape == (4096, 12) and patterns.dtype == np.uint8
    assert labels.shape == (4096,) and labels.dtype == np.uint8
    weights = 2 ** np.arange(11, -1, -1)
    np.testing.assert_array_equal(patterns.astype(np.int64) @ weights, np.arange(4096))


def test_szt_label_counts_match_the_reference_description() -> None:
    patterns, labels = szt_dataset()
    assert int(labels.sum()) == 2118
    ones_by_popcount = [int(labels[patterns.sum(axis=1) == k].sum()) for k in range(13)]
    assert ones_by_popcount == [0, 0, 0, 0, 0, 60, 532, 732, 495, 220, 66, 12, 1]


@pytest.mark.skipif(not REFERENCE.is_file(), reason=f"reference file {REFERENCE} not present")
def test_szt_equals_reference_file_bit_for_bit() -> None:
    from scipy.io import loadmat

    reference = loadmat(REFERENCE)
    patterns, labels = szt_dataset()
    np.testing.assert_array_equal(patterns, reference["F"])
    np.testing.assert_array_equal(labels, reference["y"].ravel())


def _icosahedron_automorphisms() -> list[tuple[int, ...]]:
    """All permutations of the 12 vertices that map the edge set (orbit A) onto itself."""
    edges = {frozenset(pair) for pair in datasets.SZT_ORBIT_A}
    neighbours = {v: {u for e in edges if v in e for u in e if u != v} for v in range(12)}
    found = []

    def extend(image: list[int]) -> None:
        v = len(image)
        if v == 12:
            found.append(tuple(image))
            return
        for candidate in range(12):
            if candidate in image:
                continue
            if all(
                (frozenset((image[u], candidate)) in edges) == (u in neighbours[v])
                for u in range(v)
            ):
                extend([*image, candidate])

    extend([])
    return found


def test_the_120_icosahedral_permutations_leave_labels_unchanged() -> None:
    patterns, labels = szt_dataset()
    weights = 2 ** np.arange(11, -1, -1)
    automorphisms = _icosahedron_automorphisms()
    assert len(automorphisms) == 120
    for perm in automorphisms:
        permuted = patterns[:, list(perm)]
        np.testing.assert_array_equal(labels[permuted.astype(np.int64) @ weights], labels)

    # A transposition of two adjacent vertices is not a symmetry and must change labels.
    swap = list(range(12))
    swap[0], swap[1] = 1, 0
    assert (labels[patterns[:, swap].astype(np.int64) @ weights] != labels).any()


def test_szt_checksum_detects_a_changed_label(monkeypatch: pytest.MonkeyPatch) -> None:
    real = datasets.szt_labels

    def flipped(patterns: np.ndarray) -> np.ndarray:
        labels = real(patterns).copy()
        labels[100] ^= 1
        return labels

    monkeypatch.setattr(datasets, "szt_labels", flipped)
    with pytest.raises(RuntimeError, match="checksum"):
        szt_dataset()


def test_szt_split_is_seeded_random_80_20_and_estimation_is_all_inputs() -> None:
    data = szt_split(seed=0)
    assert data.train_x.shape == (3277, 12) and data.test_x.shape == (819, 12)
    assert data.estimation_x.shape == (4096, 12)
    assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.int64
    rows = torch.cat([data.train_x, data.test_x]) @ (2.0 ** torch.arange(11, -1, -1))
    assert sorted(rows.long().tolist()) == list(range(4096))
    # Random, not the ordered split of 44 % vs 84 % positives.
    assert abs(float(data.train_y.float().mean()) - 0.517) < 0.03
    assert abs(float(data.test_y.float().mean()) - 0.517) < 0.05
    again, other = szt_split(seed=0), szt_split(seed=1)
    assert torch.equal(again.train_x, data.train_x)
    assert not torch.equal(other.train_x, data.train_x)


def test_szt_labels_reject_bad_patterns() -> None:
    with pytest.raises(ValueError, match=r"patterns must have shape \(n, 12\)"):
        datasets.szt_labels(np.zeros((3, 11), dtype=np.uint8))
    with pytest.raises(ValueError, match="only 0 and 1"):
        datasets.szt_labels(np.full((2, 12), 2))


# -- spirals ----------------------------------------------------------------------------


def test_spiral_points_follow_the_documented_generator() -> None:
    points, labels = spiral_points(n_points=200, turns=1.5, noise=0.0, seed=0)
    assert points.shape == (200, 2) and labels.tolist() == [0] * 100 + [1] * 100
    radius = np.hypot(points[:, 0], points[:, 1])
    np.testing.assert_allclose(radius[:100], (np.arange(100) + 0.5) / 100, atol=1e-12)
    # The second arm is the first one rotated by half a turn.
    np.testing.assert_allclose(points[100:], -points[:100], atol=1e-12)
    angle = np.arctan2(points[:100, 1], points[:100, 0])
    np.testing.assert_allclose(np.cos(angle), np.cos(2 * np.pi * 1.5 * radius[:100]), atol=1e-9)


def test_spiral_noise_has_the_stated_standard_deviation() -> None:
    clean, _ = spiral_points(n_points=20000, noise=0.0, seed=3)
    noisy, _ = spiral_points(n_points=20000, noise=0.05, seed=3)
    assert abs(float(np.std(noisy - clean)) - 0.05) < 0.002


def test_spiral_dataset_splits_and_is_seeded() -> None:
    data = spiral_dataset(seed=0)
    assert data.train_x.shape == (800, 2) and data.test_x.shape == (200, 2)
    assert data.estimation_x.shape == (1000, 2) and data.n_classes == 2
    assert torch.equal(spiral_dataset(seed=0).train_x, data.train_x)
    assert not torch.equal(spiral_dataset(seed=1).train_x, data.train_x)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_points": 7}, "n_points must be even, not 7"),
        ({"n_points": 2}, "n_points must be at least 4, not 2"),
        ({"turns": 0}, "turns must be greater than 0, not 0.0"),
        ({"noise": -1}, "noise must be at least 0, not -1.0"),
    ],
)
def test_spiral_rejects_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spiral_points(**kwargs)


# -- MNIST ------------------------------------------------------------------------------


def test_mnist_digits_split_is_seeded_shuffled_4000_1000() -> None:
    data = mnist_dataset(seed=0)
    assert data.train_x.shape == (4000, 1, 28, 28) and data.test_x.shape == (1000, 1, 28, 28)
    assert data.train_x.dtype == torch.float32
    assert float(data.train_x.min()) == 0.0 and float(data.train_x.max()) == 1.0
    counts = torch.bincount(data.test_y, minlength=10)
    # Shuffled: every digit appears in the test set about 100 times, not only 8s and 9s.
    assert int(counts.min()) > 60 and int(counts.max()) < 140
    assert torch.equal(data.estimation_x, data.test_x)
    assert torch.equal(mnist_dataset(seed=0).train_y, data.train_y)
    assert not torch.equal(mnist_dataset(seed=1).train_y, data.train_y)


def _write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


@pytest.fixture
def idx_folder(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    arrays = {
        "train_x": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "train_y": rng.integers(0, 10, 12, dtype=np.uint8),
        "test_x": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "test_y": rng.integers(0, 10, 5, dtype=np.uint8),
    }
    for key, stem in datasets.MNIST_IDX_FILES.items():
        _write_idx(tmp_path / stem, arrays[key], compress=key.startswith("test"))
    return tmp_path, arrays


def test_read_idx_reads_plain_and_gzipped_files(idx_folder) -> None:
    folder, arrays = idx_folder
    np.testing.assert_array_equal(read_idx(folder / "train-images-idx3-ubyte"), arrays["train_x"])
    np.testing.assert_array_equal(read_idx(folder / "t10k-labels-idx1-ubyte.gz"), arrays["test_y"])


def test_mnist_from_idx_files(idx_folder) -> None:
    folder, arrays = idx_folder
    data = mnist_dataset("idx", path=folder)
    assert data.train_x.shape == (12, 1, 28, 28) and data.test_x.shape == (5, 1, 28, 28)
    np.testing.assert_allclose(data.train_x[:, 0].numpy(), arrays["train_x"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.test_y.numpy(), arrays["test_y"])
    assert torch.equal(data.estimation_x, data.test_x)


def test_read_idx_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1]) + np.array([10], dtype=">u4").tobytes() + b"\x00" * 3)
    with pytest.raises(ValueError, match="must hold 10 data bytes"):
        read_idx(short)


def test_mnist_rejects_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="source must be one of"):
        mnist_dataset("kaggle")
    with pytest.raises(ValueError, match="path must name a folder"):
        mnist_dataset("idx")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        mnist_dataset("idx", path=tmp_path)


@pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed"
)
def test_mnist_torchvision_without_the_package_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ImportError, match="source='idx'"):
        mnist_dataset("torchvision", path=tmp_path)


def test_dataset_rejects_empty_and_mismatched_splits() -> None:
    x, y = torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="train_x must hold at least one sample"):
        datasets.Dataset(x[:0], y[:0], x, y, x, y, "classification", 2, "empty")
    with pytest.raises(ValueError, match=r"test_y must have one entry per row of test_x \(4\)"):
        datasets.Dataset(x, y, x, y[:3], x, y, "classification", 2, "short")
    with pytest.raises(ValueError, match="task must be one of"):
        datasets.Dataset(x, y, x, y, x, y, "ranking", 2, "bad")
