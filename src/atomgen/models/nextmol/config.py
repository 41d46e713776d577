"""NExT-Mol's hyperparameters as one typed dataclass, and size presets as small factory functions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from atomgen.models.nextmol.conformer import ConformerConfig


@dataclass(frozen=True)
class NExTMolConfig:
    """Everything needed to rebuild a NExT-Mol model; stored as JSON beside the weights.

    Attributes:
        symbols: the SELFIES vocabulary (special tokens excluded), fixed when the language model is built.
        elements: atomic numbers the conformer model was trained on; a molecule with another is refused.
        max_length: longest SELFIES (in symbols, plus begin and end) the language model reads or writes.
        lm_dim, lm_depth, lm_heads: the language model's transformer.
        conformer: the conformer model's hyperparameters.
        transfer: feed the language model's state of the symbol that placed each atom to the conformer model,
            through an adapter (NExT-Mol's 1D-to-3D transfer).
        sampling_solver, sampling_steps, refine_steps: the default conformer sampler: its solver (a name of
            `atomgen.models.sampler_settings.NEXTMOL_SOLVERS`), its network calls, and the denoising iterations
            at one small noise level after it (`vp.refine`), which take out most of the error the last steps leave
            in the bonds. SDE-DPM-Solver++(2M) with 15 steps and 5 refine steps matched DDPM with 50 and 10 at a
            third of the network calls (`bench_nextmol.py --parts sampler`, docs/nextmol.md).
        properties: for a property-conditional language model, each property it reads (a name of
            `atomgen.properties.qm9_properties.PROPERTIES`) with its normalisation and the range its training
            molecules covered (`atomgen.models.conditions.PropertyStats` as a mapping); empty when unconditional.
        prompt_tokens: soft-prompt vectors the properties become, before the SELFIES.
    """

    symbols: tuple[str, ...] = ()
    elements: tuple[int, ...] = (1, 6, 7, 8, 9)
    max_length: int = 64
    lm_dim: int = 192
    lm_depth: int = 4
    lm_heads: int = 6
    conformer: ConformerConfig = ConformerConfig()
    transfer: bool = False
    sampling_solver: str = "sde-dpm2m"
    sampling_steps: int = 15
    refine_steps: int = 5
    properties: dict[str, dict[str, float]] = field(default_factory=dict)
    prompt_tokens: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", tuple(str(s) for s in self.symbols))
        object.__setattr__(self, "elements", tuple(int(z) for z in self.elements))
        object.__setattr__(self, "properties", {name: {key: float(v) for key, v in stats.items()}
                                                for name, stats in dict(self.properties).items()})
        if isinstance(self.conformer, dict):
            object.__setattr__(self, "conformer", ConformerConfig(**self.conformer))
        context_dim = self.lm_dim if self.transfer else None
        if self.conformer.context_dim != context_dim:
            object.__setattr__(self, "conformer", replace(self.conformer, context_dim=context_dim))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["symbols"] = list(self.symbols)
        data["elements"] = list(self.elements)
        return data


def tiny(**overrides: Any) -> NExTMolConfig:
    """A few-thousand-parameter model for tests."""
    return replace(NExTMolConfig(lm_dim=32, lm_depth=2, lm_heads=2,
                                 conformer=ConformerConfig(dim=32, pair_dim=16, depth=2, heads=2)), **overrides)


def small(**overrides: Any) -> NExTMolConfig:
    """The shipped size (about 6M parameters, 12 MB in fp16), trainable on a laptop CPU."""
    return replace(NExTMolConfig(), **overrides)


PRESETS = {"tiny": tiny, "small": small}


def preset(name: str, **overrides: Any) -> NExTMolConfig:
    """The named size preset with some fields overridden."""
    if name not in PRESETS:
        raise ValueError(f"unknown NExT-Mol preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name](**overrides)
