"""Lossless conversion between AtomSystem and RDKit, ASE and pymatgen objects.

RDKit: bonds and formal charges travel with the molecule; when a system has no bonds they are perceived from
the coordinates (rdDetermineBonds, total charge 0 unless the system carries charges). Properties become RDKit
properties (doubles where possible) and the name becomes `_Name`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from atomgen.errors import InputError
from atomgen.system import AROMATIC, AtomSystem

_RDKIT_ORDER = {1: "SINGLE", 2: "DOUBLE", 3: "TRIPLE", AROMATIC: "AROMATIC"}


# ----------------------------------------------------------------------------------------------------- RDKit
def to_rdkit(system: AtomSystem, *, perceive_bonds: bool = True, sanitize: bool = False):
    """An RDKit Mol with one conformer.

    Args:
        system: a molecule (a lattice, if present, is ignored).
        perceive_bonds: when the system has no bonds, perceive connectivity and bond orders from coordinates
            (rdDetermineBonds, charge 0); if that fails, fall back to connectivity only.
        sanitize: run RDKit sanitisation (raises on an impossible valence).
    """
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    mol = Chem.RWMol()
    charges = system.charges if system.charges is not None else np.zeros(len(system), dtype=np.int64)
    for z, q in zip(system.numbers, charges):
        atom = Chem.Atom(int(z))
        atom.SetFormalCharge(int(q))
        atom.SetNoImplicit(True)
        mol.AddAtom(atom)
    if system.bonds is not None:
        for i, j, order in system.bonds:
            mol.AddBond(int(i), int(j), getattr(Chem.BondType, _RDKIT_ORDER[int(order)]))
            if int(order) == AROMATIC:
                mol.GetBondBetweenAtoms(int(i), int(j)).SetIsAromatic(True)
                mol.GetAtomWithIdx(int(i)).SetIsAromatic(True)
                mol.GetAtomWithIdx(int(j)).SetIsAromatic(True)
    conf = Chem.Conformer(len(system))
    for k, (x, y, z) in enumerate(system.positions):
        conf.SetAtomPosition(k, Point3D(float(x), float(y), float(z)))
    mol.AddConformer(conf, assignId=True)
    out = mol.GetMol()
    if system.bonds is None and perceive_bonds and len(system) > 1:
        out = perceive_rdkit_bonds(out, charge=int(charges.sum()))
    for key, value in system.properties.items():
        _set_rdkit_prop(out, key, value)
    if system.name:
        out.SetProp("_Name", system.name)
    if sanitize:
        Chem.SanitizeMol(out)
    else:
        out.UpdatePropertyCache(strict=False)
    return out


def perceive_rdkit_bonds(mol, *, charge: int = 0):
    """Bonds and orders from 3D coordinates with rdDetermineBonds; connectivity only if orders fail.

    Returns a new Mol; the input is left unchanged.
    """
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds
    from rdkit.rdBase import BlockLogs

    _quiet = BlockLogs()  # a failed perception falls back below; RDKit's own complaint would only be noise
    candidate = Chem.Mol(mol)
    try:
        rdDetermineBonds.DetermineBonds(candidate, charge=charge)
        return candidate
    except (ValueError, RuntimeError):
        candidate = Chem.Mol(mol)
        rdDetermineBonds.DetermineConnectivity(candidate)
        return candidate


def _set_rdkit_prop(mol, key: str, value: Any) -> None:
    if isinstance(value, bool):
        mol.SetBoolProp(key, value)
    elif isinstance(value, (int, np.integer)):
        mol.SetIntProp(key, int(value))
    elif isinstance(value, (float, np.floating)):
        mol.SetDoubleProp(key, float(value))
    else:
        mol.SetProp(key, str(value))


def from_rdkit(mol, conf_id: int = -1, *, name: str | None = None) -> AtomSystem:
    """An AtomSystem from an RDKit Mol (atoms, bonds, charges, properties, name); needs a conformer."""
    if mol.GetNumConformers() == 0:
        raise InputError("the RDKit molecule has no 3D conformer")
    conf = mol.GetConformer(conf_id)
    positions = np.array(conf.GetPositions(), dtype=np.float64)
    numbers = [a.GetAtomicNum() for a in mol.GetAtoms()]
    charges = [a.GetFormalCharge() for a in mol.GetAtoms()]
    bonds = []
    for bond in mol.GetBonds():
        order = AROMATIC if bond.GetIsAromatic() else _order_of(bond)
        bonds.append((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), order))
    props: dict[str, Any] = {}
    for key, value in mol.GetPropsAsDict(includePrivate=False, includeComputed=False).items():
        props[key] = value
    title = name if name is not None else (mol.GetProp("_Name") if mol.HasProp("_Name") else "")
    return AtomSystem(
        numbers=numbers,
        positions=positions,
        charges=charges,
        bonds=np.array(bonds, dtype=np.int64).reshape(-1, 3),
        properties=props,
        name=title,
    )


def _order_of(bond) -> int:
    order = bond.GetBondTypeAsDouble()
    if order in (1.0, 2.0, 3.0):
        return int(order)
    if order == 1.5:
        return AROMATIC
    # Dative, zero-order and other exotic bonds have no SDF order; keep them as single connections.
    return 1


# ------------------------------------------------------------------------------------------------------- ASE
def to_ase(system: AtomSystem):
    """An ase.Atoms with cell and pbc; properties go to `atoms.info`, charges to initial charges."""
    from ase import Atoms

    atoms = Atoms(
        numbers=system.numbers,
        positions=system.positions,
        cell=system.lattice if system.lattice is not None else None,
        pbc=system.pbc,
    )
    atoms.info.update(system.properties)
    if system.name:
        atoms.info["name"] = system.name
    if system.charges is not None:
        atoms.set_initial_charges(system.charges.astype(float))
    if system.bonds is not None:
        atoms.info["bonds"] = system.bonds.tolist()
    return atoms


def from_ase(atoms) -> AtomSystem:
    """An AtomSystem from ase.Atoms (cell kept only if any direction is periodic or the cell is non-zero)."""
    cell = np.array(atoms.cell.array, dtype=np.float64)
    has_cell = bool(np.any(atoms.pbc)) or abs(np.linalg.det(cell)) > 1e-9
    info = dict(atoms.info)
    name = str(info.pop("name", ""))
    bonds = info.pop("bonds", None)
    charges = None
    if atoms.has("initial_charges") and np.any(atoms.get_initial_charges()):
        charges = np.rint(atoms.get_initial_charges()).astype(np.int64)
    return AtomSystem(
        numbers=atoms.numbers.copy(),
        positions=atoms.positions.copy(),
        lattice=cell if has_cell else None,
        pbc=tuple(bool(p) for p in atoms.pbc) if has_cell else (False, False, False),
        charges=charges,
        bonds=None if bonds is None else np.asarray(bonds, dtype=np.int64).reshape(-1, 3),
        properties=info,
        name=name,
    )


# -------------------------------------------------------------------------------------------------- pymatgen
def to_pymatgen(system: AtomSystem):
    """A pymatgen Structure for a crystal, a Molecule otherwise; properties and name go to `.properties`."""
    from pymatgen.core import Lattice, Molecule, Structure

    props = dict(system.properties)
    if system.name:
        props["name"] = system.name
    species = [int(z) for z in system.numbers]
    if system.is_periodic:
        return Structure(
            Lattice(system.lattice, pbc=system.pbc),
            species,
            system.positions,
            coords_are_cartesian=True,
            properties=props,
        )
    charge = 0 if system.charges is None else int(system.charges.sum())
    return Molecule(species, system.positions, charge=charge, properties=props)


def from_pymatgen(obj) -> AtomSystem:
    """An AtomSystem from a pymatgen Structure or Molecule (ordered sites only)."""
    from pymatgen.core import Structure

    if not obj.is_ordered:
        raise InputError("disordered (partially occupied) structures are not supported")
    props = dict(getattr(obj, "properties", {}) or {})
    name = str(props.pop("name", ""))
    numbers = [site.specie.Z for site in obj]
    if isinstance(obj, Structure):
        return AtomSystem(
            numbers=numbers,
            positions=obj.cart_coords,
            lattice=obj.lattice.matrix,
            pbc=tuple(bool(p) for p in obj.lattice.pbc),
            properties=props,
            name=name,
        )
    return AtomSystem(numbers=numbers, positions=obj.cart_coords, properties=props, name=name)
