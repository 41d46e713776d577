"""QM9: EDM's split, the qm9pack reader (units, order), and the original-archive reader on a fixture."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from atomgen.data.qm9 import HARTREE_TO_EV, SPLIT_SIZES, edm_split, iter_qm9_archive, iter_qm9pack, parse_qm9_xyz
from atomgen.errors import InputError

from .conftest import needs_shared_data

# gdb 1 (methane) exactly as the original archive stores it, '*^' exponent included.
METHANE = """5
gdb 1\t157.7118\t157.70997\t157.70699\t0.\t13.21\t-0.3877\t0.1171\t0.5048\t35.3641\t0.044749\t-40.47893\t-40.476062\t-40.475117\t-40.498597\t6.469\t
C\t-0.0126981359\t 1.0858041578\t 0.0080009958\t-0.535689
H\t 0.002150416\t-0.0060313176\t 0.0019761204\t 0.133921
H\t 1.0117308433\t 1.4637511618\t 0.0002765748\t 0.133922
H\t-0.540815069\t 1.4475266138\t-0.8766437152\t 0.133923
H\t-0.5238136345\t 1.4379326443\t 0.9063972942\t 0.133923
1341.307\t1341.3284\t1341.365\t1562.6731\t1562.7453\t3038.3205\t3151.6034\t3151.6788\t3151.7078
C\tC
InChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4
"""


def test_edm_split_sizes_and_disjointness():
    split = edm_split()
    assert {k: len(v) for k, v in split.items()} == SPLIT_SIZES
    together = np.concatenate(list(split.values()))
    assert len(np.unique(together)) == 130_831
    state = np.random.get_state()[1][:3].copy()
    edm_split()
    assert np.array_equal(np.random.get_state()[1][:3], state)  # the global RNG is left as it was


def test_edm_split_matches_the_reference_reconstruction():
    reference = np.load(needs_shared_data("qm9", "edm_split_reference.npz"))
    split = edm_split()
    for name in ("train", "valid", "test"):
        np.testing.assert_array_equal(split[name], reference[f"{name}_row"])


def test_qm9pack_first_molecules_units_and_order():
    molecules = list(iter_qm9pack(limit=30))
    methane = molecules[0]
    assert methane.symbols == ["C", "H", "H", "H", "H"] and methane.name == "gdb_1"
    assert methane.properties["homo"] == pytest.approx(-0.3877 * HARTREE_TO_EV)
    assert methane.properties["U0"] == pytest.approx(-40.47893 * HARTREE_TO_EV)
    assert methane.properties["alpha"] == pytest.approx(13.21) and methane.properties["Cv"] == pytest.approx(6.469)
    # Atoms keep the source file's order: heavy atoms first, except in a few molecules where QM9 itself lists
    # a hydrogen earlier (417 of 130,831; among the first 30, only gdb_24 = HC#N's isomer with H before N).
    not_heavy_first = [m.name for m in molecules if np.any(np.diff((m.numbers == 1).astype(int)) < 0)]
    assert not_heavy_first == ["gdb_24"]


def test_archive_reader_matches_qm9pack(tmp_path):
    archive = tmp_path / "dsgdb9nsd.xyz.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tar:
        for name, text in [("dsgdb9nsd_000001.xyz", METHANE), ("dsgdb9nsd_000002.xyz", METHANE.replace("gdb 1", "gdb 2"))]:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    from_archive = list(iter_qm9_archive(archive, exclude=[2]))
    assert len(from_archive) == 1
    reference = next(iter_qm9pack(limit=1))
    np.testing.assert_allclose(from_archive[0].positions, reference.positions)
    for key in ("mu", "alpha", "homo", "lumo", "gap", "U0", "G", "Cv"):
        assert from_archive[0].properties[key] == pytest.approx(reference.properties[key]), key


def test_archive_record_errors():
    with pytest.raises(InputError, match="malformed QM9 xyz record"):
        parse_qm9_xyz(METHANE.replace("gdb 1\t", "gdb 1\tx\t"), source="f.xyz")
    with pytest.raises(InputError, match="f.tar"):
        list(iter_qm9_archive(_not_a_tar()))


def _not_a_tar():
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "f.tar"
    path.write_bytes(b"this is not a tar file")
    return path
