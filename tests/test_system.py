"""AtomSystem and its lossless conversions to RDKit, ASE and pymatgen."""

from __future__ import annotations

import numpy as np
import pytest

from atomgen.errors import InputError
from atomgen.io.convert import from_ase, from_pymatgen, from_rdkit, to_ase, to_pymatgen, to_rdkit
from atomgen.system import AtomSystem


def test_views(rock_salt):
    assert rock_salt.is_periodic and len(rock_salt) == 8
    assert rock_salt.formula == "Cl4Na4"
    a, b, c, alpha, beta, gamma = rock_salt.lattice_parameters
    assert a == pytest.approx(5.64) and gamma == pytest.approx(90.0)
    assert rock_salt.volume == pytest.approx(5.64**3)
    assert np.all((rock_salt.frac_coords >= 0) & (rock_salt.frac_coords < 1))


def test_from_fractional_wraps_outside_coordinates():
    s = AtomSystem.from_fractional([6], [[1.25, -0.25, 0.5]], np.eye(3) * 2.0)
    np.testing.assert_allclose(s.frac_coords, [[0.25, 0.75, 0.5]])


@pytest.mark.parametrize(
    "system, message",
    [
        (AtomSystem([6, 1], [[0, 0, 0], [np.nan, 0, 0]]), "non-finite"),
        (AtomSystem([6, 200], [[0, 0, 0], [1, 0, 0]]), "unknown atomic number"),
        (AtomSystem([6], [[0, 0, 0]], lattice=np.zeros((3, 3))), "singular lattice"),
        (AtomSystem([], np.zeros((0, 3))), "no atoms"),
        (AtomSystem([6, 6], [[0, 0, 0], [1, 0, 0]], bonds=[[0, 5, 1]]), "does not exist"),
    ],
)
def test_validate_rejects(system, message):
    with pytest.raises(InputError, match=message):
        system.validate()


def test_validate_overlap():
    with pytest.raises(InputError, match="overlap"):
        AtomSystem([6, 6], [[0, 0, 0], [0.01, 0, 0]]).validate(min_distance=0.1)


def test_rdkit_round_trip_keeps_bonds_charges_properties(small_molecules):
    from rdkit import Chem

    acetate = small_molecules[1].copy(properties={"U0": -1.5, "tag": "x"}, name="acetic")
    mol = to_rdkit(acetate)
    back = from_rdkit(mol)
    np.testing.assert_allclose(back.positions, acetate.positions)
    np.testing.assert_array_equal(back.numbers, acetate.numbers)
    np.testing.assert_array_equal(back.bonds, acetate.bonds)
    assert back.properties == {"U0": -1.5, "tag": "x"} and back.name == "acetic"
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == "CC(=O)O"


def test_rdkit_perceives_bonds_when_absent(small_molecules):
    from rdkit import Chem

    bare = small_molecules[2].copy(bonds=None, charges=None)  # benzene without its graph
    mol = to_rdkit(bare, sanitize=True)
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == "c1ccccc1"


def test_ase_round_trip(rock_salt, small_molecules):
    back = from_ase(to_ase(rock_salt))
    np.testing.assert_allclose(back.lattice, rock_salt.lattice)
    np.testing.assert_allclose(back.positions, rock_salt.positions)
    assert back.pbc == (True, True, True) and back.name == "NaCl"
    mol = from_ase(to_ase(small_molecules[0]))
    assert mol.lattice is None and not mol.is_periodic
    np.testing.assert_array_equal(mol.bonds, small_molecules[0].bonds)


def test_pymatgen_round_trip(rock_salt, small_molecules):
    from pymatgen.core import Molecule, Structure

    structure = to_pymatgen(rock_salt)
    assert isinstance(structure, Structure) and structure.composition.reduced_formula == "NaCl"
    back = from_pymatgen(structure)
    np.testing.assert_allclose(back.positions, rock_salt.positions, atol=1e-9)
    molecule = to_pymatgen(small_molecules[0])
    assert isinstance(molecule, Molecule)
    np.testing.assert_allclose(from_pymatgen(molecule).positions, small_molecules[0].positions)


def test_hill_formula_with_carbon_but_no_hydrogen():
    assert AtomSystem(numbers=[8, 6, 6], positions=np.eye(3)).formula == "C2O"
    assert AtomSystem(numbers=[8, 1, 1], positions=np.eye(3)).formula == "H2O"
