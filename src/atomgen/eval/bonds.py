"""EDM's distance-based bond orders and atom/molecule stability (Hoogeboom et al. 2022).

A pair is bonded with order 1 if its distance (in pm) is below the tabulated single-bond length + 10 pm; order 2
if a double-bond entry exists and the distance is below it + 5 pm; order 3 likewise for triple bonds (+3 pm).
An atom is stable when the sum of its bond orders (hydrogens included) is one of its allowed valences.
Tables: EDM's `qm9/bond_analyze.py`, copied into `atomgen/tables/edm_bond_tables.json` with its source.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np

from atomgen.elements import MAX_Z, atomic_number

_ORDER_KEYS = ("bonds1_single", "bonds2_double", "bonds3_triple")


@lru_cache(maxsize=1)
def edm_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, allowed, margins): thresholds[k, Zi, Zj] in pm for order k+1 (0 = no such bond);
    allowed[Z, v] is True when valence v is allowed for element Z (elements absent from the table: none)."""
    raw = json.loads(resources.files("atomgen.tables").joinpath("edm_bond_tables.json").read_text())
    lengths = np.zeros((3, MAX_Z + 1, MAX_Z + 1))
    for k, key in enumerate(_ORDER_KEYS):
        for a, row in raw[key].items():
            for b, pm in row.items():
                za, zb = atomic_number(a), atomic_number(b)
                lengths[k, za, zb] = lengths[k, zb, za] = pm
    margins = np.array([raw["margins_pm"][m] for m in ("single", "double", "triple")], dtype=float)
    thresholds = np.where(lengths > 0, lengths + margins[:, None, None], 0.0)
    allowed = np.zeros((MAX_Z + 1, 9), dtype=bool)
    for element, valences in raw["allowed_valence"].items():
        for v in valences if isinstance(valences, list) else [valences]:
            allowed[atomic_number(element), v] = True
    return thresholds, allowed, margins


def edm_bond_orders(numbers: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(N, N) symmetric matrix of EDM bond orders (0 = not bonded)."""
    thresholds, _, _ = edm_tables()
    z = np.asarray(numbers)
    pos = np.asarray(positions, dtype=float)
    dist_pm = 100.0 * np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    single, double, triple = (thresholds[k][z[:, None], z[None, :]] for k in range(3))
    # Each higher order requires the lower one (EDM tests them nested), so the order is a sum of three tests.
    is1 = dist_pm < single
    is2 = is1 & (double > 0) & (dist_pm < double)
    is3 = is2 & (triple > 0) & (dist_pm < triple)
    order = is1.astype(np.int64) + is2 + is3
    np.fill_diagonal(order, 0)
    return order


def stable_atoms(numbers: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """(N,) bool: the sum of bond orders of each atom is an allowed valence for its element."""
    _, allowed, _ = edm_tables()
    valence = orders.sum(axis=1)
    ok = valence < allowed.shape[1]
    result = np.zeros(len(numbers), dtype=bool)
    result[ok] = allowed[np.asarray(numbers)[ok], valence[ok]]
    return result
