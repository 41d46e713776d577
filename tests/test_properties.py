"""EDM's conditional protocol: the halves, the target sampler, and the EGNN property classifier."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from atomgen.data.qm9 import edm_halves
from atomgen.errors import InputError
from atomgen.properties.classifier import ClassifierConfig, PropertyClassifier, collate_molecules
from atomgen.properties.qm9_properties import PROPERTIES, get_property
from atomgen.properties.targets import BINS, PropertyTargets
from atomgen.system import AtomSystem


def test_the_halves_are_edms_seeded_permutation_cut_in_two():
    first, second = edm_halves()
    assert len(first) == len(second) == 50_000
    assert np.array_equal(np.sort(np.concatenate([first, second])), np.arange(100_000))
    state = np.random.get_state()
    np.random.seed(42)  # what EDM's qm9/data/utils.py does before its permutation
    expected = np.random.permutation(100_000)
    np.random.set_state(state)
    assert np.array_equal(first, expected[:50_000]) and np.array_equal(second, expected[50_000:])


def test_properties_are_the_six_of_the_protocol_in_the_tables_units():
    assert list(PROPERTIES) == ["mu", "alpha", "Cv", "homo", "lumo", "gap"]
    gap = get_property("gap")
    assert (gap.unit, gap.table_unit, gap.table_scale) == ("eV", "meV", 1000.0)  # QM9 loads eV, tables say meV
    molecule = AtomSystem(numbers=[1, 1], positions=np.zeros((2, 3)), properties={"gap": 6.2})
    assert gap.values([molecule])[0] == 6.2
    with pytest.raises(InputError, match=r"unknown property 'bandgap'; known: mu \(D\), alpha"):
        get_property("bandgap")


def test_targets_draw_the_atom_count_then_the_value_from_that_counts_histogram():
    rng = np.random.default_rng(0)
    counts = np.array([9] * 2000 + [12] * 1000 + [3])
    values = np.concatenate([rng.normal(5.0, 1.0, 2000), rng.uniform(20.0, 30.0, 1000), [-7.5]])
    targets = PropertyTargets(counts, values)
    drawn_counts, drawn = targets.sample(30_000, np.random.default_rng(1))
    assert abs((drawn_counts == 9).mean() - 2000 / 3001) < 0.01
    nine, twelve = drawn[drawn_counts == 9], drawn[drawn_counts == 12]
    assert abs(nine.mean() - values[:2000].mean()) < 0.05 and abs(nine.std() - values[:2000].std()) < 0.05
    assert twelve.min() >= values[2000:3000].min() and twelve.max() <= values[2000:3000].max()
    # One molecule of 3 atoms: EDM's 1,000 bins over a range of 1e-12 give back its value.
    assert targets.values_for(np.array([3, 3]), np.random.default_rng(2)) == pytest.approx([-7.5, -7.5])
    assert len(targets.histograms[9].probabilities) == BINS
    with pytest.raises(ValueError, match="no molecule of 10 atoms"):
        targets.values_for(np.array([10]), np.random.default_rng(3))


@pytest.fixture
def classifier() -> PropertyClassifier:
    torch.manual_seed(0)
    return PropertyClassifier(ClassifierConfig("mu", width=16, depth=2, mean=2.7, mad=1.2)).eval()


def test_the_classifier_is_invariant_to_rigid_motions_atom_order_and_its_batch(classifier, small_molecules):
    molecule = small_molecules[4]
    rotation = Rotation.random(random_state=0).as_matrix()
    moved = replace(molecule, positions=molecule.positions @ rotation.T + np.array([3.0, -1.0, 2.0]))
    mirrored = replace(molecule, positions=-molecule.positions)
    order = np.random.default_rng(0).permutation(len(molecule))
    shuffled = AtomSystem(numbers=molecule.numbers[order], positions=molecule.positions[order])
    alone = classifier.predict([molecule])[0]
    together = classifier.predict([moved, mirrored, shuffled] + list(small_molecules))
    assert together[:3] == pytest.approx([alone] * 3, abs=1e-4)
    assert together[3 + 4] == pytest.approx(alone, abs=1e-4)  # padded beside larger molecules
    assert len(set(np.round(together, 4))) > 5  # different molecules, different predictions


def test_the_classifier_learns_and_round_trips_through_a_checkpoint(tmp_path, classifier, small_molecules):
    labelled = [{"numbers": m.numbers, "positions": m.positions.astype(np.float32), "value": float(len(m))}
                for m in small_molecules]  # a property the network can learn: the atom count
    batch = collate_molecules(labelled)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=3e-3)
    classifier.train()
    losses = []
    for _ in range(150):
        loss = classifier.training_loss(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
    predicted = classifier.predict(small_molecules)
    assert np.abs(predicted - np.array([len(m) for m in small_molecules])).mean() < 1.5
    classifier.save(tmp_path / "judge")
    again = PropertyClassifier.from_pretrained(tmp_path / "judge")
    assert again.config == classifier.config
    assert np.allclose(again.predict(small_molecules), predicted, atol=1e-5)


def test_a_judge_loads_by_name_or_folder_like_any_model_and_samples_nothing(tmp_path, classifier, capsys):
    """Judges ship in the zoo like the generators (`python -m atomgen.zoo.ship` loads them by family), and
    asking one for samples is a one-line error."""
    from atomgen.cli import main
    from atomgen.models.registry import load_model

    classifier.save(tmp_path / "judge")
    loaded = load_model(tmp_path / "judge")
    assert isinstance(loaded, PropertyClassifier) and loaded.config == classifier.config
    assert main(["sample", "--model", str(tmp_path / "judge"), "-n", "2", "-o", str(tmp_path / "x.sdf")]) == 2
    assert "predicts properties and samples nothing" in capsys.readouterr().err
    assert not (tmp_path / "x.sdf").exists()


def test_bad_input_to_the_classifier_is_a_clear_error(classifier):
    salt = AtomSystem(numbers=[11, 17], positions=[[0, 0, 0], [2.4, 0, 0]])
    with pytest.raises(InputError, match="record 1: element Na, Cl is not one the mu classifier knows"):
        classifier.predict([AtomSystem(numbers=[1, 1], positions=[[0, 0, 0], [0.74, 0, 0]]), salt])
    assert np.isnan(classifier.predict([AtomSystem(numbers=np.zeros(0, int), positions=np.zeros((0, 3)))])[0])
    with pytest.raises(ValueError, match="unknown property 'U0'"):
        ClassifierConfig("U0")


def test_xtb_judges_a_closed_shell_molecule_and_declines_an_open_shell_one(small_molecules):
    from atomgen.properties.xtb import singlepoint, xtb_properties

    water = AtomSystem(numbers=[8, 1, 1], positions=[[0, 0, 0.1173], [0, 0.7572, -0.4692], [0, -0.7572, -0.4692]])
    result = singlepoint(water.numbers, water.positions)
    assert result.homo < result.lumo and result.gap == pytest.approx(result.lumo - result.homo)
    assert 1.5 < result.mu < 3.0  # water's dipole, 1.85 D in experiment
    methyl = AtomSystem(numbers=[6, 1, 1, 1], positions=[[0, 0, 0], [1.08, 0, 0], [-0.54, 0.94, 0], [-0.54, -0.94, 0]])
    broken = AtomSystem(numbers=[8, 1, 1], positions=[[0, 0, 0], [np.nan, 0, 0], [1, 0, 0]])
    collapsed = AtomSystem(numbers=[7, 7], positions=[[0, 0, 0], [0.0008, 0, 0]])  # a conformer model's N2
    nitrogen = AtomSystem(numbers=[7, 7], positions=[[0, 0, 0], [1.10, 0, 0]])
    judged = xtb_properties([water, methyl, broken, small_molecules[0], collapsed, nitrogen])
    assert np.isfinite(judged["gap"][[0, 3, 5]]).all() and np.isnan(judged["gap"][[1, 2, 4]]).all()
    assert 3.0 < judged["gap"][5] < 15.0  # N2's gap is wide, and on the scale of eV


def test_xtb_relaxation_releases_the_strain_of_a_stretched_bond(small_molecules):
    from atomgen.properties.xtb import relax

    ethanol = small_molecules[0]
    minimum = relax(ethanol.numbers, ethanol.positions)
    assert minimum.converged
    again = relax(ethanol.numbers, minimum.positions)
    assert abs(again.energy_drop) < 0.05 and again.rmsd < 0.01  # a minimum stays put
    stretched = minimum.positions.copy()
    stretched[1] += 0.3 * (stretched[1] - stretched[0]) / np.linalg.norm(stretched[1] - stretched[0])
    relaxed = relax(ethanol.numbers, stretched)
    assert relaxed.converged and relaxed.energy_drop > 5.0 and 0.03 < relaxed.rmsd < 0.3


def test_the_calibration_is_a_least_squares_line_whose_error_is_its_floor():
    from atomgen.properties.xtb import Calibration

    rng = np.random.default_rng(0)
    xtb = rng.normal(-11_000, 500, 400)
    labels = 0.8 * xtb + 2_000 + rng.normal(0, 50, 400)
    calibration = Calibration.fit(np.append(xtb, np.nan), np.append(labels, 1.0))
    assert calibration.n == 400 and calibration.slope == pytest.approx(0.8, abs=0.02)
    assert 30 < calibration.mae < 50  # E|N(0, 50)| = 40
    assert calibration(np.array([-10_000.0]))[0] == pytest.approx(calibration.slope * -10_000 + calibration.intercept)
