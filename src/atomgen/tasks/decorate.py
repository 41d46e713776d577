"""Hydrogen decoration: give an autoregressive model the heavy atoms and let it add only hydrogens.

Also the two things needed to score it: the RMSD of predicted to true hydrogens under the optimal assignment,
and RDKit's answer to the same question (AddHs with coordinates, then MMFF on the hydrogens only).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from atomgen.models.base import shard_range
from atomgen.models.quetzal.sampler import DEFAULT_PRECISION, DEFAULT_SOLVER, DEFAULT_STEPS
from atomgen.system import AtomSystem


def heavy_atoms(system: AtomSystem) -> AtomSystem:
    """The system without its hydrogens (heavy atoms in their original order)."""
    keep = system.numbers != 1
    return AtomSystem(numbers=system.numbers[keep], positions=system.positions[keep], name=system.name)


def decorate(model, molecules: Sequence[AtomSystem], *, seed: int = 0, steps: int = DEFAULT_STEPS,
             solver: str = DEFAULT_SOLVER, precision: str = DEFAULT_PRECISION, batch_size: int = 256,
             temperature: float = 1.0, closed_shell: bool = False, progress: bool = True,
             source: str | Path | None = None, shard: tuple[int, int] | None = None) -> list[AtomSystem]:
    """Add hydrogens to each molecule's heavy atoms (any hydrogens given are dropped first).

    Returns one molecule per input, in input order, its heavy atoms unchanged and first. `closed_shell` stops
    only at an even valence sum (see `QuetzalModel.sample`), so the hydrogen count's parity is always possible.
    Molecule k draws from its own random stream; `shard` = (i, N) decorates only the i-th of N contiguous slices.
    """
    if 1 not in model.config.elements:
        from atomgen.errors import InputError

        raise InputError("this model never emits hydrogen, so it cannot decorate")
    prefixes = [heavy_atoms(m) for m in molecules]
    decorated = model.extend(prefixes, seed=seed, steps=steps, solver=solver, precision=precision,
                             batch_size=batch_size, temperature=temperature,
                             elements=[1], closed_shell=closed_shell, progress=progress, source=source, shard=shard)
    for system, original in zip(decorated, [molecules[k] for k in shard_range(len(molecules), shard)]):
        system.name = original.name
    return decorated


def hydrogen_rmsd(predicted: AtomSystem, truth: AtomSystem) -> float:
    """RMSD (Å) between predicted and true hydrogen positions, matched by the optimal assignment.

    Infinite when the number of hydrogens differs (a wrong count is a failed decoration, whatever the geometry).
    Both molecules must share the heavy-atom frame (decoration keeps the given heavy atoms where they are).
    """
    mine = predicted.positions[predicted.numbers == 1]
    theirs = truth.positions[truth.numbers == 1]
    if len(mine) != len(theirs):
        return float("inf")
    if len(mine) == 0:
        return 0.0
    cost = ((mine[:, None, :] - theirs[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    return float(np.sqrt(cost[rows, cols].mean()))


def rdkit_decorate(molecule: AtomSystem, seed: int = 0) -> AtomSystem | None:
    """RDKit's baseline: perceive the bonds of the full molecule, drop its hydrogens, AddHs(addCoords=True), then
    MMFF-optimise the hydrogens with every heavy atom fixed (AddHs' coordinates are kept where the optimiser
    fails). Returns None where bond perception fails.

    The baseline is told the true bonding (from the full molecule), so it knows how many hydrogens each atom
    carries: it is a strong reference for geometry, not for the count.
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from atomgen.eval.molecules import perceive_molecule

    mol = perceive_molecule(molecule.numbers, molecule.positions)
    if mol is None:
        return None
    heavy = Chem.RemoveHs(mol)
    with_h = Chem.AddHs(heavy, addCoords=True)
    properties = AllChem.MMFFGetMoleculeProperties(with_h)
    if properties is not None:
        field = AllChem.MMFFGetMoleculeForceField(with_h, properties)
        for atom in with_h.GetAtoms():
            if atom.GetAtomicNum() != 1:
                field.AddFixedPoint(atom.GetIdx())
        try:
            field.Minimize(maxIts=500)
        except RuntimeError:  # RDKit's BFGS can fail its line search; AddHs' own coordinates then stand
            with_h = Chem.AddHs(heavy, addCoords=True)
    numbers = np.array([a.GetAtomicNum() for a in with_h.GetAtoms()])
    positions = with_h.GetConformer().GetPositions()
    return AtomSystem(numbers=numbers, positions=positions, name=molecule.name)
