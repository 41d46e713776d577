"""Crystal reading (CDVAE CSVs) and crystal metrics, on small hand-made cases whose answers are known."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest

from atomgen.data.crystals import (
    crystal_from_cif,
    load_crystal_split,
    niggli_reduced,
    read_cdvae_csv,
)
from atomgen.errors import DatasetError, InputError
from atomgen.eval.crystals import (
    compositionally_valid,
    coverage,
    crystal_metrics,
    density,
    min_interatomic_distance,
    n_elements,
    novel_mask,
    structural_failure,
    structurally_valid,
    unique_labels,
)
from atomgen.system import AtomSystem

SHARED_DATA = Path(__file__).parents[1].parent / "shared" / "data"
CRYSTALS = SHARED_DATA / "crystals"
needs_data = pytest.mark.skipif(not CRYSTALS.is_dir(), reason=f"shared crystal data not found at {CRYSTALS}")

NA, CL, C, CS = 11, 17, 6, 55
FCC = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


def rock_salt(a: float = 5.64, anion: int = CL, cation: int = NA) -> AtomSystem:
    """Conventional rock-salt cell: cations on an fcc lattice, anions shifted by (1/2, 0, 0)."""
    frac = np.vstack([FCC, FCC + [0.5, 0, 0]])
    return AtomSystem.from_fractional([cation] * 4 + [anion] * 4, frac, np.eye(3) * a, name="NaCl")


def cscl(a: float = 4.12) -> AtomSystem:
    """CsCl-type cell (simple cubic, body-centred anion)."""
    return AtomSystem.from_fractional([CS, CL], [[0, 0, 0], [0.5, 0.5, 0.5]], np.eye(3) * a)


def p1_cif(name: str, abc, angles, sites) -> str:
    """A minimal P1 CIF block; `sites` are (symbol, x, y, z) with fractional coordinates as text."""
    lines = [f"data_{name}", "_symmetry_space_group_name_H-M   'P 1'"]
    lines += [f"_cell_length_{k}   {v}" for k, v in zip("abc", abc)]
    lines += [f"_cell_angle_{k}   {v}" for k, v in zip(("alpha", "beta", "gamma"), angles)]
    lines += ["_symmetry_Int_Tables_number   1", "loop_", " _symmetry_equiv_pos_site_id",
              " _symmetry_equiv_pos_as_xyz", "  1  'x, y, z'", "loop_", " _atom_site_type_symbol",
              " _atom_site_label", " _atom_site_symmetry_multiplicity", " _atom_site_fract_x",
              " _atom_site_fract_y", " _atom_site_fract_z", " _atom_site_occupancy"]
    lines += [f"  {s}  {s}{i}  1  {x}  {y}  {z}  1" for i, (s, x, y, z) in enumerate(sites)]
    return "\n".join(lines) + "\n"


GOOD_CIF = p1_cif("NaCl", (4.0, 4.0, 4.0), (90, 90, 90), [("Na", "0.0", "0.0", "0.0"), ("Cl", "0.5", "0.5", "0.5")])
BROKEN_CIF = "data_broken\n_cell_length_a 4.0\nthis is not a CIF\n"


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# ------------------------------------------------------------------------------------------ structural validity
def test_rock_salt_is_structurally_valid_with_half_cell_nearest_neighbours():
    nacl = rock_salt()
    assert min_interatomic_distance(nacl) == pytest.approx(5.64 / 2)
    assert structurally_valid(nacl)


def test_overlapping_atoms_are_structurally_invalid():
    close = AtomSystem.from_fractional([NA, CL], [[0, 0, 0], [0.05, 0, 0]], np.eye(3) * 4.0)
    assert min_interatomic_distance(close) == pytest.approx(0.2)
    assert not structurally_valid(close)


def test_overlap_across_the_cell_boundary_and_with_own_image_is_seen():
    across = AtomSystem.from_fractional([NA, CL], [[0.01, 0.5, 0.5], [0.98, 0.5, 0.5]], np.eye(3) * 10.0)
    assert min_interatomic_distance(across) == pytest.approx(0.3)
    thin = AtomSystem.from_fractional([C], [[0, 0, 0]], np.diag([0.4, 5.0, 5.0]))  # one atom, 0.4 Å period
    assert not structurally_valid(thin)


def test_tiny_volume_and_missing_lattice_are_invalid():
    flat = AtomSystem.from_fractional([C], [[0, 0, 0]], np.diag([5.0, 5.0, 0.003]))
    assert flat.volume < 0.1 and not structurally_valid(flat)
    assert not structurally_valid(AtomSystem([C], [[0, 0, 0]]))


# ------------------------------------------------------------------------------------------ composition
def test_charge_balance_decides_compositional_validity():
    nacl = rock_salt()
    assert compositionally_valid(nacl)
    na_cl2 = AtomSystem.from_fractional([NA, CL, CL], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0]], np.eye(3) * 5)
    na2_cl = AtomSystem.from_fractional([NA, NA, CL], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0]], np.eye(3) * 5)
    assert not compositionally_valid(na_cl2)
    assert not compositionally_valid(na2_cl)


def test_single_element_carbon_is_compositionally_valid():
    assert compositionally_valid(AtomSystem.from_fractional([C, C], [[0, 0, 0], [0.25] * 3], np.eye(3) * 3.57))


# ------------------------------------------------------------------------------------------ matching
def test_two_copies_are_one_structure_and_a_different_one_is_not():
    nacl = rock_salt()
    shifted = nacl.copy(positions=nacl.positions + [0.3, 0.1, 0.0])  # same crystal, translated
    labels = unique_labels([nacl, shifted, cscl()])
    assert labels[0] == labels[1] != labels[2]
    metrics = crystal_metrics([nacl, nacl.copy()])
    assert metrics["uniqueness"] == pytest.approx(0.5)


def test_novelty_is_zero_for_a_training_structure():
    nacl = rock_salt()
    assert novel_mask([nacl, cscl()], [rock_salt(a=5.70)]).tolist() == [False, True]  # volume is scaled away
    metrics = crystal_metrics([nacl], train=[nacl.copy()])
    assert metrics["novelty"] == 0.0
    assert crystal_metrics([nacl], train=[cscl()])["novelty"] == 1.0


# ------------------------------------------------------------------------------------------ distributions
def test_density_of_rock_salt():
    # 4 NaCl units (4 x 58.44 u) in (5.64 Å)^3 = 2.16 g/cm^3.
    assert density(rock_salt()) == pytest.approx(4 * 58.443 * 1.66054 / 5.64**3, rel=1e-3)


def test_wasserstein_distances_against_a_known_reference():
    samples = [rock_salt(), rock_salt(a=6.0)]
    reference = [rock_salt(a=6.0), rock_salt(a=6.0)]
    metrics = crystal_metrics(samples, reference)
    # W1 between {d1, d2} and {d2, d2} is |d1 - d2| / 2; both sides have 2 elements per structure.
    assert metrics["density_w1"] == pytest.approx(abs(density(samples[0]) - density(samples[1])) / 2)
    assert metrics["n_elements_w1"] == 0.0
    carbon = AtomSystem.from_fractional([C, C], [[0, 0, 0], [0.25] * 3], np.eye(3) * 3.57)
    assert n_elements(carbon) == 1
    assert crystal_metrics(samples, [carbon])["n_elements_w1"] == pytest.approx(1.0)


def test_metrics_are_fractions_and_absent_inputs_are_marked():
    bad = AtomSystem.from_fractional([NA, CL], [[0, 0, 0], [0.01, 0, 0]], np.eye(3) * 4.0)
    metrics = crystal_metrics([rock_salt(), bad])
    assert metrics["structural_validity"] == 0.5 and metrics["validity"] == 0.5
    assert metrics["compositional_validity"] == 1.0
    assert metrics["uniqueness"] == 1.0  # computed over the structurally valid samples
    for key in ("novelty", "density_w1", "cov_recall"):
        assert str(metrics[key]).startswith("not computed")


def test_coverage_is_full_for_the_reference_itself_or_marked_not_computed():
    result = coverage([rock_salt()], [rock_salt()], dataset="perov_5")
    try:
        import matminer  # noqa: F401
    except ImportError:
        assert result.startswith("not computed") and "matminer" in result
    else:
        assert result == {"cov_recall": 1.0, "cov_precision": 1.0}
    assert coverage([rock_salt()], [rock_salt()], dataset="qm9").startswith("not computed")


# ------------------------------------------------------------------------------------------ reading
def test_fractional_coordinates_outside_the_cell_are_wrapped():
    cif = p1_cif("X", (4.0, 5.0, 6.0), (90, 90, 90), [("Na", "-0.39", "1.25", "0.5"), ("Cl", "0.1", "0.0", "1.0")])
    system = crystal_from_cif(cif, niggli=False)
    assert system.pbc == (True, True, True)
    frac = np.linalg.solve(system.lattice.T, system.positions.T).T
    np.testing.assert_allclose(frac, [[0.61, 0.25, 0.5], [0.1, 0.0, 0.0]], atol=1e-9)
    assert np.all((frac >= 0) & (frac < 1))


def test_unreadable_cifs_raise_input_error():
    with pytest.raises(InputError, match="missing lattice"):
        crystal_from_cif(BROKEN_CIF)
    nan_cif = p1_cif("X", (4.0, 4.0, 4.0), (90, 90, 90), [("Na", "nan", "0", "0")])
    with pytest.raises(InputError):
        crystal_from_cif(nan_cif)
    with pytest.raises(InputError):
        crystal_from_cif(p1_cif("X", (0.0, 4.0, 4.0), (90, 90, 90), [("Na", "0", "0", "0")]))


def test_csv_without_cif_column_names_the_file_and_the_column(tmp_path):
    path = write_csv(tmp_path / "nocif.csv", ["", "material_id", "formula"], [["0", "x-1", "NaCl"]])
    with pytest.raises(InputError) as info:
        read_cdvae_csv(path)
    assert str(path) in str(info.value) and "cif" in info.value.message and info.value.path == str(path)


def test_csv_with_one_broken_cif_names_the_record_or_skips_it(tmp_path):
    rows = [["0", "good-1", GOOD_CIF, "1.5"], ["1", "bad-2", BROKEN_CIF, "2.5"], ["2", "good-3", GOOD_CIF, "x"]]
    path = write_csv(tmp_path / "mixed.csv", ["", "material_id", "cif", "heat_ref"], rows)
    with pytest.raises(InputError) as info:
        read_cdvae_csv(path)
    assert info.value.record == 1 and "bad-2" in str(info.value) and str(path) in str(info.value)
    with pytest.warns(UserWarning, match="skipped 1"):
        table = read_cdvae_csv(path, skip_invalid=True)
    assert [s.name for s in table] == ["good-1", "good-3"] and table.n_skipped == 1
    assert table.skipped[0].row == 1 and table.skipped[0].material_id == "bad-2"
    assert table[0].properties == {"heat_ref": 1.5} and table[1].properties == {}  # text is not a property


def test_niggli_reduction_keeps_the_crystal():
    nacl = rock_salt()
    skewed = AtomSystem.from_fractional(
        nacl.numbers, nacl.frac_coords @ np.linalg.inv([[1, 0, 0], [1, 1, 0], [0, 0, 1]]),
        np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]]) @ nacl.lattice,
    )
    reduced = niggli_reduced(skewed)
    assert reduced.volume == pytest.approx(nacl.volume)
    assert sorted(reduced.lattice_parameters[:3]) == pytest.approx([nacl.lattice_parameters[0]] * 3)
    np.testing.assert_array_equal(reduced.numbers, nacl.numbers)


def test_missing_split_raises_dataset_error_saying_where_it_looked(tmp_path):
    with pytest.raises(DatasetError, match=str(tmp_path)):
        load_crystal_split("perov_5", "test", data_root=tmp_path)
    with pytest.raises(DatasetError, match="unknown crystal dataset"):
        load_crystal_split("qm9", "test", data_root=tmp_path)


@needs_data
def test_reads_the_mp_20_format_sample():
    table = read_cdvae_csv(CRYSTALS / "mp_20_format_sample.csv")
    assert len(table) == 4 and table.n_skipped == 0
    first = table[0]
    assert first.name == "mp-1221227" and first.formula == "CoMnNa3NiO6" and len(first) == 12
    assert first.properties["spacegroup.number"] == 8
    assert first.properties["formation_energy_per_atom"] == pytest.approx(-1.637460082715517)
    assert set(first.properties) == {"formation_energy_per_atom", "band_gap", "e_above_hull", "spacegroup.number"}
    for system in table:
        assert system.pbc == (True, True, True) and structurally_valid(system)
        assert np.all((system.frac_coords >= 0) & (system.frac_coords < 1))


@needs_data
def test_reads_perov_5_rows_with_niggli_reduction(tmp_path):
    with open(CRYSTALS / "perov_5_test.csv", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header, rows = next(reader), [next(reader) for _ in range(5)]
    table = read_cdvae_csv(write_csv(tmp_path / "perov5.csv", header, rows))
    assert [s.name for s in table] == [r[header.index("material_id")] for r in rows]
    first = table[0]
    assert len(first) == 5 and set(first.properties) == {"heat_all", "heat_ref", "dir_gap", "ind_gap"}
    a, b, c, *_ = first.lattice_parameters
    assert a == pytest.approx(4.0563216) and a <= b <= c  # Niggli: sorted lengths
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics = crystal_metrics(table.systems, table.systems, table.systems)
    assert metrics["structural_validity"] == 1.0 and metrics["novelty"] == 0.0


def test_structural_failure_names_why_a_crystal_is_invalid():
    lattice = np.eye(3) * 4.0
    sound = AtomSystem(numbers=np.array([11, 17]), positions=np.array([[0, 0, 0], [2.0, 2.0, 2.0]]), lattice=lattice)
    on_one_site = AtomSystem(numbers=np.array([11, 17]), positions=np.array([[0, 0, 0], [0.1, 0.2, 3.9]]),
                             lattice=lattice)
    tiny_cell = AtomSystem(numbers=np.array([6]), positions=np.zeros((1, 3)), lattice=np.diag([0.4, 5.0, 5.0]))
    broken = AtomSystem(numbers=np.array([6]), positions=np.full((1, 3), np.nan), lattice=lattice)
    assert structural_failure(sound) is None
    assert structural_failure(on_one_site) == "overlapping atoms"  # 0.1, 0.2, -0.1 Å apart across the boundary
    assert structural_failure(tiny_cell) == "short lattice vector"
    assert structural_failure(broken) == "not finite"
    shares = crystal_metrics([sound, on_one_site, tiny_cell, sound])["structural_failures"]
    assert shares == {"no lattice": 0.0, "not finite": 0.0, "tiny volume": 0.0, "short lattice vector": 0.25,
                      "overlapping atoms": 0.25}
