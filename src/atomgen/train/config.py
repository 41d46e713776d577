"""Training configuration: typed dataclasses are the single source of truth; YAML presets and CLI overrides
replace some of their fields."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from atomgen.errors import InputError


class _ConfigLoader(yaml.SafeLoader):
    """YAML's safe loader, except that `1e-3` (no dot) is a float as in YAML 1.2, not the string YAML 1.1 reads:
    model settings are a free mapping, so nothing downstream would turn such a string back into a number."""


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def _load_yaml(text: str) -> Any:
    """`text` parsed as YAML by the config loader."""
    return yaml.load(text, Loader=_ConfigLoader)  # a SafeLoader subclass: it builds no Python objects


@dataclass(frozen=True)
class DataConfig:
    """Which dataset and how to batch it.

    `dataset` is one name (or a molecule file or pack folder), or for models trained on several datasets a
    comma-separated list of `name[:split]` entries (e.g. "qm9:train,perov_5:val"); an entry without a split uses
    `split`. `shares`, when given, is the share of training draws each named dataset gets (normalised), whatever
    its size; by default every system is drawn equally often.
    """

    dataset: str = "qm9"
    split: str = "train"
    batch_size: int = 128
    data_dir: str | None = None
    shares: dict[str, float] | None = None


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up, then constant or cosine learning rate; EMA of the weights."""

    lr: float = 5e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 1000
    schedule: str = "constant"
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    ema_decay: float = 0.999


@dataclass(frozen=True)
class TrainerConfig:
    """What Lightning's Trainer gets, plus the cadence of checkpoints, logs and sample-and-evaluate.

    A checkpoint (`checkpoints/last.ckpt`, which `--resume` continues from) is saved every `checkpoint_minutes`
    of training, or every `checkpoint_every_steps` optimizer steps when that is above 0; a killed run loses at
    most one such interval.

    `compile` compiles the model's transformer and head blocks with torch.compile (`atomgen.nn.compile`): about
    a minute of compilation at the start, then faster steps (benchmarks/bench_training.py).

    `logger` is "csv" (CSV files under `logs/`, which `atomgen report RUN_DIR` reads) or "tensorboard" (the same
    CSV files and TensorBoard event files beside them; needs the tensorboard package).
    """

    max_steps: int = 200_000
    accelerator: str = "auto"
    devices: str | int = "auto"
    num_nodes: int = 1
    precision: str = "bf16-mixed"
    compile: bool = False
    seed: int = 0
    checkpoint_minutes: float = 5.0
    checkpoint_every_steps: int = 0
    log_every_steps: int = 50
    sample_every_steps: int = 2000
    sample_count: int = 200
    sample_steps: int = 30
    logger: str = "csv"


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run: the model family and its hyperparameters (a preset plus overrides) and the rest.

    `init_from` (a shipped model's name or a model folder) starts a new run from trained weights of the same
    architecture; tensors the trained model lacks (a zero-initialised extension such as Quetzal's
    `prefix_geometry`) keep their initial values. The optimiser, warm-up and step count start afresh.
    """

    family: str = "quetzal"
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "small"})
    init_from: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _merge(instance: Any, updates: dict[str, Any], where: str) -> Any:
    """A copy of a (nested) dataclass with `updates` applied, rejecting unknown keys."""
    known = {f.name: f for f in fields(instance)}
    changes = {}
    for key, value in updates.items():
        if key not in known:
            raise InputError(f"unknown setting {where}{key} (known: {', '.join(known)})")
        current = getattr(instance, key)
        if value is None:  # `key=null` clears a setting (e.g. a mapping a preset set)
            changes[key] = None
        elif is_dataclass(current):
            if not isinstance(value, dict):
                raise InputError(f"setting {where}{key} must be a mapping")
            changes[key] = _merge(current, value, f"{where}{key}.")
        elif isinstance(current, dict):
            changes[key] = _merge_mapping(current, value)
        elif isinstance(current, tuple):
            changes[key] = tuple(value)
        elif isinstance(current, (int, float)) and not isinstance(current, bool):
            changes[key] = _number(value, type(current), f"{where}{key}")
        else:
            changes[key] = value
    return replace(instance, **changes)


def _merge_mapping(current: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
    """`current` with `updates` merged in, nested mappings key by key (so `model.conformer.a=1` and then
    `model.conformer.b=2` keep both)."""
    merged = dict(current)
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_mapping(merged[key], value)
        else:
            merged[key] = value
    return merged


def _number(value: Any, kind: type, name: str) -> int | float:
    """`value` as the int or float a numeric setting holds (a numeric string such as "3e-4" is accepted too)."""
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        number = None
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise InputError(f"setting {name} must be a number, not {value!r}")
    if kind is int:
        if float(number) != int(number):
            raise InputError(f"setting {name} must be a whole number, not {value!r}")
        return int(number)
    return float(number)


def _parse_override(text: str) -> dict[str, Any]:
    """`optim.lr=3e-4` -> {"optim": {"lr": 3e-4}} (the value parsed as YAML)."""
    if "=" not in text:
        raise InputError(f"override {text!r} is not of the form section.key=value")
    path, raw = text.split("=", 1)
    value: Any = _load_yaml(raw)
    for key in reversed(path.split(".")):
        value = {key: value}
    return value


def _read_document(path: Path, children: tuple[Path, ...]) -> dict[str, Any]:
    """The YAML mapping at `path`, on top of the file its `extends:` names (a path relative to it), if any.

    This is how a recipe (configs/<family>/recipes/) is written: the base config it extends, and only what its
    training stage changes."""
    try:
        document = _load_yaml(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read training config: {exc}", path) from None
    if not isinstance(document, dict):
        raise InputError("a training config must be a YAML mapping", path)
    parent = document.pop("extends", None)
    if parent is None:
        return document
    if not isinstance(parent, str):
        raise InputError(f"extends must name one config file, not {parent!r}", path)
    parent_path = (path.parent / parent).resolve()
    if parent_path in (*children, path.resolve()):
        raise InputError(f"configs extend each other in a loop through {parent}", path)
    return _merge_mapping(_read_document(parent_path, (*children, path.resolve())), document)


def load_train_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                      family: str | None = None) -> TrainConfig:
    """Defaults, then the YAML file at `path` (on top of the file it `extends:`), then `section.key=value`
    overrides."""
    config = TrainConfig() if family is None else TrainConfig(family=family)
    if path is not None:
        config = _merge(config, _read_document(Path(path), ()), "")
    for text in overrides:
        config = _merge(config, _parse_override(text), "")
    if family is not None and config.family != family:
        raise InputError(f"config is for {config.family!r}, not {family!r}", path)
    return config


def flat_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as one level of dotted keys ({"model": {"width": 8}} -> {"model.width": 8})."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        out.update(flat_settings(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out
