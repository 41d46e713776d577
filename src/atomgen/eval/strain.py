"""Strain energy: MMFF energy of a generated geometry minus that of the same molecule relaxed by MMFF."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from atomgen.eval.progress import stage_bar


def strain_energy(mol, *, max_iters: int = 2000) -> float | None:
    """Strain in kcal/mol of the molecule's first conformer, or None when MMFF has no parameters for it."""
    from rdkit import Chem
    from rdkit.Chem import rdForceFieldHelpers as ff

    mol = Chem.Mol(mol)
    props = ff.MMFFGetMoleculeProperties(mol)
    if props is None:
        return None
    field = ff.MMFFGetMoleculeForceField(mol, props)
    if field is None:
        return None
    before = field.CalcEnergy()
    field.Minimize(maxIts=max_iters)
    return float(before - field.CalcEnergy())


def strain_summary(mols: Sequence, *, progress: bool = False) -> dict[str, float]:
    """Median and mean strain (kcal/mol) over the molecules MMFF can type, and how many it could.

    `progress` shows a bar ("strain") on stderr.
    """
    energies = (strain_energy(m) for m in stage_bar(mols, desc="strain", enabled=progress))
    values = [e for e in energies if e is not None]
    if not values:
        return {"strain_median": float("nan"), "strain_mean": float("nan"), "strain_n": 0}
    return {"strain_median": float(np.median(values)), "strain_mean": float(np.mean(values)), "strain_n": len(values)}
