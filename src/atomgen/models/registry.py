"""Load any atomgen model from a shipped name or a checkpoint folder, whatever its family."""

from __future__ import annotations

import importlib
from pathlib import Path

import torch

from atomgen.errors import InputError
from atomgen.models.checkpoint import read_config

FAMILIES = {
    "quetzal": "atomgen.models.quetzal:QuetzalModel",
    "adit": "atomgen.models.adit:ADiTModel",
    "nextmol": "atomgen.models.nextmol:NExTMolModel",
    # the judges of property-conditional generation (not generators: they predict a property)
    "property-classifier": "atomgen.properties.classifier:PropertyClassifier",
}


def model_class(family: str) -> type:
    """The model class of a family name."""
    if family not in FAMILIES:
        raise InputError(f"unknown model family {family!r} (known: {', '.join(FAMILIES)})")
    module, name = FAMILIES[family].split(":")
    return getattr(importlib.import_module(module), name)


def load_model(name_or_path: str | Path, family: str | None = None, device: str | torch.device = "cpu"):
    """Load a model; with `family`, a checkpoint of another family is an InputError."""
    from atomgen.zoo import resolve

    folder = resolve(name_or_path)
    found = read_config(folder, family)["family"]
    model = model_class(str(found)).from_pretrained(folder, device=device)
    model.loaded_from = str(name_or_path)  # the name the user gave, not the folder it resolved to
    return model
