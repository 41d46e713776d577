"""Quetzal's hyperparameters as one typed dataclass, and size presets as small factory functions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from atomgen.diffusion.edm import EDMConfig

ATOM_ORDERS = ("dataset", "smiles", "random")


@dataclass(frozen=True)
class QuetzalConfig:
    """Everything needed to rebuild a Quetzal network; stored as JSON beside the weights.

    Attributes:
        elements: atomic numbers the model can emit, in the order of its type classes 1..K (0 is STOP).
        max_atoms: longest molecule the position embedding covers.
        dim, depth, heads: the causal transformer; the first `depth // 2` layers predict the next type, the rest
            turn (prefix, next type) into the position model's conditioning vector.
        head_width, head_depth: the DiffMLP position head (residual adaLN blocks).
        noise_draws: independent noise levels per atom in each training step (the head is cheap, the trunk is not).
        atom_order: "dataset" (the file's own order; heavy atoms first in QM9), "smiles" (canonical SMILES order,
            hydrogens after their heavy atom) or "random" (a new permutation every draw).
        translation_std: standard deviation (Å) of the random translation added to every training draw.
        prefix_geometry: give the position head the distances to the atoms already placed (an atomgen extension,
            see `prefix_geometry.py`); False is the paper's head.
        properties: for a property-conditional model, each property it reads with its normalisation and the range
            its training molecules covered (`atomgen.models.conditions.PropertyStats` as a mapping); empty when
            unconditional.
    """

    elements: tuple[int, ...] = (1, 6, 7, 8, 9)
    max_atoms: int = 32
    dim: int = 256
    depth: int = 8
    heads: int = 8
    mlp_ratio: float = 4.0
    head_width: int = 512
    head_depth: int = 4
    fourier_frequencies: int = 64
    sigma_data: float = 1.4
    p_mean: float = -1.2
    p_std: float = 1.2
    noise_draws: int = 4
    atom_order: str = "dataset"
    translation_std: float = 0.1
    prefix_geometry: bool = False
    properties: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "elements", tuple(int(z) for z in self.elements))
        object.__setattr__(self, "properties", {name: {key: float(v) for key, v in stats.items()}
                                                for name, stats in dict(self.properties).items()})
        if self.atom_order not in ATOM_ORDERS:
            raise ValueError(f"atom_order must be one of {ATOM_ORDERS}, not {self.atom_order!r}")
        if self.depth < 2:
            raise ValueError("depth must be at least 2 (one layer per half)")

    @property
    def type_depth(self) -> int:
        """Layers of the first half (next-type prediction)."""
        return self.depth // 2

    @property
    def edm(self) -> EDMConfig:
        return EDMConfig(sigma_data=self.sigma_data, p_mean=self.p_mean, p_std=self.p_std)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["elements"] = list(self.elements)
        return data


def tiny(**overrides: Any) -> QuetzalConfig:
    """A few-thousand-parameter model for tests."""
    return replace(QuetzalConfig(dim=32, depth=2, heads=2, head_width=32, head_depth=2, fourier_frequencies=8),
                   **overrides)


def small(**overrides: Any) -> QuetzalConfig:
    """The shipped size: about 7M parameters (14 MB in fp16), trainable on a laptop CPU."""
    return replace(QuetzalConfig(dim=256, depth=6, heads=8, head_width=384, head_depth=3), **overrides)


def base(**overrides: Any) -> QuetzalConfig:
    """A GPU-sized model, close to the paper's 35M-parameter one."""
    return replace(QuetzalConfig(dim=512, depth=12, heads=8, head_width=1024, head_depth=6), **overrides)


PRESETS = {"tiny": tiny, "small": small, "base": base}


def preset(name: str, **overrides: Any) -> QuetzalConfig:
    """The named size preset with some fields overridden."""
    if name not in PRESETS:
        raise ValueError(f"unknown Quetzal preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name](**overrides)
