"""QM9: 130,831 small organic molecules with B3LYP geometries, prepared once into packs with EDM's split.

Sources: the PyPI package `qm9pack` (default; it already excludes the 3,054 molecules that failed QM9's
consistency check) or the original `dsgdb9nsd.xyz.tar.bz2` archive for users who have it. Atoms keep the order
of the source file. Properties are converted to EDM's units: energies in eV (1 Ha = 27.211386 eV), dipole in D,
polarisability in bohr^3, heat capacity in cal/mol/K.
"""

from __future__ import annotations

import ast
import csv
import importlib.util
import re
import sys
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from atomgen.data.paths import cache_lock, data_dir
from atomgen.elements import numbers_from_symbols
from atomgen.errors import DatasetError, InputError
from atomgen.io.pack import Pack, write_pack
from atomgen.system import AtomSystem

HARTREE_TO_EV = 27.211386
N_MOLECULES = 130_831
SPLIT_SIZES = {"train": 100_000, "valid": 17_748, "test": 13_083}
SPLITS = tuple(SPLIT_SIZES)
HALVES = ("train-first-half", "train-second-half")
"""EDM's halves of the train split for conditional generation (`edm_halves`): property classifiers train on the
first, conditional generators on the second."""

# qm9pack column -> (EDM property name, factor to EDM units)
_QM9PACK_PROPERTIES = {
    "Dipole_debye": ("mu", 1.0),
    "Polarizability_bohr3": ("alpha", 1.0),
    "HOMO_au": ("homo", HARTREE_TO_EV),
    "LUMO_au": ("lumo", HARTREE_TO_EV),
    "HOMO_LUMO_gap_au": ("gap", HARTREE_TO_EV),
    "R2_bohr2": ("r2", 1.0),
    "ZPVE_au": ("zpve", HARTREE_TO_EV),
    "InternalEnergy_0K_au": ("U0", HARTREE_TO_EV),
    "InternalEnergy_298K_au": ("U", HARTREE_TO_EV),
    "Enthalphy_298K_au": ("H", HARTREE_TO_EV),
    "GibbsFreeEnergy_298K_au": ("G", HARTREE_TO_EV),
    "Heatcapacity_Cv_cal_mol_K": ("Cv", 1.0),
}
# Order of the 15 numbers on line 2 of an original QM9 xyz file (after the 'gdb' tag), with EDM units.
_ARCHIVE_PROPERTIES = [
    ("index", None), ("A", 1.0), ("B", 1.0), ("C", 1.0), ("mu", 1.0), ("alpha", 1.0),
    ("homo", HARTREE_TO_EV), ("lumo", HARTREE_TO_EV), ("gap", HARTREE_TO_EV), ("r2", 1.0),
    ("zpve", HARTREE_TO_EV), ("U0", HARTREE_TO_EV), ("U", HARTREE_TO_EV), ("H", HARTREE_TO_EV),
    ("G", HARTREE_TO_EV), ("Cv", 1.0),
]  # fmt: skip
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def edm_split(n: int = N_MOLECULES) -> dict[str, np.ndarray]:
    """EDM's train/valid/test row indices into the n molecules in gdb order (each split sorted).

    EDM seeds NumPy's legacy global RNG with 0 and draws one permutation; test size is int(0.1 * n), train is
    100,000, valid the rest.
    """
    state = np.random.get_state()
    try:
        np.random.seed(0)
        perm = np.random.permutation(n)
    finally:
        np.random.set_state(state)  # never leave the caller's global RNG changed
    n_train, n_test = 100_000, int(0.1 * n)
    n_valid = n - n_train - n_test
    return {
        "train": np.sort(perm[:n_train]),
        "valid": np.sort(perm[n_train : n_train + n_valid]),
        "test": np.sort(perm[n_train + n_valid :]),
    }


def edm_halves(n_train: int = SPLIT_SIZES["train"]) -> tuple[np.ndarray, np.ndarray]:
    """Row indices into the train split (gdb order) of EDM's two halves (`qm9/data/utils.py`): one permutation of
    NumPy's legacy RNG seeded with 42, its first 50,000 rows the first half and the rest the second."""
    permutation = np.random.RandomState(42).permutation(n_train)  # as np.random.seed(42), then permutation
    return permutation[: n_train // 2], permutation[n_train // 2 :]


# ------------------------------------------------------------------------------------------------ readers
def iter_qm9pack(limit: int | None = None) -> Iterator[AtomSystem]:
    """Molecules from the qm9pack CSV files, in gdb-index order."""
    # Locate the package's data without importing it: its __init__ needs pkg_resources, gone from new setuptools.
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("the QM9 source package is missing: pip install qm9pack")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    csv.field_size_limit(sys.maxsize)
    count = 0
    for part in (1, 2, 3):
        path = folder / f"qm9_part{part}.csv"
        with open(path, newline="") as handle:
            for row_number, row in enumerate(csv.DictReader(handle)):
                if limit is not None and count >= limit:
                    return
                yield _from_qm9pack_row(row, path, row_number)
                count += 1


def _from_qm9pack_row(row: dict[str, str], path: Path, row_number: int) -> AtomSystem:
    try:
        symbols = ast.literal_eval(row["Elements"])
        coords = np.array([float(v) for v in _NUMBER.findall(row["XYZ_Ang"])]).reshape(-1, 3)
        props = {"index": int(row["Index"])}
        for column, (name, factor) in _QM9PACK_PROPERTIES.items():
            props[name] = float(row[column]) * factor
    except (KeyError, ValueError, SyntaxError) as exc:
        raise InputError(f"malformed QM9 row: {exc}", path, row_number) from None
    return AtomSystem(
        numbers=numbers_from_symbols(symbols),
        positions=coords,
        properties=props,
        name=f"gdb_{props['index']}",
    )


def iter_qm9_archive(path: str | Path, exclude: Iterable[int] = ()) -> Iterator[AtomSystem]:
    """Molecules from the original QM9 archive (`dsgdb9nsd.xyz.tar.bz2`, or a folder of its xyz files).

    Args:
        path: the archive or folder.
        exclude: gdb indices to leave out (QM9's list of 3,054 uncharacterised molecules, for EDM's pool).
    """
    path = Path(path)
    skip = set(exclude)
    if path.is_dir():
        members = ((p.name, p.read_text()) for p in sorted(path.glob("*.xyz")))
    else:
        members = _tar_members(path)
    for name, text in members:
        system = parse_qm9_xyz(text, source=f"{path}:{name}")
        if system.properties["index"] not in skip:
            yield system


def _tar_members(path: Path) -> Iterator[tuple[str, str]]:
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                if member.isfile() and member.name.endswith(".xyz"):
                    yield member.name, tar.extractfile(member).read().decode()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(f"cannot read the QM9 archive: {exc}", path) from None


def parse_qm9_xyz(text: str, source: str = "") -> AtomSystem:
    """One molecule in QM9's own xyz layout (properties on line 2, Mulliken charges in column 5, '*^' exponents)."""
    lines = text.replace("*^", "e").splitlines()
    try:
        n_atoms = int(lines[0])
        values = lines[1].split()[1:]
        props = {}
        for (name, factor), value in zip(_ARCHIVE_PROPERTIES, values, strict=True):
            props[name] = int(value) if factor is None else float(value) * factor
        atoms = [line.split() for line in lines[2 : 2 + n_atoms]]
        symbols = [a[0] for a in atoms]
        coords = np.array([[float(v) for v in a[1:4]] for a in atoms])
        if len(atoms) != n_atoms:
            raise ValueError(f"{n_atoms} atoms announced, {len(atoms)} present")
    except (IndexError, ValueError) as exc:
        raise InputError(f"malformed QM9 xyz record: {exc}", source) from None
    return AtomSystem(
        numbers=numbers_from_symbols(symbols), positions=coords, properties=props, name=f"gdb_{props['index']}"
    ).validate()


# -------------------------------------------------------------------------------------------- preparation
def qm9_dir(root: str | Path | None = None) -> Path:
    """The folder holding the prepared QM9 packs."""
    return data_dir(root) / "qm9"


def prepare_qm9(
    root: str | Path | None = None, *, archive: str | Path | None = None, exclude: Iterable[int] = (),
    progress: bool = True,
) -> Path:
    """Prepare QM9 into `<root>/qm9/{train,valid,test}.pack` once; later calls return at once.

    Args:
        root: the cache folder (default $ATOMGEN_DATA).
        archive: read the original QM9 archive instead of qm9pack.
        exclude: with `archive`, the gdb indices of QM9's uncharacterised molecules.
        progress: show a progress bar.
    """
    folder = qm9_dir(root)
    if _qm9_ready(folder):
        return folder
    # Two processes (a training run and an evaluation, say) may ask for QM9 at once: one prepares it, the other
    # waits for the lock and then finds the packs ready.
    with cache_lock(folder):
        if not _qm9_ready(folder):
            _write_qm9(folder, archive, exclude, progress)
    return folder


def _qm9_ready(folder: Path) -> bool:
    """Whether all three split packs are in `folder` (each pack appears only when complete)."""
    return all((folder / f"{split}.pack" / "meta.json").is_file() for split in SPLITS)


def _write_qm9(folder: Path, archive: str | Path | None, exclude: Iterable[int], progress: bool) -> None:
    """Read QM9 from its source and write the three split packs into `folder`."""
    source = iter_qm9_archive(archive, exclude) if archive else iter_qm9pack()
    molecules = list(tqdm(source, total=N_MOLECULES, desc="reading QM9", disable=not progress, unit="mol"))
    if len(molecules) != N_MOLECULES:
        raise DatasetError(f"expected {N_MOLECULES} QM9 molecules, read {len(molecules)} (wrong exclusion list?)")
    for split, rows in edm_split(len(molecules)).items():
        write_pack(folder / f"{split}.pack", [molecules[int(i)] for i in rows])


def load_qm9(split: str, root: str | Path | None = None, *, progress: bool = True) -> Pack | list[AtomSystem]:
    """A memory-mapped QM9 split ('train', 'valid' or 'test'), preparing the dataset first if needed, or one of
    EDM's halves of the train split ('train-first-half', 'train-second-half') as a list."""
    if split in HALVES:
        train = load_qm9("train", root, progress=progress)
        return [train[int(k)] for k in edm_halves(len(train))[HALVES.index(split)]]
    if split not in SPLITS:
        raise DatasetError(f"unknown QM9 split {split!r}; use one of {', '.join(SPLITS + HALVES)}")
    return Pack(prepare_qm9(root, progress=progress) / f"{split}.pack")
