"""Config resolution: defaults < YAML < flags, strict keys and types, no mutation."""

import dataclasses
from typing import Literal

import pytest

from lstmkit.config import ConfigError, from_dict, option, resolve, to_dict


@dataclasses.dataclass(frozen=True)
class Model:
    """A model."""

    hidden_size: int = option(8, "units")
    cell: Literal["lstm", "gru"] = option("lstm", "cell")
    dropout: float = option(0.0, "dropout")
    name: str | None = option(None, "name")


@dataclasses.dataclass(frozen=True)
class Train:
    """Training."""

    epochs: int = option(3, "epochs")
    resume: bool = option(False, "resume")
    lengths: list[int] = option((), "lengths")


SECTIONS = {"model": Model, "train": Train}


def test_precedence_defaults_yaml_flags(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  hidden_size: 16\n  cell: gru\nepochs: 7\n")
    out = resolve(SECTIONS, cfg, {"hidden_size": "32", "resume": True})
    assert out["model"] == Model(hidden_size=32, cell="gru")
    assert out["train"] == Train(epochs=7, resume=True)


def test_base_config_sits_between_defaults_and_yaml(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 9\n")
    base = {"model": {"hidden_size": 64}, "train": {"epochs": 2}}
    out = resolve(SECTIONS, cfg, {}, base=base)
    assert out["model"].hidden_size == 64 and out["train"].epochs == 9
    assert base == {"model": {"hidden_size": 64}, "train": {"epochs": 2}}  # untouched


def test_unknown_and_wrong_values_are_named(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("hiden_size: 3\n")
    with pytest.raises(ConfigError, match="unknown option 'hiden_size'"):
        resolve(SECTIONS, cfg)
    with pytest.raises(ConfigError, match="model.cell must be one of lstm, gru"):
        resolve(SECTIONS, None, {"cell": "transformer"})
    with pytest.raises(ConfigError, match="model.hidden_size must be int"):
        resolve(SECTIONS, None, {"hidden_size": "big"})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(SECTIONS, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        resolve(SECTIONS, bad)


def test_round_trip_and_old_configs_missing_new_fields():
    m = Model(hidden_size=5, name="x")
    assert from_dict(Model, to_dict(m)) == m
    assert from_dict(Model, {"hidden_size": 5}) == Model(hidden_size=5)  # fields added later take defaults


def test_yaml_is_never_executed(tmp_path):
    cfg = tmp_path / "evil.yaml"
    cfg.write_text("name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve(SECTIONS, cfg)


def test_a_time_budget_without_epochs_is_not_cut_by_the_default_epochs(tmp_path):
    """`--max-time 2h` alone: the task's default epochs (10 here) no longer end the run first; epochs given
    anywhere (flags, YAML) are kept, and without a time budget the defaults stand."""
    from lstmkit.engine.config import UNTIL_TIME, TrainConfig, resolve_run

    defaults = TrainConfig(epochs=10)
    assert resolve_run(Model, defaults, options={"max_time": "2h"}).train.epochs == UNTIL_TIME
    assert resolve_run(Model, defaults, options={"max_time": "2h", "epochs": 3}).train.epochs == 3
    yaml = tmp_path / "run.yaml"
    yaml.write_text("train:\n  epochs: 4\n")
    assert resolve_run(Model, defaults, yaml_path=yaml, options={"max_time": "2h"}).train.epochs == 4
    assert resolve_run(Model, defaults, options={}).train.epochs == 10
