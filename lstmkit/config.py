"""Typed dataclass configs: the single source of truth for defaults, CLI flags, help text and saved configs.

A field's `metadata["help"]` is its flag's help. `resolve` merges defaults < YAML file < CLI flags into fresh
instances (the caller's objects are never mutated); `to_dict`/`from_dict` round-trip the resolved config that
is saved with every model. Nothing here evaluates text: YAML is read with `yaml.safe_load`.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from lstmkit.errors import LstmkitError


def option(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with a help text (shown by `--help`)."""
    return dataclasses.field(default=default, metadata={"help": help, **kw})


class ConfigError(LstmkitError):
    """A config value, key or file is wrong; the message names it and says what is allowed."""


# ----------------------------------------------------------------------------------------------------------
# types


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check and convert one value to a field's type; ConfigError names `where` on failure."""
    tp, optional = _unwrap_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
        raise ConfigError(f"{where} may not be empty")
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        for c in choices:
            if value == c or str(value) == str(c):
                return c
        raise ConfigError(f"{where} must be one of {', '.join(map(str, choices))}; got {value!r}")
    if origin in (list, tuple):
        (item,) = typing.get_args(tp)[:1]
        items = value if isinstance(value, (list, tuple)) else str(value).replace(",", " ").split()
        return (
            tuple(coerce(v, item, where) for v in items) if origin is tuple else [coerce(v, item, where) for v in items]
        )
    if tp is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1", "yes", "on"):
            return True
        if str(value).lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{where} must be true or false; got {value!r}")
    if tp in (int, float, str):
        if tp is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{where} must be an integer; got {value!r}")
        if tp in (int, float) and isinstance(value, bool):
            raise ConfigError(f"{where} must be a number; got {value!r}")
        try:
            return tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be {tp.__name__}; got {value!r}") from None
    return value


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


# ----------------------------------------------------------------------------------------------------------
# dict round trip


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as plain JSON/YAML-able data."""
    return dataclasses.asdict(obj)


def from_dict(cls: type, data: dict[str, Any], where: str = "config") -> Any:
    """A new instance from a dict: unknown keys are errors, missing keys take the default (so configs
    saved by older versions, which lack newer fields, keep loading)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping of option names to values; got {type(data).__name__}")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    data = {renamed(cls).get(k, k): v for k, v in data.items()}  # options saved under an older name
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
    return cls(**{k: coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()})


# ----------------------------------------------------------------------------------------------------------
# CLI flags


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls: type, title: str, defaults: Any = None) -> None:
    """One flag per field (`max_steps` -> `--max-steps`), help and default from the dataclass (or, shown in
    the help, from `defaults`, an instance: e.g. a task's recommended training settings). Defaults are
    SUPPRESSed so the merge can tell a flag given on the command line from one left out."""
    group = parser.add_argument_group(title, (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else None)
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp, _ = _unwrap_optional(hints[f.name])
        if defaults is not None:
            default = getattr(defaults, f.name)
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        text = f.metadata.get("help", "")
        help_text = text if "(default:" in text else f"{text} (default: {default})"  # a help that says its own
        kw: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if tp is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(tp) is Literal:
            kw["choices"] = [str(c) for c in typing.get_args(tp)]
            kw["metavar"] = "{" + ",".join(kw["choices"]) + "}"
        elif typing.get_origin(tp) in (list, tuple):
            kw["nargs"] = "+"
            kw["metavar"] = typing.get_args(tp)[0].__name__.upper()
        else:
            kw["metavar"] = f.metadata.get("metavar") or getattr(tp, "__name__", "VALUE").upper()
        group.add_argument(flag(f.name), *f.metadata.get("aliases", ()), **kw)


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping (option: value), not {type(data).__name__}")
    return data


def renamed(cls: type) -> dict[str, str]:
    """Old option names a config class still reads (its RENAMED: old -> new), so older files keep loading."""
    return dict(getattr(cls, "RENAMED", {}))


def split_layer(data: dict[str, Any], sections: dict[str, type], source: str) -> dict[str, dict[str, Any]]:
    """One layer of options by section. A layer may group options by section (`train: {epochs: 3}`) or list
    them flat (`epochs: 3`); `-` and `_` are the same. Unknown names are errors that name `source`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a mapping of option names to values; got {type(data).__name__}")
    owner = {f.name: s for s, cls in sections.items() for f in dataclasses.fields(cls)}
    old = {k: v for cls in sections.values() for k, v in renamed(cls).items()}
    out: dict[str, dict[str, Any]] = {s: {} for s in sections}
    for key, value in data.items():
        key = str(key).replace("-", "_")
        if key in old and not isinstance(value, dict):  # an option under its older name
            key = old[key]
        if key in sections and (isinstance(value, dict) or key not in owner):  # a section
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: section '{key}' must be a mapping")
            for k, v in value.items():
                k = str(k).replace("-", "_")
                k = renamed(sections[key]).get(k, k)
                if k not in {f.name for f in dataclasses.fields(sections[key])}:
                    raise ConfigError(f"{source}: unknown option '{key}.{k}'; valid: {', '.join(sorted(owner))}")
                out[key][k] = v
        elif key in owner:
            out[owner[key]][key] = value
        else:
            raise ConfigError(f"{source}: unknown option '{key}'; valid: {', '.join(sorted(owner))}")
    return out


def merge(sections: dict[str, type], layers: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The one merge: dataclass defaults < each layer in order (e.g. a task's training defaults < a resumed
    run's saved config < YAML < flags). Each layer is `(source, options)`, checked by name as it comes in;
    the result is validated as new instances {section: instance}. Nothing passed in is modified."""
    values: dict[str, dict[str, Any]] = {s: {} for s in sections}
    for source, data in layers:
        for section, part in split_layer(data, sections, source).items():
            values[section].update(part)
    return {section: from_dict(cls, values[section], where=section) for section, cls in sections.items()}


def resolve(
    sections: dict[str, type],
    yaml_path: str | Path | None = None,
    flags: dict[str, Any] | None = None,
    base: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`merge` of: dataclass defaults < `base` (a resumed run's saved config) < YAML file < flags."""
    layers = [("the saved run config", base or {})]
    if yaml_path:
        layers.append((str(yaml_path), load_yaml(yaml_path)))
    layers.append(("the command line", dict(flags or {})))
    return merge(sections, layers)


def check_no_clashes(*classes: type) -> None:
    """Sections share one flag namespace: a field name may appear in only one of them."""
    seen: dict[str, str] = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            if f.name in seen:
                raise TypeError(f"option {f.name} is defined by both {seen[f.name]} and {cls.__name__}")
            seen[f.name] = cls.__name__
