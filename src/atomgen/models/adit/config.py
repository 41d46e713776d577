"""ADiT's hyperparameters as one typed dataclass, and size presets as small factory functions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

KINDS = ("molecule", "crystal")


@dataclass(frozen=True)
class ADiTConfig:
    """Everything needed to rebuild an ADiT model; stored as JSON beside the weights.

    Attributes:
        labels: class labels the diffusion model is conditioned on (dataset names, e.g. "qm9", "perov_5").
        periodic: for each label, whether its systems are crystals.
        atom_counts: for each label, how many training systems had 0, 1, ... max_atoms atoms; generation draws
            the size of a system from it.
        max_atoms: the largest system the model handles.
        max_z: the largest atomic number it can read or write.
        vae_dim, vae_depth, vae_heads: the autoencoder's transformers (encoder and decoder each `vae_depth`).
        latent_dim: latent numbers per atom.
        kl_weight: weight of the KL term; small, so the latent keeps detail and the diffusion model gets a
            well-scaled space.
        latent_noise: 0 for the paper's VAE (a learned posterior per latent number). Above 0, every atom's latent
            mean is standardised across its numbers and the decoder learns from it plus Gaussian noise of this
            fixed standard deviation, so the encoder cannot outgrow the noise by scaling up its means and the
            decoder learns to read latents as imprecise as the diffusion model's (the KL term is then constant).
        type_mask_prob, position_jitter: the autoencoder's denoising corruption of its input (a share of types
            hidden, Gaussian jitter in Å on positions), which makes its decoder tolerant of imperfect latents.
        frac_weight: weight of the fractional-coordinate loss, a squared chord (2πΔf)² per coordinate, relative
            to the Cartesian one (Å²); 1 weighs a fractional error like a Cartesian one in a 6 Å cell.
        dit_dim, dit_depth, dit_heads: the latent diffusion transformer.
        label_dropout: share of training systems whose label is hidden (classifier-free guidance).
        self_condition_prob: share of training steps that feed the model its own first guess.
        latent_scale: standard deviation of the training latents, measured when the diffusion stage starts;
            None while only the autoencoder has been trained.
        fourier_frequencies: random Fourier features of Cartesian positions; `frac_harmonics` periodic
            harmonics of fractional coordinates.
        properties: for a property-conditional DiT, each property it reads with its normalisation and the range
            its training systems covered (`atomgen.models.conditions.PropertyStats` as a mapping); empty when it
            is conditioned on the class label alone.
    """

    labels: tuple[str, ...] = ("qm9", "perov_5", "carbon_24")
    periodic: tuple[bool, ...] = (False, True, True)
    atom_counts: tuple[tuple[int, ...], ...] = ()
    max_atoms: int = 32
    max_z: int = 100
    vae_dim: int = 128
    vae_depth: int = 4
    vae_heads: int = 4
    latent_dim: int = 8
    kl_weight: float = 1e-5
    latent_noise: float = 0.0
    type_mask_prob: float = 0.1
    position_jitter: float = 0.05
    frac_weight: float = 1.0
    dit_dim: int = 256
    dit_depth: int = 6
    dit_heads: int = 8
    label_dropout: float = 0.1
    self_condition_prob: float = 0.5
    latent_scale: float | None = None
    fourier_frequencies: int = 32
    frac_harmonics: int = 4
    properties: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))
        object.__setattr__(self, "periodic", tuple(bool(x) for x in self.periodic))
        object.__setattr__(self, "properties", {name: {key: float(v) for key, v in stats.items()}
                                                for name, stats in dict(self.properties).items()})
        object.__setattr__(self, "atom_counts", tuple(tuple(int(c) for c in row) for row in self.atom_counts))
        if len(self.periodic) != len(self.labels):
            raise ValueError("periodic needs one flag per label")
        if self.atom_counts and len(self.atom_counts) != len(self.labels):
            raise ValueError("atom_counts needs one histogram per label")
        if any(len(row) != self.max_atoms + 1 for row in self.atom_counts):
            raise ValueError("each atom-count histogram covers 0..max_atoms")

    def label_index(self, label: str) -> int:
        """The class index of a label name; an unknown label is a ValueError naming the known ones."""
        if label not in self.labels:
            raise ValueError(f"unknown class label {label!r} (this model knows {', '.join(self.labels)})")
        return self.labels.index(label)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("labels", "periodic"):
            data[key] = list(data[key])
        data["atom_counts"] = [list(row) for row in self.atom_counts]
        return data


def tiny(**overrides: Any) -> ADiTConfig:
    """A few-thousand-parameter model for tests."""
    return replace(ADiTConfig(vae_dim=32, vae_depth=1, vae_heads=2, dit_dim=32, dit_depth=2, dit_heads=2,
                              fourier_frequencies=8, frac_harmonics=2), **overrides)


def small(**overrides: Any) -> ADiTConfig:
    """The shipped size (about 7M parameters, under 15 MB in fp16), trainable on a laptop CPU."""
    return replace(ADiTConfig(vae_dim=128, vae_depth=4, vae_heads=4, dit_dim=256, dit_depth=4, dit_heads=8),
                   **overrides)


def base(**overrides: Any) -> ADiTConfig:
    """A GPU-sized model, between the paper's DiT-S and DiT-B."""
    return replace(ADiTConfig(vae_dim=512, vae_depth=8, vae_heads=8, dit_dim=512, dit_depth=12, dit_heads=8),
                   **overrides)


PRESETS = {"tiny": tiny, "small": small, "base": base}


def preset(name: str, **overrides: Any) -> ADiTConfig:
    """The named size preset with some fields overridden."""
    if name not in PRESETS:
        raise ValueError(f"unknown ADiT preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name](**overrides)
