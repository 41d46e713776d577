"""Readers and writers: round trips, the pack format, and clear errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from atomgen.errors import InputError
from atomgen.io.formats import read, read_files, write
from atomgen.io.pack import Pack
from atomgen.system import AtomSystem

WATER_XYZ = "3\nwater\nO 0.0 0.0 0.117\nH 0.0 0.757 -0.467\nH 0.0 -0.757 -0.467\n"


@pytest.mark.parametrize("suffix", [".sdf", ".xyz", ".extxyz", ".pack"])
def test_molecule_round_trip(tmp_path, small_molecules, suffix):
    path = write(tmp_path / f"mols{suffix}", small_molecules)
    back = read(path)
    assert len(back) == len(small_molecules)
    for a, b in zip(small_molecules, back):
        np.testing.assert_array_equal(a.numbers, b.numbers)
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-4)  # SDF keeps 4 decimals
    if suffix in (".sdf", ".pack"):
        for a, b in zip(small_molecules, back):
            assert {tuple(sorted(r[:2])) for r in a.bonds} == {tuple(sorted(r[:2])) for r in b.bonds}


@pytest.mark.parametrize("suffix", [".cif", ".extxyz", ".pack"])
def test_crystal_round_trip(tmp_path, rock_salt, suffix):
    back = read(write(tmp_path / f"x{suffix}", [rock_salt, rock_salt]))
    assert len(back) == 2
    np.testing.assert_allclose(back[1].lattice, rock_salt.lattice, atol=1e-6)
    np.testing.assert_allclose(back[1].frac_coords, rock_salt.frac_coords, atol=1e-6)


def test_pack_is_memory_mapped_and_keeps_properties(tmp_path, small_molecules):
    mols = [m.copy(properties={"gap": float(k)}) for k, m in enumerate(small_molecules)]
    pack = Pack(write(tmp_path / "d.pack", mols))
    assert isinstance(pack.positions, np.memmap)
    assert len(pack) == len(mols) and pack.sizes().tolist() == [len(m) for m in mols]
    assert pack[3].properties == {"gap": 3.0} and pack[-1].name == mols[-1].name


def test_convert_cli_between_formats(tmp_path, small_molecules):
    from atomgen.cli import main

    write(tmp_path / "in.sdf", small_molecules[:3])
    assert main(["convert", str(tmp_path / "in.sdf"), str(tmp_path / "out.xyz")]) == 0
    assert len(read(tmp_path / "out.xyz")) == 3


# ------------------------------------------------------------------------------------------------ bad input
def _sdf_text(small_molecules) -> str:
    from atomgen.io.sdf import format_sdf

    return format_sdf(small_molecules[:3])


@pytest.mark.parametrize(
    "name, mutate, message",
    [
        ("empty.xyz", lambda t: "", "empty"),
        ("trunc.xyz", lambda t: t + "5\nmore\nC 0 0 0\n", "record 1.*truncated"),
        ("elem.xyz", lambda t: t.replace("H 0.0 0.757", "Qq 0.0 0.757"), "record 0.*unknown element 'Qq'"),
        ("nan.xyz", lambda t: t.replace("0.117", "nan"), "record 0.*non-finite"),
        ("count.xyz", lambda t: "three\n" + t, "record 0.*atom count"),
        ("words.xyz", lambda t: t.replace("0.757", "abc"), "not numbers"),
        ("overlap.xyz", lambda t: t.replace("-0.757 -0.467", "0.757 -0.467"), "record 0.*atoms 2 and 3 overlap"),
    ],
)
def test_bad_xyz(tmp_path, name, mutate, message):
    path = tmp_path / name
    path.write_text(mutate(WATER_XYZ))
    with pytest.raises(InputError, match=message) as info:
        read(path)
    assert name in str(info.value)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t[: len(t) // 2], "record 1.*truncated"),
        (lambda t: t.replace(" C   0", " Zz  0", 1), "record 0.*unknown element 'Zz'"),
        (lambda t: "garbage\n$$$$\n" + t, "record 0.*truncated"),
    ],
)
def test_bad_sdf(tmp_path, small_molecules, mutate, message):
    path = tmp_path / "bad.sdf"
    path.write_text(mutate(_sdf_text(small_molecules)))
    with pytest.raises(InputError, match=message):
        read(path)


def test_sdf_nan_coordinates(tmp_path, small_molecules):
    lines = _sdf_text(small_molecules).splitlines()
    lines[4] = "       nan" + lines[4][10:]
    (tmp_path / "nan.sdf").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="nan.sdf, record 0: non-finite"):
        read(tmp_path / "nan.sdf")


def test_skip_invalid_counts_broken_records(tmp_path):
    path = tmp_path / "mixed.xyz"
    path.write_text(WATER_XYZ + WATER_XYZ.replace("0.117", "inf") + WATER_XYZ)
    with pytest.warns(UserWarning, match="record 1"):
        result = read_files(path, skip_invalid=True)
    assert len(result.systems) == 2 and len(result.skipped) == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_angle_alpha 90\n", "missing lattice"),
        ("data_x\n_cell_length_a 0\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 90\n"
         "_cell_angle_beta 90\n_cell_angle_gamma 90\n", "singular lattice"),
        ("just words\n", "not a CIF"),
    ],
)
def test_bad_cif(tmp_path, text, message):
    path = tmp_path / "bad.cif"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read(path)


def test_cif_with_broken_atom_block(tmp_path, rock_salt):
    good = write(tmp_path / "good.cif", [rock_salt]).read_text()
    broken = good.split("_atom_site_occupancy")[0] + "_atom_site_occupancy\n  Na  Na0  1  0.0  zero  0.0  1\n"
    (tmp_path / "b.cif").write_text(good + "\n" + broken)
    with pytest.raises(InputError, match="b.cif, record 1"):
        read(tmp_path / "b.cif")


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="unknown file type"):
        read(_touch(tmp_path / "a.pdbx"))
    with pytest.raises(InputError, match="no such file"):
        read(tmp_path / "nope.sdf")


def _touch(path):
    path.write_text("x")
    return path


def test_failed_write_leaves_nothing(tmp_path, rock_salt, small_molecules):
    target = tmp_path / "out.sdf"
    with pytest.raises(InputError, match="crystal"):
        write(target, [small_molecules[0], rock_salt])
    target_cif = tmp_path / "out.cif"
    with pytest.raises(InputError, match="no lattice"):
        write(target_cif, [rock_salt, small_molecules[0]])
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_corrupt_pack(tmp_path, small_molecules):
    path = write(tmp_path / "d.pack", small_molecules)
    (path / "offsets.npy").write_bytes(b"not numpy")
    with pytest.raises(InputError, match="offsets.npy"):
        Pack(path)


def test_cli_error_is_one_line_and_nonzero(tmp_path, capsys):
    from atomgen.cli import main

    bad = tmp_path / "bad.xyz"
    bad.write_text(WATER_XYZ.replace("H 0.0 0.757", "Qq 0.0 0.757"))
    out = tmp_path / "out.sdf"
    assert main(["convert", str(bad), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.xyz, record 0" in err
    assert not out.exists()


def test_plain_xyz_keeps_comment_as_name():
    from atomgen.io.xyz import format_xyz

    system = AtomSystem([8, 1, 1], [[0, 0, 0.117], [0, 0.757, -0.467], [0, -0.757, -0.467]], name="water")
    assert format_xyz(system).splitlines()[1] == "water"
