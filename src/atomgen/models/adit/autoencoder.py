"""ADiT's first stage: a transformer VAE from atoms to a few latent numbers per atom, and back.

Molecules and crystals go through the same encoder and decoder. Every token carries a system-kind embedding
(molecule or crystal), padding is masked out of attention, and crystal-only inputs and outputs (fractional
coordinates, lattice) are zero for molecules and left out of their loss. No positional index is embedded: the
atoms are a set, and everything that tells them apart is in their type and coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from atomgen.models.adit.config import ADiTConfig
from atomgen.nn.embeddings import PointEmbedding
from atomgen.nn.transformer import TransformerStack

MASKED_TYPE = 0
"""Type index of a hidden atom type (atomic numbers are 1..max_z)."""


def key_padding_mask(mask: torch.Tensor) -> torch.Tensor:
    """A (B, 1, 1, L) attention mask that lets every token attend to the real atoms of its own system only."""
    return mask[:, None, None, :]


def periodic_features(frac: torch.Tensor, harmonics: int) -> torch.Tensor:
    """sin and cos of 2πk·f for k = 1..harmonics: the same for f and f + 1, as a periodic input must be."""
    k = torch.arange(1, harmonics + 1, device=frac.device, dtype=frac.dtype)
    angles = 2 * math.pi * frac.unsqueeze(-1) * k  # (..., 3, harmonics)
    return torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(-2)


def unit_circle(frac: torch.Tensor) -> torch.Tensor:
    """(cos 2πf, sin 2πf) of every fractional coordinate, shape (..., 3, 2): where the decoder aims."""
    angles = 2 * math.pi * frac
    return torch.stack([angles.cos(), angles.sin()], dim=-1)


def frac_from_circle(points: torch.Tensor) -> torch.Tensor:
    """Fractional coordinates in [0, 1) of (..., 3, 2) points around the unit circle (any radius)."""
    frac = torch.atan2(points[..., 1], points[..., 0]) / (2 * math.pi)
    frac = torch.remainder(frac, 1.0)
    return torch.where(frac >= 1.0, torch.zeros_like(frac), frac)


@dataclass
class Decoded:
    """The decoder's outputs for a padded batch: type logits (B, L, max_z + 1), positions (B, L, 3) in Å,
    fractional coordinates as points on the unit circle (B, L, 3, 2) and lattice features (B, 6) (see
    `atomgen.data.lattice`).

    A fractional coordinate is an angle: predicting (cos 2πf, sin 2πf) keeps the output smooth across the cell
    boundary, where f jumps from 1 back to 0, and the input carries exactly these features.
    """

    type_logits: torch.Tensor
    positions: torch.Tensor
    frac_circle: torch.Tensor
    lattice: torch.Tensor

    @property
    def frac(self) -> torch.Tensor:
        """Fractional coordinates in [0, 1)."""
        return frac_from_circle(self.frac_circle.float())


class Autoencoder(nn.Module):
    """Encoder and decoder; `loss` is the negative ELBO (with the KL term weighted) of a batch."""

    def __init__(self, config: ADiTConfig):
        super().__init__()
        self.config = config
        dim = config.vae_dim
        self.type_embedding = nn.Embedding(config.max_z + 1, dim)
        self.position_embedding = PointEmbedding(dim, config.fourier_frequencies)
        self.frac_embedding = nn.Linear(6 * config.frac_harmonics, dim)
        self.lattice_embedding = nn.Linear(6, dim)
        self.kind_embedding = nn.Embedding(2, dim)
        self.encoder = TransformerStack(config.vae_depth, dim, config.vae_heads)
        self.encoder_norm = nn.LayerNorm(dim)
        self.to_latent = nn.Linear(dim, 2 * config.latent_dim)
        self.from_latent = nn.Linear(config.latent_dim, dim)
        self.decoder_kind = nn.Embedding(2, dim)
        self.decoder = TransformerStack(config.vae_depth, dim, config.vae_heads)
        self.decoder_norm = nn.LayerNorm(dim)
        self.type_out = nn.Linear(dim, config.max_z + 1)
        self.position_out = nn.Linear(dim, 3)
        self.frac_out = nn.Linear(dim, 6)
        self.lattice_out = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, 6))

    def encode(self, numbers: torch.Tensor, positions: torch.Tensor, frac: torch.Tensor,
               lattice_features: torch.Tensor, periodic: torch.Tensor,
               mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-variance) of the per-atom latent, each (B, L, latent_dim)."""
        kind = periodic.long()[:, None]
        # Molecules have zero fractional coordinates and lattice; their frac/lattice terms are masked to zero so
        # the embedding of a molecule does not carry the constant cos(0) = 1 features of a "frac = 0" crystal.
        crystal = periodic[:, None, None].to(positions.dtype)
        tokens = (self.type_embedding(numbers) + self.position_embedding(positions)
                  + crystal * self.frac_embedding(periodic_features(frac, self.config.frac_harmonics))
                  + crystal * self.lattice_embedding(lattice_features)[:, None]
                  + self.kind_embedding(kind))
        hidden = self.encoder_norm(self.encoder(tokens, mask=key_padding_mask(mask)))
        mean, log_var = self.to_latent(hidden).chunk(2, dim=-1)
        if self.config.latent_noise > 0:  # standardised means, fixed posterior spread (see ADiTConfig)
            mean = F.layer_norm(mean, mean.shape[-1:])
            return mean, torch.full_like(mean, 2 * math.log(self.config.latent_noise))
        return mean, log_var.clamp(-30.0, 20.0)

    def decode(self, latents: torch.Tensor, periodic: torch.Tensor, mask: torch.Tensor) -> Decoded:
        """Types, positions, fractional coordinates and lattice of a batch of per-atom latents."""
        tokens = self.from_latent(latents) + self.decoder_kind(periodic.long()[:, None])
        hidden = self.decoder_norm(self.decoder(tokens, mask=key_padding_mask(mask)))
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
        circle = self.frac_out(hidden).unflatten(-1, (3, 2))
        return Decoded(type_logits=self.type_out(hidden), positions=self.position_out(hidden), frac_circle=circle,
                       lattice=self.lattice_out(pooled))

    def loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None
             ) -> dict[str, torch.Tensor]:
        """Reconstruction losses (types, positions, and for crystals fractional coordinates and lattice) + KL.

        `batch` holds already augmented tensors (see `atomgen.data.systems.collate_systems`).
        """
        numbers, positions, frac = batch["numbers"], batch["positions"], batch["frac"]
        periodic, mask = batch["periodic"], batch["numbers"] > 0
        hidden_types = (torch.rand(numbers.shape, generator=generator, device=numbers.device)
                        < self.config.type_mask_prob) & mask
        noisy_numbers = numbers.masked_fill(hidden_types, MASKED_TYPE)
        jitter = self.config.position_jitter * torch.randn(positions.shape, generator=generator,
                                                           device=positions.device, dtype=positions.dtype)
        mean, log_var = self.encode(noisy_numbers, positions + jitter, frac, batch["lattice_features"],
                                    periodic, mask)
        latents = mean + (0.5 * log_var).exp() * torch.randn(mean.shape, generator=generator,
                                                             device=mean.device, dtype=mean.dtype)
        out = self.decode(latents, periodic, mask)

        atom_weights = mask.float()
        crystal_atoms = (mask & periodic[:, None]).float()
        # A crystal is decoded from its fractional coordinates and lattice; asking the latent to also carry its
        # (rotated) Cartesian positions would spend 3 of its few numbers on something derivable from those.
        molecule_atoms = atom_weights - crystal_atoms
        type_loss = F.cross_entropy(out.type_logits[mask].float(), numbers[mask])
        position_loss = _masked_mean(((out.positions.float() - positions) ** 2).sum(-1), molecule_atoms)
        # Squared chord on the unit circle: (2π Δf)² for small errors, and smooth across the cell boundary.
        frac_loss = _masked_mean(((out.frac_circle.float() - unit_circle(frac)) ** 2).sum((-1, -2)), crystal_atoms)
        lattice_loss = _masked_mean(((out.lattice.float() - batch["lattice_features"]) ** 2).sum(-1),
                                    periodic.float())
        kl = _masked_mean(0.5 * (mean.float() ** 2 + log_var.float().exp() - 1 - log_var.float()).sum(-1),
                          atom_weights)
        loss = (type_loss + position_loss + self.config.frac_weight * frac_loss + lattice_loss
                + self.config.kl_weight * kl)
        return {"loss": loss, "type_loss": type_loss, "position_loss": position_loss, "frac_loss": frac_loss,
                "lattice_loss": lattice_loss, "kl": kl}


def _masked_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean of `values` over the entries where `weights` is 1 (0 when there are none)."""
    return (values * weights).sum() / weights.sum().clamp(min=1)
