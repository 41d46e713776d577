"""Conformer metrics on hand-made geometries whose RMSD is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdDistGeom

from atomgen.errors import InputError
from atomgen.eval.conformers import (
    best_rmsd,
    coverage_from_matrix,
    coverage_metrics,
    etkdg_conformers,
    format_rows,
    rdkit_baselines,
    rmsd_matrix,
    single_reference_rmsd,
)
from atomgen.io.convert import from_rdkit
from atomgen.system import AtomSystem


def methanol(length: float) -> AtomSystem:
    """Methanol with the C-O bond along x; its heavy skeleton is two atoms, so stretched copies of it differ by
    a pure stretch and the aligned heavy-atom RMSD between lengths a and b is |a - b| / 2 (each atom off by half)."""
    pos = [[0, 0, 0], [length, 0, 0], [-0.4, 0.9, 0], [-0.4, -0.5, 0.8], [-0.4, -0.5, -0.8], [length + 0.3, 0.9, 0]]
    bonds = [[0, 1, 1], [0, 2, 1], [0, 3, 1], [0, 4, 1], [1, 5, 1]]
    return AtomSystem(numbers=[6, 8, 1, 1, 1, 1], positions=pos, bonds=bonds, charges=[0] * 6)


def rigid(system: AtomSystem, seed: int) -> AtomSystem:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))  # a proper rotation
    return system.copy(positions=system.positions @ q.T + rng.normal(size=3) * 5)


@pytest.fixture(scope="module")
def tbutanol() -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles("CC(C)(C)O"))
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = 7
    assert rdDistGeom.EmbedMolecule(mol, params) == 0
    return mol


def test_identical_and_rigid_motion_give_zero(tbutanol):
    assert best_rmsd(tbutanol, tbutanol) == pytest.approx(0.0, abs=1e-6)
    assert best_rmsd(rigid(from_rdkit(tbutanol), 1), tbutanol) == pytest.approx(0.0, abs=1e-6)


def test_stretch_after_rigid_motion_has_hand_computed_rmsd():
    ref = methanol(1.40)
    probe = rigid(methanol(1.40 + 0.6), seed=3)  # one heavy atom displaced by 0.6 Å, then moved rigidly
    assert best_rmsd(probe, ref) == pytest.approx(0.3, abs=1e-6)
    # Hydrogens do not count: moving one changes nothing.
    moved_h = ref.copy()
    moved_h.positions[5] += [0.0, 0.0, 1.0]
    assert best_rmsd(moved_h, ref) == pytest.approx(0.0, abs=1e-6)


def test_symmetry_swapped_methyls_give_zero(tbutanol):
    system = from_rdkit(tbutanol)
    swapped = system.copy()
    swapped.positions[[0, 2]] = system.positions[[2, 0]]  # exchange two equivalent methyl carbons
    heavy = np.flatnonzero(system.numbers != 1)
    plain = np.sqrt(((swapped.positions[heavy] - system.positions[heavy]) ** 2).sum(1).mean())
    assert plain > 0.5  # without symmetry the swap moves atoms by about an Å
    assert best_rmsd(swapped, tbutanol) == pytest.approx(0.0, abs=1e-6)


def test_matrix_shape_and_values():
    refs = [methanol(1.4), methanol(2.4)]
    gens = [methanol(x) for x in (1.6, 3.6, 5.0, 6.0)]
    expected = np.array([[0.1, 1.1, 1.8, 2.3], [0.4, 0.6, 1.3, 1.8]])
    np.testing.assert_allclose(rmsd_matrix(gens, refs), expected, atol=1e-6)


def test_coverage_known_answer():
    matrix = np.array([[0.1, 1.1, 1.8, 2.3], [0.4, 0.6, 1.3, 1.8]])  # 2 refs x 4 gens
    got = coverage_from_matrix(matrix, delta=0.5)
    assert got == pytest.approx({"COV-R": 1.0, "AMR-R": 0.25, "COV-P": 0.25, "AMR-P": 0.95})
    assert coverage_from_matrix(matrix, delta=0.3)["COV-R"] == pytest.approx(0.5)


def test_coverage_metrics_aggregate_over_molecules():
    refs = {"a": [methanol(1.4), methanol(2.4)], "b": [methanol(1.4)]}
    gens = {"a": [methanol(x) for x in (1.6, 3.6, 5.0, 6.0)], "b": [methanol(1.4), methanol(3.4)]}
    out = coverage_metrics(gens, refs, delta=0.5)
    assert out["n_molecules"] == 2
    assert out["per_molecule"]["b"] == pytest.approx({"COV-R": 1.0, "AMR-R": 0.0, "COV-P": 0.5, "AMR-P": 0.5})
    assert out["COV-P"]["mean"] == pytest.approx((0.25 + 0.5) / 2)
    assert out["AMR-P"]["median"] == pytest.approx((0.95 + 0.5) / 2)
    with pytest.raises(InputError):
        coverage_metrics({"a": gens["a"]}, refs)
    with pytest.raises(InputError, match="at least one generated"):  # a method that made no conformer of one
        coverage_metrics([gens["a"], []], [refs["a"], refs["b"]])


def test_single_reference_mean_and_median():
    refs = {"x": methanol(1.4), "y": methanol(1.4), "z": methanol(1.4)}
    gens = {"x": [methanol(1.6), methanol(3.0)], "y": [methanol(2.4)], "z": [methanol(2.0), methanol(1.4)]}
    out = single_reference_rmsd(gens, refs)
    assert out["per_molecule"] == pytest.approx({"x": 0.1, "y": 0.5, "z": 0.0})
    assert out["mean"] == pytest.approx(0.2) and out["median"] == pytest.approx(0.1) and out["k"] == 2
    assert out["n_failed"] == 0


def test_a_molecule_without_conformers_is_counted_not_averaged():
    refs = {"x": methanol(1.4), "y": methanol(1.4)}
    out = single_reference_rmsd({"x": [methanol(1.6)], "y": []}, refs)
    assert out["n_failed"] == 1 and out["n_molecules"] == 1
    assert out["mean"] == pytest.approx(0.1)


def test_mismatched_atoms_rejected(tbutanol):
    with pytest.raises(InputError):
        best_rmsd(methanol(1.4), tbutanol)


def test_etkdg_baselines(tbutanol):
    confs = etkdg_conformers(tbutanol, 4, seed=0)
    assert len(confs) == 4 and all(c.GetNumAtoms() == tbutanol.GetNumAtoms() for c in confs)
    assert len({round(c.GetConformer().GetPositions()[0, 0], 6) for c in confs}) > 1  # not all the same
    assert len(etkdg_conformers(tbutanol, 2, seed=0, mmff=True)) == 2
    results = rdkit_baselines({"tBuOH": tbutanol}, k=3, seed=0)
    assert set(results) == {"ETKDG", "ETKDG+MMFF"}
    assert all(r["n_molecules"] == 1 and r["k"] == 3 and r["mean"] < 0.5 for r in results.values())
    assert format_rows(results).splitlines()[0] == "method | mean | median"
