"""Lattices as six numbers a model can predict: lengths scaled by N^(1/3), and angles in radians.

Scaling the lengths by the cube root of the atom count (ADiT, after CDVAE) makes them nearly independent of the
cell's size: a 24-atom carbon cell and a 5-atom perovskite then ask for numbers of the same magnitude.
"""

from __future__ import annotations

import numpy as np

# A cell whose squared height factor falls below this is flat; generated parameters can ask for one.
_FLAT = 1e-6


def lattice_features(lattice: np.ndarray, n_atoms: int) -> np.ndarray:
    """(a, b, c) / N^(1/3) in Å and (α, β, γ) in radians, of a lattice whose rows are the cell vectors."""
    lattice = np.asarray(lattice, dtype=np.float64)
    lengths = np.linalg.norm(lattice, axis=1)
    a, b, c = lattice

    def angle(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.arccos(np.clip(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y)), -1.0, 1.0)))

    angles = [angle(b, c), angle(a, c), angle(a, b)]
    return np.concatenate([lengths / n_atoms ** (1 / 3), angles])


def lattice_from_features(features: np.ndarray, n_atoms: int) -> np.ndarray:
    """The 3x3 lattice (rows are cell vectors, a along x, b in the xy plane) of six `lattice_features`.

    Angle combinations that no cell can have (the three vectors would not span space) give a flat cell of
    near-zero volume rather than an error, so a bad generated lattice shows up as a structurally invalid crystal.
    """
    features = np.asarray(features, dtype=np.float64)
    a, b, c = np.abs(features[:3]) * n_atoms ** (1 / 3)
    alpha, beta, gamma = features[3:]
    cos_a, cos_b, cos_g, sin_g = np.cos(alpha), np.cos(beta), np.cos(gamma), np.sin(gamma)
    if abs(sin_g) < _FLAT:
        sin_g = _FLAT
    cy = (cos_a - cos_b * cos_g) / sin_g
    cz = np.sqrt(max(1.0 - cos_b**2 - cy**2, _FLAT))
    return np.array([
        [a, 0.0, 0.0],
        [b * cos_g, b * sin_g, 0.0],
        [c * cos_b, c * cy, c * cz],
    ])
