"""NExT-Mol's first stage: a decoder-only transformer over SELFIES tokens, sampled through a KV cache.

Any sequence of SELFIES symbols decodes to a valid molecule, so the only guard the sampler needs is that a string
places at least one atom: its first symbol is drawn among the atom symbols, and the end token is not allowed
before it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from atomgen.data.selfies_vocab import SelfiesVocabulary
from atomgen.models.base import rows_to_keep
from atomgen.models.streams import SampleStreams, categorical
from atomgen.nn.transformer import TransformerStack


class SelfiesLanguageModel(nn.Module):
    """Next-token prediction over SELFIES ids (BOS, symbols..., EOS), with learned position embeddings."""

    def __init__(self, vocabulary: SelfiesVocabulary, max_length: int, dim: int, depth: int, heads: int,
                 mlp_ratio: float = 4.0):
        super().__init__()
        self.vocabulary = vocabulary
        self.max_length = max_length
        self.token_embedding = nn.Embedding(len(vocabulary), dim)
        self.position_embedding = nn.Embedding(max_length, dim)
        self.stack = TransformerStack(depth, dim, heads, mlp_ratio)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, len(vocabulary), bias=False)
        self.register_buffer("first_allowed", torch.as_tensor(vocabulary.atom_mask()), persistent=False)

    def hidden_states(self, ids: torch.Tensor, offset: int = 0, cache=None) -> torch.Tensor:
        """Final-layer token states (B, L, dim) of token ids whose first position is `offset`."""
        positions = torch.arange(offset, offset + ids.shape[1], device=ids.device)
        tokens = self.token_embedding(ids) + self.position_embedding(positions)
        return self.norm(self.stack(tokens, causal=True, cache=cache))

    def loss(self, ids: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of every next token of padded id sequences (padding is not predicted)."""
        logits = self.head(self.hidden_states(ids[:, :-1]))
        targets = ids[:, 1:]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                               ignore_index=self.vocabulary.pad)

    @torch.no_grad()
    def sample(self, streams: SampleStreams, *, temperature: float = 1.0, top_k: int | None = None
               ) -> list[list[int]]:
        """One token sequence (without BOS and EOS) per row of `streams`, all generated together through one KV
        cache; each row draws its tokens from its own stream (a padding row, with no stream, gives nothing
        meaningful).

        Rows that emit EOS leave the batch at once, down to `MIN_BATCH_ROWS` (`atomgen.models.base.rows_to_keep`);
        a row that reaches `max_length` tokens stops there (a cut SELFIES string is still a valid molecule).
        """
        device = self.first_allowed.device
        n = len(streams)
        ids = torch.full((n, 1), self.vocabulary.bos, dtype=torch.long, device=device)
        cache = self.stack.new_cache(n, self.max_length, self.token_embedding.weight)
        rows = torch.arange(n, device=device)
        growing = streams.real
        out: list[list[int]] = [[] for _ in range(n)]
        hidden = self.hidden_states(ids, 0, cache)
        for position in range(1, self.max_length):
            logits = self.head(hidden[:, -1]).float()
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
                rows, growing, token, streams = rows[keep], growing[keep], token[keep], streams.select(keep)
                cache.keep(keep)
            token = torch.where(growing, token, torch.full_like(token, self.vocabulary.pad))
            hidden = self.hidden_states(token[:, None], position, cache)
        return out


def _draw(logits: torch.Tensor, temperature: float, top_k: int | None, uniform: torch.Tensor) -> torch.Tensor:
    """One token per row from its uniform: the most likely at temperature 0, else a draw among the top_k (all
    when None)."""
    if top_k is not None and top_k < logits.shape[-1]:
        threshold = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < threshold, float("-inf"))
    return categorical(logits, uniform, temperature)
