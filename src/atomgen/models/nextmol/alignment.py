"""Optimal superposition (Kabsch) of padded batches of point sets, and chirality read back from 3D."""

from __future__ import annotations

import numpy as np
import torch


def kabsch_align(mobile: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`mobile` (B, N, 3) moved by the proper rotation and translation that best fit it onto `target`.

    Padding atoms (`mask` False) are ignored and returned as zeros. Reflections are excluded: a mirror image is
    a different molecule when it is chiral, and must not be aligned away.
    """
    weights = mask.unsqueeze(-1).to(mobile.dtype)
    count = weights.sum(1, keepdim=True).clamp(min=1)
    mobile_centre = (mobile * weights).sum(1, keepdim=True) / count
    target_centre = (target * weights).sum(1, keepdim=True) / count
    a = (mobile - mobile_centre) * weights
    b = (target - target_centre) * weights
    u, _, vh = torch.linalg.svd((a.transpose(1, 2) @ b).double())
    sign = torch.sign(torch.linalg.det(u @ vh))
    flip = torch.ones_like(u[:, 0])
    flip[:, -1] = sign
    rotation = (u * flip.unsqueeze(1)) @ vh
    return (a @ rotation.to(a.dtype) + target_centre) * weights


def chirality_agreement(mol, positions: np.ndarray) -> tuple[int, int]:
    """(stereocentres whose R/S read from `positions` matches `mol`'s own, stereocentres of `mol`).

    `mol` carries the intended stereochemistry (from its SMILES) and hydrogens as atoms, in the order of
    `positions`.
    """
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    wanted = dict(Chem.FindMolChiralCenters(mol, includeUnassigned=False, useLegacyImplementation=False))
    if not wanted:
        return 0, 0
    built = Chem.Mol(mol)
    built.RemoveAllConformers()
    conformer = Chem.Conformer(built.GetNumAtoms())
    for k, (x, y, z) in enumerate(np.asarray(positions, dtype=np.float64)):
        conformer.SetAtomPosition(k, Point3D(float(x), float(y), float(z)))
    built.AddConformer(conformer, assignId=True)
    Chem.AssignStereochemistryFrom3D(built)
    found = dict(Chem.FindMolChiralCenters(built, includeUnassigned=True, useLegacyImplementation=False))
    return sum(found.get(atom) == label for atom, label in wanted.items()), len(wanted)
