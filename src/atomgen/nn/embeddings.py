"""Embeddings of continuous inputs: random Fourier features of coordinates, of noise levels, and Gaussian
functions of distances."""

from __future__ import annotations

import math

import torch
from torch import nn


class FourierFeatures(nn.Module):
    """Fixed random Fourier features `[sin(2π xB), cos(2π xB)]` of a low-dimensional input.

    B is drawn once from N(0, scale²) and stored as a buffer, so it is saved with the weights and identical at
    sampling time. Fourier features let a linear layer resolve fine differences in position (Tancik et al., 2020).
    """

    def __init__(self, in_dim: int, n_frequencies: int, scale: float = 1.0, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("frequencies", torch.randn(in_dim, n_frequencies, generator=generator) * scale)
        self.out_dim = 2 * n_frequencies

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Always in float32: under bf16 autocast the phases of Å-scale coordinates would lose their precision.
        with torch.autocast(device_type=x.device.type, enabled=False):
            dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
            angles = 2 * math.pi * x.to(dtype) @ self.frequencies.to(dtype)
            return torch.cat([angles.sin(), angles.cos()], dim=-1)


class PointEmbedding(nn.Module):
    """Embeds a 3-vector (a position in Å) as a linear map plus a linear map of its Fourier features."""

    def __init__(self, dim: int, n_frequencies: int = 64, scale: float = 1.0):
        super().__init__()
        self.fourier = FourierFeatures(3, n_frequencies, scale)
        self.linear = nn.Linear(3, dim)
        self.fourier_linear = nn.Linear(self.fourier.out_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In float32 under bf16 autocast too: bf16 keeps 8 bits of a coordinate, about 0.01 Å at 2 Å, a tenth of
        # the spread of a bond length, and these two small maps cost little next to the layers after them.
        with torch.autocast(device_type=x.device.type, enabled=False):
            dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
            return self.linear(x.to(dtype)) + self.fourier_linear(self.fourier(x))


class ScalarEmbedding(nn.Module):
    """Sinusoidal embedding of a scalar (a diffusion noise level or time) followed by a small MLP."""

    def __init__(self, dim: int, n_frequencies: int = 128, max_period: float = 10_000.0):
        super().__init__()
        half = n_frequencies // 2
        self.register_buffer("frequencies", torch.exp(-math.log(max_period) * torch.arange(half) / half))
        self.mlp = nn.Sequential(nn.Linear(2 * half, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.float().unsqueeze(-1) * self.frequencies
        return self.mlp(torch.cat([angles.cos(), angles.sin()], dim=-1))


class GaussianDistances(nn.Module):
    """Gaussian functions of a distance on a fixed grid (Å), the usual smooth encoding of a length."""

    def __init__(self, count: int = 32, cutoff: float = 10.0):
        super().__init__()
        self.register_buffer("centres", torch.linspace(0.0, cutoff, count))
        self.width = cutoff / (count - 1)

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * ((distance.unsqueeze(-1) - self.centres) / self.width) ** 2)
