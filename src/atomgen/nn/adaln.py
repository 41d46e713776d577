"""Adaptive layer norm (adaLN): shift and scale of a normalised activation predicted from a condition."""

from __future__ import annotations

import torch
from torch import nn


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Apply adaLN's affine modulation; `scale` is a residual around 1 so zero-initialised layers are neutral."""
    return x * (1 + scale) + shift


class AdaLNResBlock(nn.Module):
    """Residual MLP block whose layer norm is modulated by a condition (MAR's per-token diffusion head block).

    The modulation layer is zero-initialised, so every block starts as the identity: a deep head then trains as
    stably as a shallow one.
    """

    def __init__(self, dim: int, cond_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 3 * dim))
        nn.init.zeros_(self.modulation[-1].weight)
        nn.init.zeros_(self.modulation[-1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift, scale, gate = self.modulation(cond).chunk(3, dim=-1)
        return x + gate * self.mlp(modulate(self.norm(x), shift, scale))
