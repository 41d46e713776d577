"""NExT-Mol's conformer model (DMT): a transformer over atoms that also carries a representation of every pair.

Each block updates the atoms with relational attention, whose logits get a per-head bias from the pair features
and whose values get a pair term, so a bond or a graph distance weighs directly on which atoms look at which; then
it updates the pairs from their two atoms. Time enters every atom update through adaLN. The pair features are
the bond type, the double-bond stereo, the graph distance and Gaussian functions of the current noisy distance,
which is how the model reads the geometry it is denoising. The output is not equivariant: the model learns
rotations from augmentation and is trained with a loss after optimal alignment.

With `pair_push` (an atomgen extension) the pairs also see a finer grid of Gaussians of the short distances, and the
output gains an equivariant term Σ_j w_ij · (x_i - x_j)/d_ij with w_ij read from the final pair features: a bond
that is too long or too short can be corrected along its own direction, which the per-atom output can only learn
to do from augmentation. Its output layer starts at zero.

With `chiral_order` (an atomgen extension) the pairs also see each stereocentre's neighbours numbered in the
order that makes the centre counter-clockwise (`atomgen.data.molecular_graphs`): the chirality tag alone refers
to a storage order of bonds the model cannot see. Its embeddings start at zero.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from atomgen.data.molecular_graphs import (
    ATOM_FEATURE_SIZES,
    BOND_STEREO_CLASSES,
    BOND_TYPE_CLASSES,
    CHIRAL_ORDER_CLASSES,
    GRAPH_DISTANCE_CLASSES,
)
from atomgen.nn.adaln import modulate
from atomgen.nn.compile import repeated_block
from atomgen.nn.embeddings import GaussianDistances, PointEmbedding, ScalarEmbedding
from atomgen.nn.rows import single_output


@repeated_block
class RelationalBlock(nn.Module):
    """Atom update by pair-biased attention and an MLP (both adaLN-modulated by time), then a pair update."""

    def __init__(self, dim: int, pair_dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.pair_norm = nn.LayerNorm(pair_dim)
        self.pair_bias = nn.Linear(pair_dim, heads)
        self.pair_value = nn.Linear(pair_dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.modulation[-1].weight)
        nn.init.zeros_(self.modulation[-1].bias)
        self.pair_update = nn.Sequential(nn.LayerNorm(pair_dim), nn.Linear(pair_dim, pair_dim), nn.SiLU(),
                                         nn.Linear(pair_dim, pair_dim))
        self.atom_to_pair = nn.Linear(dim, 2 * pair_dim)

    def forward(self, atoms: torch.Tensor, pairs: torch.Tensor, cond: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, n, dim = atoms.shape
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond).unsqueeze(1).chunk(6, dim=-1)
        h = modulate(self.norm1(atoms), shift1, scale1)
        q, k, v = self.qkv(h).view(batch, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        normed_pairs = self.pair_norm(pairs)
        logits = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        logits = logits + self.pair_bias(normed_pairs).permute(0, 3, 1, 2)
        logits = logits.masked_fill(~mask[:, None, None, :], float("-inf"))
        weights = torch.softmax(logits.float(), dim=-1).to(v.dtype)
        mixed = weights @ v + self._pair_values(weights, normed_pairs)
        atoms = atoms + gate1 * self.out(mixed.transpose(1, 2).reshape(batch, n, dim))
        atoms = atoms + gate2 * self.mlp(modulate(self.norm2(atoms), shift2, scale2))
        left, right = self.atom_to_pair(atoms).chunk(2, dim=-1)
        pairs = pairs + self.pair_update(pairs + left[:, :, None] + right[:, None, :])
        return atoms, pairs

    def _pair_values(self, weights: torch.Tensor, normed_pairs: torch.Tensor) -> torch.Tensor:
        """Σ_j a_ij · (W p_ij + b) for every head: the pair term of the attention's values, (B, H, N, head_dim).

        Computed as W (Σ_j a_ij p_ij) + b, since each row of attention weights sums to one: the pair values
        themselves (B·N·N·dim numbers, copied twice on the way) are never built, only the weighted pair features
        (B·H·N·pair_dim). Sampling conformers in bf16 ran about half its time in those copies.
        """
        pooled = torch.einsum("bhij,bijc->bhic", weights, normed_pairs.to(weights.dtype))
        projection = self.pair_value.weight.view(self.heads, self.head_dim, -1).to(pooled.dtype)
        bias = self.pair_value.bias.view(self.heads, 1, self.head_dim)
        return torch.einsum("bhic,hdc->bhid", pooled, projection) + bias.to(pooled.dtype)


class ConformerNetwork(nn.Module):
    """x̂₀(x_t, t | graph): predicted clean coordinates (in the model's scaled units) of every atom.

    Optionally reads per-atom vectors from the language model (`atom_context`) through a small adapter: the
    1D-to-3D transfer of NExT-Mol.
    """

    def __init__(self, dim: int, pair_dim: int, depth: int, heads: int, context_dim: int | None = None,
                 pair_push: bool = False, chiral_order: bool = False):
        super().__init__()
        self.atom_embeddings = nn.ModuleList(nn.Embedding(size, dim) for size in ATOM_FEATURE_SIZES)
        self.point = PointEmbedding(dim, 32)
        self.time = ScalarEmbedding(dim)
        self.bond_type = nn.Embedding(BOND_TYPE_CLASSES, pair_dim)
        self.bond_stereo = nn.Embedding(BOND_STEREO_CLASSES, pair_dim)
        self.graph_distance = nn.Embedding(GRAPH_DISTANCE_CLASSES, pair_dim)
        self.distances = GaussianDistances()
        self.distance_embedding = nn.Linear(self.distances.centres.numel(), pair_dim)
        self.blocks = nn.ModuleList(RelationalBlock(dim, pair_dim, heads) for _ in range(depth))
        self.final_norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, 3)
        self.fine_distances = self.fine_distance_embedding = self.push = None
        if pair_push:
            self.fine_distances = GaussianDistances(count=40, cutoff=4.0)  # 0.1 Å apart: bond-length resolution
            self.fine_distance_embedding = nn.Linear(self.fine_distances.centres.numel(), pair_dim)
            self.push = nn.Sequential(nn.LayerNorm(pair_dim), nn.Linear(pair_dim, pair_dim), nn.SiLU(),
                                      nn.Linear(pair_dim, 1))
            # Everything the extension adds starts at zero, so a trained model without it (`init_from`) starts
            # unchanged.
            for layer in (self.fine_distance_embedding, self.push[-1]):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        self.chiral_centre = self.chiral_neighbour = None
        if chiral_order:  # pair (i, j): j's number around centre i, and i's number around centre j
            self.chiral_centre = nn.Embedding(CHIRAL_ORDER_CLASSES, pair_dim)
            self.chiral_neighbour = nn.Embedding(CHIRAL_ORDER_CLASSES, pair_dim)
            for embedding in (self.chiral_centre, self.chiral_neighbour):
                nn.init.zeros_(embedding.weight)  # as the pair push: a trained model without it starts unchanged
        self.adapter = None
        if context_dim is not None:
            self.adapter = nn.Sequential(nn.LayerNorm(context_dim), nn.Linear(context_dim, dim), nn.SiLU(),
                                         nn.Linear(dim, dim))
            nn.init.zeros_(self.adapter[-1].weight)  # starts as "no transfer", so it can only help
            nn.init.zeros_(self.adapter[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, graph: dict[str, torch.Tensor], scale: float,
                atom_context: torch.Tensor | None = None) -> torch.Tensor:
        """`x` (B, N, 3) noisy coordinates in scaled units; `graph` as built by `collate_graphs`; `scale` the
        Å per unit (the noisy distances are read in Å)."""
        mask = graph["mask"]
        atoms = sum(embedding(graph["atom_features"][..., k]) for k, embedding in enumerate(self.atom_embeddings))
        atoms = atoms + self.point(x)
        if self.adapter is not None and atom_context is not None:
            atoms = atoms + self.adapter(atom_context)
        distance = torch.cdist(x.float(), x.float()) * scale
        pairs = (self.bond_type(graph["bond_types"]) + self.bond_stereo(graph["bond_stereo"])
                 + self.graph_distance(graph["graph_distance"])
                 + self.distance_embedding(self.distances(distance)).to(atoms.dtype))
        if self.chiral_centre is not None:
            order = graph["chiral_order"]
            pairs = pairs + self.chiral_centre(order) + self.chiral_neighbour(order.transpose(1, 2))
        if self.push is not None:
            pairs = pairs + self.fine_distance_embedding(self.fine_distances(distance)).to(pairs.dtype)
        cond = self.time(t * 1000.0)
        for block in self.blocks:
            atoms, pairs = block(atoms, pairs, cond, mask)
        out = self.out(self.final_norm(atoms))
        if self.push is not None:
            out = out + self._pair_push(x, pairs, mask)
        return out * mask.unsqueeze(-1)

    def _pair_push(self, x: torch.Tensor, pairs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Σ_j w_ij · (x_i - x_j)/d_ij over the other real atoms j, with w_ij from the pair features."""
        n = x.shape[1]
        others = mask[:, :, None] & mask[:, None, :] & ~torch.eye(n, dtype=torch.bool, device=x.device)
        # The single-output layer as a sum, so a pair's strength does not depend on the batch (`atomgen.nn.rows`).
        strength = single_output(self.push[-1], self.push[:-1](pairs)).squeeze(-1).float() * others
        delta = x.float()[:, :, None, :] - x.float()[:, None, :, :]
        # The softened norm keeps the direction smooth for two atoms on top of each other (early in sampling).
        unit = delta / (delta.pow(2).sum(-1, keepdim=True) + 1e-4).sqrt()
        return (strength.unsqueeze(-1) * unit).sum(2)
