"""Fréchet ChemNet Distance between SMILES sets, with fcd_torch (its ChemNet weights ship in the wheel).

Only FCDs computed with the same package and the same reference size are comparable; the report records both.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from atomgen.eval.progress import stage_bar

_BATCH = 512  # SMILES per ChemNet batch


@lru_cache(maxsize=1)
def _chemnet():
    from fcd_torch import FCD

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FCD(device="cpu", n_jobs=1, batch_size=_BATCH)


def fcd_statistics(smiles: Sequence[str], *, progress: bool = False, desc: str = "FCD") -> dict[str, np.ndarray]:
    """Mean and covariance of ChemNet activations of `smiles` (at least two); `progress` shows a bar on stderr."""
    if len(smiles) < 2:
        raise ValueError("FCD needs at least two valid molecules")
    chemnet = _chemnet()
    smiles = list(smiles)
    activations = []
    # fcd_torch's precalc in pieces of its own batch size: the same batches (every SMILES is padded to one fixed
    # length), so the same numbers, with a bar that moves.
    with stage_bar(desc=desc, total=len(smiles), enabled=progress) as bar, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for start in range(0, len(smiles), _BATCH):
            activations.append(chemnet.get_predictions(smiles[start : start + _BATCH]))
            bar.update(len(activations[-1]))
    stacked = np.concatenate(activations)
    return {"mu": stacked.mean(0), "sigma": np.cov(stacked.T)}


def fcd_from_statistics(sample: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> float:
    """FCD between two precomputed statistics (lower is closer)."""
    return float(_chemnet().metric(reference, sample))
