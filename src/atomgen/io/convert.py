"""Lossless conversion between AtomSystem and RDKit, ASE and pymatgen objects.

RDKit: bonds and formal charges travel with the molecule; when a system has no bonds they are perceived from
the coordinates (`perceive_rdkit_bonds`, total charge 0 unless the system carries charges), and only a bond table
RDKit can sanitise is ever kept. Properties become RDKit properties (doubles where possible) and the name becomes
`_Name`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from atomgen.errors import InputError
from atomgen.system import AROMATIC, AtomSystem

_RDKIT_ORDER = {1: "SINGLE", 2: "DOUBLE", 3: "TRIPLE", AROMATIC: "AROMATIC"}

# The property (an SDF data field once written) that marks a molecule left without bonds by `perceive_rdkit_bonds`.
BONDS_FIELD = "atomgen_bonds"
NO_BOND_TABLE = "none: no sanitisable bond table"
# Van der Waals radius factors tried after RDKit's default perception fails. In strained cages (bicyclo[1.1.1]-
# pentanes, prismanes, oxetane bridges) atoms across a small ring sit within the default cut-off and get bonded,
# which leaves a five-bonded carbon; on QM9, 1.2 separates them in three of four such molecules, 1.1 in the rest.
_VDW_FACTORS = (1.2, 1.1)
# A safety bound on RDKit's bond-order search, which a broken generated geometry could make explode; all of QM9
# stays within it, and nitrobenzene needs under a hundred. Exceeding it fails that candidate only.
_MAX_ITERATIONS = 100_000


# ----------------------------------------------------------------------------------------------------- RDKit
def to_rdkit(system: AtomSystem, *, perceive_bonds: bool = True, sanitize: bool = False):
    """An RDKit Mol with one conformer.

    Args:
        system: a molecule (a lattice, if present, is ignored).
        perceive_bonds: when the system has no bonds, perceive connectivity and bond orders from coordinates
            (`perceive_rdkit_bonds`); a molecule with no sanitisable bond table is left without bonds and its
            `atomgen_bonds` property says so.
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
    for key, value in system.properties.items():
        _set_rdkit_prop(out, key, value)
    if system.name:
        out.SetProp("_Name", system.name)
    # After the properties: perception sets or clears BONDS_FIELD, so a stale one read from a file cannot survive.
    if system.bonds is None and perceive_bonds and len(system) > 1:
        out = perceive_rdkit_bonds(out, charge=int(charges.sum()))
    if sanitize:
        Chem.SanitizeMol(out)
    else:
        out.UpdatePropertyCache(strict=False)
    return out


def perceive_rdkit_bonds(mol, *, charge: int = 0):
    """The preferred sanitisable bond table perceived from 3D coordinates, or no bonds at all.

    Candidates, in order of preference (each built on a copy of `mol`, pre-existing bonds disregarded):
      1. rdDetermineBonds.DetermineBonds with RDKit's defaults, taken whenever it sanitises;
      2. DetermineBonds with van der Waals radii scaled by 1.2, then by 1.1;
      3. connectivity from EDM's bond-length tables, then DetermineBondOrders on it.
    Of 2-3 the first without formal charges or radical electrons wins, else the one with fewest. A candidate counts
    only if Chem.SanitizeMol succeeds on a copy of it. When none does, the result has no bonds and its
    `atomgen_bonds` property reads "none: no sanitisable bond table"; otherwise that property is cleared.

    Args:
        mol: an RDKit Mol with a 3D conformer (left unchanged).
        charge: the total charge of the molecule.

    Returns:
        A new Mol with the input's atoms, conformer and properties.
    """
    from rdkit.rdBase import BlockLogs

    _quiet = BlockLogs()  # failed candidates are expected; RDKit's complaint about each would only be noise
    best, best_cost = None, None
    for rank, candidate in enumerate(_bond_table_candidates(mol, charge)):
        cost = _charges_and_radicals(candidate)
        if cost is None:
            continue
        if rank == 0 or cost == 0:
            return _flag_bonds(candidate, found=True)
        # A fallback that misses a real (long, strained) bond pays for it in charged or radical atoms.
        if best_cost is None or cost < best_cost:
            best, best_cost = candidate, cost
    return _flag_bonds(best if best is not None else _without_bonds(mol), found=best is not None)


def _bond_table_candidates(mol, charge: int) -> Iterator[Any]:
    """The candidate bond tables of `perceive_rdkit_bonds`, lazily and in its order; None where RDKit gives up."""
    from rdkit.Chem import rdDetermineBonds

    options = {"charge": charge, "maxIterations": _MAX_ITERATIONS}
    yield _perceived(rdDetermineBonds.DetermineBonds, mol, **options)
    for factor in _VDW_FACTORS:
        yield _perceived(rdDetermineBonds.DetermineBonds, mol, useVdw=True, covFactor=factor, **options)
    yield _perceived(rdDetermineBonds.DetermineBondOrders, _edm_connectivity(mol), **options)


def _perceived(perceive: Callable[..., None], mol, **options: Any):
    """A copy of `mol` after `perceive(copy, **options)`, or None when RDKit refuses (no valid bond orders, charge
    mismatch, iteration bound)."""
    from rdkit import Chem

    candidate = Chem.Mol(mol)
    try:
        perceive(candidate, **options)
    except (ValueError, RuntimeError):
        return None
    return candidate


def _edm_connectivity(mol):
    """A copy of `mol` whose bonds, all single, join the pairs EDM's bond-length tables call bonded (the tables the
    evaluator's stability uses: tabulated single-bond length + 10 pm)."""
    from rdkit import Chem

    from atomgen.eval.bonds import edm_bond_orders

    numbers = [atom.GetAtomicNum() for atom in mol.GetAtoms()]
    orders = edm_bond_orders(np.array(numbers), mol.GetConformer().GetPositions())
    editable = Chem.RWMol(_without_bonds(mol))
    for i, j in zip(*np.nonzero(np.triu(orders))):
        editable.AddBond(int(i), int(j), Chem.BondType.SINGLE)
    return editable.GetMol()


def _charges_and_radicals(candidate) -> int | None:
    """Total |formal charge| plus radical electrons of a candidate once sanitised (on a copy); None if it is None
    or does not sanitise."""
    from rdkit import Chem

    if candidate is None:
        return None
    copy = Chem.Mol(candidate)
    try:
        Chem.SanitizeMol(copy)
    except (ValueError, RuntimeError):  # RDKit's sanitisation errors derive from ValueError
        return None
    return sum(abs(atom.GetFormalCharge()) + atom.GetNumRadicalElectrons() for atom in copy.GetAtoms())


def _without_bonds(mol):
    """A copy of `mol` with every bond removed (atoms, charges, conformer and properties kept)."""
    from rdkit import Chem

    editable = Chem.RWMol(mol)
    for i, j in [(bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()) for bond in mol.GetBonds()]:
        editable.RemoveBond(i, j)
    return editable.GetMol()


def _flag_bonds(mol, *, found: bool):
    """`mol` with BONDS_FIELD set to NO_BOND_TABLE when no bond table was found, cleared otherwise."""
    if not found:
        mol.SetProp(BONDS_FIELD, NO_BOND_TABLE)
    elif mol.HasProp(BONDS_FIELD):
        mol.ClearProp(BONDS_FIELD)
    return mol


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
