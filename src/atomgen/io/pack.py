"""The training format: a folder of flat NumPy arrays, memory-mapped, never pickled.

A pack holds N systems with A atoms in total:

    numbers.npy    (A,)   int16    atomic numbers, systems one after another
    positions.npy  (A, 3) float32  Å
    charges.npy    (A,)   int8     formal charges (0 where unknown)
    offsets.npy    (N+1,) int64    system k owns atoms offsets[k]:offsets[k+1]
    lattices.npy   (N, 3, 3) float32, NaN for molecules
    bonds.npy      (B, 3) int32    (i, j, order) with i, j local to their system
    bond_offsets.npy (N+1,) int64
    properties.npy (N, P) float64  NaN where a system lacks a property
    names.npy      (N,)   unicode
    meta.json      format version, property names, whether charges/bonds were known

A data loader slices these arrays: no text is parsed inside a training loop.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from atomgen.errors import InputError
from atomgen.io.atomic import atomic_path
from atomgen.system import AtomSystem

FORMAT = "atomgen-pack"
VERSION = 1
_ARRAYS = ("numbers", "positions", "charges", "offsets", "lattices", "bonds", "bond_offsets", "properties", "names")


def write_pack(path: str | Path, systems: Sequence[AtomSystem]) -> Path:
    """Write systems as a pack folder at `path` (atomically: the folder appears only when complete)."""
    if not systems:
        raise InputError("nothing to write: no systems")
    counts = np.array([len(s) for s in systems], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    n_bonds = np.array([0 if s.bonds is None else len(s.bonds) for s in systems], dtype=np.int64)
    prop_names = sorted({key for s in systems for key, v in s.properties.items() if _is_number(v)})
    properties = np.full((len(systems), len(prop_names)), np.nan)
    for row, system in enumerate(systems):
        for col, key in enumerate(prop_names):
            if _is_number(system.properties.get(key)):
                properties[row, col] = float(system.properties[key])
    arrays = {
        "numbers": np.concatenate([s.numbers for s in systems]).astype(np.int16),
        "positions": np.concatenate([s.positions for s in systems]).astype(np.float32),
        "charges": np.concatenate(
            [s.charges if s.charges is not None else np.zeros(len(s), np.int64) for s in systems]
        ).astype(np.int8),
        "offsets": offsets,
        "lattices": np.stack(
            [s.lattice if s.lattice is not None else np.full((3, 3), np.nan) for s in systems]
        ).astype(np.float32),
        "bonds": np.concatenate(
            [s.bonds if s.bonds is not None else np.zeros((0, 3), np.int64) for s in systems]
        ).astype(np.int32),
        "bond_offsets": np.concatenate([[0], np.cumsum(n_bonds)]),
        "properties": properties,
        "names": np.array([s.name for s in systems], dtype=str),
    }
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "n_systems": len(systems),
        "n_atoms": int(offsets[-1]),
        "property_names": prop_names,
        "has_charges": any(s.charges is not None for s in systems),
        "has_bonds": any(s.bonds is not None for s in systems),
    }
    with atomic_path(path) as tmp:
        tmp.mkdir()
        for key, value in arrays.items():
            np.save(tmp / f"{key}.npy", value, allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    return Path(path)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class Pack(Sequence[AtomSystem]):
    """A read-only, memory-mapped view of a pack folder; `pack[k]` builds the k-th AtomSystem on demand.

    The raw arrays (`pack.numbers`, `pack.positions`, `pack.offsets`...) are there for batched tensor code.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        meta_file = self.path / "meta.json"
        if not meta_file.is_file():
            raise InputError("not an atomgen pack (no meta.json)", self.path)
        try:
            self.meta = json.loads(meta_file.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"corrupt meta.json: {exc}", self.path) from None
        if self.meta.get("format") != FORMAT or self.meta.get("version") != VERSION:
            raise InputError(f"unsupported pack format {self.meta.get('format')} v{self.meta.get('version')}", self.path)
        for key in _ARRAYS:
            try:
                setattr(self, key, np.load(self.path / f"{key}.npy", mmap_mode="r", allow_pickle=False))
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot read {key}.npy: {exc}", self.path) from None
        self.property_names: list[str] = list(self.meta["property_names"])
        if len(self.offsets) != self.meta["n_systems"] + 1 or self.offsets[-1] != len(self.numbers):
            raise InputError("inconsistent pack: offsets do not match the atom arrays", self.path)

    def __len__(self) -> int:
        return int(self.meta["n_systems"])

    def sizes(self) -> np.ndarray:
        """Number of atoms of every system."""
        return np.diff(self.offsets)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(len(self)))]
        k = int(index)
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(index)
        a, b = int(self.offsets[k]), int(self.offsets[k + 1])
        ba, bb = int(self.bond_offsets[k]), int(self.bond_offsets[k + 1])
        lattice = np.array(self.lattices[k], dtype=np.float64)
        props = {
            key: float(v) for key, v in zip(self.property_names, self.properties[k]) if not np.isnan(v)
        }
        return AtomSystem(
            numbers=np.array(self.numbers[a:b]),
            positions=np.array(self.positions[a:b], dtype=np.float64),
            lattice=None if np.isnan(lattice).any() else lattice,
            charges=np.array(self.charges[a:b]) if self.meta["has_charges"] else None,
            bonds=np.array(self.bonds[ba:bb]) if self.meta["has_bonds"] else None,
            properties=props,
            name=str(self.names[k]),
        )

