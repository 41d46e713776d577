"""Molecules as padded atom sequences for autoregressive training (Quetzal)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from atomgen.data.ordering import smiles_order
from atomgen.errors import DatasetError
from atomgen.io.pack import Pack
from atomgen.system import AtomSystem


class AtomSequenceDataset(Dataset):
    """Item k is (type classes 1..K, positions in Å) of molecule k, its atoms in the chosen order.

    Reads a memory-mapped pack directly (no AtomSystem per item) or any sequence of AtomSystems.

    Args:
        source: a Pack or a list of AtomSystems.
        elements: atomic numbers of classes 1..K; a molecule with any other element is an error.
        order: "dataset", "smiles" (computed once, up front) or "random" (a new permutation per item draw).
        max_atoms: molecules longer than this are an error.
        seed: seeds the "random" order.
    """

    def __init__(self, source: Pack | Sequence[AtomSystem], elements: Sequence[int], order: str = "dataset",
                 max_atoms: int = 32, seed: int = 0):
        if isinstance(source, Pack):
            self.numbers = np.asarray(source.numbers)
            self.positions = np.asarray(source.positions, dtype=np.float32)
            self.offsets = np.asarray(source.offsets)
        else:
            systems = list(source)
            self.numbers = np.concatenate([s.numbers for s in systems]) if systems else np.zeros(0, np.int64)
            self.positions = (np.concatenate([s.positions for s in systems]).astype(np.float32) if systems
                              else np.zeros((0, 3), np.float32))
            self.offsets = np.concatenate([[0], np.cumsum([len(s) for s in systems])])
        lookup = np.full(max(max(elements), int(self.numbers.max(initial=0))) + 1, -1, dtype=np.int64)
        lookup[list(elements)] = np.arange(1, len(elements) + 1)
        self.classes = lookup[self.numbers]
        if (self.classes < 0).any():
            bad = sorted(set(self.numbers[self.classes < 0].tolist()))
            raise DatasetError(f"the dataset holds elements {bad} outside the model's elements {list(elements)}")
        sizes = np.diff(self.offsets)
        if len(sizes) and sizes.max() > max_atoms:
            raise DatasetError(f"a molecule has {sizes.max()} atoms, more than max_atoms={max_atoms}")
        self.order = order
        self.rng = np.random.default_rng(seed)
        self.orders = None
        if order == "smiles":
            self.orders = [smiles_order(self._system(k)) for k in range(len(self))]
        elif order not in ("dataset", "random"):
            raise ValueError(f"unknown atom order {order!r}")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        """Number of atoms of every molecule."""
        return np.diff(self.offsets)

    def _system(self, k: int) -> AtomSystem:
        a, b = self.offsets[k], self.offsets[k + 1]
        return AtomSystem(numbers=self.numbers[a:b], positions=self.positions[a:b].astype(np.float64))

    def __getitem__(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.offsets[k], self.offsets[k + 1]
        classes, positions = self.classes[a:b], self.positions[a:b]
        if self.order == "smiles":
            permutation = self.orders[k]
            classes, positions = classes[permutation], positions[permutation]
        elif self.order == "random":
            permutation = self.rng.permutation(b - a)
            classes, positions = classes[permutation], positions[permutation]
        return classes, positions


def collate_sequences(items: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Pad (classes, positions) items into `types` (B, L), `positions` (B, L, 3) and `n_atoms` (B,)."""
    n_atoms = torch.tensor([len(classes) for classes, _ in items], dtype=torch.long)
    length = int(n_atoms.max()) if len(items) else 0
    types = torch.zeros(len(items), length, dtype=torch.long)
    positions = torch.zeros(len(items), length, 3, dtype=torch.float32)
    for row, (classes, coords) in enumerate(items):
        types[row, : len(classes)] = torch.as_tensor(np.array(classes))
        positions[row, : len(classes)] = torch.as_tensor(np.array(coords, dtype=np.float32))
    return {"types": types, "positions": positions, "n_atoms": n_atoms}


class PropertySequenceDataset(AtomSequenceDataset):
    """An AtomSequenceDataset whose item k also carries molecule k's property values (NaN: not known), for a
    property-conditional Quetzal; `values` has one row per molecule of `source`."""

    def __init__(self, source: Pack | Sequence[AtomSystem], values: np.ndarray, elements: Sequence[int],
                 order: str = "dataset", max_atoms: int = 32, seed: int = 0):
        super().__init__(source, elements, order, max_atoms, seed)
        self.values = np.asarray(values, dtype=np.float64)
        if len(self.values) != len(self):
            raise DatasetError(f"{len(self.values)} rows of property values for {len(self)} molecules")

    def __getitem__(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (*super().__getitem__(k), self.values[k])


def collate_property_sequences(items: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, torch.Tensor]:
    """`collate_sequences`, plus `properties` (B, P) (0 where unknown) and their `present` (B, P) flags."""
    batch = collate_sequences([(classes, positions) for classes, positions, _ in items])
    values = torch.as_tensor(np.stack([v for _, _, v in items]), dtype=torch.float32)
    return {**batch, "present": torch.isfinite(values), "properties": torch.nan_to_num(values)}


class LengthGroupedSampler(Sampler[int]):
    """Random order in which consecutive `batch_size` indices have similar lengths, so batches pad little.

    Each epoch: shuffle, cut into chunks of `batch_size * group_batches`, sort each chunk by length, cut it into
    batches, shuffle the batches. On QM9 this removes most of the padding a random batch carries (the longest of
    128 random molecules is far above their mean) at no cost in randomness across batches.

    With `weights`, an epoch is instead `len(lengths)` draws with replacement, item k drawn with probability
    proportional to `weights[k]`: this is how a joint run gives a small dataset a fair share of every batch.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, group_batches: int = 50, seed: int = 0,
                 weights: np.ndarray | None = None):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.group = batch_size * group_batches
        self.seed = seed
        self.epoch = 0
        self.probabilities = None
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if weights.shape != self.lengths.shape or (weights < 0).any() or weights.sum() <= 0:
                raise ValueError("weights must be non-negative, one per item, and not all zero")
            self.probabilities = weights / weights.sum()

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        rng = np.random.default_rng((self.seed, self.epoch))
        self.epoch += 1
        if self.probabilities is None:
            order = rng.permutation(len(self.lengths))
        else:
            order = rng.choice(len(self.lengths), size=len(self.lengths), p=self.probabilities)
        batches = []
        for start in range(0, len(order), self.group):
            chunk = order[start : start + self.group]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[k : k + self.batch_size] for k in range(0, len(chunk), self.batch_size)]
        for index in rng.permutation(len(batches)):
            yield from batches[index].tolist()
