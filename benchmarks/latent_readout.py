"""The least-squares affine readout from ADiT latents to 3D positions, for the latent-geometry benchmark part."""

from __future__ import annotations

import torch


def least_squares_readout(latents: torch.Tensor, positions: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The affine map that best predicts `positions` (N, 3) from `latents` (N, latent_dim) in the least-squares
    sense, as its linear part W (3, latent_dim) and offset (3,), and the map's R² on these points."""
    design = torch.cat([latents.double(), latents.new_ones(len(latents), 1, dtype=torch.float64)], dim=1)
    solution = torch.linalg.lstsq(design, positions.double()).solution  # (latent_dim + 1, 3)
    r2 = r_squared(design @ solution, positions.double())
    return solution[:-1].T.to(latents.dtype), solution[-1].to(latents.dtype), r2


def r_squared(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    """The coefficient of determination of `predicted` points against `truth` (N, 3): one minus the residual sum of
    squares over the total sum of squares about the truth's mean."""
    return 1.0 - float((predicted - truth).pow(2).sum() / (truth - truth.mean(0)).pow(2).sum())
