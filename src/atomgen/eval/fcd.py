"""Fréchet ChemNet Distance between SMILES sets, with fcd_torch (its ChemNet weights ship in the wheel).

Only FCDs computed with the same package and the same reference size are comparable; the report records both.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def _chemnet():
    from fcd_torch import FCD

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FCD(device="cpu", n_jobs=1, batch_size=512)


def fcd_statistics(smiles: Sequence[str]) -> dict[str, np.ndarray]:
    """Mean and covariance of ChemNet activations of `smiles` (at least two)."""
    if len(smiles) < 2:
        raise ValueError("FCD needs at least two valid molecules")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = _chemnet().precalc(list(smiles))
    return {"mu": np.asarray(stats["mu"]), "sigma": np.asarray(stats["sigma"])}


def fcd_from_statistics(sample: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> float:
    """FCD between two precomputed statistics (lower is closer)."""
    return float(_chemnet().metric(reference, sample))
