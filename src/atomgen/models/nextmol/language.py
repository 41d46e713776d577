"""NExT-Mol's first stage: a decoder-only transformer over SELFIES tokens, sampled through a KV cache.

Any sequence of SELFIES symbols decodes to a valid molecule, so the only guard the sampler needs is that a string
places at least one atom: its first symbol is drawn among the atom symbols, and the end token is not allowed
before it.

A property-conditional model (NExT-Mol's conditional generation) reads a soft prompt before the SELFIES: a few
vectors computed from the target properties (`atomgen.nn.property_condition.PropertyEncoder`). Sampling may
sharpen the condition with classifier-free guidance, mixing each step's logits with those of the same model
prompted with no property.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from atomgen.data.selfies_vocab import SelfiesVocabulary
from atomgen.models.base import rows_to_keep
from atomgen.models.streams import SampleStreams, categorical
from atomgen.nn.property_condition import PropertyEncoder
from atomgen.nn.transformer import TransformerStack


class SelfiesLanguageModel(nn.Module):
    """Next-token prediction over SELFIES ids (BOS, symbols..., EOS), with learned position embeddings."""

    def __init__(self, vocabulary: SelfiesVocabulary, max_length: int, dim: int, depth: int, heads: int,
                 mlp_ratio: float = 4.0, n_properties: int = 0, prompt_tokens: int = 4):
        super().__init__()
        self.vocabulary = vocabulary
        self.max_length = max_length
        self.token_embedding = nn.Embedding(len(vocabulary), dim)
        self.position_embedding = nn.Embedding(max_length, dim)
        self.stack = TransformerStack(depth, dim, heads, mlp_ratio)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, len(vocabulary), bias=False)
        self.register_buffer("first_allowed", torch.as_tensor(vocabulary.atom_mask()), persistent=False)
        self.prompt = PropertyEncoder(n_properties, dim, prompt_tokens) if n_properties else None

    def hidden_states(self, ids: torch.Tensor, offset: int = 0, cache=None,
                      prompt: torch.Tensor | None = None) -> torch.Tensor:
        """Final-layer token states (B, L, dim) of token ids whose first position is `offset`; a soft `prompt`
        (B, T, dim) goes before them (into the cache too), and its own states are not returned."""
        positions = torch.arange(offset, offset + ids.shape[1], device=ids.device)
        tokens = self.token_embedding(ids) + self.position_embedding(positions)
        if prompt is not None:
            tokens = torch.cat([prompt.to(tokens.dtype), tokens], dim=1)
        hidden = self.norm(self.stack(tokens, causal=True, cache=cache))
        return hidden if prompt is None else hidden[:, prompt.shape[1] :]

    def prompt_of(self, values: torch.Tensor, present: torch.Tensor) -> torch.Tensor | None:
        """The soft prompt of normalised property values (B, P) and their presence flags; None for an
        unconditional model."""
        return None if self.prompt is None else self.prompt(values, present)

    def loss(self, ids: torch.Tensor, prompt: torch.Tensor | None = None) -> torch.Tensor:
        """Mean cross-entropy of every next token of padded id sequences (padding is not predicted), each
        sequence after its soft prompt when given."""
        logits = self.head(self.hidden_states(ids[:, :-1], prompt=prompt))
        targets = ids[:, 1:]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                               ignore_index=self.vocabulary.pad)

    @torch.no_grad()
    def sample(self, streams: SampleStreams, *, temperature: float = 1.0, top_k: int | None = None,
               prompt: torch.Tensor | None = None, guidance: float = 1.0) -> list[list[int]]:
        """One token sequence (without BOS and EOS) per row of `streams`, all generated together through one KV
        cache; each row draws its tokens from its own stream (a padding row, with no stream, gives nothing
        meaningful).

        Rows that emit EOS leave the batch at once, down to `MIN_BATCH_ROWS` (`atomgen.models.base.rows_to_keep`);
        a row that reaches `max_length` tokens stops there (a cut SELFIES string is still a valid molecule).
        With a soft `prompt` (B, T, dim) and `guidance` other than 1, each step's logits are
        u + guidance · (c - u), c the prompted and u the unprompted model's (no property asked for).
        """
        device = self.first_allowed.device
        n = len(streams)
        guided = prompt is not None and guidance != 1.0
        if guided:  # the unprompted rows ride along as a second half of the batch
            absent = torch.zeros(n, self.prompt.absent.shape[0], device=device)
            prompt = torch.cat([prompt, self.prompt_of(absent, absent.bool())])
        width = n * (2 if guided else 1)
        ids = torch.full((width, 1), self.vocabulary.bos, dtype=torch.long, device=device)
        extra = 0 if prompt is None else prompt.shape[1]
        cache = self.stack.new_cache(width, self.max_length + extra, self.token_embedding.weight)
        rows = torch.arange(n, device=device)
        growing = streams.real
        out: list[list[int]] = [[] for _ in range(n)]
        hidden = self.hidden_states(ids, 0, cache, prompt)
        for position in range(1, self.max_length):
            logits = self.head(hidden[:, -1]).float()
            if guided:
                conditional, unconditional = logits.chunk(2)
                logits = unconditional + guidance * (conditional - unconditional)
            if position == 1:
                logits = logits.masked_fill(~self.first_allowed, float("-inf"))
            logits[:, self.vocabulary.pad] = float("-inf")
            logits[:, self.vocabulary.bos] = float("-inf")
            token = _draw(logits, temperature, top_k, streams.uniform(only=growing))
            growing = growing & (token != self.vocabulary.eos)
            for row, t in zip(rows[growing].tolist(), token[growing].tolist()):
                out[row].append(t)
            if not growing.any():
                break
            keep = rows_to_keep(growing)
            if keep is not None:
                cache.keep(torch.cat([keep, keep + len(rows)]) if guided else keep)
                rows, growing, token, streams = rows[keep], growing[keep], token[keep], streams.select(keep)
            token = torch.where(growing, token, torch.full_like(token, self.vocabulary.pad))
            hidden = self.hidden_states(token.repeat(2 if guided else 1)[:, None], position, cache)
        return out


def _draw(logits: torch.Tensor, temperature: float, top_k: int | None, uniform: torch.Tensor) -> torch.Tensor:
    """One token per row from its uniform: the most likely at temperature 0, else a draw among the top_k (all
    when None)."""
    if top_k is not None and top_k < logits.shape[-1]:
        threshold = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < threshold, float("-inf"))
    return categorical(logits, uniform, temperature)
