"""Per-molecule analysis: EDM bonds and stability, EDM, RDKit and ADiT's OpenBabel validity, SMILES, fragments.

Each generated molecule is analysed once into a `MoleculeAnalysis`; every molecule metric is then a reduction
over those records. The analysis is parallel over processes because RDKit bond perception dominates the cost.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from atomgen.eval.bonds import edm_bond_orders, stable_atoms
from atomgen.eval.instability import instability_cause
from atomgen.eval.openbabel_validity import openbabel_pdb_valid
from atomgen.eval.progress import stage_bar
from atomgen.system import AtomSystem

_PARALLEL_THRESHOLD = 500  # below this, starting worker processes costs more than it saves
# Molecules per task: many small tasks keep the progress bar moving and the pool busy to the end, and each is
# still big enough that sending it to a worker costs little.
_CHUNK = 200


@dataclass
class MoleculeAnalysis:
    """What the evaluator needs to know about one molecule.

    Attributes:
        n_atoms: number of atoms.
        n_stable_atoms: atoms whose EDM valence is allowed.
        edm_smiles: canonical SMILES of the largest fragment of the EDM-bonded molecule, None if it fails to sanitise.
        rdkit_smiles: canonical SMILES of the whole molecule with bonds and charges perceived by rdDetermineBonds
            (total charge 0), None if perception or sanitisation fails.
        n_fragments: fragments of the RDKit-perceived molecule (0 when perception failed).
        edm_bonds: (M, 3) rows (i, j, order) of EDM bonds.
        instability: why the molecule is not stable (one of `atomgen.eval.instability.CAUSES`), None if it is.
        openbabel_pdb_valid: valid under ADiT's lenient definition (OpenBabel bonds, PDB block, RDKit parses it;
            see `atomgen.eval.openbabel_validity`).
    """

    n_atoms: int
    n_stable_atoms: int
    edm_smiles: str | None
    rdkit_smiles: str | None
    n_fragments: int
    edm_bonds: np.ndarray
    instability: str | None = None
    openbabel_pdb_valid: bool = False

    @property
    def stable(self) -> bool:
        """Molecule stability: every atom stable (an empty molecule is not stable)."""
        return self.n_atoms > 0 and self.n_stable_atoms == self.n_atoms

    @property
    def connected_valid(self) -> bool:
        """RDKit-valid and in one piece."""
        return self.rdkit_smiles is not None and self.n_fragments == 1


def analyse_molecule(numbers: np.ndarray, positions: np.ndarray) -> MoleculeAnalysis:
    """Analyse one molecule given its atomic numbers and positions (Å); an empty one is invalid and unstable."""
    if len(numbers) == 0:
        return MoleculeAnalysis(n_atoms=0, n_stable_atoms=0, edm_smiles=None, rdkit_smiles=None, n_fragments=0,
                                edm_bonds=np.zeros((0, 3), dtype=np.int64), instability="connectivity")
    orders = edm_bond_orders(numbers, positions)
    stable = stable_atoms(numbers, orders)
    i, j = np.nonzero(np.triu(orders))
    bonds = np.stack([i, j, orders[i, j]], axis=1) if len(i) else np.zeros((0, 3), dtype=np.int64)
    rdkit_smiles, n_fragments = _rdkit_perception(numbers, positions)
    return MoleculeAnalysis(
        n_atoms=len(numbers),
        n_stable_atoms=int(stable.sum()),
        edm_smiles=_edm_smiles(numbers, bonds),
        rdkit_smiles=rdkit_smiles,
        n_fragments=n_fragments,
        edm_bonds=bonds,
        instability=instability_cause(numbers, positions, orders, stable),
        openbabel_pdb_valid=openbabel_pdb_valid(numbers, positions),
    )


def _edm_smiles(numbers: np.ndarray, bonds: np.ndarray) -> str | None:
    from rdkit import Chem

    mol = Chem.RWMol()
    for z in numbers:
        mol.AddAtom(Chem.Atom(int(z)))
    kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    for i, j, order in bonds:
        mol.AddBond(int(i), int(j), kinds[int(order)])
    try:
        Chem.SanitizeMol(mol)
    except (ValueError, RuntimeError):  # RDKit raises AtomValenceException / KekulizeException (ValueErrors)
        return None
    # EDM keeps the largest fragment (by atom count) of a sanitised molecule.
    fragments = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    largest = max(fragments, key=lambda m: m.GetNumAtoms())
    return Chem.MolToSmiles(Chem.RemoveHs(largest, sanitize=False), isomericSmiles=False)


def perceive_molecule(numbers: np.ndarray, positions: np.ndarray):
    """A sanitised RDKit Mol (hydrogens kept, one conformer) with bonds and charges perceived by rdDetermineBonds
    at total charge 0, or None when perception or sanitisation fails."""
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds
    from rdkit.Geometry import Point3D
    from rdkit.rdBase import BlockLogs

    _quiet = BlockLogs()  # failures are counted as invalid, not printed
    mol = Chem.RWMol()
    for z in numbers:
        mol.AddAtom(Chem.Atom(int(z)))
    conf = Chem.Conformer(len(numbers))
    for k, (x, y, z) in enumerate(positions):
        conf.SetAtomPosition(k, Point3D(float(x), float(y), float(z)))
    mol.AddConformer(conf)
    try:
        rdDetermineBonds.DetermineBonds(mol, charge=0)
        Chem.SanitizeMol(mol)
    except (ValueError, RuntimeError):
        return None
    return mol.GetMol()


def _rdkit_perception(numbers: np.ndarray, positions: np.ndarray) -> tuple[str | None, int]:
    from rdkit import Chem

    mol = perceive_molecule(numbers, positions)
    if mol is None:
        return None, 0
    return Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False), isomericSmiles=False), len(Chem.GetMolFrags(mol))


def _analyse_chunk(chunk: list[tuple[np.ndarray, np.ndarray]]) -> list[MoleculeAnalysis]:
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")  # failures are counted, not printed
    return [analyse_molecule(z, x) for z, x in chunk]


def analyse_molecules(systems: Sequence[AtomSystem], *, workers: int | None = None,
                      progress: bool = False) -> list[MoleculeAnalysis]:
    """Analyse many molecules, in parallel over `workers` processes (default: all cores) when there are many.

    `progress` shows a bar ("validity and stability") on stderr.
    """
    items = [(s.numbers, s.positions) for s in systems]
    workers = workers or os.cpu_count() or 1
    parallel = workers > 1 and len(items) >= _PARALLEL_THRESHOLD
    chunks = [items[k : k + _CHUNK] for k in range(0, len(items), _CHUNK)]
    out: list[MoleculeAnalysis] = []
    with stage_bar(desc="validity and stability", total=len(items), enabled=progress) as bar:
        for part in _analysed_chunks(chunks, workers if parallel else 1):
            out += part
            bar.update(len(part))
    return out


def _analysed_chunks(chunks: list[list[tuple[np.ndarray, np.ndarray]]],
                     workers: int) -> Iterator[list[MoleculeAnalysis]]:
    """The analyses of each chunk, in chunk order: over `workers` processes, or in this one when 1."""
    if workers == 1:
        yield from map(_analyse_chunk, chunks)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_analyse_chunk, chunks)
