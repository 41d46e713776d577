"""Scaffold completion: give an autoregressive model a fragment with coordinates and let it finish the molecule."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from atomgen.errors import InputError
from atomgen.models.quetzal.sampler import DEFAULT_PRECISION, DEFAULT_SOLVER, DEFAULT_STEPS
from atomgen.system import AtomSystem


def fragment_from_smiles(smiles: str, seed: int = 0) -> AtomSystem:
    """Embed a SMILES fragment in 3D (ETKDGv3 + MMFF) and return its heavy atoms."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise InputError(f"cannot parse SMILES {smiles!r}")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed + 1  # RDKit treats seed 0 specially (see data/drugs.py)
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise InputError(f"RDKit cannot embed SMILES {smiles!r} in 3D")
    AllChem.MMFFOptimizeMolecule(mol)
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    system = AtomSystem(numbers=numbers, positions=mol.GetConformer().GetPositions(), name=smiles)
    keep = numbers != 1
    return AtomSystem(numbers=numbers[keep], positions=system.positions[keep], name=smiles)


def murcko_scaffold(system: AtomSystem) -> tuple[AtomSystem, str] | None:
    """The heavy atoms of the molecule's Bemis–Murcko scaffold (rings and linkers) in their original order and
    positions, with the scaffold's SMILES; None when the molecule has no ring or its bonds cannot be perceived."""
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    from atomgen.eval.molecules import perceive_molecule

    mol = perceive_molecule(system.numbers, system.positions)
    if mol is None:
        return None
    scaffold = MurckoScaffold.GetScaffoldForMol(Chem.RemoveHs(mol))
    match = mol.GetSubstructMatch(scaffold) if scaffold.GetNumAtoms() else ()
    if not match:
        return None
    keep = sorted(match)
    fragment = AtomSystem(numbers=system.numbers[keep], positions=system.positions[keep], name=system.name)
    return fragment, Chem.MolToSmiles(scaffold)


def complete(model, fragments: Sequence[AtomSystem], n: int, *, seed: int = 0, steps: int = DEFAULT_STEPS,
             solver: str = DEFAULT_SOLVER, precision: str = DEFAULT_PRECISION, batch_size: int = 256,
             temperature: float = 1.0, progress: bool = True,
             source: str | Path | None = None, shard: tuple[int, int] | None = None) -> list[AtomSystem]:
    """`n` completions of each fragment, fragment by fragment (its hydrogens are dropped; the model adds atoms and
    then hydrogens). Completion k of the run draws from its own random stream; `shard` = (i, N) returns only the
    i-th of N contiguous slices of the run."""
    prefixes = [AtomSystem(numbers=f.numbers[f.numbers != 1], positions=f.positions[f.numbers != 1], name=f.name)
                for f in fragments]
    return model.extend(prefixes, n_per_prefix=n, seed=seed, steps=steps, solver=solver, precision=precision,
                             batch_size=batch_size,
                        temperature=temperature, progress=progress, source=source, shard=shard)


def contains_fragment(molecule: AtomSystem, fragment_smiles: str) -> bool:
    """Whether the molecule's perceived graph contains the fragment's graph. Bond orders are relaxed ("any
    bond"), so a ring whose aromaticity is perceived differently still counts as kept."""
    from rdkit import Chem

    from atomgen.eval.molecules import perceive_molecule

    mol = perceive_molecule(molecule.numbers, molecule.positions)
    fragment = Chem.MolFromSmiles(fragment_smiles, sanitize=False)
    if mol is None or fragment is None:
        return False
    params = Chem.AdjustQueryParameters.NoAdjustments()
    params.makeBondsGeneric = True
    return mol.HasSubstructMatch(Chem.AdjustQueryProperties(fragment, params))
