"""Conditioning on target properties, any subset of them: the encoder every conditional family shares, and the
random subsets it trains on.

A model conditioned on P properties reads them normalised ((value - mean) / mad, per property) with a flag for
each that is present. A present property is embedded from its value (a learned curve per property); an absent
one reads as a learned embedding of its own, so "no gap asked for" is something the model knows, not a zero that
means "gap at the mean". The embeddings are summed and mapped to `tokens` vectors: NExT-Mol prepends them to the
SELFIES as a soft prompt, Quetzal adds the one vector to its tokens and its position head.

In training each molecule shows the model a random subset of its properties (`training_subsets`), so at sampling
time a user may ask for any one, several or none; with none the model is unconditional, which is what
classifier-free guidance contrasts the condition with.
"""

from __future__ import annotations

import torch
from torch import nn

from atomgen.nn.embeddings import FourierFeatures

UNCONDITIONAL_SHARE = 0.1
"""Of training molecules, the share that see no property: the unconditional model guidance needs."""
SINGLE_SHARE = 0.4
"""The share that see exactly one, chosen uniformly: the protocol's usual request. The rest see each property
independently with probability one half."""


class PropertyEncoder(nn.Module):
    """(normalised values (B, P), present (B, P) bool) -> conditioning vectors (B, tokens, dim)."""

    def __init__(self, n_properties: int, dim: int, tokens: int = 1, n_frequencies: int = 16):
        super().__init__()
        self.tokens = tokens
        self.fourier = FourierFeatures(1, n_frequencies, scale=0.5)
        self.value = nn.ModuleList(nn.Linear(1 + self.fourier.out_dim, dim) for _ in range(n_properties))
        self.absent = nn.Parameter(torch.zeros(n_properties, dim))
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, tokens * dim))

    def forward(self, values: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        features = torch.cat([values[..., None], self.fourier(values[..., None])], dim=-1)  # (B, P, 1 + F)
        embedded = torch.stack([layer(features[:, p]) for p, layer in enumerate(self.value)], dim=1)
        embedded = torch.where(present[..., None], embedded, self.absent.to(embedded.dtype))
        out = self.out(embedded.sum(dim=1))
        return out.view(len(values), self.tokens, -1)


def training_subsets(present: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Which of each molecule's known properties (present (B, P) bool) a training step shows the model: none for
    UNCONDITIONAL_SHARE of the molecules, exactly one (among those it has) for SINGLE_SHARE, and otherwise each
    independently with probability one half."""
    batch, n_properties = present.shape
    device = present.device
    draw = torch.rand(batch, generator=generator, device=device)
    coin = torch.rand(batch, n_properties, generator=generator, device=device) < 0.5
    # One property among the present ones: the largest of random scores, the absent scored below every present.
    scores = torch.rand(batch, n_properties, generator=generator, device=device).masked_fill(~present, -1.0)
    single = torch.nn.functional.one_hot(scores.argmax(dim=1), n_properties).bool() & present
    chosen = torch.where((draw < UNCONDITIONAL_SHARE + SINGLE_SHARE)[:, None], single, coin & present)
    return chosen & (draw >= UNCONDITIONAL_SHARE)[:, None]
