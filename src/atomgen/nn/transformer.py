"""A pre-norm transformer block (causal or bidirectional, optionally adaLN-conditioned) with a KV cache.

One block serves every family: Quetzal stacks causal blocks and samples through the KV cache, ADiT stacks
bidirectional blocks conditioned through adaLN-zero, and NExT-Mol adds a pair bias to the attention logits.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from atomgen.nn.adaln import modulate
from atomgen.nn.compile import repeated_block


class KVCache:
    """Keys and values of every layer of a stack, preallocated for `capacity` tokens.

    A sampler writes one token per step, so each step costs attention over the cached prefix and the layers'
    matrix products over a single token. `keep(rows)` drops finished rows so they stop costing compute.
    """

    def __init__(self, n_layers: int, batch: int, heads: int, head_dim: int, capacity: int,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        shape = (batch, heads, capacity, head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layers)]
        self.length = 0
        self.capacity = capacity

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the given batch rows (an index tensor), in that order."""
        self.keys = [k[rows] for k in self.keys]
        self.values = [v[rows] for v in self.values]

    def append(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store new keys/values of one layer after the cached ones; return all of them so far."""
        start, stop = self.length, self.length + keys.shape[2]
        if stop > self.capacity:
            raise ValueError(f"KV cache full: {stop} tokens exceed its capacity of {self.capacity}")
        self.keys[layer][:, :, start:stop] = keys
        self.values[layer][:, :, start:stop] = values
        return self.keys[layer][:, :, :stop], self.values[layer][:, :, :stop]


class SelfAttention(nn.Module):
    """Multi-head self-attention through `scaled_dot_product_attention`, with an optional additive bias."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, *, causal: bool, mask: torch.Tensor | None = None,
                cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.append(layer, k, v)
        if causal and length == 1 and mask is None:
            causal = False  # one new token may attend to every cached one: no mask needed
        elif causal and (past or mask is not None):
            # New tokens see the whole cached prefix and the new tokens up to themselves.
            allowed = torch.ones(length, past + length, dtype=torch.bool, device=x.device).tril(past)
            mask = allowed if mask is None else _combine_masks(mask, allowed)
            causal = False
        if mask is not None and mask.dtype != torch.bool:
            mask = mask.to(q.dtype)  # an additive bias computed in float32 joins bf16 attention under autocast
        with _attention_backend(q):
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        return self.out(y.transpose(1, 2).reshape(batch, length, dim))


def _attention_backend(q: torch.Tensor) -> contextlib.AbstractContextManager:
    """PyTorch's plain (math) attention on the CPU for bf16 and for single-token queries, the default otherwise.

    The CPU's fused flash kernel is about 3x slower than the plain one in bf16 at our short lengths (forward and
    backward, 128 x 8 heads x 28 tokens), which made attention a tenth of a Quetzal training step under autocast.
    For one new token over a KV cache (sampling) it is 3x slower in fp32 too (1,024 rows x 8 heads over 17 cached
    tokens: 13 ms against 4 ms), and its result for a row changes with the number of rows in the batch, which
    would make a sampled molecule depend on its batch (`atomgen.models.base`); the plain kernel's does not.
    """
    if q.device.type == "cpu" and (q.dtype == torch.bfloat16 or q.shape[-2] == 1):
        return sdpa_kernel(SDPBackend.MATH)
    return contextlib.nullcontext()


def _combine_masks(mask: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Intersect a boolean or additive attention mask with a boolean 'allowed' mask."""
    if mask.dtype == torch.bool:
        return mask & allowed
    return mask.masked_fill(~allowed, float("-inf"))


@repeated_block
class TransformerBlock(nn.Module):
    """Pre-norm attention + MLP block.

    With `cond_dim`, the block is DiT's adaLN-zero block: shift, scale and gate of both sub-layers come from a
    conditioning vector, and the gates start at zero so each block starts as the identity.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, cond_dim: int | None = None):
        super().__init__()
        conditioned = cond_dim is not None
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=not conditioned)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=not conditioned)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.modulation = None
        if conditioned:
            self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * dim))
            nn.init.zeros_(self.modulation[-1].weight)
            nn.init.zeros_(self.modulation[-1].bias)

    def forward(self, x: torch.Tensor, *, causal: bool = False, mask: torch.Tensor | None = None,
                cond: torch.Tensor | None = None, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        if self.modulation is None:
            x = x + self.attn(self.norm1(x), causal=causal, mask=mask, cache=cache, layer=layer)
            return x + self.mlp(self.norm2(x))
        if cond is None:
            raise ValueError("this block is adaLN-conditioned: pass cond")
        if cond.dim() == 2:
            cond = cond.unsqueeze(1)  # one conditioning vector per system, shared by its tokens
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond).chunk(6, dim=-1)
        h = self.attn(modulate(self.norm1(x), shift1, scale1), causal=causal, mask=mask, cache=cache, layer=layer)
        x = x + gate1 * h
        return x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))


class TransformerStack(nn.Module):
    """A sequence of blocks that threads one KV cache (one slot per layer) through all of them; `mask` (boolean,
    or an additive bias) applies to every layer."""

    def __init__(self, depth: int, dim: int, heads: int, mlp_ratio: float = 4.0, cond_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.dim = dim
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio, cond_dim) for _ in range(depth))

    def new_cache(self, batch: int, capacity: int, like: torch.Tensor) -> KVCache:
        """An empty cache for `batch` rows of up to `capacity` tokens, on the device/dtype of `like`."""
        return KVCache(len(self.blocks), batch, self.heads, self.dim // self.heads, capacity,
                       device=like.device, dtype=like.dtype)

    def forward(self, x: torch.Tensor, *, causal: bool = False, mask: torch.Tensor | None = None,
                cond: torch.Tensor | None = None, cache: KVCache | None = None) -> torch.Tensor:
        for layer, block in enumerate(self.blocks):
            x = block(x, causal=causal, mask=mask, cond=cond, cache=cache, layer=layer)
        if cache is not None:
            cache.length += x.shape[1]
        return x
