"""Every file atomgen writes is read back by the reference reader of its format: RDKit with sanitisation for SDF,
pymatgen for CIF, ASE for extended XYZ. Random systems (broken and overlapping geometries included) and real
molecules (QM9 records, strained cages whose default bond perception fails)."""

from __future__ import annotations

import string
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from atomgen.errors import InputError
from atomgen.io.convert import BONDS_FIELD, NO_BOND_TABLE
from atomgen.io.formats import read, write
from atomgen.io.sdf import BondlessRecordsWarning
from atomgen.system import AtomSystem

DATA = Path(__file__).resolve().parent / "data"
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
# Organic elements weighted as in real molecules, plus a few RDKit cannot perceive bonds for (B, Si, Li, Fe).
ELEMENTS = [1, 1, 1, 1, 6, 6, 6, 7, 8, 9, 15, 16, 17, 35, 5, 14, 3, 26]
NAME = st.text(string.ascii_letters + string.digits + "_-", max_size=8)
# Names as users give them: repeated, empty, with spaces, backslashes and line breaks.
AWKWARD_NAME = st.sampled_from(["", "x", "x", "TiO", "a b", "C:\\new\\1", "two\nlines"]) | NAME
unit = st.floats(min_value=-1, max_value=1, allow_nan=False, allow_infinity=False)

# QM9 gdb 698 (SMILES N1C2C3NC2C13), B3LYP geometry in Å: RDKit's default perception bonds atoms across its small
# rings and gives a five-bonded carbon.
QM9_698 = [
    ("N", -0.111867, 1.576264, -0.045044), ("C", 1.363157, 1.310478, 0.008774), ("C", 1.262937, 0.033514, 0.919226),
    ("N", 1.971984, -0.886762, -0.029235), ("C", 1.230938, 0.062246, -0.922823), ("C", -0.009601, 0.081448, 0.012700),
    ("H", -0.436106, 1.939493, 0.855465), ("H", 2.121262, 2.096571, -0.001062), ("H", 1.328079, -0.049151, 2.006280),
    ("H", 2.972778, -0.671910, -0.044469), ("H", 1.251409, 0.021740, -2.011438), ("H", -0.865914, -0.592232, 0.007620),
]  # fmt: skip


@st.composite
def molecules(draw) -> AtomSystem:
    """Random elements at random positions, from piled on top of each other (spread 0.5 Å) to scattered (8 Å),
    some with formal charges."""
    n = draw(st.integers(min_value=1, max_value=16))
    numbers = draw(st.lists(st.sampled_from(ELEMENTS), min_size=n, max_size=n))
    spread = draw(st.sampled_from([0.5, 1.5, 3.0, 8.0]))
    points = draw(st.lists(st.tuples(unit, unit, unit), min_size=n, max_size=n))
    charges = draw(st.none() | st.lists(st.integers(min_value=-1, max_value=1), min_size=n, max_size=n))
    return AtomSystem(numbers, np.array(points) * spread, charges=charges, name=draw(NAME))


@st.composite
def crystals(draw) -> AtomSystem:
    """Random triclinic lattices (lengths 2-12 Å, angles 50-130°) with 1-6 sites at least 0.5 Å apart."""
    from pymatgen.core import Lattice, Structure

    lengths = draw(st.tuples(*[st.floats(min_value=2.0, max_value=12.0)] * 3))
    angles = draw(st.tuples(*[st.floats(min_value=50.0, max_value=130.0)] * 3))
    lattice = Lattice.from_parameters(*lengths, *angles)
    # Not every angle triple spans a cell: keep lattices with a real, not too flat volume.
    assume(np.isfinite(lattice.matrix).all() and lattice.volume > 0.2 * np.prod(lengths))
    n = draw(st.integers(min_value=1, max_value=6))
    frac = draw(st.lists(st.tuples(*[st.floats(min_value=0, max_value=0.999)] * 3), min_size=n, max_size=n))
    numbers = draw(st.lists(st.sampled_from([3, 6, 8, 11, 14, 17, 26]), min_size=n, max_size=n))
    # Sites on top of each other are not a crystal (pymatgen merges or refuses them).
    distances = Structure(lattice, numbers, frac).distance_matrix + np.eye(n) * 1e9
    assume(distances.min() > 0.5)
    return AtomSystem.from_fractional(numbers, frac, lattice.matrix, name=draw(AWKWARD_NAME))


def _rdkit_records(path: Path) -> list:
    """Every record of an SDF file as RDKit reads it with its defaults (sanitised), hydrogens kept; None if unread."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    _quiet = BlockLogs()  # a failure shows as None below
    supplier = Chem.SDMolSupplier(str(path), sanitize=True, removeHs=False)
    return [supplier[k] for k in range(len(supplier))]


def _write_sdf_and_read_back(systems: list[AtomSystem]) -> list:
    """Write the systems to SDF, read every record back with RDKit, and check each is there with its atoms."""
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", BondlessRecordsWarning)
        records = _rdkit_records(write(Path(tmp) / "m.sdf", systems))
    assert len(records) == len(systems)
    for system, mol in zip(systems, records):
        assert mol is not None, f"RDKit cannot read back the record of {system.name!r}"
        assert [atom.GetAtomicNum() for atom in mol.GetAtoms()] == system.numbers.tolist()
        # The no-bond field marks bondless records only (a perceived table may be empty: atoms far apart).
        assert not mol.HasProp(BONDS_FIELD) or (mol.GetProp(BONDS_FIELD) == NO_BOND_TABLE and mol.GetNumBonds() == 0)
    return records


def _qm9_698() -> AtomSystem:
    """The cage of QM9_698 as an AtomSystem without bonds."""
    from atomgen.elements import numbers_from_symbols

    return AtomSystem(numbers_from_symbols([row[0] for row in QM9_698]), [row[1:] for row in QM9_698], name="gdb_698")


def _heavy_smiles(mol) -> str:
    """Canonical SMILES without hydrogens or stereo."""
    from rdkit import Chem

    return Chem.MolToSmiles(Chem.RemoveAllHs(mol), isomericSmiles=False)


# ----------------------------------------------------------------------------------------------------------- SDF
@SETTINGS
@given(st.lists(molecules(), min_size=1, max_size=4))
def test_rdkit_reads_back_every_random_molecule_with_sanitisation(systems):
    _write_sdf_and_read_back(systems)


def test_rdkit_reads_back_real_molecules_with_their_connectivity():
    from rdkit import Chem

    from tests.conftest import embedded

    cages = [_qm9_698(), embedded("N1C2C3NC2C13")]
    systems = read(DATA / "qm9_test_sample.xyz") + cages
    with warnings.catch_warnings():
        warnings.simplefilter("error", BondlessRecordsWarning)  # real molecules all get a bond table
        records = _write_sdf_and_read_back(systems)
    cage = Chem.MolToSmiles(Chem.MolFromSmiles("N1C2C3NC2C13"), isomericSmiles=False)
    assert [_heavy_smiles(mol) for mol in records[-2:]] == [cage, cage]


def _pile() -> AtomSystem:
    """Six carbons crammed into a 0.8 Å cube: no bond table for it sanitises."""
    positions = [[0, 0, 0], [0.8, 0, 0], [0, 0.8, 0], [0, 0, 0.8], [0.5, 0.5, 0.5], [0.3, 0.1, 0.2]]
    return AtomSystem([6] * 6, positions, name="pile")


def test_broken_geometry_is_written_without_bonds_and_counted():
    with tempfile.TemporaryDirectory() as tmp:
        with pytest.warns(BondlessRecordsWarning, match="1 of 2 molecules written without bonds") as caught:
            path = write(Path(tmp) / "m.sdf", [_pile(), _qm9_698()])
        records = _rdkit_records(path)
    assert caught[0].message.count == 1
    assert records[0].GetNumBonds() == 0 and records[0].GetProp(BONDS_FIELD) == NO_BOND_TABLE
    assert records[1].GetNumBonds() == 14 and not records[1].HasProp(BONDS_FIELD)


def test_a_stale_no_bonds_field_is_dropped_when_perception_succeeds():
    stale = _qm9_698()
    stale.properties[BONDS_FIELD] = NO_BOND_TABLE  # as read from an extended XYZ converted from such an SDF
    (mol,) = _write_sdf_and_read_back([stale])
    assert not mol.HasProp(BONDS_FIELD)


def test_convert_cli_reports_molecules_written_without_bonds(tmp_path, capsys):
    from atomgen.cli import main

    source, output = write(tmp_path / "in.xyz", [_pile(), _qm9_698()]), tmp_path / "out.sdf"
    assert main(["convert", str(source), str(output)]) == 0
    assert capsys.readouterr().out == (f"wrote 2 systems to {output}, 1 without bonds (no sanitisable bond table; "
                                       "field atomgen_bonds)\n")
    assert all(mol is not None for mol in _rdkit_records(output))


# ----------------------------------------------------------------------------------------------------------- CIF
@SETTINGS
@given(st.lists(crystals(), min_size=1, max_size=3))
def test_pymatgen_reads_back_every_crystal(systems):
    from pymatgen.io.cif import CifParser

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen comments on rounding of occupancies and the like
        try:
            path = write(Path(tmp) / "c.cif", systems)
        except InputError:
            assert not any(Path(tmp).iterdir())  # a refusal leaves nothing behind
            return
        structures = CifParser(str(path)).parse_structures(primitive=False)
    assert len(structures) == len(systems)
    for system, structure in zip(systems, structures):
        assert sorted(site.specie.Z for site in structure) == sorted(system.numbers.tolist())
        np.testing.assert_allclose(structure.lattice.abc, system.lattice_parameters[:3], rtol=1e-4)


# -------------------------------------------------------------------------------------------------- extended XYZ
@SETTINGS
@given(st.lists(st.one_of(molecules(), crystals()), min_size=1, max_size=3),
       st.dictionaries(st.sampled_from(["energy", "step", "tag"]),
                       st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6), AWKWARD_NAME), max_size=3))
def test_ase_reads_back_every_extended_xyz_record(systems, properties):
    import ase.io

    for system in systems:
        system.properties.update(properties)
    with tempfile.TemporaryDirectory() as tmp:
        frames = ase.io.read(str(write(Path(tmp) / "s.extxyz", systems)), index=":")
    assert len(frames) == len(systems)
    for system, atoms in zip(systems, frames):
        assert atoms.numbers.tolist() == system.numbers.tolist()
        np.testing.assert_allclose(atoms.positions, system.positions, atol=1e-6)
        assert bool(atoms.pbc.any()) == system.is_periodic
