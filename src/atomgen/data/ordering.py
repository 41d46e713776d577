"""Atom orders for autoregressive models: the dataset's own, canonical-SMILES order, or random."""

from __future__ import annotations

import numpy as np

from atomgen.system import AtomSystem


def smiles_order(system: AtomSystem) -> np.ndarray:
    """Permutation that lists heavy atoms in RDKit's canonical ranking, each hydrogen after its heavy atom.

    Bonds are perceived from the geometry when the system has none. Hydrogens bonded to nothing go last.
    """
    from rdkit import Chem

    from atomgen.io.convert import to_rdkit

    mol = to_rdkit(system)
    heavy = [atom.GetIdx() for atom in mol.GetAtoms() if atom.GetAtomicNum() != 1]
    ranks = list(Chem.CanonicalRankAtoms(Chem.RemoveHs(mol, sanitize=False), breakTies=True))
    order: list[int] = []
    placed = set()
    for _, index in sorted(zip(ranks, heavy)):
        order.append(index)
        for neighbour in sorted(n.GetIdx() for n in mol.GetAtomWithIdx(index).GetNeighbors()):
            if mol.GetAtomWithIdx(neighbour).GetAtomicNum() == 1 and neighbour not in placed:
                order.append(neighbour)
                placed.add(neighbour)
    order += [i for i in range(len(system)) if i not in placed and i not in heavy]
    return np.asarray(order, dtype=np.int64)


def atom_order(system: AtomSystem, mode: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """The permutation of `system`'s atoms for `mode` in ("dataset", "smiles", "random")."""
    if mode == "dataset":
        return np.arange(len(system))
    if mode == "smiles":
        return smiles_order(system)
    if mode == "random":
        return (rng or np.random.default_rng()).permutation(len(system))
    raise ValueError(f"unknown atom order {mode!r}")
