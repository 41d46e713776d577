"""ADiT's second stage: a Diffusion Transformer (Peebles & Xie, 2023) over per-atom latent tokens.

Each token is one atom's latent (no patching). Time and class label are summed into one conditioning vector that
drives every block through adaLN-zero; the label has one extra "no label" entry for classifier-free guidance.
Self-conditioning: the token also carries the model's previous estimate of the clean latent (zeros when there
is none), concatenated to the noisy one. Optionally (`dit_input_skip`, an atomgen extension) the output adds
s(t, label)·x_t, a learned per-number multiple of the noisy input: near the data the best guess is almost the input
itself, which a stack ending in a LayerNorm can only rebuild to about a hundredth of its scale, while the skip
leaves the network the small remainder (EDM's c_skip, learned and starting at zero so a trained model without it
is warm-started exactly).

Optionally too (`dit_distance_bias`, an atomgen extension), attention is biased by distances. A plain transformer
over latent tokens must learn which atoms are neighbours from raw numbers, yet the trained encoder writes each
atom's position into its latent almost linearly (an affine map from a QM9 atom's latent back to its coordinates
has R² 0.997 on held-out molecules: `bench_adit.py --parts latent-geometry`). So a learned linear map reads a 3D
point from each atom's self-conditioning estimate, the model's current guess of the clean latents, and the
distances between those points bias every head of every layer, as Quetzal's distance-biased attention does with
real positions (`atomgen.nn.distance_bias`). The readout starts as the least-squares map from latents to
coordinates (`fit_point_readout`), so the points are in Å from the first step; the bias starts at zero, so a trained
DiT is warm-started exactly. Rows with no estimate yet (zeros) get the same bias on every pair, which softmax
ignores.
"""

from __future__ import annotations

import torch
from torch import nn

from atomgen.models.adit.autoencoder import key_padding_mask
from atomgen.models.adit.config import ADiTConfig
from atomgen.nn.adaln import modulate
from atomgen.nn.distance_bias import DistanceBias
from atomgen.nn.embeddings import ScalarEmbedding
from atomgen.nn.transformer import TransformerStack

# Flow-matching time lives in [0, 1]; the sinusoidal embedding was made for integer diffusion steps 0..1000.
TIME_SCALE = 1000.0
# The input skip starts at zero and must reach about 1 near the data. Adam moves each weight by about the learning
# rate per step, so without a gain a warm-started skip took thousands of steps to get a third of the way there.
SKIP_GAIN = 10.0
# Likewise the distance bias starts at zero and must reach a few units to steer attention; without a gain, 4,000
# warm-started steps at lr 2e-4 hardly moved it off zero.
BIAS_GAIN = 10.0


class LatentDiT(nn.Module):
    """x̂₁(x_t, t, label, previous estimate): the clean-latent predictor of the flow-matching model."""

    def __init__(self, config: ADiTConfig):
        super().__init__()
        dim = config.dit_dim
        self.no_label = len(config.labels)
        self.input = nn.Linear(2 * config.latent_dim, dim)
        self.time_embedding = ScalarEmbedding(dim)
        self.label_embedding = nn.Embedding(len(config.labels) + 1, dim)
        self.blocks = TransformerStack(config.dit_depth, dim, config.dit_heads, cond_dim=dim)
        self.final_norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.output = nn.Linear(dim, config.latent_dim)
        self.input_skip = nn.Linear(dim, config.latent_dim) if config.dit_input_skip else None
        self.point_readout = None
        self.distance_bias = None
        if config.dit_distance_bias:
            self.point_readout = nn.Linear(config.latent_dim, 3, bias=False)
            self.distance_bias = DistanceBias(config.dit_depth, config.dit_heads)
        zero_start = [self.final_modulation[-1], self.output, self.input_skip]
        for layer in filter(None, zero_start):  # start as "predict zeros", as DiT does
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, noisy: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, previous: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Predicted clean latents (B, L, latent_dim); `labels` may hold `no_label`; `mask` marks real atoms."""
        cond = self.time_embedding(t * TIME_SCALE) + self.label_embedding(labels)
        tokens = self.input(torch.cat([noisy, previous], dim=-1))
        hidden = self.blocks(tokens, mask=self.attention_masks(previous, mask), cond=cond)
        shift, scale = self.final_modulation(cond).unsqueeze(1).chunk(2, dim=-1)
        clean = self.output(modulate(self.final_norm(hidden), shift, scale))
        if self.input_skip is not None:
            clean = clean + SKIP_GAIN * self.input_skip(cond).unsqueeze(1) * noisy
        return clean

    def attention_masks(self, previous: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """The key-padding mask, or with `dit_distance_bias` one additive bias per layer that also hides padding."""
        padding = key_padding_mask(mask)
        if self.distance_bias is None:
            return padding
        points = self.point_readout(previous.float())
        return [(BIAS_GAIN * bias).masked_fill(~padding, float("-inf"))
                for bias in self.distance_bias(points, points)]


def least_squares_readout(latents: torch.Tensor, positions: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The affine map that best predicts `positions` (N, 3) from `latents` (N, latent_dim) in the least-squares
    sense, as its linear part W (3, latent_dim) and offset (3,), and the map's R² on these points."""
    design = torch.cat([latents.double(), latents.new_ones(len(latents), 1, dtype=torch.float64)], dim=1)
    solution = torch.linalg.lstsq(design, positions.double()).solution  # (latent_dim + 1, 3)
    r2 = r_squared(design @ solution, positions.double())
    return solution[:-1].T.to(latents.dtype), solution[-1].to(latents.dtype), r2


def r_squared(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    """The coefficient of determination of `predicted` points against `truth` (N, 3): one minus the residual sum of
    squares over the total sum of squares about the truth's mean."""
    return 1.0 - float((predicted - truth).pow(2).sum() / (truth - truth.mean(0)).pow(2).sum())
