"""Random rigid motions for training models that have no built-in rotation or translation invariance."""

from __future__ import annotations

import torch


def random_rotations(n: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """`n` rotation matrices drawn uniformly from SO(3) (Haar measure), shape (n, 3, 3).

    A normalised 4-D standard normal vector is a uniform unit quaternion, and unit quaternions cover SO(3) twice
    and evenly, so the matrices are uniform (Shoemake, 1992).
    """
    q = torch.randn(n, 4, generator=generator, device=device, dtype=torch.float64)
    w, x, y, z = (q / q.norm(dim=1, keepdim=True)).unbind(1)
    rotation = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], dim=1).view(n, 3, 3)
    return rotation.to(dtype)


def centre(positions: torch.Tensor, mask: torch.Tensor, anchor: torch.Tensor | None = None) -> torch.Tensor:
    """Move each system's centroid to the origin; padding (`mask` False) stays at zero.

    The centroid is taken over the `anchor` atoms (e.g. heavy atoms) where a system has any, else over all atoms.
    """
    weights = mask.to(positions.dtype)
    if anchor is not None:
        anchored = (anchor & mask).to(positions.dtype)
        weights = torch.where(anchored.sum(1, keepdim=True) > 0, anchored, weights)
    weights = weights.unsqueeze(-1)
    centroid = (positions * weights).sum(1, keepdim=True) / weights.sum(1, keepdim=True).clamp(min=1)
    return (positions - centroid) * mask.unsqueeze(-1).to(positions.dtype)


def augment_molecules(positions: torch.Tensor, mask: torch.Tensor, translation_std: float,
                      anchor: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Centre (on the `anchor` atoms), rotate uniformly at random and translate by N(0, translation_std²) each
    system of a padded batch."""
    batch = positions.shape[0]
    rotation = random_rotations(batch, dtype=positions.dtype, device=positions.device, generator=generator)
    shift = translation_std * torch.randn(batch, 1, 3, generator=generator, device=positions.device,
                                          dtype=positions.dtype)
    moved = centre(positions, mask, anchor) @ rotation.transpose(1, 2) + shift
    return moved * mask.unsqueeze(-1).to(positions.dtype)


def augment_systems(positions: torch.Tensor, frac: torch.Tensor, lattice: torch.Tensor, periodic: torch.Tensor,
                    mask: torch.Tensor, generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random rigid motion of each system of a padded batch of molecules and crystals.

    Molecules are centred and rotated uniformly. Crystals are translated by a uniform random shift of their
    fractional coordinates (wrapped back into [0, 1)) and rotated with their lattice, their Cartesian positions
    recomputed from both. Returns (positions, frac, lattice); molecules keep zero fractional coordinates.
    """
    batch = positions.shape[0]
    rotation = random_rotations(batch, dtype=positions.dtype, device=positions.device, generator=generator)
    shift = torch.rand(batch, 1, 3, generator=generator, device=positions.device, dtype=positions.dtype)
    crystal = periodic[:, None, None]
    atoms = mask.unsqueeze(-1).to(positions.dtype)
    frac = torch.where(crystal, torch.remainder(frac + shift, 1.0), frac) * atoms
    frac = torch.where(frac >= 1.0, torch.zeros_like(frac), frac)  # x mod 1 can round up to exactly 1.0
    lattice = lattice @ rotation.transpose(1, 2)
    molecule_positions = centre(positions, mask) @ rotation.transpose(1, 2)
    crystal_positions = frac @ lattice
    return torch.where(crystal, crystal_positions, molecule_positions) * atoms, frac, lattice
