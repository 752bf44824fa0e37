"""The saved-model directory: round trip, atomic writes, and clear errors for broken files."""

import json

import pytest
import torch

from lstmkit.deploy.saved_model import ModelFileError, read_saved, save_model


def _save(path, **kw):
    tensors = {"w": torch.arange(6.0).view(2, 3), "b": torch.ones(2)}
    return save_model(
        path,
        task="longrange",
        config={"task": {"length": 5}},
        tensors=tensors,
        state=kw.get("state", {"scaler": {"mean": 1.5}}),
    )


def test_round_trip(tmp_path):
    path = _save(tmp_path / "m")
    saved = read_saved(path)
    assert saved.task == "longrange" and saved.config == {"task": {"length": 5}}
    torch.testing.assert_close(saved.tensors["w"], torch.arange(6.0).view(2, 3))
    assert saved.state == {"scaler": {"mean": 1.5}}
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors", "scaler.json"]


def test_failed_save_leaves_the_old_model_and_no_debris(tmp_path):
    path = _save(tmp_path / "m")
    with pytest.raises(ValueError):
        _save(tmp_path / "m", state={"scaler": {"mean": float("nan")}})  # not valid JSON: fails mid-write
    assert read_saved(path).state == {"scaler": {"mean": 1.5}}
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_truncated_weights_are_rejected_by_name(tmp_path):
    path = _save(tmp_path / "m")
    w = path / "model.safetensors"
    w.write_bytes(w.read_bytes()[:-10])
    with pytest.raises(ModelFileError, match=r"model.safetensors is \d+ bytes, expected \d+: truncated"):
        read_saved(path)


def test_tampered_weights_are_rejected_by_name(tmp_path):
    path = _save(tmp_path / "m")
    w = path / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="model.safetensors does not match its SHA-256"):
        read_saved(path)


def test_missing_and_broken_files(tmp_path):
    path = _save(tmp_path / "m")
    (path / "scaler.json").unlink()
    with pytest.raises(ModelFileError, match="scaler.json is missing"):
        read_saved(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="config.json is not valid JSON"):
        read_saved(path)
    (path / "config.json").unlink()
    with pytest.raises(ModelFileError, match="config.json is missing"):
        read_saved(path)
    with pytest.raises(ModelFileError, match="not a saved-model directory"):
        read_saved(tmp_path / "nowhere")


def test_newer_format_and_unknown_task_are_explained(tmp_path):
    from lstmkit import load

    path = _save(tmp_path / "m")
    meta = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ModelFileError, match="upgrade lstmkit"):
        read_saved(path)
    (path / "config.json").write_text(json.dumps({**meta, "task": "os.system"}))
    with pytest.raises(ModelFileError, match="names task 'os.system'"):
        load(path)
