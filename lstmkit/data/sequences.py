"""Classic sequence-classification sets, read from local files (never downloaded), split reproducibly.

- digits: scikit-learn's bundled 8×8 digits (1,797 images) read pixel by pixel: 64 steps of 1 value. The file
  is read from scikit-learn's installed package data without importing scikit-learn (`pip install
  lstmkit[data]`). Split: a seeded 80/20 train/test split; validation is 10 % of train.
- mnist1d: MNIST-1D (Greydanus 2020), an .npz with x (4000, 40), y, x_test (1000, 40), y_test: its own split.
- smnist: pixel-by-pixel MNIST (784 steps) from the IDX files of the 10k MNIST test images; split 80/20
  (seeded) into train/test, because only the official test images are at hand.
Each loader returns {"train", "val", "test"} batches {"x": (n, T, 1) float, "y": (n,) long}.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

from lstmkit.data.synthetic import Batch
from lstmkit.errors import LstmkitError


class DataFileError(LstmkitError):
    """A sequence-data file is missing, malformed or does not match its labels."""


SPLIT_SEED = 0


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float | None) -> dict[str, Batch]:
    """Seeded split: test (if asked), then 10 % of the rest for validation."""
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    n_test = 0 if test_fraction is None else round(test_fraction * len(x))
    test, rest = order[:n_test], order[n_test:]
    n_val = max(1, len(rest) // 10)
    parts = {"val": rest[:n_val], "train": rest[n_val:]}
    if n_test:
        parts["test"] = test
    return {k: _batch(x[idx], y[idx]) for k, idx in parts.items()}


def _batch(x: np.ndarray, y: np.ndarray) -> Batch:
    return {"x": torch.as_tensor(x, dtype=torch.float32).reshape(len(x), -1, 1), "y": torch.as_tensor(y).long()}


def sklearn_digits_file() -> Path:
    """Where scikit-learn keeps digits.csv.gz (found without importing scikit-learn)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the digits task reads scikit-learn's bundled digits: pip install 'lstmkit[data]'")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed scikit-learn; reinstall scikit-learn")
    return path


def load_digits(path: str | None = None) -> dict[str, Batch]:
    """64-step sequences of pixel intensities in [0, 1], 10 classes."""
    data = np.loadtxt(Path(path) if path else sklearn_digits_file(), delimiter=",")
    if data.ndim != 2 or data.shape[1] != 65:
        raise DataFileError(
            f"{path or 'digits.csv.gz'}: expected 64 pixels and a label per row, got shape {data.shape}"
        )
    return _split(data[:, :64] / 16.0, data[:, 64].astype(np.int64), test_fraction=0.2)


def load_mnist1d(path: str | None) -> dict[str, Batch]:
    """MNIST-1D with its own train/test split; validation is 10 % of train."""
    if not path:
        raise FileNotFoundError("mnist1d reads a local file: pass --data PATH/mnist1d.npz (x, y, x_test, y_test)")
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--data {file}: no such file (expected mnist1d.npz with x, y, x_test, y_test)")
    with np.load(file) as d:
        missing = {"x", "y", "x_test", "y_test"} - set(d.files)
        if missing:
            raise DataFileError(f"{file} lacks {', '.join(sorted(missing))}; expected x, y, x_test, y_test")
        x, y, x_test, y_test = d["x"], d["y"], d["x_test"], d["y_test"]
    splits = _split(x, y, test_fraction=None)
    splits["test"] = _batch(x_test, y_test)
    return splits


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise DataFileError(f"{path} is not an IDX file of unsigned bytes")
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(dims))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise DataFileError(f"{path} is truncated: {body.size} values for shape {shape}")
    return body.reshape(shape)


def load_mnist_pixels(path: str | None) -> dict[str, Batch]:
    """Pixel-by-pixel MNIST: 784 steps in [0, 1]. `path` is the folder holding t10k-images-idx3-ubyte(.gz) and
    t10k-labels-idx1-ubyte(.gz), or the images file itself."""
    if not path:
        raise FileNotFoundError("smnist reads local IDX files: pass --data DIR holding t10k-images-idx3-ubyte.gz")
    p = Path(path)
    images = p if p.is_file() else next(iter(sorted(p.glob("*images-idx3-ubyte*"))), None)
    if images is None or not images.is_file():
        raise FileNotFoundError(f"--data {p}: no *images-idx3-ubyte(.gz) file there")
    labels = images.with_name(images.name.replace("images-idx3", "labels-idx1"))
    if not labels.is_file():
        raise FileNotFoundError(f"{labels}: the labels file is missing beside {images.name}")
    x, y = _read_idx(images), _read_idx(labels)
    if len(x) != len(y):
        raise DataFileError(f"{images.name} has {len(x)} images but {labels.name} {len(y)} labels")
    return _split(x.reshape(len(x), -1) / 255.0, y.astype(np.int64), test_fraction=0.2)
