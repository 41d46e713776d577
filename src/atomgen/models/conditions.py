"""What a user asks a property-conditional model for, turned into the per-sample inputs of its encoder
(`atomgen.nn.property_condition`), with every request checked against what the model saw in training.

A condition maps property names (`atomgen.properties.qm9_properties.PROPERTIES`, in their units) to a value for
every sample, a (low, high) range from which each sample draws its own target uniformly, or one value per sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from atomgen.errors import InputError
from atomgen.models.streams import sample_rng
from atomgen.properties.qm9_properties import PROPERTIES, get_property

Condition = Mapping[str, "float | tuple[float, float] | Sequence[float] | np.ndarray"]
CONDITION_STREAM = 900
"""The stream (`atomgen.models.streams`) from which sample k draws its target within a requested range."""


@dataclass(frozen=True)
class PropertyStats:
    """How a model reads one property: normalised as (value - mean) / mad, and the range [low, high] its
    training molecules covered (a request outside it is refused, never clamped)."""

    mean: float
    mad: float
    low: float
    high: float

    @classmethod
    def of(cls, values: np.ndarray) -> PropertyStats:
        values = np.asarray(values, dtype=np.float64)
        mean = float(values.mean())
        return cls(mean, float(np.abs(values - mean).mean()), float(values.min()), float(values.max()))


def stats_of(properties: Mapping[str, Mapping[str, float]]) -> dict[str, PropertyStats]:
    """A model config's `properties` mapping as PropertyStats, in its order."""
    return {name: PropertyStats(**stats) for name, stats in properties.items()}


def sample_targets(stats: Mapping[str, PropertyStats], condition: Condition | None, guidance: float, n: int,
                   seed: int, model_name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """`resolve_condition` for a model conditioned on the properties of `stats`; None for an unconditional one
    (empty `stats`), which refuses a condition or a guidance scale."""
    if stats:
        return resolve_condition(condition, n, stats, seed, model_name)
    if condition or guidance != 1.0:
        names = ", ".join(condition or {}) or "no property"
        raise InputError(f"{model_name} is unconditional: it takes no condition ({names} asked for)")
    return None


def normalise(values: torch.Tensor, stats: Mapping[str, PropertyStats]) -> torch.Tensor:
    """Property values (B, P) in their units, in the order of `stats`, as a conditional model's encoder reads
    them: (value - mean) / mad."""
    mean = values.new_tensor([s.mean for s in stats.values()])
    mad = values.new_tensor([s.mad for s in stats.values()])
    return (values - mean) / mad


def resolve_condition(condition: Condition | None, n: int, stats: Mapping[str, PropertyStats], seed: int,
                      model_name: str = "this model") -> tuple[np.ndarray, np.ndarray]:
    """(normalised values (n, P), present (n, P) bool) for n samples of a model conditioned on the properties of
    `stats`, in its order; None asks for nothing (unconditional). A property the model was not trained on, a
    range the wrong way round, a list of the wrong length or a target outside the training range is an
    InputError."""
    names = list(stats)
    values, present = np.zeros((n, len(names))), np.zeros((n, len(names)), dtype=bool)
    for name, request in (condition or {}).items():
        prop = get_property(name)
        if name not in stats:
            known = ", ".join(names) if names else "none: it is unconditional"
            raise InputError(f"{model_name} is not conditioned on {name} (its properties: {known})")
        targets = _targets(name, request, n, seed)
        s = stats[name]
        outside = (targets < s.low) | (targets > s.high)
        if outside.any():
            raise InputError(f"{name} = {targets[outside][0]:g} {prop.unit} is outside what {model_name} saw in "
                             f"training ({s.low:g} to {s.high:g} {prop.unit})")
        p = names.index(name)
        values[:, p], present[:, p] = (targets - s.mean) / s.mad, True
    return values, present


def _targets(name: str, request, n: int, seed: int) -> np.ndarray:
    """Each sample's target value for one property."""
    if isinstance(request, tuple):
        low, high = (float(v) for v in request)
        if not low <= high:
            raise InputError(f"{name}: a range runs from low to high, not {low:g} to {high:g}")
        stream = CONDITION_STREAM + list(PROPERTIES).index(name)  # each property's range draws on its own
        return np.array([low + (high - low) * sample_rng(seed, k, stream).random() for k in range(n)])
    targets = np.asarray(request, dtype=np.float64)
    if targets.ndim == 0:
        targets = np.full(n, float(targets))
    if targets.shape != (n,):
        raise InputError(f"{name}: one value, a (low, high) range, or one value per sample ({n}), "
                         f"not {targets.shape[0] if targets.ndim == 1 else targets.shape} values")
    if not np.isfinite(targets).all():
        raise InputError(f"{name}: targets must be finite numbers")
    return targets


def parse_condition(arguments: Sequence[str]) -> dict[str, float | tuple[float, float]]:
    """`--condition` arguments of the CLI ("gap=6.2", "gap=6:7" for a range) as a condition."""
    condition: dict[str, float | tuple[float, float]] = {}
    for text in arguments:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise InputError(f"--condition {text!r}: write NAME=VALUE or NAME=LOW:HIGH, e.g. gap=6.2")
        get_property(name)
        if name in condition:
            raise InputError(f"--condition names {name} twice")
        try:
            parts = [float(v) for v in value.split(":")]
        except ValueError:
            raise InputError(f"--condition {text!r}: {value!r} is not a number or a LOW:HIGH range") from None
        if len(parts) not in (1, 2):
            raise InputError(f"--condition {text!r}: {value!r} is not a number or a LOW:HIGH range")
        condition[name] = parts[0] if len(parts) == 1 else (parts[0], parts[1])
    return condition
