"""Molecular graphs with their 3D geometries, stored flat, and padded batches of them for the conformer model.

A graph's pair matrices grow with the square of its size, so they are not stored: each record keeps its atom
features and its bonds (i, j, type, stereo, chiral order of j around i, of i around j), and the pair matrices
(including graph distances) are rebuilt when an item is drawn. The flat arrays save to one `.npz` (no pickling),
so a dataset is perceived only once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from atomgen.data.molecular_graphs import (
    ATOM_FEATURE_SIZES,
    MAX_GRAPH_DISTANCE,
    MolecularGraph,
    graph_from_mol,
    mol_from_coordinates,
)
from atomgen.data.selfies_vocab import SelfiesVocabulary
from atomgen.errors import DatasetError

_BOND_COLUMNS = 6  # i, j, type, stereo, chiral order of j around i, of i around j
_FIELDS = ("numbers", "atom_features", "atom_symbols", "positions", "atom_offsets", "bonds", "bond_offsets")


class ConformerDataset(Dataset):
    """Item k: a molecular graph (features, pair matrices) and its reference coordinates in Å."""

    def __init__(self, arrays: dict[str, np.ndarray], smiles: Sequence[str], selfies: Sequence[str]):
        missing = [name for name in _FIELDS if name not in arrays]
        if missing:
            raise DatasetError(f"conformer dataset lacks arrays {missing}")
        if arrays["bonds"].ndim != 2 or arrays["bonds"].shape[1] != _BOND_COLUMNS:
            raise DatasetError(f"conformer dataset bonds need {_BOND_COLUMNS} columns (an older format?)")
        self.arrays = arrays
        self.smiles = list(smiles)
        self.selfies = list(selfies)

    @classmethod
    def from_systems(cls, systems: Sequence, progress: bool = False) -> ConformerDataset:
        """The graphs of molecules (chirality read from 3D): their own bonds and charges where they have them (an
        SDF), else bonds perceived from the coordinates. Those whose bonds RDKit cannot perceive, or whose own
        bonds it cannot sanitise, are left out, as the evaluator counts them invalid."""
        from tqdm.auto import tqdm

        graphs, positions = [], []
        for system in tqdm(systems, desc="perceiving graphs", disable=not progress):
            mol = _mol_with_own_bonds(system) if system.bonds is not None else mol_from_coordinates(
                system.numbers, system.positions)
            if mol is not None:
                graphs.append(graph_from_mol(mol))
                positions.append(system.positions)
        return cls.from_graphs(graphs, positions)

    @classmethod
    def from_graphs(cls, graphs: Sequence[MolecularGraph], positions: Sequence[np.ndarray]) -> ConformerDataset:
        """Store graphs with their coordinates (atoms in the same order)."""
        bonds = []
        for graph in graphs:
            i, j = np.nonzero(np.triu(graph.bond_types))
            bonds.append(np.stack([i, j, graph.bond_types[i, j], graph.bond_stereo[i, j], graph.chiral_order[i, j],
                                   graph.chiral_order[j, i]], axis=1))
        arrays = {
            "numbers": np.concatenate([g.numbers for g in graphs]) if graphs else np.zeros(0, np.int64),
            "atom_features": (np.concatenate([g.atom_features for g in graphs]) if graphs
                              else np.zeros((0, len(ATOM_FEATURE_SIZES)), np.int64)),
            "atom_symbols": np.concatenate([g.atom_symbols for g in graphs]) if graphs else np.zeros(0, np.int64),
            "positions": (np.concatenate(positions).astype(np.float32) if graphs else np.zeros((0, 3), np.float32)),
            "atom_offsets": np.concatenate([[0], np.cumsum([len(g) for g in graphs])]).astype(np.int64),
            "bonds": (np.concatenate(bonds).astype(np.int64) if graphs
                      else np.zeros((0, _BOND_COLUMNS), np.int64)),
            "bond_offsets": np.concatenate([[0], np.cumsum([len(b) for b in bonds])]).astype(np.int64),
        }
        return cls(arrays, [g.smiles for g in graphs], [g.selfies for g in graphs])

    def save(self, path: str | Path) -> None:
        """Write the arrays and SMILES to one .npz file (written whole, then renamed)."""
        from atomgen.io.atomic import atomic_path

        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, smiles=np.array(self.smiles, dtype=str), selfies=np.array(self.selfies, dtype=str),
                     **self.arrays)

    @classmethod
    def load(cls, path: str | Path) -> ConformerDataset:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in _FIELDS}
            smiles, selfies = data["smiles"].tolist(), data["selfies"].tolist()
        return cls(arrays, smiles, selfies)

    def __len__(self) -> int:
        return len(self.arrays["atom_offsets"]) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.arrays["atom_offsets"])

    def graph(self, k: int) -> MolecularGraph:
        """The k-th molecular graph, pair matrices rebuilt from its bonds."""
        a, b = self.arrays["atom_offsets"][k : k + 2]
        c, d = self.arrays["bond_offsets"][k : k + 2]
        return graph_from_bonds(self.arrays["numbers"][a:b], self.arrays["atom_features"][a:b],
                                self.arrays["bonds"][c:d], self.smiles[k], self.selfies[k],
                                self.arrays["atom_symbols"][a:b])

    def __getitem__(self, k: int) -> tuple[MolecularGraph, np.ndarray]:
        a, b = self.arrays["atom_offsets"][k : k + 2]
        return self.graph(k), self.arrays["positions"][a:b]


def _mol_with_own_bonds(system):
    """An RDKit molecule of a system's own bonds and charges with chirality read from 3D, or None when RDKit
    cannot sanitise it."""
    from rdkit import Chem

    from atomgen.io.convert import to_rdkit

    try:
        mol = to_rdkit(system, sanitize=True)
    except (ValueError, RuntimeError):  # RDKit's sanitisation errors derive from ValueError
        return None
    Chem.AssignStereochemistryFrom3D(mol)
    return mol


def graph_from_bonds(numbers: np.ndarray, atom_features: np.ndarray, bonds: np.ndarray, smiles: str,
                     selfies: str, atom_symbols: np.ndarray) -> MolecularGraph:
    """A MolecularGraph from atom features and bond rows (see `_BOND_COLUMNS`); graph distances by BFS."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path

    n = len(numbers)
    bond_types = np.zeros((n, n), dtype=np.int64)
    bond_stereo = np.zeros((n, n), dtype=np.int64)
    i, j = bonds[:, 0], bonds[:, 1]
    bond_types[i, j] = bond_types[j, i] = bonds[:, 2]
    bond_stereo[i, j] = bond_stereo[j, i] = bonds[:, 3]
    order = np.zeros((n, n), dtype=np.int64)
    order[i, j], order[j, i] = bonds[:, 4], bonds[:, 5]
    hops = shortest_path(csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n)), directed=False, unweighted=True)
    distance = np.where(np.isfinite(hops), np.minimum(hops, MAX_GRAPH_DISTANCE), MAX_GRAPH_DISTANCE + 1)
    return MolecularGraph(np.asarray(numbers), np.asarray(atom_features), bond_types, bond_stereo,
                          distance.astype(np.int64), smiles, selfies, np.asarray(atom_symbols), order)


def collate_graphs(items: Sequence[tuple[MolecularGraph, np.ndarray | None]],
                   vocabulary: SelfiesVocabulary | None = None, length: int = 0,
                   symbols_length: int = 0) -> dict[str, torch.Tensor]:
    """Pad (graph, positions or None) items into a batch: `atom_features` (B, N, 7), `bond_types`, `bond_stereo`,
    `graph_distance`, `chiral_order` (B, N, N), `mask` (B, N), `n_atoms` (B,) and, when given, `positions` (B, N, 3).

    With a `vocabulary`, also each molecule's SELFIES as `symbol_ids` (B, T) (BOS first, as the language model
    reads them) and `atom_symbols` (B, N), the position in those ids of the symbol that placed each atom (-1 on
    padding). A SELFIES symbol outside the vocabulary is an InputError.

    The batch is padded to at least `length` atoms and `symbols_length` SELFIES ids: a sampler that pads every
    molecule to a length of its own (not the batch's) keeps its arithmetic independent of the batch.
    """
    sizes = [len(graph) for graph, _ in items]
    rows, n = len(items), max(max(sizes), length)
    batch = {
        "atom_features": torch.zeros(rows, n, len(ATOM_FEATURE_SIZES), dtype=torch.long),
        "bond_types": torch.zeros(rows, n, n, dtype=torch.long),
        "bond_stereo": torch.zeros(rows, n, n, dtype=torch.long),
        "graph_distance": torch.full((rows, n, n), MAX_GRAPH_DISTANCE + 1, dtype=torch.long),
        "chiral_order": torch.zeros(rows, n, n, dtype=torch.long),
        "mask": torch.zeros(rows, n, dtype=torch.bool),
        "n_atoms": torch.tensor(sizes, dtype=torch.long),
    }
    has_positions = all(positions is not None for _, positions in items)
    if has_positions:
        batch["positions"] = torch.zeros(rows, n, 3)
    for row, (graph, positions) in enumerate(items):
        m = len(graph)
        batch["atom_features"][row, :m] = torch.as_tensor(graph.atom_features)
        batch["bond_types"][row, :m, :m] = torch.as_tensor(graph.bond_types)
        batch["bond_stereo"][row, :m, :m] = torch.as_tensor(graph.bond_stereo)
        batch["graph_distance"][row, :m, :m] = torch.as_tensor(graph.graph_distance)
        batch["chiral_order"][row, :m, :m] = torch.as_tensor(graph.chiral_order)
        batch["mask"][row, :m] = True
        if has_positions:
            batch["positions"][row, :m] = torch.as_tensor(np.asarray(positions, dtype=np.float32))
    if vocabulary is not None:
        ids = [vocabulary.encode(graph.selfies) for graph, _ in items]
        batch["symbol_ids"] = torch.full((rows, max(max(map(len, ids)), symbols_length)), vocabulary.pad,
                                         dtype=torch.long)
        batch["atom_symbols"] = torch.full((rows, n), -1, dtype=torch.long)
        for row, ((graph, _), sequence) in enumerate(zip(items, ids)):
            batch["symbol_ids"][row, : len(sequence)] = torch.as_tensor(sequence)
            batch["atom_symbols"][row, : len(graph)] = torch.as_tensor(graph.atom_symbols) + 1  # after BOS
    return batch


def load_qm9_graphs(split: str, data_dir: str | Path | None = None, *, progress: bool = True) -> ConformerDataset:
    """QM9 molecules of an EDM split as graphs (bonds and chirality perceived from the DFT geometry) with their
    coordinates; perceived once, then read from `<data dir>/qm9/<split>.graphs.npz` (perceived again when that
    file is of an older format)."""
    from atomgen.data.paths import cache_lock
    from atomgen.data.paths import data_dir as cache_root
    from atomgen.data.qm9 import load_qm9

    cache = cache_root(data_dir) / "qm9" / f"{split}.graphs.npz"
    dataset = _current_graphs(cache)  # a ready cache is read without the lock: it may sit in a read-only folder
    if dataset is not None:
        return dataset
    # One process perceives the graphs; another one asking for them meanwhile waits, then reads its file.
    with cache_lock(cache):
        dataset = _current_graphs(cache)
        if dataset is None:
            pack = load_qm9(split, data_dir, progress=progress)
            dataset = ConformerDataset.from_systems([pack[k] for k in range(len(pack))], progress=progress)
            dataset.save(cache)
    return dataset


def _current_graphs(cache: Path) -> ConformerDataset | None:
    """The graphs cached in `cache`, or None when there are none or they are of an older format."""
    if not cache.is_file():
        return None
    try:
        return ConformerDataset.load(cache)
    except DatasetError:  # written by an older atomgen, without the chiral order: perceive again
        return None

