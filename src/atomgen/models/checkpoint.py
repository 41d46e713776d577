"""Model checkpoints: a folder with `model.safetensors` (weights) and `config.json` (family + hyperparameters).

Nothing here unpickles: safetensors holds raw tensors only, and the config is plain JSON. Every way a checkpoint
can be wrong (missing file, other model family, corrupt or mismatched weights) raises one InputError line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from atomgen.errors import InputError
from atomgen.io.atomic import atomic_path, atomic_write_text

Config = TypeVar("Config")

WEIGHTS = "model.safetensors"
CONFIG = "config.json"

LOAD_OBSERVERS: list[Callable[[Path], None]] = []
"""Called with the path of every weights file `load_weights` has loaded. The benchmarks observe loads to record
which weights (their sha256) each number was measured on."""


def save_checkpoint(path: str | Path, family: str, config: dict[str, Any], module: torch.nn.Module,
                    dtype: torch.dtype | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write `module`'s weights (floating parameters cast to `dtype`; buffers kept exact) and its config."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    buffers = {name for name, _ in module.named_buffers()}
    tensors = {}
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().cpu()
        if dtype is not None and tensor.is_floating_point() and name not in buffers:
            tensor = tensor.to(dtype)
        tensors[name] = tensor.contiguous()
    with atomic_path(folder / WEIGHTS) as tmp:
        save_file(tensors, str(tmp))
        tmp.chmod(0o644)  # safetensors creates its file readable by the owner only
    document = {"family": family, "config": config, **(extra or {})}
    with atomic_write_text(folder / CONFIG) as handle:
        handle.write(json.dumps(document, indent=2) + "\n")
    return folder


def read_config(path: str | Path, family: str | None = None) -> dict[str, Any]:
    """The `config.json` document of a checkpoint folder, checked to belong to `family` when one is given."""
    folder = Path(path)
    config_file = folder / CONFIG
    if not folder.is_dir() or not config_file.is_file():
        raise InputError(f"not a model checkpoint (expected a folder with {CONFIG} and {WEIGHTS})", folder)
    try:
        document = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"corrupt {CONFIG}: {exc}", folder) from None
    if not isinstance(document, dict) or "config" not in document:
        raise InputError(f"{CONFIG} has no 'config' entry", folder)
    found = document.get("family")
    if family is not None and found != family:
        raise InputError(f"checkpoint is a {found!r} model, not a {family!r} one", folder)
    return document


def load_config(path: str | Path, family: str, config_class: type[Config]) -> Config:
    """The hyperparameters of a checkpoint folder as a `config_class` dataclass, checked to be of `family`."""
    folder = Path(path)
    data = read_config(folder, family)["config"]
    known = {f.name for f in fields(config_class)}
    if not isinstance(data, dict) or set(data) - known:
        unknown = sorted(set(data) - known) if isinstance(data, dict) else "not a mapping"
        raise InputError(f"invalid {family} config: unknown keys {unknown}", folder)
    try:
        return config_class(**data)
    except (TypeError, ValueError) as exc:
        raise InputError(f"invalid {family} config: {exc}", folder) from None


def load_weights(path: str | Path, module: torch.nn.Module, allow_new: bool = False) -> list[str]:
    """Load `model.safetensors` from a checkpoint folder into `module` (cast to its dtype); returns the names of
    the module's tensors the checkpoint lacks.

    Strict by default. With `allow_new`, tensors of the module that the checkpoint lacks (an extension the
    trained model did not have) keep their current values; a checkpoint tensor the module lacks is still an
    error, since then the checkpoint is of another architecture.
    """
    weights_file = Path(path) / WEIGHTS
    if not weights_file.is_file():
        raise InputError(f"missing {WEIGHTS}", Path(path))
    try:
        tensors = load_file(str(weights_file))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"corrupt weights: {exc}", weights_file) from None
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if (missing and not allow_new) or unexpected:
        raise InputError(f"weights do not fit this model (missing {missing[:3]}, unexpected {unexpected[:3]})",
                         weights_file)
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise InputError(f"weight {name} has shape {tuple(tensor.shape)}, expected "
                             f"{tuple(expected[name].shape)}", weights_file)
        if not torch.isfinite(tensor.float()).all():
            raise InputError(f"weight {name} holds NaN or inf", weights_file)
    module.load_state_dict({name: t.to(expected[name].dtype) for name, t in tensors.items()}, strict=not allow_new)
    for observer in LOAD_OBSERVERS:
        observer(weights_file)
    return missing


def warm_start(name_or_path: str | Path, family: str, module: torch.nn.Module) -> list[str]:
    """Load a trained checkpoint of `family` into `module` (same architecture, perhaps with extensions);
    returns the names of the tensors that keep their initial values because the checkpoint lacks them."""
    from atomgen.zoo import resolve

    folder = resolve(name_or_path)
    read_config(folder, family)
    return load_weights(folder, module, allow_new=True)
