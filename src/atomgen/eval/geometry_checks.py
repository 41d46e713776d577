"""PoseBusters' distance-geometry checks (bond lengths, bond angles, internal steric clash) on arrays, with
PoseBusters' outcome for every molecule.

`posebusters.modules.distance_geometry.check_geometry` compares the distance of every pair of heavy atoms with
RDKit's distance-geometry bounds: bonds may be off by a fraction of their bounds, the two ends of an angle too, and
other pairs may come closer than their lower bound only by a fraction. It does so in a pandas table of all pairs,
one Python call per row: 15 ms for a QM9 molecule, three times all of PoseBusters' other checks but the energy
together. `geometry_check` computes the same three outcomes from the same numbers (RDKit's bounds matrix, the
same distances, the same float operations on each pair) with NumPy, in about 1 ms; tests/test_eval_posebusters.py
compares it with PoseBusters' function.
"""

from __future__ import annotations

from copy import deepcopy
from functools import cache
from typing import Any

import numpy as np

BONDS, ANGLES, CLASH = "bond_lengths_within_bounds", "bond_angles_within_bounds", "no_internal_clash"
# PoseBusters' pattern of conjugated terminal groups (carboxylates, nitro groups...): a terminal O or N and its
# neighbour, whose bounds it widens to those of all such bonds between the same two elements.
_TERMINAL_GROUP = "[O,N;D1;$([O,N;D1]-[*]=[O,N;D1]),$([O,N;D1]=[*]-[O,N;D1])]~[*]"


def geometry_check(mol_pred, threshold_bad_bond_length: float, threshold_clash: float, threshold_bad_angle: float,
                   bound_matrix_params: dict[str, Any], ignore_hydrogens: bool = True, sanitize: bool = True,
                   symmetrize_conjugated_terminal_groups: bool = True) -> dict[str, float | bool]:
    """PoseBusters' `check_geometry` outcomes for the first conformer of `mol_pred` with these parameters: whether
    bond lengths, bond angles and non-bonded distances are within bounds (NaN where PoseBusters gives up)."""
    from rdkit.Chem.rdDistGeom import GetMoleculeBoundsMatrix
    from rdkit.Chem.rdmolops import SanitizeMol

    given_up = dict.fromkeys((BONDS, ANGLES, CLASH), float("nan"))
    mol = deepcopy(mol_pred)
    if mol.GetNumConformers() == 0:
        return given_up
    if mol.GetNumAtoms() == 1:
        return dict.fromkeys((BONDS, ANGLES, CLASH), True)
    try:
        if sanitize and SanitizeMol(mol) != 0:
            return given_up
    except Exception:  # noqa: BLE001 - as PoseBusters, whatever sanitisation raises
        return given_up
    try:
        bounds = GetMoleculeBoundsMatrix(mol, **bound_matrix_params)
    except RuntimeError:  # as PoseBusters
        return given_up

    # Every pair (i, j), i < j, in PoseBusters' order: lower bounds below the diagonal, upper bounds above.
    second, first = np.tril_indices(mol.GetNumAtoms(), k=-1)
    lower, upper = bounds[second, first], bounds[first, second]
    if symmetrize_conjugated_terminal_groups:
        _widen_terminal_groups(mol, first, second, lower, upper)
    positions = mol.GetConformer().GetPositions()
    distance = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)[second, first]

    bonded = _pair_mask(first, second, _bonds(mol))
    angle = _pair_mask(first, second, _angle_ends(mol)) & ~bonded
    kept = np.ones(len(first), dtype=bool)
    if ignore_hydrogens:
        hydrogen = np.array([a.GetAtomicNum() == 1 for a in mol.GetAtoms()])
        kept = ~(hydrogen[first] | hydrogen[second])
    bond_error = _bound_error(distance, lower, upper, kept & bonded)
    angle_error = np.abs(_bound_error(distance, lower, upper, kept & angle))
    # A pair neither bonded nor at the ends of an angle clashes only below its lower bound.
    clash_error = _bound_error(distance, lower, np.full_like(upper, np.inf), kept & ~bonded & ~angle)
    return {
        BONDS: not np.any((bond_error < -threshold_bad_bond_length) | (bond_error > threshold_bad_bond_length)),
        ANGLES: not np.any(angle_error > threshold_bad_angle),
        CLASH: not np.any(clash_error < -threshold_clash),
    }


def _bound_error(value: np.ndarray, lower: np.ndarray, upper: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """PoseBusters' out-of-bounds percent error of the pairs of `mask`: (value - bound) / bound for the bound
    crossed, 0 within bounds."""
    value, lower, upper = value[mask], lower[mask], upper[mask]
    error = np.zeros_like(value)
    below = value < lower
    above = ~below & (value > upper)
    error[below] = (value[below] - lower[below]) / lower[below]
    error[above] = (value[above] - upper[above]) / upper[above]
    return error


def _widen_terminal_groups(mol, first: np.ndarray, second: np.ndarray, lower: np.ndarray,
                           upper: np.ndarray) -> None:
    """PoseBusters' symmetrisation of conjugated terminal groups, in place: each bond of a terminal O or N takes
    the lowest lower bound and the highest upper bound of all such bonds between the same two elements."""
    matched = _pair_mask(first, second, {tuple(sorted(m)) for m in mol.GetSubstructMatches(_terminal_group())})
    symbols = np.array([a.GetSymbol() for a in mol.GetAtoms()])
    kinds = [tuple(sorted(pair)) for pair in zip(symbols[first[matched]], symbols[second[matched]])]
    index = np.flatnonzero(matched)
    for kind in set(kinds):
        group = index[[k == kind for k in kinds]]
        lower[group], upper[group] = lower[group].min(), upper[group].max()


@cache
def _terminal_group():
    from rdkit.Chem import MolFromSmarts

    return MolFromSmarts(_TERMINAL_GROUP)


def _bonds(mol) -> set[tuple[int, int]]:
    """The bonded pairs (i, j), i < j."""
    return {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds()}


def _angle_ends(mol) -> set[tuple[int, int]]:
    """The pairs (i, j), i < j, bonded to a common atom."""
    ends = set()
    for atom in mol.GetAtoms():
        neighbours = sorted(n.GetIdx() for n in atom.GetNeighbors())
        ends.update((a, b) for k, a in enumerate(neighbours) for b in neighbours[k + 1 :])
    return ends


def _pair_mask(first: np.ndarray, second: np.ndarray, pairs: set[tuple[int, int]]) -> np.ndarray:
    """Whether each pair (first[k], second[k]) is in `pairs`."""
    return np.array([(int(i), int(j)) in pairs for i, j in zip(first, second)], dtype=bool)
