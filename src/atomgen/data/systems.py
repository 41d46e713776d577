"""Molecules and crystals side by side as padded tensors, each system carrying a class label (ADiT).

A molecule and a crystal become the same kind of item: atomic numbers, Cartesian positions, fractional
coordinates and lattice. A molecule's fractional coordinates and lattice are zeros and its `periodic` flag is
False; masks built from that flag keep the crystal-only losses off molecules.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from atomgen.data.lattice import lattice_features
from atomgen.errors import DatasetError
from atomgen.io.pack import Pack
from atomgen.system import AtomSystem


def _flatten(source: Pack | Sequence[AtomSystem]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """(numbers, positions, offsets, lattices or None per system) of a pack or a list of systems."""
    if isinstance(source, Pack):
        has_lattice = ~np.isnan(np.asarray(source.lattices)).any(axis=(1, 2))
        if has_lattice.any():
            lattices = [np.asarray(source.lattices[k], dtype=np.float64) if has_lattice[k] else None
                        for k in range(len(source))]
        else:
            lattices = [None] * len(source)
        return (np.asarray(source.numbers), np.asarray(source.positions, dtype=np.float64),
                np.asarray(source.offsets), lattices)
    systems = list(source)
    numbers = np.concatenate([s.numbers for s in systems]) if systems else np.zeros(0, np.int64)
    positions = np.concatenate([s.positions for s in systems]) if systems else np.zeros((0, 3))
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in systems])]).astype(np.int64)
    return numbers, positions, offsets, [s.lattice if s.is_periodic else None for s in systems]


class LabelledSystemDataset(Dataset):
    """Systems from several sources, each source with its own class label.

    Item k is a dict of numpy arrays: `numbers` (N,), `positions` (N, 3) in Å, `frac` (N, 3), `lattice` (3, 3),
    `lattice_features` (6,) (see `atomgen.data.lattice`), `periodic` (bool) and `label` (int); with `properties`,
    also `properties` (P,): the named properties of the system, NaN where it has none (a crystal has no HOMO).

    Args:
        sources: (label, systems) pairs; systems may be a Pack or a list of AtomSystems.
        max_atoms: systems with more atoms are an error (the model has a fixed maximum).
        max_z: atomic numbers above this are an error.
        properties: names of per-system properties to carry (a property-conditional model's).
    """

    def __init__(self, sources: Sequence[tuple[int, Pack | Sequence[AtomSystem]]], max_atoms: int,
                 max_z: int, properties: Sequence[str] = ()):
        numbers, positions, frac, sizes, lattices, labels = [], [], [], [], [], []
        for label, source in sources:
            z, x, offsets, cells = _flatten(source)
            if len(z) and (z.min() < 1 or z.max() > max_z):
                raise DatasetError(f"source with label {label} holds atomic numbers outside 1..{max_z}")
            counts = np.diff(offsets)
            if len(counts) and counts.max() > max_atoms:
                raise DatasetError(f"a system has {counts.max()} atoms, more than max_atoms={max_atoms}")
            numbers.append(z)
            positions.append(x)
            for k, cell in enumerate(cells):
                a, b = offsets[k], offsets[k + 1]
                frac.append(np.zeros((b - a, 3)) if cell is None else
                            np.mod(np.linalg.solve(cell.T, x[a:b].T).T, 1.0))
                lattices.append(np.zeros((3, 3)) if cell is None else cell)
            sizes.append(counts)
            labels.append(np.full(len(counts), label, dtype=np.int64))
        self.numbers = np.concatenate(numbers) if numbers else np.zeros(0, np.int64)
        self.positions = np.concatenate(positions).astype(np.float32) if positions else np.zeros((0, 3), np.float32)
        self.frac = np.concatenate(frac).astype(np.float32) if frac else np.zeros((0, 3), np.float32)
        counts = np.concatenate(sizes) if sizes else np.zeros(0, np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.lattices = np.stack(lattices).astype(np.float32) if lattices else np.zeros((0, 3, 3), np.float32)
        self.periodic = np.abs(self.lattices).sum(axis=(1, 2)) > 0
        self.lattice_features = np.stack([
            lattice_features(cell, n) if periodic else np.zeros(6)
            for cell, n, periodic in zip(self.lattices, counts, self.periodic)
        ]).astype(np.float32) if len(counts) else np.zeros((0, 6), np.float32)
        self.labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
        self.properties = None
        if properties:
            self.properties = np.array([[system.properties.get(name, np.nan) for name in properties]
                                        for _, source in sources for system in source], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        """Number of atoms of every system."""
        return np.diff(self.offsets)

    def __getitem__(self, k: int) -> dict[str, np.ndarray]:
        a, b = self.offsets[k], self.offsets[k + 1]
        return {
            "numbers": self.numbers[a:b], "positions": self.positions[a:b], "frac": self.frac[a:b],
            "lattice": self.lattices[k], "lattice_features": self.lattice_features[k],
            "periodic": self.periodic[k], "label": self.labels[k],
            **({} if self.properties is None else {"properties": self.properties[k]}),
        }


def collate_systems(items: Sequence[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Pad items into a batch: per-atom tensors are (B, L, ...) with `numbers` 0 on padding; plus `n_atoms` (B,)."""
    n_atoms = torch.tensor([len(item["numbers"]) for item in items], dtype=torch.long)
    length = int(n_atoms.max()) if len(items) else 0
    batch = {
        "numbers": torch.zeros(len(items), length, dtype=torch.long),
        "positions": torch.zeros(len(items), length, 3),
        "frac": torch.zeros(len(items), length, 3),
    }
    for row, item in enumerate(items):
        n = len(item["numbers"])
        for key in batch:
            batch[key][row, :n] = torch.as_tensor(np.asarray(item[key]))
    batch["lattice"] = torch.as_tensor(np.stack([item["lattice"] for item in items]), dtype=torch.float32)
    batch["lattice_features"] = torch.as_tensor(np.stack([item["lattice_features"] for item in items]),
                                                dtype=torch.float32)
    batch["periodic"] = torch.as_tensor(np.array([bool(item["periodic"]) for item in items]))
    batch["label"] = torch.as_tensor(np.array([int(item["label"]) for item in items]), dtype=torch.long)
    batch["n_atoms"] = n_atoms
    if "properties" in items[0]:
        values = torch.as_tensor(np.stack([item["properties"] for item in items]), dtype=torch.float32)
        batch["present"], batch["properties"] = torch.isfinite(values), torch.nan_to_num(values)
    return batch


def atom_count_histogram(dataset: LabelledSystemDataset, label: int) -> dict[int, int]:
    """How many systems of `label` have each atom count (keys are counts with at least one system)."""
    counts = dataset.lengths()[dataset.labels == label]
    values, frequencies = np.unique(counts, return_counts=True)
    return {int(v): int(f) for v, f in zip(values, frequencies)}
