"""drugs-etkdg builder (small, in-process) and the GEOM msgpack reader on fixtures written here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from atomgen.data.drugs import build_drugs_etkdg, load_drugs_etkdg, read_geom_msgpack
from atomgen.errors import InputError

SMILES = ["CCO", "c1ccccc1O", "not-a-smiles", "C[N+](C)(C)C", "CC(=O)[O-]", "CCCCCCCCCCCCCCCCCCCC"]


@pytest.fixture()
def smiles_dir(tmp_path):
    folder = tmp_path / "geom_drugs"
    folder.mkdir()
    (folder / "geom_test_smiles.txt").write_text("\n".join(SMILES) + "\n")
    return folder


def test_build_load_and_resume(tmp_path, smiles_dir, monkeypatch):
    out = tmp_path / "out"
    dest = build_drugs_etkdg(out, "test", smiles_dir=smiles_dir, max_molecules=5, workers=1, chunk_size=2,
                             progress=False)
    shards = sorted(dest.glob("shard_*.sdf"))
    assert [p.name for p in shards] == ["shard_00000.sdf", "shard_00001.sdf", "shard_00002.sdf"]
    summary = json.loads((dest / "summary.json").read_text())
    assert (summary["selected"], summary["written"], summary["failed"]) == (5, 4, 1)

    systems = load_drugs_etkdg(out, "test")
    assert [s.name for s in systems] == ["CCO", "c1ccccc1O", "C[N+](C)(C)C", "CC(=O)[O-]"]
    ethanol = systems[0]
    assert ethanol.n_atoms == 9 and (ethanol.numbers == 1).sum() == 6  # hydrogens included
    assert len(ethanol.bonds) == 8 and ethanol.properties["index"] == 0
    assert systems[2].charges.sum() == 1 and systems[3].charges.sum() == -1
    assert np.isclose(np.linalg.norm(ethanol.positions[0] - ethanol.positions[1]), 1.51, atol=0.05)  # MMFF C-C

    # A rerun finds every shard finished and embeds nothing.
    def boom(*args, **kwargs):
        raise AssertionError("a finished shard was rebuilt")

    monkeypatch.setattr("atomgen.data.drugs._embed", boom)
    mtimes = [p.stat().st_mtime_ns for p in shards]
    build_drugs_etkdg(out, "test", smiles_dir=smiles_dir, max_molecules=5, workers=1, chunk_size=2,
                      progress=False)
    assert [p.stat().st_mtime_ns for p in shards] == mtimes


def test_size_limits(tmp_path, smiles_dir):
    dest = build_drugs_etkdg(tmp_path, "test", smiles_dir=smiles_dir, max_molecules=2, max_heavy_atoms=7,
                             workers=1, progress=False)
    assert [s.name for s in load_drugs_etkdg(tmp_path, "test")] == ["CCO", "c1ccccc1O"]
    dest = build_drugs_etkdg(tmp_path / "b", "test", smiles_dir=smiles_dir, max_atoms=20, workers=1,
                             progress=False)
    names = [s.name for s in load_drugs_etkdg(tmp_path / "b", "test")]
    assert "CCCCCCCCCCCCCCCCCCCC" not in names and "C[N+](C)(C)C" in names  # 17 atoms vs 62
    assert json.loads((dest / "summary.json").read_text())["too_big"] == 1


# ---------------------------------------------------------------------------------------------- msgpack
def _geom_records() -> list[dict]:
    water = [[8, 0.0, 0.0, 0.0], [1, 0.96, 0.0, 0.0], [1, -0.24, 0.93, 0.0]]
    methane = [[6, 0.0, 0.0, 0.0]] + [[1, x, y, z] for x, y, z in ((0.63, 0.63, 0.63), (-0.63, -0.63, 0.63),
                                                                    (-0.63, 0.63, -0.63), (0.63, -0.63, -0.63))]
    return [
        {"O": {"uniqueconfs": 2, "charge": 0, "conformers": [
            {"xyz": water, "boltzmannweight": 0.7, "totalenergy": -76.4},
            {"xyz": water, "boltzmannweight": 0.3, "totalenergy": -76.3}]}},
        {"C": {"uniqueconfs": 3, "charge": 0, "conformers": [
            {"xyz": methane, "boltzmannweight": w, "totalenergy": -40.5 + i} for i, w in enumerate((0.5, 0.3, 0.2))]}},
    ]


@pytest.fixture()
def geom_file(tmp_path):
    msgpack = pytest.importorskip("msgpack")
    path = tmp_path / "tiny_crude.msgpack"
    with open(path, "wb") as handle:
        for record in _geom_records():  # GEOM writes one packed map per batch of molecules
            handle.write(msgpack.packb(record))
    return path


def test_msgpack_reader(geom_file):
    systems = list(read_geom_msgpack(geom_file))
    assert [s.name for s in systems] == ["O", "O", "C", "C", "C"]
    assert systems[0].numbers.tolist() == [8, 1, 1] and systems[0].positions[1, 0] == pytest.approx(0.96)
    assert systems[1].properties["boltzmannweight"] == pytest.approx(0.3)
    assert systems[4].properties["totalenergy"] == pytest.approx(-38.5)
    assert systems[4].properties["uniqueconfs"] == 3 and systems[4].properties["conformer_index"] == 2
    assert [s.name for s in read_geom_msgpack(geom_file, max_conformers=1)] == ["O", "C"]


def test_msgpack_truncated_and_corrupt(geom_file, tmp_path):
    data = geom_file.read_bytes()
    cut = tmp_path / "cut.msgpack"
    cut.write_bytes(data[:-20])
    with pytest.raises(InputError) as info:
        list(read_geom_msgpack(cut))
    assert info.value.path == str(cut) and info.value.record == 1  # the second molecule is incomplete

    bad = tmp_path / "bad.msgpack"
    bad.write_bytes(data[:5] + b"\xc1" * 8 + data[13:])  # 0xc1 is never valid msgpack
    with pytest.raises(InputError) as info:
        list(read_geom_msgpack(bad))
    assert info.value.path == str(bad)
