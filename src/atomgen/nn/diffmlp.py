"""DiffMLP: the small per-token diffusion head of MAR (Li et al., 2024) that Quetzal uses for positions.

A stack of adaLN residual blocks maps a noisy point, a noise level and a conditioning vector to a denoised point.
Because it sees one point at a time, it is cheap enough to be trained with several noise draws per token.

The adaLN modulation is factorised: shift/scale/gate = A·φ(σ) + B·ψ(z), a term from the noise level plus a term
from the conditioning vector. MAR computes the modulation from φ(σ) + z through one nonlinearity, which must be
redone at every ODE step for every atom; factorised, the z-term is computed once per atom and the σ-term once
per noise level for the whole batch, so each ODE step costs only the blocks' own MLPs (about 2.5x fewer
operations per step, in training as in sampling).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from atomgen.nn.adaln import modulate
from atomgen.nn.compile import repeated_block
from atomgen.nn.embeddings import PointEmbedding, ScalarEmbedding


@repeated_block
class FactorisedAdaLNBlock(nn.Module):
    """Residual MLP block; its (shift, scale, gate) modulation is given precomputed (see DiffMLP)."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, x: torch.Tensor, modulation: torch.Tensor) -> torch.Tensor:
        shift, scale, gate = modulation.chunk(3, dim=-1)
        return x + gate * self.mlp(modulate(self.norm(x), shift, scale))


class DiffMLP(nn.Module):
    """The raw network F(c_in·x, c_noise, condition) of an EDM denoiser over 3-D points.

    Args:
        cond_dim: width of the conditioning vector (the transformer's output for this token).
        width: width of the residual blocks.
        depth: number of residual blocks.
        n_frequencies: random Fourier features of the noisy input point.
        noise_dim: width of the noise-level embedding.
    """

    def __init__(self, cond_dim: int, width: int, depth: int, n_frequencies: int = 64, noise_dim: int = 128):
        super().__init__()
        self.width = width
        self.depth = depth
        self.point = PointEmbedding(width, n_frequencies)
        self.noise = nn.Sequential(ScalarEmbedding(noise_dim), nn.SiLU())
        self.blocks = nn.ModuleList(FactorisedAdaLNBlock(width) for _ in range(depth))
        # One linear map per factor produces every block's (shift, scale, gate) and the final (shift, scale).
        total = (3 * depth + 2) * width
        self.noise_modulation = nn.Linear(noise_dim, total)
        self.cond_modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, total))
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False)
        self.out = nn.Linear(width, 3)
        self._noise_cache: dict | None = None  # see noise_terms_cached
        for layer in (self.noise_modulation, self.cond_modulation[-1], self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def embed_condition(self, cond: torch.Tensor) -> torch.Tensor:
        """The conditioning vector's share of every modulation; computed once per atom, reused at every step.

        In float32 under bf16 autocast too, as are the noise terms: a shift or scale rounded to bf16 moves the
        denoised point by hundredths of an Ångström (sampled QM9 molecules lost 4 points of stability and doubled
        their bond-length W1), and both are cheap next to the blocks, which stay in bf16.
        """
        with torch.autocast(device_type=cond.device.type, enabled=False):
            return self.cond_modulation(cond.to(self.cond_modulation[-1].weight.dtype))

    @contextlib.contextmanager
    def noise_terms_cached(self) -> Iterator[None]:
        """Within it, the noise terms of each noise level shared by every row are computed once: a sampler visits
        the same levels for every atom (the weights must not change meanwhile)."""
        self._noise_cache = {}
        try:
            yield
        finally:
            self._noise_cache = None

    def _noise_terms(self, c_noise: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=c_noise.device.type, enabled=False):
            # In sampling every row shares one noise level: embed it once and broadcast.
            if c_noise.numel() > 1 and bool((c_noise == c_noise.reshape(-1)[0]).all()):
                level = c_noise.reshape(-1)[:1]
                if self._noise_cache is None:
                    return self.noise_modulation(self.noise(level))
                key = (float(level), level.dtype)
                if key not in self._noise_cache:
                    self._noise_cache[key] = self.noise_modulation(self.noise(level))
                return self._noise_cache[key]
            return self.noise_modulation(self.noise(c_noise))

    def hidden(self, x: torch.Tensor, c_noise: torch.Tensor, cond_embedding: torch.Tensor,
               context: torch.Tensor | None = None) -> torch.Tensor:
        """The final modulated hidden state, before the output layer; `context` is added to the input embedding."""
        modulation = self._noise_terms(c_noise) + cond_embedding
        pieces = modulation.split([3 * self.width] * self.depth + [2 * self.width], dim=-1)
        h = self.point(x) if context is None else self.point(x) + context
        for block, block_modulation in zip(self.blocks, pieces):
            h = block(h, block_modulation)
        shift, scale = pieces[-1].chunk(2, dim=-1)
        return modulate(self.final_norm(h), shift, scale)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, cond_embedding: torch.Tensor,
                context: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.hidden(x, c_noise, cond_embedding, context))
