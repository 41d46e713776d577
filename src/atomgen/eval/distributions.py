"""Distribution distances between generated molecules and a reference set.

- atom types and numbers of atoms: total variation between the two normalised histograms;
- bond lengths: Wasserstein-1 per bond type ("C-H:1": elements sorted, EDM order), in Å;
- bond angles: Wasserstein-1 per atom-triplet type ("C-C-O": centre in the middle, ends sorted), in degrees.
Bonds are EDM's distance-based ones, so the statistics exist for every geometry, valid or not. The headline
bond and angle numbers average the per-type distances weighted by each type's share of the reference.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import wasserstein_distance

from atomgen.elements import symbol
from atomgen.eval.progress import stage_bar


@dataclass
class GeometryStatistics:
    """Histograms and per-type samples of one set of molecules; cheap to cache and compare."""

    atom_types: Counter = field(default_factory=Counter)
    n_atoms: Counter = field(default_factory=Counter)
    bond_lengths: dict[str, np.ndarray] = field(default_factory=dict)
    bond_angles: dict[str, np.ndarray] = field(default_factory=dict)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat arrays for np.savez (no pickle)."""
        out = {
            "atom_types": np.array(sorted(self.atom_types.items()), dtype=np.int64).reshape(-1, 2),
            "n_atoms": np.array(sorted(self.n_atoms.items()), dtype=np.int64).reshape(-1, 2),
        }
        for prefix, table in (("bond", self.bond_lengths), ("angle", self.bond_angles)):
            for key, values in table.items():
                out[f"{prefix}/{key}"] = values.astype(np.float32)
        return out

    @classmethod
    def from_arrays(cls, arrays) -> GeometryStatistics:
        """Inverse of `to_arrays` (accepts an NpzFile)."""
        stats = cls(
            atom_types=Counter({int(k): int(v) for k, v in arrays["atom_types"]}),
            n_atoms=Counter({int(k): int(v) for k, v in arrays["n_atoms"]}),
        )
        for name in arrays.files if hasattr(arrays, "files") else arrays:
            if name.startswith("bond/"):
                stats.bond_lengths[name[5:]] = np.asarray(arrays[name], dtype=np.float64)
            elif name.startswith("angle/"):
                stats.bond_angles[name[6:]] = np.asarray(arrays[name], dtype=np.float64)
        return stats


def geometry_statistics(molecules: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], *,
                        progress: bool = False) -> GeometryStatistics:
    """Statistics of molecules given as (numbers, positions, bonds) with bonds as (i, j, order) rows.

    `progress` shows a bar ("distributions") on stderr.
    """
    stats = GeometryStatistics()
    lengths: dict[str, list[np.ndarray]] = defaultdict(list)
    angles: dict[str, list[np.ndarray]] = defaultdict(list)
    for numbers, positions, bonds in stage_bar(molecules, desc="distributions", enabled=progress):
        stats.atom_types.update(int(z) for z in numbers)
        stats.n_atoms[len(numbers)] += 1
        if len(bonds) == 0:
            continue
        syms = [symbol(z) for z in numbers]
        i, j, order = bonds[:, 0], bonds[:, 1], bonds[:, 2]
        dist = np.linalg.norm(positions[i] - positions[j], axis=1)
        for a, b, o, d in zip(i, j, order, dist):
            lengths["-".join(sorted((syms[a], syms[b]))) + f":{o}"].append(d)
        neighbours: dict[int, list[int]] = defaultdict(list)
        for a, b in zip(i, j):
            neighbours[int(a)].append(int(b))
            neighbours[int(b)].append(int(a))
        for centre, nbrs in neighbours.items():
            for x in range(len(nbrs)):
                for y in range(x + 1, len(nbrs)):
                    u = positions[nbrs[x]] - positions[centre]
                    v = positions[nbrs[y]] - positions[centre]
                    cos = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-12)
                    ends = sorted((syms[nbrs[x]], syms[nbrs[y]]))
                    angles[f"{ends[0]}-{syms[centre]}-{ends[1]}"].append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    stats.bond_lengths = {k: np.asarray(v, dtype=np.float64) for k, v in lengths.items()}
    stats.bond_angles = {k: np.asarray(v, dtype=np.float64) for k, v in angles.items()}
    return stats


def total_variation(a: Counter, b: Counter) -> float:
    """Total variation distance between two histograms (each normalised to 1); 0 identical, 1 disjoint."""
    na, nb = sum(a.values()), sum(b.values())
    if na == 0 or nb == 0:
        return float("nan")
    keys = set(a) | set(b)
    return 0.5 * sum(abs(a.get(k, 0) / na - b.get(k, 0) / nb) for k in keys)


def _weighted_w1(
    sample: dict[str, np.ndarray], reference: dict[str, np.ndarray], min_count: int
) -> tuple[float, dict[str, float]]:
    per_type, weights = {}, {}
    for key, ref_values in reference.items():
        values = sample.get(key)
        if values is None or len(values) < min_count or len(ref_values) < min_count:
            continue
        per_type[key] = float(wasserstein_distance(values, ref_values))
        weights[key] = len(ref_values)
    if not per_type:
        return float("nan"), {}
    total = sum(weights.values())
    return sum(per_type[k] * weights[k] / total for k in per_type), per_type


def distribution_distances(
    sample: GeometryStatistics, reference: GeometryStatistics, *, min_count: int = 10, top: int = 8
) -> dict[str, object]:
    """Distances between a sample's statistics and a reference's (see module docstring).

    Args:
        min_count: a bond or angle type enters only when both sides have at least this many values.
        top: how many of the most frequent reference types to report individually.
    """
    bond_w1, bond_types = _weighted_w1(sample.bond_lengths, reference.bond_lengths, min_count)
    angle_w1, angle_types = _weighted_w1(sample.bond_angles, reference.bond_angles, min_count)

    def most_common(per_type: dict[str, float], table: dict[str, np.ndarray]) -> dict[str, float]:
        order = sorted(per_type, key=lambda k: -len(table[k]))[:top]
        return {k: per_type[k] for k in order}

    return {
        "atom_type_tv": total_variation(sample.atom_types, reference.atom_types),
        "n_atoms_tv": total_variation(sample.n_atoms, reference.n_atoms),
        "bond_length_w1": bond_w1,
        "bond_angle_w1": angle_w1,
        "bond_length_w1_by_type": most_common(bond_types, reference.bond_lengths),
        "bond_angle_w1_by_type": most_common(angle_types, reference.bond_angles),
    }
