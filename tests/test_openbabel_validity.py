"""ADiT's lenient QM9 validity (OpenBabel bonds, PDB block, RDKit parse) beside atomgen's strict RDKit validity."""

from __future__ import annotations

import numpy as np

from atomgen.eval.evaluate import evaluate, molecule_metrics
from atomgen.eval.molecules import analyse_molecule, analyse_molecules
from atomgen.eval.openbabel_validity import openbabel_pdb_block, openbabel_pdb_valid
from atomgen.system import AtomSystem

from .conftest import embedded

QM9_LIKE = ["CCO", "CC(=O)O", "c1ccncc1", "CC#N", "OCC(O)CO", "NC(=O)N", "C1CC1", "O=C1CCO1", "Cc1ccco1"]


def _without_hydrogens_of(system: AtomSystem, atom: int) -> AtomSystem:
    """`system` less the hydrogens bonded to `atom` (within 1.2 Å): that atom is left under-bonded."""
    near = np.linalg.norm(system.positions - system.positions[atom], axis=1) < 1.2
    keep = ~((system.numbers == 1) & near)
    return AtomSystem(system.numbers[keep], system.positions[keep])


def test_qm9_like_molecules_are_valid():
    flags = [openbabel_pdb_valid(m.numbers, m.positions) for m in map(embedded, QM9_LIKE)]
    assert flags == [True] * len(QM9_LIKE)


def test_the_pdb_block_is_the_one_adit_writes_through_pymatgen():
    # ADiT writes `pymatgen.core.Molecule(atom_types, pos).to(path, fmt="pdb")`, i.e. through pymatgen's
    # BabelMolAdaptor: the same atoms, coordinates and CONECT records (the title lines may differ).
    from pymatgen.core import Molecule

    def body(block: str) -> list[str]:
        return [line for line in block.splitlines() if not line.startswith(("COMPND", "AUTHOR"))]

    for smiles in ("CC(=O)O", "c1ccncc1"):
        system = embedded(smiles)
        ours = openbabel_pdb_block(system.numbers, system.positions)
        assert "CONECT" in ours
        assert body(ours) == body(Molecule(system.numbers, system.positions).to(fmt="pdb"))


def test_an_under_bonded_atom_passes_the_lenient_metric_but_not_rdkit_validity():
    # Ethanol whose methyl carbon lost its three hydrogens: RDKit fills the carbon with implicit hydrogens when it
    # reads the PDB block, so ADiT counts it valid; rdDetermineBonds at charge 0 finds no closed-shell molecule.
    ethanol = embedded("CCO")
    assert ethanol.numbers[0] == 6
    stripped = _without_hydrogens_of(ethanol, 0)
    assert len(stripped) == len(ethanol) - 3
    analysis = analyse_molecule(stripped.numbers, stripped.positions)
    assert analysis.openbabel_pdb_valid and openbabel_pdb_valid(stripped.numbers, stripped.positions)
    assert analysis.rdkit_smiles is None
    metrics = molecule_metrics(analyse_molecules([ethanol, stripped], workers=1), set())
    assert metrics["openbabel_pdb_validity"] == 1.0
    assert metrics["rdkit_validity"] == 0.5


def test_disconnected_and_overlapping_atoms_pass_because_nothing_asks_for_bonds():
    # Nothing in ADiT's definition asks for connectivity: three atoms 50 Å apart read as C.N.O with implicit
    # hydrogens. Atoms on top of each other are not bonded by OpenBabel (it skips pairs closer than 0.4 Å), so
    # they too are separate atoms. atomgen's strict validity refuses both.
    apart = AtomSystem([6, 7, 8], [[0, 0, 0], [50, 0, 0], [0, 50, 0]])
    stacked = AtomSystem([6, 6, 6], np.zeros((3, 3)))
    for system in (apart, stacked):
        assert openbabel_pdb_valid(system.numbers, system.positions)
        assert analyse_molecule(system.numbers, system.positions).rdkit_smiles is None


def test_over_bonded_and_unwritable_molecules_are_invalid_without_raising():
    # Nine carbons crammed within ~1 Å: RDKit's own proximity bonding gives them valences of 6-8, which
    # sanitisation refuses. NaN coordinates make an unreadable block. An empty molecule is not a molecule.
    crammed = AtomSystem([6] * 9, np.random.default_rng(0).normal(size=(9, 3)) * 0.6)
    not_finite = AtomSystem([6, 6], [[0, 0, 0], [np.nan, 0, 0]])
    empty = AtomSystem(np.zeros(0, dtype=int), np.zeros((0, 3)))
    flags = [openbabel_pdb_valid(m.numbers, m.positions) for m in (crammed, not_finite, empty, embedded("CCO"))]
    assert flags == [False, False, False, True]


def test_evaluate_reports_the_metric_and_its_count(small_molecules):
    ethanol = embedded("CCO")
    stripped = _without_hydrogens_of(ethanol, 0)
    report = evaluate([ethanol, stripped, ethanol, stripped], small_molecules, fcd=False, posebusters=False,
                      strain=False, progress=False)
    assert report["openbabel_pdb_validity"] == 1.0
    assert report["rdkit_validity"] == 0.5
    assert report.details["counts"]["openbabel_pdb_valid"] == 4
    assert "| Validity (ADiT: OpenBabel bonds, PDB, RDKit parse) | 100.00 % |" in report.to_markdown()
    assert report.to_dict()["metrics"]["openbabel_pdb_validity"] == 1.0
