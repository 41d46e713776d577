"""Molecule metrics on small hand-made cases whose answers are known."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from atomgen.eval.bonds import edm_bond_orders, stable_atoms
from atomgen.eval.distributions import distribution_distances, geometry_statistics, total_variation
from atomgen.eval.evaluate import evaluate, molecule_metrics
from atomgen.eval.molecules import analyse_molecule, analyse_molecules
from atomgen.system import AtomSystem

from .conftest import embedded


def methane(ch: float = 1.09) -> AtomSystem:
    d = ch / np.sqrt(3)
    return AtomSystem([6, 1, 1, 1, 1], [[0, 0, 0], [d, d, d], [-d, -d, d], [-d, d, -d], [d, -d, -d]])


def test_edm_bond_orders_by_distance():
    # C-C: single below 154+10 pm, double below 134+5, triple below 120+3.
    for distance, order in [(1.53, 1), (1.35, 2), (1.20, 3), (1.70, 0)]:
        orders = edm_bond_orders(np.array([6, 6]), np.array([[0, 0, 0], [distance, 0, 0]]))
        assert orders[0, 1] == orders[1, 0] == order


def test_methane_is_stable():
    m = methane()
    analysis = analyse_molecule(m.numbers, m.positions)
    assert analysis.stable and analysis.n_stable_atoms == 5
    assert analysis.edm_smiles == "C" and analysis.rdkit_smiles == "C" and analysis.connected_valid


def test_carbon_with_five_bonds_is_unstable_and_invalid():
    # A carbon with five hydrogens at bonding distance: valence 5, not allowed; RDKit refuses it too.
    directions = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]], dtype=float)
    system = AtomSystem([6] + [1] * 5, np.vstack([[0, 0, 0], 1.09 * directions]))
    orders = edm_bond_orders(system.numbers, system.positions)
    assert orders[0].sum() == 5
    stable = stable_atoms(system.numbers, orders)
    assert not stable[0] and stable[1:].all()
    analysis = analyse_molecule(system.numbers, system.positions)
    assert not analysis.stable and analysis.n_stable_atoms == 5
    assert analysis.edm_smiles is None


def _stretched(system: AtomSystem, i: int, j: int, length: float) -> AtomSystem:
    """`system` with atom j and everything on its side of the i-j bond moved so that the bond is `length` Å."""
    positions = system.positions.copy()
    axis = positions[j] - positions[i]
    axis /= np.linalg.norm(axis)
    side = (positions - positions[i]) @ axis >= (positions[j] - positions[i]) @ axis - 1e-6
    positions[side] += (length - np.linalg.norm(system.positions[j] - system.positions[i])) * axis
    return AtomSystem(system.numbers, positions)


def test_instability_causes_tell_the_failures_apart():
    ethylene = embedded("C=C")  # atoms 0, 1 are the carbons; each carbon's hydrogens lie on its own side
    assert analyse_molecule(ethylene.numbers, ethylene.positions).instability is None
    # A double bond too long to read as double: the connectivity still admits C=C.
    longer = _stretched(ethylene, 0, 1, 1.45)
    assert analyse_molecule(longer.numbers, longer.positions).instability == "bond_orders"
    # One hydrogen fewer: an odd number of valences, no closed-shell molecule whatever the geometry.
    radical = AtomSystem(ethylene.numbers[:-1], ethylene.positions[:-1])
    assert analyse_molecule(radical.numbers, radical.positions).instability == "odd_valence"
    # A carbon with five neighbours.
    directions = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]], dtype=float)
    crowded = AtomSystem([6] + [1] * 5, np.vstack([[0, 0, 0], 1.09 * directions]))
    assert analyse_molecule(crowded.numbers, crowded.positions).instability == "overcrowded"
    # Ethane pulled apart: two methyls, even valences, but no bonding of this connectivity fills them.
    ethane = embedded("CC")
    apart = _stretched(ethane, 0, 1, 2.2)
    assert analyse_molecule(apart.numbers, apart.positions).instability == "connectivity"


def test_evaluation_reports_the_share_of_each_instability_cause(small_molecules):
    ethylene = embedded("C=C")
    radical = AtomSystem(ethylene.numbers[:-1], ethylene.positions[:-1])
    report = evaluate([ethylene, radical, ethylene, radical], small_molecules, seed=0, fcd=False,
                      posebusters=False, strain=False)
    causes = report.details["instability_causes"]
    assert causes["odd_valence"] == pytest.approx(0.5)
    assert sum(causes.values()) == pytest.approx(1 - report.metrics["molecule_stability"])
    assert "- odd valence: 50.00 %" in report.to_markdown()


def test_uniqueness_novelty_and_validity_counts(small_molecules):
    ethanol, acetic = small_molecules[0], small_molecules[1]
    separated = methane().copy(positions=methane().positions + np.array([10.0, 0, 0]))
    two_methanes = AtomSystem(
        np.concatenate([methane().numbers, separated.numbers]), np.vstack([methane().positions, separated.positions])
    )
    analyses = analyse_molecules([ethanol, ethanol, acetic, two_methanes], workers=1)
    metrics = molecule_metrics(analyses, train_smiles={"CCO"})
    assert metrics["rdkit_validity"] == 1.0
    assert metrics["connected_validity"] == 0.75  # two methanes are valid but not connected
    assert metrics["uniqueness"] == pytest.approx(3 / 4)  # CCO twice
    assert metrics["novelty"] == pytest.approx(2 / 3)  # CCO is in the training set
    assert metrics["molecule_stability"] == 1.0 and metrics["atom_stability"] == 1.0


def test_total_variation_known_values():
    assert total_variation(Counter({6: 1}), Counter({6: 5})) == 0.0
    assert total_variation(Counter({6: 1}), Counter({7: 1})) == 1.0
    assert total_variation(Counter({6: 3, 1: 1}), Counter({6: 1, 1: 1})) == pytest.approx(0.25)


def test_bond_length_distance_is_the_shift():
    stretched = [methane(1.09 + 0.01 * k) for k in range(8)]
    shifted = [methane(1.09 + 0.01 * k + 0.02) for k in range(8)]

    def stats(ms):
        return geometry_statistics([(m.numbers, m.positions, analyse_molecule(m.numbers, m.positions).edm_bonds) for m in ms])

    d = distribution_distances(stats(shifted), stats(stretched))
    # Same set of C-H lengths shifted by 0.02 Å: W1 is 0.02 on the types both sides share enough of.
    assert d["bond_length_w1_by_type"]["C-H:1"] == pytest.approx(0.02, abs=2e-3)
    assert d["atom_type_tv"] == 0.0 and d["n_atoms_tv"] == 0.0
    assert d["bond_angle_w1"] == pytest.approx(0.0, abs=1e-6)  # ideal tetrahedra at every size


def test_evaluate_against_a_file_reference(tmp_path, small_molecules):
    from atomgen.io.formats import write

    ref = write(tmp_path / "ref.sdf", small_molecules)
    report = evaluate(small_molecules[:6] + small_molecules[:2], ref, posebusters=False, strain=False, fcd=True)
    assert report.kind == "molecule" and report.n_samples == 8
    assert report["rdkit_validity"] == 1.0
    assert report["uniqueness"] == pytest.approx(6 / 8)
    assert report["novelty"] == 0.0  # every sample is in the reference
    assert report["fcd"] >= 0.0
    data = report.to_dict()
    assert data["versions"]["rdkit"] and data["seed"] == 0
    assert "| Uniqueness (among RDKit-valid) | 75.00 % |" in report.to_markdown()


def test_posebusters_and_strain_on_relaxed_molecules(small_molecules):
    report = evaluate(small_molecules[:4], list(small_molecules), fcd=False, posebusters=True, strain=True)
    assert report["posebusters_pass"] == 1.0  # MMFF-relaxed geometries pass every check
    assert report["strain_median"] == pytest.approx(0.0, abs=0.05)  # already at an MMFF minimum


def test_xtb_relaxation_is_opt_in_and_moves_a_force_field_geometry_a_little(small_molecules):
    plain = evaluate(small_molecules[:3], list(small_molecules), fcd=False, posebusters=False, strain=False)
    assert "xtb" in plain.not_computed and "xtb_rmsd_median" not in plain.metrics
    report = evaluate(small_molecules[:3], list(small_molecules), fcd=False, posebusters=False, strain=False,
                      xtb=True)
    # MMFF minima are near, not at, GFN2-xTB minima: a few kcal/mol and a few hundredths of an Å.
    assert 0.1 < report["xtb_energy_drop_median"] < 10.0 and 0.005 < report["xtb_rmsd_median"] < 0.2
    assert report.details["xtb"]["xtb_n"] == 3 and report.details["xtb"]["xtb_converged"] == 1.0
    assert "GFN2-xTB relaxation RMSD, median (Å)" in report.to_markdown()


def test_crystal_samples_against_molecule_reference_are_refused(rock_salt, small_molecules):
    from atomgen.errors import InputError

    with pytest.raises(InputError, match="periodic"):
        evaluate([rock_salt], list(small_molecules))


def test_crystal_report_labels_uniqueness_by_structural_validity():
    from atomgen.eval.report import EvaluationReport

    report = EvaluationReport(kind="crystal", reference={"name": "x", "n_train": 1, "n_test": 1}, n_samples=4,
                              metrics={"uniqueness": 0.5, "novelty": 0.25})
    table = report.table()
    assert "| Uniqueness (among structurally valid) | 50.00 % |" in table
    assert "| Novelty (structurally valid, not in train) | 25.00 % |" in table
    assert "RDKit" not in table
