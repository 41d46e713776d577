"""Molecular graphs as the integer features a conformer model reads (NExT-Mol's DMT).

Per atom: element, formal charge, hybridisation, aromaticity, ring membership, chirality tag and degree. Per atom
pair: bond type, double-bond stereo (E/Z), graph distance and the chiral order (below). Hydrogens are explicit
atoms. Chirality tags come from the SMILES (or, for a molecule read with coordinates, from its 3D structure), so
the model can be told which mirror image to build.

RDKit's tag (clockwise or counter-clockwise) is relative to the order in which the centre's bonds are stored,
which a model that reads only features cannot see. The chiral order makes it readable: the neighbours of each
stereocentre are numbered 1-4 in an order in which the centre is counter-clockwise, the same handedness for
every centre and every molecule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from atomgen.data.selfies_atoms import atom_symbol_index
from atomgen.data.selfies_vocab import smiles_to_selfies
from atomgen.errors import InputError

MAX_GRAPH_DISTANCE = 8
"""Graph distances are clipped here (and 'not connected' becomes this + 1)."""
MAX_DEGREE = 6

_HYBRIDISATIONS = ("S", "SP", "SP2", "SP3", "SP3D", "SP3D2")
_CHIRAL_TAGS = ("CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW")
_BOND_TYPES = {"SINGLE": 1, "DOUBLE": 2, "TRIPLE": 3, "AROMATIC": 4}
_BOND_STEREO = {"STEREOE": 1, "STEREOTRANS": 1, "STEREOZ": 2, "STEREOCIS": 2}

# Sizes of the categorical atom features, in column order (the model builds one embedding per column).
ATOM_FEATURE_SIZES = (119, 7, len(_HYBRIDISATIONS) + 1, 2, 2, len(_CHIRAL_TAGS) + 1, MAX_DEGREE + 2)
BOND_TYPE_CLASSES = 5
BOND_STEREO_CLASSES = 3
GRAPH_DISTANCE_CLASSES = MAX_GRAPH_DISTANCE + 2
CHIRAL_ORDER_CLASSES = 5


@dataclass
class MolecularGraph:
    """Integer features of one molecule with explicit hydrogens.

    Attributes:
        numbers: (N,) atomic numbers.
        atom_features: (N, 7) columns element, charge + 3 (clipped to 0..6), hybridisation, aromatic, in ring,
            chirality tag, degree (sizes in ATOM_FEATURE_SIZES).
        bond_types: (N, N) 0 none, 1 single, 2 double, 3 triple, 4 aromatic.
        bond_stereo: (N, N) 0 none, 1 E (trans), 2 Z (cis), on the double bond's two atoms.
        graph_distance: (N, N) shortest-path bond counts clipped to MAX_GRAPH_DISTANCE; unconnected pairs get
            MAX_GRAPH_DISTANCE + 1.
        chiral_order: (N, N) k = 1..4 at [i, j] when j is the k-th neighbour of stereocentre i in its
            counter-clockwise order; 0 elsewhere.
        smiles: canonical isomeric SMILES of the molecule (hydrogens implicit).
        selfies: the SELFIES of that SMILES.
        atom_symbols: (N,) position in `selfies` of the symbol that placed each atom (a hydrogen: its heavy
            neighbour's), for reading a language model's token states atom by atom.
    """

    numbers: np.ndarray
    atom_features: np.ndarray
    bond_types: np.ndarray
    bond_stereo: np.ndarray
    graph_distance: np.ndarray
    smiles: str
    selfies: str
    atom_symbols: np.ndarray
    chiral_order: np.ndarray

    def __len__(self) -> int:
        return len(self.numbers)


def graph_from_mol(mol) -> MolecularGraph:
    """Features of an RDKit molecule whose hydrogens are explicit atoms (stereo must already be assigned).

    The features depend only on the molecule, not on how it was built: a molecule from a SMILES and the same one
    perceived from coordinates (the training data) give the same graph, up to atom order.
    """
    from rdkit import Chem

    # AddHs leaves the added hydrogens' hybridisation unspecified, while a sanitised molecule (bonds perceived from
    # coordinates) has S. Setting it on a copy keeps a SMILES' hydrogens in the distribution the model learnt.
    mol = Chem.Mol(mol)
    Chem.SetHybridization(mol)
    atoms = list(mol.GetAtoms())
    n = len(atoms)
    features = np.zeros((n, len(ATOM_FEATURE_SIZES)), dtype=np.int64)
    for k, atom in enumerate(atoms):
        hybridisation = str(atom.GetHybridization())
        chirality = str(atom.GetChiralTag())
        features[k] = (
            atom.GetAtomicNum(),
            int(np.clip(atom.GetFormalCharge() + 3, 0, 6)),
            _HYBRIDISATIONS.index(hybridisation) + 1 if hybridisation in _HYBRIDISATIONS else 0,
            int(atom.GetIsAromatic()),
            int(atom.IsInRing()),
            _CHIRAL_TAGS.index(chirality) if chirality in _CHIRAL_TAGS else len(_CHIRAL_TAGS),
            min(atom.GetDegree(), MAX_DEGREE + 1),
        )
    bond_types = np.zeros((n, n), dtype=np.int64)
    bond_stereo = np.zeros((n, n), dtype=np.int64)
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        bond_types[i, j] = bond_types[j, i] = _BOND_TYPES.get(str(bond.GetBondType()), 1)
        bond_stereo[i, j] = bond_stereo[j, i] = _BOND_STEREO.get(str(bond.GetStereo()), 0)
    distance = Chem.GetDistanceMatrix(mol) if n > 1 else np.zeros((n, n))
    distance = np.where(distance > MAX_GRAPH_DISTANCE, MAX_GRAPH_DISTANCE + 1, distance).astype(np.int64)
    smiles = Chem.MolToSmiles(_without_hydrogens(mol))
    selfies = smiles_to_selfies(smiles)
    return MolecularGraph(np.array([a.GetAtomicNum() for a in atoms], dtype=np.int64), features, bond_types,
                          bond_stereo, distance, smiles, selfies, atom_symbol_index(mol, selfies), chiral_order(mol))


def chiral_order(mol) -> np.ndarray:
    """(N, N) chiral order of a molecule: [i, j] = k when j is the k-th neighbour of stereocentre i in an order in
    which i is counter-clockwise (RDKit's convention: seen from the first neighbour, the others turn
    counter-clockwise); 0 elsewhere."""
    n = mol.GetNumAtoms()
    order = np.zeros((n, n), dtype=np.int64)
    for atom in mol.GetAtoms():
        tag = str(atom.GetChiralTag())
        if tag not in ("CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW"):
            continue
        centre = atom.GetIdx()
        neighbours = [bond.GetOtherAtomIdx(centre) for bond in atom.GetBonds()]  # the order the tag refers to
        if tag == "CHI_TETRAHEDRAL_CW" and len(neighbours) >= 2:  # swapping two neighbours flips the handedness
            neighbours[-2], neighbours[-1] = neighbours[-1], neighbours[-2]
        for k, neighbour in enumerate(neighbours[: CHIRAL_ORDER_CLASSES - 1]):
            order[centre, neighbour] = k + 1
    return order


def _without_hydrogens(mol):
    """The molecule with every hydrogen implicit, those that define a double bond's E/Z too (RDKit moves that
    stereo onto heavy neighbours), so its SMILES never holds a bare [H]."""
    from rdkit import Chem

    params = Chem.RemoveHsParameters()
    params.removeDefiningBondStereo = True
    return Chem.RemoveHs(mol, params, sanitize=False)


def mol_from_smiles(smiles: str, *, source: str | None = None, record: int | None = None):
    """An RDKit molecule of a SMILES with explicit hydrogens and its stereochemistry assigned."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    _quiet = BlockLogs()  # the InputError below says what is wrong in one line; RDKit's own report is noise
    mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        raise InputError(f"cannot parse SMILES {smiles!r}", source, record)
    mol = Chem.AddHs(mol)
    Chem.AssignStereochemistry(mol, cleanIt=True, force=True)
    return mol


def mol_from_coordinates(numbers: np.ndarray, positions: np.ndarray):
    """An RDKit molecule with bonds perceived from 3D coordinates and chirality read from them, or None when the
    bonds cannot be perceived (the molecule is then left out of training)."""
    from rdkit import Chem

    from atomgen.eval.molecules import perceive_molecule

    mol = perceive_molecule(numbers, positions)
    if mol is None:
        return None
    Chem.AssignStereochemistryFrom3D(mol)
    return mol
