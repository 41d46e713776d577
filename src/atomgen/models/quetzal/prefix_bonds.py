"""Bond bookkeeping in Quetzal's tokens: an atomgen extension aimed at the wrong hydrogen counts.

Half of the shipped model's unstable molecules fail on composition or connectivity (docs/quetzal.md, "Why the
unstable half fails"): the trunk decides the next type, STOP included, from embedded coordinates, so to know
whether the molecule is still short of hydrogens it must work out, from absolute positions alone, which atoms are
bonded. This module hands it that count. Token i also embeds b_i, the sum of the bond orders between its atom and
the atoms before it, the orders read from the distances with EDM's bond-length table (`atomgen.eval.bonds`).

Because bonds are symmetric, Σ_i b_i over a prefix is the bond-order total of the prefix, so Σ_i valence(type_i)
- 2 Σ_i b_i, the valence still open, is one attention-weighted sum away for every later token; and b_i depends only
on atoms 1..i, so a token's input never changes as the molecule grows (the KV cache stays exact). The embedding
starts at zero: a model warm-started from one without it begins exactly where that model was.
"""

from __future__ import annotations

import torch
from torch import nn

from atomgen.eval.bonds import edm_tables

MAX_ORDER_SUM = 8
"""Bond-order sums above this share its embedding (no QM9 atom has more than 4 bonds to earlier atoms)."""


class PrefixBonds(nn.Module):
    """Embeds each token's bond-order sum to the tokens before it. Type class 0 (START, padding) has no bonds."""

    def __init__(self, elements: tuple[int, ...], dim: int):
        super().__init__()
        thresholds, _, _ = edm_tables()
        numbers = torch.tensor((0, *elements))
        # Å; a zero entry is a bond order with no tabulated length (or a class without an element): never bonded.
        table = torch.as_tensor(thresholds, dtype=torch.float32)[:, numbers][:, :, numbers] / 100.0
        table[:, 0, :] = table[:, :, 0] = 0.0
        self.register_buffer("thresholds", table, persistent=False)
        self.embedding = nn.Embedding(MAX_ORDER_SUM + 1, dim)
        nn.init.zeros_(self.embedding.weight)

    def order_sums(self, types: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """(B, L) long: for each token of (types (B, L), positions (B, L, 3)) the sum of EDM bond orders between
        its atom and the atoms of the tokens before it."""
        with torch.autocast(positions.device.type, enabled=False):  # bf16 would blur bond lengths by ~0.01 Å
            distance = torch.cdist(positions.float(), positions.float())
        pair = (types[:, :, None], types[:, None, :])
        single, double, triple = (self.thresholds[k][pair] for k in range(3))
        # EDM tests the orders nested (a double bond is also within the single-bond length), so the order is a sum.
        is1 = distance < single
        is2 = is1 & (distance < double)
        is3 = is2 & (distance < triple)
        order = is1.long() + is2.long() + is3.long()
        length = types.shape[1]
        earlier = torch.ones(length, length, dtype=torch.bool, device=types.device).tril(-1)
        return (order * earlier).sum(dim=2)

    def forward(self, types: torch.Tensor, positions: torch.Tensor, new_tokens: int) -> torch.Tensor:
        """(B, new_tokens, dim): the embeddings of the last `new_tokens` tokens of the sequence (types, positions),
        whose earlier tokens are what each of them bonds to."""
        sums = self.order_sums(types, positions)[:, -new_tokens:]
        return self.embedding(sums.clamp(max=MAX_ORDER_SUM))
