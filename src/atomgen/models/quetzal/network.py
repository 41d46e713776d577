"""Quetzal's network: a causal transformer in two halves and a DiffMLP position head.

A molecule is the token sequence START, a_1 ... a_n (STOP is only ever predicted). Token i embeds its type, its
position (linear + Fourier features) and its index. Reading tokens 0..i:

* the first half of the layers predicts the type of atom i+1 (or STOP);
* the second half also receives the embedding of that next type and emits z_i, which conditions the DiffMLP that
  models the position of atom i+1 in the molecule's frame.

With `prefix_geometry` the head also sees the distances from its noisy point to the atoms already placed (see
`prefix_geometry.py`). A property-conditional model adds one vector computed from the target properties
(`atomgen.nn.property_condition`) to every token and, through a linear map, to every conditioning vector z_i.
"""

from __future__ import annotations

import torch
from torch import nn

from atomgen.diffusion.edm import precondition
from atomgen.models.quetzal.config import QuetzalConfig
from atomgen.models.quetzal.prefix_geometry import PrefixGeometry
from atomgen.nn.diffmlp import DiffMLP
from atomgen.nn.embeddings import PointEmbedding
from atomgen.nn.property_condition import PropertyEncoder
from atomgen.nn.transformer import KVCache, TransformerStack

START = 0
"""Input index of the START token; atom types are 1..K."""
STOP = 0
"""Output class of STOP; atom types are 1..K, so padding (0) after the last atom reads as STOP."""

class QuetzalNetwork(nn.Module):
    """The trainable part of Quetzal. `QuetzalModel` wraps it with sampling, likelihood and checkpoints."""

    def __init__(self, config: QuetzalConfig):
        super().__init__()
        self.config = config
        classes = len(config.elements) + 1
        dim = config.dim
        self.input_type = nn.Embedding(classes, dim)
        self.input_point = PointEmbedding(dim, config.fourier_frequencies)
        self.sequence_position = nn.Embedding(config.max_atoms + 1, dim)
        self.type_stack = TransformerStack(config.type_depth, dim, config.heads, config.mlp_ratio)
        self.type_norm = nn.LayerNorm(dim)
        self.type_out = nn.Linear(dim, classes)
        self.next_type = nn.Embedding(classes, dim)
        self.position_stack = TransformerStack(config.depth - config.type_depth, dim, config.heads, config.mlp_ratio)
        self.position_norm = nn.LayerNorm(dim)
        self.head = DiffMLP(dim, config.head_width, config.head_depth, config.fourier_frequencies)
        self.geometry = PrefixGeometry(classes, config.head_width) if config.prefix_geometry else None
        self.properties = PropertyEncoder(len(config.properties), dim) if config.properties else None
        self.head_condition = nn.Linear(dim, dim) if config.properties else None
        if self.properties is not None:
            # The property vector starts at zero, so a conditional model warm-started from unconditional weights
            # (`init_from`) begins exactly at that model and learns the properties from there.
            nn.init.zeros_(self.properties.out[-1].weight)
            nn.init.zeros_(self.properties.out[-1].bias)
            nn.init.zeros_(self.head_condition.bias)  # its weights see a zero vector until the trunk's path moves it

    def property_vector(self, values: torch.Tensor, present: torch.Tensor) -> torch.Tensor | None:
        """The conditioning vector (B, dim) of normalised property values (B, P) and their presence flags; None
        for an unconditional model."""
        return None if self.properties is None else self.properties(values, present)[:, 0]

    def embed(self, types: torch.Tensor, positions: torch.Tensor, offset: int = 0,
              properties: torch.Tensor | None = None) -> torch.Tensor:
        """Input embeddings of tokens (types in 0..K with 0 = START) whose sequence index starts at `offset`;
        `properties` holds each row's property vector (a conditional model)."""
        index = torch.arange(offset, offset + types.shape[1], device=types.device)
        tokens = self.input_type(types) + self.input_point(positions) + self.sequence_position(index)
        if properties is not None:
            tokens = tokens + properties[:, None].to(tokens.dtype)
        return tokens

    def type_logits(self, tokens: torch.Tensor, cache: KVCache | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """First half: (hidden states, next-type logits) for embedded tokens, extending `cache` if given."""
        hidden = self.type_stack(tokens, causal=True, cache=cache)
        return hidden, self.type_out(self.type_norm(hidden))

    def condition(self, hidden: torch.Tensor, next_types: torch.Tensor, cache: KVCache | None = None,
                  properties: torch.Tensor | None = None) -> torch.Tensor:
        """Second half: the conditioning vector z_i of the next atom's position, given that atom's type (and
        the row's property vector, for a conditional model)."""
        out = self.position_norm(self.position_stack(hidden + self.next_type(next_types), causal=True, cache=cache))
        if properties is not None:
            out = out + self.head_condition(properties)[:, None].to(out.dtype)
        return out

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, cond_embedding: torch.Tensor,
                placed: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """EDM denoiser D(x, σ | z) of a next-atom position; `cond_embedding` is `head.embed_condition(z)`.

        `placed` holds the types (R, P; 0 = none) and positions (R, P, 3) of the atoms already placed in each
        row's molecule; only a head with prefix geometry (see `prefix_geometry`) looks at them, and the paper's
        head may be given None.
        """
        if self.geometry is None:
            return precondition(self.head, x, sigma, self.config.sigma_data, cond_embedding)
        pairs = self.geometry.pairs(x, *placed)
        context = self.geometry.input_term(pairs)

        def raw(scaled_x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
            hidden = self.head.hidden(scaled_x, c_noise, cond_embedding, context)
            return self.head.out(hidden) + self.geometry.output_term(pairs, hidden)

        return precondition(raw, x, sigma, self.config.sigma_data)

    @staticmethod
    def placed_atoms(types: torch.Tensor, positions: torch.Tensor,
                     selected: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The atoms placed before each selected token, for `denoise`.

        Token t of a row (types (B, L), positions (B, L, 3)) predicts atom t, so its placed atoms are 0..t-1.
        `selected` (B, L + 1) marks the tokens wanted; returns types (N, L) with 0 for atoms not yet placed and
        positions (N, L, 3), one row per selected token in row-major order.
        """
        length = types.shape[1]
        index = torch.arange(length + 1, device=types.device)
        before = index[None, :length] < index[:, None]  # (token, atom): the atom comes before the token
        placed_types = types[:, None, :] * before[None]
        placed_positions = positions[:, None, :, :].expand(-1, length + 1, -1, -1)
        return placed_types[selected], placed_positions[selected]

    def forward(self, types: torch.Tensor, positions: torch.Tensor, next_types: torch.Tensor,
                properties: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced pass over whole sequences: (type logits, conditioning vectors), one per input token;
        `properties` (B, dim) is each row's property vector (a conditional model)."""
        hidden, logits = self.type_logits(self.embed(types, positions, properties=properties))
        return logits, self.condition(hidden, next_types, properties=properties)
