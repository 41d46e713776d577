"""DiffMLP: the small per-token diffusion head of MAR (Li et al., 2024) that Quetzal uses for positions.

A stack of adaLN residual blocks maps a noisy point, a noise level and a conditioning vector to a denoised point.
Because it sees one point at a time, it is cheap enough to be trained with several noise draws per token.
"""

from __future__ import annotations

import torch
from torch import nn

from atomgen.nn.adaln import AdaLNResBlock, modulate
from atomgen.nn.embeddings import PointEmbedding, ScalarEmbedding


class DiffMLP(nn.Module):
    """The raw network F(c_in·x, c_noise, condition) of an EDM denoiser over 3-D points.

    Args:
        cond_dim: width of the conditioning vector (the transformer's output for this token).
        width: width of the residual blocks.
        depth: number of residual blocks.
        n_frequencies: random Fourier features of the noisy input point.
    """

    def __init__(self, cond_dim: int, width: int, depth: int, n_frequencies: int = 64):
        super().__init__()
        self.point = PointEmbedding(width, n_frequencies)
        self.noise = ScalarEmbedding(width)
        self.condition = nn.Linear(cond_dim, width)
        self.blocks = nn.ModuleList(AdaLNResBlock(width, width) for _ in range(depth))
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.out = nn.Linear(width, 3)
        for layer in (self.final_modulation[-1], self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def embed_condition(self, cond: torch.Tensor) -> torch.Tensor:
        """Project a conditioning vector once; samplers reuse the result for every ODE step."""
        return self.condition(cond)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, cond_embedding: torch.Tensor) -> torch.Tensor:
        c = self.noise(c_noise) + cond_embedding
        h = self.point(x)
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.final_modulation(c).chunk(2, dim=-1)
        return self.out(modulate(self.final_norm(h), shift, scale))
