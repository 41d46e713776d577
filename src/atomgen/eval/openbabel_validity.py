"""ADiT's lenient QM9 validity: OpenBabel perceives bonds, writes a PDB block, and RDKit must parse it.

This is the "valid_rate" of ADiT's official evaluation (facebookresearch/all-atom-diffusion-transformer,
`src/eval/molecule_generation.py`): each generated molecule is built from its atomic numbers and positions as a
pymatgen Molecule and written to PDB through OpenBabel (pymatgen's `BabelMolAdaptor`: ConnectTheDots, then
PerceiveBondOrders); the molecule is valid when `Chem.MolFromPDBFile(path, removeHs=True)` returns a molecule, i.e.
RDKit parses and sanitises the block without an error. RDKit reads OpenBabel's CONECT records (a repeated entry
is a higher bond order) and, by default, adds bonds of its own between atoms that are close (proximityBonding).
Nothing else is asked: no connectivity, no charge balance; ADiT takes the largest fragment only for its SMILES.

It is far more lenient than atomgen's `rdkit_validity` (rdDetermineBonds at total charge 0): RDKit gives every
PDB atom as many implicit hydrogens as its valence allows, so an under-bonded atom (a carbon that lost its
hydrogens) passes, and so do disconnected atoms. What fails is an over-bonded atom (valence RDKit refuses), an
aromatic system RDKit cannot kekulise, or coordinates that cannot be written (NaN).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np


@lru_cache(maxsize=1)
def _openbabel() -> Any:
    """The `openbabel.openbabel` module, imported once per process with its error log stopped."""
    from openbabel import openbabel

    # OpenBabel prints a warning to stderr for every molecule it cannot kekulise or type; such molecules are
    # judged (and counted) by the RDKit parse below, so the warnings would only flood the evaluator's output.
    openbabel.obErrorLog.StopLogging()
    return openbabel


def openbabel_pdb_block(numbers: np.ndarray, positions: np.ndarray) -> str:
    """The PDB block OpenBabel writes for atoms `numbers` at `positions` (Å), with bonds it perceives itself."""
    ob = _openbabel()
    mol = ob.OBMol()
    mol.BeginModify()
    for z, (x, y, w) in zip(numbers, positions):
        atom = mol.NewAtom()
        atom.SetAtomicNum(int(z))
        atom.SetVector(float(x), float(y), float(w))
    # The steps of pymatgen's BabelMolAdaptor, which ADiT's `Molecule.to(fmt="pdb")` goes through: bonds from
    # distances (OpenBabel's covalent radii, capped at each element's maximum valence), then bond orders.
    # pymatgen also sets total charge 0 and a spin multiplicity; neither reaches the PDB text, so they are left out.
    mol.ConnectTheDots()
    mol.PerceiveBondOrders()
    # Centring changes the written coordinates (3 decimals, 8 columns each), so it is kept to match ADiT's files.
    mol.Center()
    mol.EndModify()
    conversion = ob.OBConversion()
    conversion.SetOutFormat("pdb")
    return conversion.WriteString(mol)


def openbabel_pdb_valid(numbers: np.ndarray, positions: np.ndarray) -> bool:
    """Whether one molecule is valid under ADiT's definition (an empty molecule is not)."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    # ADiT's code never meets an empty sample (it draws at least one atom); atomgen counts one invalid everywhere.
    if len(numbers) == 0:
        return False
    _quiet = BlockLogs()  # RDKit's sanitisation errors are counted as invalid, not printed
    try:
        block = openbabel_pdb_block(numbers, positions)
        # removeHs=True and the default sanitize=True are ADiT's call; it counts any exception as invalid.
        return Chem.MolFromPDBBlock(block, removeHs=True) is not None
    except Exception:  # noqa: BLE001 - whatever OpenBabel or RDKit raise on a broken sample, it is invalid
        return False
