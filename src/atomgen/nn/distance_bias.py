"""Attention biases from the distances between tokens that are points in space.

A transformer that embeds each atom's absolute coordinates must learn to compare them before it can tell which
atoms are neighbours; for a small model that is slow to learn and never exact. This module hands every attention
head of every layer an additive bias computed from the pair's distance, so a head can look at the atoms within
bonding distance of its query directly (the relational attention of Graphormer-style models, here on distances).
The bias depends only on distances, so it is invariant under rotations and translations of the whole system.
"""

from __future__ import annotations

import torch
from torch import nn

from atomgen.nn.embeddings import GaussianDistances


class DistanceBias(nn.Module):
    """Per-layer, per-head additive attention biases from Gaussian functions of the token-token distances.

    Args:
        layers: number of attention layers to give a bias (each gets its own).
        heads: attention heads per layer.
        count, cutoff: the Gaussian grid, `count` centres from 0 to `cutoff` Å; beyond the cutoff every pair gets
            the same bias, which softmax ignores.
        hidden: width of the small MLP that maps the Gaussians to the biases.

    The output layer starts at zero, so a trained model extended with this module starts exactly as it was.
    """

    def __init__(self, layers: int, heads: int, count: int = 48, cutoff: float = 6.0, hidden: int = 64):
        super().__init__()
        self.layers = layers
        self.heads = heads
        self.distances = GaussianDistances(count, cutoff)
        self.mlp = nn.Sequential(nn.Linear(count, hidden), nn.SiLU(), nn.Linear(hidden, layers * heads))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, query_positions: torch.Tensor, key_positions: torch.Tensor) -> list[torch.Tensor]:
        """One bias (B, heads, Lq, Lk) per layer for queries (B, Lq, 3) and keys (B, Lk, 3) in Å."""
        # In full precision: bond lengths differ by hundredths of an Ångström.
        with torch.autocast(device_type=query_positions.device.type, enabled=False):
            delta = query_positions.float()[:, :, None, :] - key_positions.float()[:, None, :, :]
            # Softened at zero (a token and itself), where the plain norm has no gradient.
            features = self.distances((delta.pow(2).sum(-1) + 1e-8).sqrt())
        bias = self.mlp(features.to(self.mlp[0].weight.dtype))  # (B, Lq, Lk, layers·heads)
        batch, queries, keys, _ = bias.shape
        bias = bias.permute(0, 3, 1, 2).reshape(batch, self.layers, self.heads, queries, keys)
        return list(bias.unbind(1))
