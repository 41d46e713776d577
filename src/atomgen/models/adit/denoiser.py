"""ADiT's second stage: a Diffusion Transformer (Peebles & Xie, 2023) over per-atom latent tokens.

Each token is one atom's latent (no patching). Time and class label are summed into one conditioning vector that
drives every block through adaLN-zero; the label has one extra "no label" entry for classifier-free guidance. A
property-conditional model adds the vector of its target properties (`atomgen.nn.property_condition`) to that sum.
Self-conditioning: the token also carries the model's previous estimate of the clean latent (zeros when there
is none), concatenated to the noisy one.
"""

from __future__ import annotations

import torch
from torch import nn

from atomgen.models.adit.autoencoder import key_padding_mask
from atomgen.models.adit.config import ADiTConfig
from atomgen.nn.adaln import modulate
from atomgen.nn.embeddings import ScalarEmbedding
from atomgen.nn.property_condition import PropertyEncoder
from atomgen.nn.transformer import TransformerStack

# Flow-matching time lives in [0, 1]; the sinusoidal embedding was made for integer diffusion steps 0..1000.
TIME_SCALE = 1000.0


class LatentDiT(nn.Module):
    """x̂₁(x_t, t, label, previous estimate): the clean-latent predictor of the flow-matching model."""

    def __init__(self, config: ADiTConfig):
        super().__init__()
        dim = config.dit_dim
        self.no_label = len(config.labels)
        self.input = nn.Linear(2 * config.latent_dim, dim)
        self.time_embedding = ScalarEmbedding(dim)
        self.label_embedding = nn.Embedding(len(config.labels) + 1, dim)
        self.properties = PropertyEncoder(len(config.properties), dim) if config.properties else None
        self.blocks = TransformerStack(config.dit_depth, dim, config.dit_heads, cond_dim=dim)
        self.final_norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.output = nn.Linear(dim, config.latent_dim)
        for layer in (self.final_modulation[-1], self.output):  # start as "predict zeros", as DiT does
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def property_vector(self, values: torch.Tensor, present: torch.Tensor) -> torch.Tensor | None:
        """The conditioning vector (B, dim) of normalised property values (B, P) and their presence flags; None
        for a model without properties."""
        return None if self.properties is None else self.properties(values, present)[:, 0]

    def forward(self, noisy: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, previous: torch.Tensor,
                mask: torch.Tensor, properties: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted clean latents (B, L, latent_dim); `labels` may hold `no_label`; `mask` marks real atoms;
        `properties` (B, dim) is each row's property vector (a property-conditional model)."""
        cond = self.time_embedding(t * TIME_SCALE) + self.label_embedding(labels)
        if properties is not None:
            cond = cond + properties.to(cond.dtype)
        tokens = self.input(torch.cat([noisy, previous], dim=-1))
        hidden = self.blocks(tokens, mask=key_padding_mask(mask), cond=cond)
        shift, scale = self.final_modulation(cond).unsqueeze(1).chunk(2, dim=-1)
        return self.output(modulate(self.final_norm(hidden), shift, scale))
