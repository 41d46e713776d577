"""What the position head sees of the atoms already placed: an atomgen extension of Quetzal's DiffMLP.

The paper's head sees only the noisy point x and the transformer's conditioning vector z, so every bond length
must be read out of z to a hundredth of an Ångström; a small model trained briefly does not get there (the
`precision` part of benchmarks/bench_quetzal.py measures this). This module gives the head the distances from x to
every placed atom directly:

* an input term, Σ_j cutoff(d_j) · ρ(d_j) ⊙ e(type_j), the environment of x seen as radial basis functions of
  its distances d_j to the placed atoms, weighted by a learned embedding of each atom's type;
* an output term, Σ_j w_j · (x - r_j)/d_j, a push along the line to each placed atom whose size w_j is computed
  from that pair's features and the head's final hidden state (so it depends on the noise level and on z).

Both terms are zero for the first atom and invariant (input) or equivariant (output) under rotations of the whole
molecule; the head still predicts the absolute position, as in the paper. The output layer starts at zero, so
at initialisation the head is the plain DiffMLP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from atomgen.nn.rows import at_least_rows, single_output

CUTOFF = 4.0
"""Å: placed atoms farther than this from the point do not enter its features."""
RBF_COUNT = 48
"""Gaussian radial basis functions, centred 0 ... CUTOFF Å: about 0.085 Å apart, fine enough for bond lengths."""


@dataclass
class PrefixPairs:
    """The (point, placed atom) pairs within the cutoff, flattened: pair k joins point `row[k]` to one atom.

    `features` (S, pair_dim) and `directions` (S, 3), the unit vector from the atom to the point scaled by the
    smooth cutoff; `rows` is the number of points R.
    """

    features: torch.Tensor
    directions: torch.Tensor
    row: torch.Tensor
    rows: int

    def sum_per_row(self, values: torch.Tensor) -> torch.Tensor:
        """Per-pair values (S, C) summed over each point's pairs: (R, C), zero for a point with none."""
        total = values.new_zeros(self.rows, values.shape[1])
        return total.index_add(0, self.row, values)


class PrefixGeometry(nn.Module):
    """Pair features between a candidate point and the placed atoms, an input embedding and an output push.

    Args:
        classes: number of type classes (index 0, padding, marks an absent atom).
        width: width of the head's hidden state.
        pair_dim: width of the per-pair features.
    """

    def __init__(self, classes: int, width: int, pair_dim: int = 64):
        super().__init__()
        self.register_buffer("centres", torch.linspace(0.0, CUTOFF, RBF_COUNT), persistent=False)
        self.gamma = 1.0 / (CUTOFF / (RBF_COUNT - 1)) ** 2
        self.radial = nn.Linear(RBF_COUNT, pair_dim)
        self.atom_type = nn.Embedding(classes, pair_dim, padding_idx=0)
        self.to_input = nn.Linear(pair_dim, width)
        self.pair_from_hidden = nn.Linear(width, pair_dim)
        self.push = nn.Sequential(nn.SiLU(), nn.Linear(pair_dim, pair_dim), nn.SiLU(), nn.Linear(pair_dim, 1))
        nn.init.zeros_(self.push[-1].weight)
        nn.init.zeros_(self.push[-1].bias)

    def pairs(self, x: torch.Tensor, placed_types: torch.Tensor, placed_positions: torch.Tensor) -> PrefixPairs:
        """The pairs between points x (R, 3) in Å and the placed atoms that lie within the cutoff.

        `placed_types` (R, P) is 0 where there is no atom. Only pairs of a real atom within CUTOFF are kept: the
        others would have zero features and zero directions, and skipping them saves most of the pair work (a
        row's padding holds the atoms not yet placed, and many placed atoms are far away).
        """
        # Always in full precision: the point of this module is to resolve distances finely.
        with torch.autocast(device_type=x.device.type, enabled=False):
            dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
            delta = x.to(dtype)[:, None, :] - placed_positions.to(dtype)
            # The softened norm keeps d and (x - r)/d smooth where the point sits on an atom.
            distance = (delta.pow(2).sum(-1) + 1e-4).sqrt()
            row, atom = ((placed_types > 0) & (distance < CUTOFF)).nonzero(as_tuple=True)
            delta, distance = delta[row, atom], distance[row, atom]
            rbf = torch.exp(-self.gamma * (distance[:, None] - self.centres.to(dtype)) ** 2)
            smooth = 0.5 * (torch.cos(math.pi * distance / CUTOFF) + 1)
            # However few pairs a batch has, they are computed as in a larger one (`atomgen.nn.rows`).
            radial = at_least_rows(self.radial, rbf.to(self.radial.weight.dtype))
            features = (radial * self.atom_type(placed_types[row, atom])
                        * smooth[:, None].to(self.radial.weight.dtype))
            return PrefixPairs(features, delta * (smooth / distance)[:, None], row, x.shape[0])

    def input_term(self, pairs: PrefixPairs) -> torch.Tensor:
        """The point's environment as an additive embedding of the head's input (R, width)."""
        return self.to_input(pairs.sum_per_row(pairs.features))

    def output_term(self, pairs: PrefixPairs, hidden: torch.Tensor) -> torch.Tensor:
        """Σ_j w_j · directions_j (R, 3), with w_j from the pair's features and the head's hidden state."""
        from_hidden = self.pair_from_hidden(hidden)
        # The pair MLP in float32 even under bf16 autocast: its row count (the pairs within the cutoff) changes at
        # every call, and oneDNN builds a new bf16 kernel for every new shape, which made sampling 10x slower.
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            dtype = pairs.features.dtype
            hidden_push = at_least_rows(self.push[:-1], pairs.features + from_hidden.to(dtype)[pairs.row])
            strength = single_output(self.push[-1], hidden_push)
            return pairs.sum_per_row(strength * pairs.directions.to(strength.dtype))
