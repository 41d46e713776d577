"""Which SELFIES symbol placed which atom: the map that lets a language model's token states reach the atoms of a
3D model (NExT-Mol's 1D-to-3D transfer)."""

from __future__ import annotations

import numpy as np

from atomgen.errors import InputError

_NOT_ATOMS = set("=#-/\\:.()%0123456789$")


def atom_symbol_index(mol, text: str) -> np.ndarray:
    """For every atom of `mol` (hydrogens explicit or not, any atom order), the position in `text` (a SELFIES of
    the same molecule, 0-based over its symbols) of the symbol that placed it; a hydrogen gets its heavy
    neighbour's symbol. Atoms the string does not place (none, for a SELFIES of `mol` itself) get -1.
    """
    from rdkit import Chem

    from atomgen.data.selfies_vocab import selfies_library

    decoded, attribution = selfies_library().decoder(text, attribute=True)
    placed = Chem.MolFromSmiles(decoded)
    if placed is None:
        raise InputError(f"SELFIES {text!r} decodes to {decoded!r}, which RDKit cannot read")
    # The decoded SMILES lists its atoms in the order RDKit numbers them; each one's own symbol is the last one
    # attributed to it (branch and ring symbols before it only open the branch or ring it sits in).
    symbols = [entry.attribution[-1].index for entry in attribution
               if entry.token[0] not in _NOT_ATOMS and entry.attribution]
    if len(symbols) != placed.GetNumAtoms():
        raise InputError(f"SELFIES {text!r}: {len(symbols)} atom symbols for {placed.GetNumAtoms()} atoms")
    match = mol.GetSubstructMatch(placed, useChirality=False)
    if len(match) != placed.GetNumAtoms():
        raise InputError(f"SELFIES {text!r} is not a spelling of this molecule")
    index = np.full(mol.GetNumAtoms(), -1, dtype=np.int64)
    for atom, symbol in zip(match, symbols):
        index[atom] = symbol
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() == 1 and index[atom.GetIdx()] < 0 and atom.GetDegree():
            index[atom.GetIdx()] = index[atom.GetNeighbors()[0].GetIdx()]
    return index
