"""Why a molecule is not EDM-stable: one cause per unstable molecule, so a model's failures can be told apart.

The four causes, tested in this order:

* `overcrowded`: an atom has more EDM neighbours than its largest allowed valence (atoms placed too close);
* `odd_valence`: the allowed valences of all atoms add up to an odd number, so no closed-shell bonding of these
  atoms exists whatever the geometry (a hydrogen too many or too few, or a heavy atom of the wrong element);
* `bond_orders`: the EDM connectivity admits bond orders that satisfy every valence (RDKit's
  DetermineBondOrders finds them, with no charged atom), so only the lengths that set the EDM orders are off;
* `connectivity`: anything else (a bond missing because it came out too long, or one between the wrong atoms).
"""

from __future__ import annotations

import numpy as np

from atomgen.eval.bonds import edm_tables

CAUSES = ("overcrowded", "odd_valence", "bond_orders", "connectivity")


def instability_cause(numbers: np.ndarray, positions: np.ndarray, orders: np.ndarray,
                      stable: np.ndarray) -> str | None:
    """The cause (one of CAUSES) of a molecule's instability, or None for a stable molecule.

    `orders` and `stable` are the molecule's EDM bond orders and per-atom stability.
    """
    if stable.all():
        return None
    _, allowed, _ = edm_tables()
    numbers = np.asarray(numbers)
    valences = [np.flatnonzero(allowed[z]) for z in numbers]
    neighbours = (orders > 0).sum(axis=1)
    if any(len(v) == 0 or n > v.max() for n, v in zip(neighbours, valences)):
        return "overcrowded"
    if all(len(set(v % 2)) == 1 for v in valences) and sum(int(v[0]) for v in valences) % 2:
        return "odd_valence"
    return "bond_orders" if _bond_orders_exist(numbers, positions, orders) else "connectivity"


def _bond_orders_exist(numbers: np.ndarray, positions: np.ndarray, orders: np.ndarray) -> bool:
    """Whether RDKit finds bond orders for this connectivity that satisfy every valence with no charged atom."""
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds
    from rdkit.Geometry import Point3D
    from rdkit.rdBase import BlockLogs

    _quiet = BlockLogs()
    mol = Chem.RWMol()
    for z in numbers:
        atom = Chem.Atom(int(z))
        atom.SetNoImplicit(True)  # every hydrogen is explicit: none may be invented to fill a valence
        mol.AddAtom(atom)
    for i, j in zip(*np.nonzero(np.triu(orders))):
        mol.AddBond(int(i), int(j), Chem.BondType.SINGLE)
    conformer = Chem.Conformer(len(numbers))
    for k, (x, y, z) in enumerate(positions):
        conformer.SetAtomPosition(k, Point3D(float(x), float(y), float(z)))
    mol.AddConformer(conformer)
    try:
        mol.UpdatePropertyCache(strict=False)
        # Without charged fragments: EDM's valences know no charges, so a zwitterion is no fix either.
        rdDetermineBonds.DetermineBondOrders(mol, charge=0, allowChargedFragments=False)
        Chem.SanitizeMol(mol)
    except (ValueError, RuntimeError):
        return False
    # Where no full bonding exists, RDKit leaves radicals rather than failing.
    return all(atom.GetFormalCharge() == 0 and atom.GetNumRadicalElectrons() == 0 for atom in mol.GetAtoms())
