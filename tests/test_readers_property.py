"""Property-based tests (hypothesis): any valid system survives a write/read round trip, and any corruption of a
file either reads or raises InputError (never another exception)."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from atomgen.errors import InputError
from atomgen.io.formats import read, write
from atomgen.system import AtomSystem

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
coordinate = st.floats(min_value=-50, max_value=50, allow_nan=False, allow_infinity=False)


@st.composite
def molecules(draw) -> AtomSystem:
    n = draw(st.integers(min_value=1, max_value=12))
    numbers = draw(st.lists(st.sampled_from([1, 6, 7, 8, 9, 16, 17]), min_size=n, max_size=n))
    positions = np.array(draw(st.lists(st.tuples(coordinate, coordinate, coordinate), min_size=n, max_size=n)))
    # Atoms on top of each other are refused by the readers (tested elsewhere): keep them apart here.
    dist = np.linalg.norm(positions[:, None] - positions[None], axis=-1) + np.eye(n) * 1e9
    assume(dist.min() > 0.1)
    return AtomSystem(numbers, positions, name=draw(st.text(string.ascii_letters, max_size=8)))


@st.composite
def crystals(draw) -> AtomSystem:
    n = draw(st.integers(min_value=1, max_value=6))
    lengths = draw(st.tuples(*[st.floats(min_value=2.0, max_value=12.0)] * 3))
    frac = draw(st.lists(st.tuples(*[st.floats(min_value=0, max_value=0.999)] * 3), min_size=n, max_size=n))
    numbers = draw(st.lists(st.sampled_from([3, 8, 11, 17, 26]), min_size=n, max_size=n))
    # Atoms on top of each other are not a crystal (pymatgen refuses them): keep them 0.5 Å apart.
    diff = np.array(frac)[:, None, :] - np.array(frac)[None, :, :]
    dist = np.linalg.norm((diff - np.round(diff)) * np.array(lengths), axis=-1) + np.eye(n) * 1e9
    assume(dist.min() > 0.5)
    return AtomSystem.from_fractional(numbers, frac, np.diag(lengths), name="c")


@SETTINGS
@given(molecules())
def test_xyz_round_trip(system):
    with tempfile.TemporaryDirectory() as tmp:
        back = read(write(Path(tmp) / "m.xyz", [system]))[0]
    np.testing.assert_array_equal(back.numbers, system.numbers)
    np.testing.assert_allclose(back.positions, system.positions, atol=1e-6)


@SETTINGS
@given(crystals())
def test_cif_round_trip(system):
    with tempfile.TemporaryDirectory() as tmp:
        back = read(write(Path(tmp) / "c.cif", [system]))[0]
    np.testing.assert_allclose(back.lattice_parameters, system.lattice_parameters, atol=1e-5)
    assert sorted(back.numbers) == sorted(system.numbers)


def _corrupt(text: str, data) -> str:
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    mode = data.draw(st.sampled_from(["truncate", "replace", "insert"]))
    if mode == "truncate":
        return text[:cut]
    junk = data.draw(st.text(alphabet=string.printable, min_size=1, max_size=6))
    return text[:cut] + junk + text[cut + (len(junk) if mode == "replace" else 0) :]


def _only_input_errors(suffix: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{suffix}"
        path.write_text(text)
        try:
            systems = read(path)
        except InputError as err:
            assert path.name in str(err)
            return
        for system in systems:
            assert np.isfinite(system.positions).all() and len(system) > 0


_WATER = "3\nwater\nO 0.0 0.0 0.117\nH 0.0 0.757 -0.467\nH 0.0 -0.757 -0.467\n"


@SETTINGS
@given(st.data())
def test_corrupted_xyz_reads_or_raises_input_error(data):
    _only_input_errors(".xyz", _corrupt(_WATER * 2, data))


@SETTINGS
@given(st.data())
def test_corrupted_sdf_reads_or_raises_input_error(data):
    from atomgen.io.sdf import format_sdf

    text = format_sdf([_ethanol()])
    _only_input_errors(".sdf", _corrupt(text, data))


@SETTINGS
@given(st.data())
def test_corrupted_cif_reads_or_raises_input_error(data):
    from atomgen.io.cif import format_cif

    salt = AtomSystem.from_fractional([11, 17], [[0, 0, 0], [0.5, 0.5, 0.5]], np.eye(3) * 3.0, name="s")
    _only_input_errors(".cif", _corrupt(format_cif([salt]), data))


_CACHE: dict[str, AtomSystem] = {}


def _ethanol() -> AtomSystem:
    if "ethanol" not in _CACHE:
        from tests.conftest import embedded

        _CACHE["ethanol"] = embedded("CCO")
    return _CACHE["ethanol"]
