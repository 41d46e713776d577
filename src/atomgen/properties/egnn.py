"""The EGNN property classifier of EDM's protocol (Satorras et al. 2021, as EDM's `qm9/property_prediction` uses
it): invariant message passing over every pair of atoms, then a sum over atoms.

Each of 7 layers computes, for every ordered pair (i, j) of distinct atoms, a message
m_ij = φ_e(h_i, h_j, |x_i - x_j|²) gated by σ(a(m_ij)), sums the messages each atom receives, and updates
h_i ← h_i + φ_h(h_i, Σ_j m_ij). Coordinates are never updated, so the prediction is invariant under rotations,
translations and reflections. Inputs are the one-hot atom types only (H, C, N, O, F); the readout is an MLP per
atom, a sum over atoms and an MLP to one number (the normalised property).

Pairs are held densely, (batch, atoms, atoms, width), which keeps the work in a few large matrix products; the
first layer of φ_e is split into its three input blocks, so W·[h_i, h_j, d²] costs two per-atom products and a
broadcast sum instead of a product per pair.
"""

from __future__ import annotations

import torch
from torch import nn

from atomgen.nn.compile import repeated_block


@repeated_block
class PairLayer(nn.Module):
    """One EGNN layer without coordinate updates (EDM's `E_GCL_mask` with attention)."""

    def __init__(self, width: int):
        super().__init__()
        self.source = nn.Linear(width, width)
        self.target = nn.Linear(width, width, bias=False)
        self.distance = nn.Linear(1, width, bias=False)
        self.edge = nn.Sequential(nn.SiLU(), nn.Linear(width, width), nn.SiLU())
        self.attention = nn.Sequential(nn.Linear(width, 1), nn.Sigmoid())
        self.node = nn.Sequential(nn.Linear(2 * width, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, h: torch.Tensor, squared_distances: torch.Tensor, pair_mask: torch.Tensor) -> torch.Tensor:
        """h (B, N, width), squared_distances (B, N, N, 1), pair_mask (B, N, N, 1): the updated h."""
        pre = self.source(h)[:, :, None] + self.target(h)[:, None, :] + self.distance(squared_distances)
        messages = self.edge(pre)
        messages = messages * self.attention(messages) * pair_mask
        return h + self.node(torch.cat([h, messages.sum(dim=2)], dim=-1))


class EGNNRegressor(nn.Module):
    """Atom types and positions of padded molecules -> one number per molecule."""

    def __init__(self, n_types: int, width: int = 128, depth: int = 7):
        super().__init__()
        self.embedding = nn.Linear(n_types, width)
        self.layers = nn.ModuleList(PairLayer(width) for _ in range(depth))
        self.atom_readout = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.molecule_readout = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 1))

    def forward(self, one_hot: torch.Tensor, positions: torch.Tensor, atom_mask: torch.Tensor) -> torch.Tensor:
        """one_hot (B, N, n_types), positions (B, N, 3) in Å, atom_mask (B, N) bool: (B,) predictions."""
        mask = atom_mask.to(one_hot.dtype)
        eye = torch.eye(mask.shape[1], dtype=mask.dtype, device=mask.device)
        pair_mask = (mask[:, :, None] * mask[:, None, :] * (1 - eye))[..., None]
        # Squared distances in fp32 whatever the autocast: they carry the geometry to a few thousandths of an Å².
        with torch.autocast(positions.device.type, enabled=False):
            difference = positions.float()[:, :, None] - positions.float()[:, None, :]
            squared = (difference**2).sum(dim=-1, keepdim=True)
        h = self.embedding(one_hot)
        for layer in self.layers:
            h = layer(h, squared, pair_mask)
        atoms = self.atom_readout(h) * mask[..., None]
        return self.molecule_readout(atoms.sum(dim=1))[:, 0]
