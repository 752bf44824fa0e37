"""Sequence-classification loaders: shapes, reproducible disjoint splits, clear errors."""

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from lstmkit.data import sequences

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sequences"


def _rows(batch):
    return {tuple(r) for r in batch["x"].flatten(1).tolist()}


def test_digits_from_scikit_learns_package_data():
    pytest.importorskip("sklearn")  # only to know it is installed; the loader itself never imports it
    splits = sequences.load_digits()
    sizes = {k: len(v["x"]) for k, v in splits.items()}
    assert sum(sizes.values()) == 1797 and sizes["test"] == 359
    assert splits["train"]["x"].shape[1:] == (64, 1) and float(splits["train"]["x"].max()) == 1.0
    assert set(splits["test"]["y"].tolist()) == set(range(10))
    again = sequences.load_digits()
    assert torch.equal(again["test"]["x"], splits["test"]["x"])  # the split is seeded
    assert not (_rows(splits["train"]) & _rows(splits["test"]) - _rows(splits["val"]))  # no test row in train


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_on_a_hand_made_file(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (20, 28, 28))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(20) % 10)
    splits = sequences.load_mnist_pixels(str(tmp_path))
    assert {k: len(v["x"]) for k, v in splits.items()} == {"test": 4, "val": 1, "train": 15}
    x = torch.cat([v["x"] for v in splits.values()])
    assert x.shape[1:] == (784, 1) and abs(float(x.max()) - 1.0) < 1e-6
    first = splits["train"]["x"][0, :, 0] * 255
    match = [k for k in range(20) if np.allclose(images[k].reshape(-1), first.numpy(), atol=1e-3)]
    assert len(match) == 1 and int(splits["train"]["y"][0]) == match[0] % 10  # pixels and label stay paired


def test_bad_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data"):
        sequences.load_mnist1d(None)
    with pytest.raises(FileNotFoundError, match="no such file"):
        sequences.load_mnist1d(str(tmp_path / "nope.npz"))
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 40)))
    with pytest.raises(ValueError, match="lacks x_test, y, y_test"):
        sequences.load_mnist1d(str(tmp_path / "bad.npz"))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28)))
    with pytest.raises(FileNotFoundError, match="labels file is missing"):
        sequences.load_mnist_pixels(str(tmp_path))
    (tmp_path / "cut-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2]))
    with pytest.raises(ValueError, match="truncated"):
        sequences._read_idx(tmp_path / "cut-images-idx3-ubyte")


@pytest.mark.skipif(not (SHARED / "mnist1d.npz").exists(), reason="shared benchmark data not present")
def test_real_mnist1d_and_mnist():
    m1 = sequences.load_mnist1d(str(SHARED / "mnist1d.npz"))
    assert len(m1["test"]["x"]) == 1000 and len(m1["train"]["x"]) + len(m1["val"]["x"]) == 4000
    assert m1["train"]["x"].shape[1:] == (40, 1)
    mn = sequences.load_mnist_pixels(str(SHARED))
    assert sum(len(v["x"]) for v in mn.values()) == 10000 and len(mn["test"]["x"]) == 2000
