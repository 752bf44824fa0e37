"""The saved-model format: a directory, never a pickle.

    model/
      config.json        format version, lstmkit version, task name, the complete resolved config, and the
                         size and SHA-256 of every other file (so truncation or tampering is caught by name)
      model.safetensors  the weights
      *.json             task state (tokenizer, scalers, ...)

Writes go to a temporary sibling directory that is renamed into place, so a crash never leaves a
half-written model. Loading never executes code from a file: JSON and safetensors only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lstmkit.errors import LstmkitError

FORMAT = "lstmkit-saved-model"
FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"


class ModelFileError(LstmkitError):
    """A saved model is missing, truncated, tampered with or of an unknown kind; the message names the file."""


@dataclass
class SavedModel:
    """What a saved-model directory holds, read and verified."""

    path: Path
    task: str
    config: dict[str, Any]
    lstmkit_version: str
    tensors: dict[str, Tensor]
    state: dict[str, Any] = field(default_factory=dict)  # task JSON files by stem, e.g. state["scaler"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True, allow_nan=False)
        f.flush()
        os.fsync(f.fileno())


def save_model(
    path: str | Path,
    *,
    task: str,
    config: dict[str, Any],
    tensors: dict[str, Tensor],
    state: dict[str, Any] | None = None,
) -> Path:
    """Write a saved model atomically; `state` maps a name to a JSON-able object saved as `<name>.json`."""
    from safetensors.torch import save_file

    from lstmkit import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        weights = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
        save_file(weights, str(tmp / WEIGHTS), metadata={"format": FORMAT})
        for name, obj in (state or {}).items():
            if name == "config" or "/" in name:
                raise ValueError(f"state name {name!r} is reserved or not a plain file name")
            _write_json(tmp / f"{name}.json", obj)
        files = {p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in sorted(tmp.iterdir())}
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "lstmkit_version": __version__,
            "task": task,
            "config": config,
            "files": files,
        }
        _write_json(tmp / CONFIG, meta)
        _swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _swap_into_place(tmp: Path, path: Path) -> None:
    """Rename the finished directory into place; an old model is moved aside first, then removed."""
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(path, old)
    os.rename(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _read_meta(path: Path) -> dict[str, Any]:
    cfg = path / CONFIG
    if not path.is_dir():
        raise ModelFileError(f"{path} is not a saved-model directory (expected a folder with {CONFIG} and {WEIGHTS})")
    if not cfg.is_file():
        raise ModelFileError(f"{cfg} is missing: {path} is not a complete lstmkit saved model")
    try:
        meta = json.loads(cfg.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelFileError(
            f"{cfg} is not valid JSON ({err}); the file is corrupted, re-save or re-train the model"
        ) from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{cfg} is not an lstmkit saved-model config (no 'format': '{FORMAT}')")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{cfg} has format_version {version!r}; this lstmkit reads up to {FORMAT_VERSION}: upgrade lstmkit"
        )
    for key in ("task", "config", "files"):
        if key not in meta:
            raise ModelFileError(f"{cfg} lacks the '{key}' entry; the file is corrupted")
    return meta


def _verify_files(path: Path, files: dict[str, Any]) -> None:
    if WEIGHTS not in files:
        raise ModelFileError(f"{path / CONFIG} lists no {WEIGHTS}; the model is incomplete")
    for name, info in files.items():
        if Path(name).name != name:
            raise ModelFileError(f"{path / CONFIG} lists a file outside the model directory: {name!r}")
        f = path / name
        if not f.is_file():
            raise ModelFileError(f"{f} is missing; copy the whole model directory")
        size = f.stat().st_size
        if size != info.get("bytes"):
            raise ModelFileError(
                f"{f} is {size} bytes, expected {info.get('bytes')}: truncated or altered; re-copy or re-save it"
            )
        if _sha256(f) != info.get("sha256"):
            raise ModelFileError(
                f"{f} does not match its SHA-256 in {CONFIG}: the file was altered; re-copy or re-save it"
            )


def load_weights(model: torch.nn.Module, saved: SavedModel) -> torch.nn.Module:
    """Load a saved model's tensors into a model rebuilt from its config; a mismatch names the files."""
    try:
        model.load_state_dict(saved.tensors)
    except RuntimeError as err:
        raise ModelFileError(f"{saved.path}/{WEIGHTS} does not fit the model in {CONFIG}: {err}") from err
    return model


def saved_model_dir(path: str | Path) -> Path:
    """The saved-model directory itself, or the one a run directory holds in model/."""
    path = Path(path)
    if not (path / CONFIG).exists() and (path / "model" / CONFIG).exists():
        return path / "model"
    return path


def read_saved(path: str | Path, device: torch.device | str = "cpu") -> SavedModel:
    """Read and verify a saved-model directory; tensors land on `device`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    meta = _read_meta(path)
    _verify_files(path, meta["files"])
    try:
        tensors = load_file(str(path / WEIGHTS), device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(f"{path / WEIGHTS} cannot be read as safetensors ({err})") from err
    state = {}
    for name in meta["files"]:
        if name.endswith(".json"):
            try:
                state[name[:-5]] = json.loads((path / name).read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise ModelFileError(f"{path / name} is not valid JSON ({err})") from err
    return SavedModel(path, meta["task"], meta["config"], meta.get("lstmkit_version", "?"), tensors, state)
