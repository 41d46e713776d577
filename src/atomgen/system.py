"""AtomSystem: the one in-memory record for a molecule or a crystal.

Units: positions in Å, atomic numbers as integers, the lattice as a 3x3 matrix whose rows are the cell vectors
in Å. Bonds, when known, are rows (i, j, order) with order 1, 2, 3 or 4 (aromatic, the SDF convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from atomgen.elements import MAX_Z, symbols
from atomgen.errors import InputError

AROMATIC = 4
BOND_ORDERS = (1, 2, 3, AROMATIC)
# Two atoms closer than this (Å) sit "on top of each other": no chemistry puts nuclei 0.01 Å apart, so a record
# like that is broken input rather than a bad sample.
OVERLAP_DISTANCE = 0.01


@dataclass
class AtomSystem:
    """A set of atoms in 3D, optionally periodic.

    Attributes:
        numbers: (N,) atomic numbers.
        positions: (N, 3) Cartesian positions in Å.
        lattice: (3, 3) cell vectors as rows in Å, or None for a molecule.
        pbc: periodicity along each cell vector; defaults to all True when a lattice is given.
        charges: (N,) formal charges, or None when unknown.
        bonds: (M, 3) rows (i, j, order), or None when unknown (perceive them from coordinates).
        properties: named scalar properties (energies, gaps...), in the units their dataset documents.
        name: an identifier (a dataset id, a file's title line...).
    """

    numbers: np.ndarray
    positions: np.ndarray
    lattice: np.ndarray | None = None
    pbc: tuple[bool, bool, bool] | None = None
    charges: np.ndarray | None = None
    bonds: np.ndarray | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        self.numbers = np.asarray(self.numbers, dtype=np.int64).reshape(-1)
        self.positions = np.asarray(self.positions, dtype=np.float64).reshape(-1, 3)
        if self.lattice is not None:
            self.lattice = np.asarray(self.lattice, dtype=np.float64).reshape(3, 3)
        if self.pbc is None:
            self.pbc = (True, True, True) if self.lattice is not None else (False, False, False)
        self.pbc = tuple(bool(p) for p in self.pbc)  # type: ignore[assignment]
        if self.charges is not None:
            self.charges = np.asarray(self.charges, dtype=np.int64).reshape(-1)
        if self.bonds is not None:
            self.bonds = np.asarray(self.bonds, dtype=np.int64).reshape(-1, 3)

    # ----------------------------------------------------------------- views
    def __len__(self) -> int:
        return int(self.numbers.shape[0])

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return len(self)

    @property
    def symbols(self) -> list[str]:
        """Element symbols, in atom order."""
        return symbols(self.numbers)

    @property
    def is_periodic(self) -> bool:
        """True for a crystal (a lattice with at least one periodic direction)."""
        return self.lattice is not None and any(self.pbc)  # type: ignore[arg-type]

    @property
    def formula(self) -> str:
        """Hill-ordered formula (C first, then H, then alphabetical), e.g. 'C2H6O'."""
        syms = self.symbols
        counts = {s: syms.count(s) for s in set(syms)}
        first = [s for s in ("C", "H") if s in counts] if "C" in counts else []
        order = first + sorted(s for s in counts if s not in first)
        return "".join(f"{s}{counts[s] if counts[s] > 1 else ''}" for s in order)

    @property
    def frac_coords(self) -> np.ndarray:
        """Fractional coordinates (crystals only), wrapped into [0, 1)."""
        if self.lattice is None:
            raise ValueError("a system without a lattice has no fractional coordinates")
        return _wrap(np.linalg.solve(self.lattice.T, self.positions.T).T)

    @property
    def lattice_parameters(self) -> tuple[float, float, float, float, float, float]:
        """(a, b, c) in Å and (alpha, beta, gamma) in degrees."""
        if self.lattice is None:
            raise ValueError("a system without a lattice has no lattice parameters")
        a, b, c = (float(np.linalg.norm(v)) for v in self.lattice)
        v1, v2, v3 = self.lattice

        def angle(x: np.ndarray, y: np.ndarray) -> float:
            cos = np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y))
            return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))

        return a, b, c, angle(v2, v3), angle(v1, v3), angle(v1, v2)

    @property
    def volume(self) -> float:
        """Cell volume in Å^3 (crystals only)."""
        if self.lattice is None:
            raise ValueError("a system without a lattice has no volume")
        return float(abs(np.linalg.det(self.lattice)))

    # ----------------------------------------------------------------- edits
    def copy(self, **changes: Any) -> AtomSystem:
        """A deep copy, with the given fields replaced."""
        fields = {
            "numbers": self.numbers.copy(),
            "positions": self.positions.copy(),
            "lattice": None if self.lattice is None else self.lattice.copy(),
            "charges": None if self.charges is None else self.charges.copy(),
            "bonds": None if self.bonds is None else self.bonds.copy(),
            "properties": dict(self.properties),
        }
        fields.update(changes)
        return replace(self, **fields)

    @classmethod
    def from_fractional(
        cls, numbers: np.ndarray, frac_coords: np.ndarray, lattice: np.ndarray, **kwargs: Any
    ) -> AtomSystem:
        """Build a crystal from fractional coordinates (wrapped into [0, 1)) and a lattice."""
        frac = _wrap(np.asarray(frac_coords, dtype=np.float64).reshape(-1, 3))
        lattice = np.asarray(lattice, dtype=np.float64).reshape(3, 3)
        return cls(numbers=numbers, positions=frac @ lattice, lattice=lattice, **kwargs)

    # ----------------------------------------------------------- conversions
    def to_rdkit(self, *, perceive_bonds: bool = True, sanitize: bool = False):
        """An RDKit Mol with one conformer (`atomgen.io.convert.to_rdkit`: bonds perceived when there are none)."""
        from atomgen.io.convert import to_rdkit

        return to_rdkit(self, perceive_bonds=perceive_bonds, sanitize=sanitize)

    def to_ase(self):
        """An ase.Atoms (with its cell and periodicity for a crystal)."""
        from atomgen.io.convert import to_ase

        return to_ase(self)

    def to_pymatgen(self):
        """A pymatgen Structure for a crystal, a Molecule otherwise."""
        from atomgen.io.convert import to_pymatgen

        return to_pymatgen(self)

    def _repr_html_(self) -> str:
        """Jupyter's view: an interactive 3D view (3Dmol.js, inline: it works offline)."""
        from atomgen.report.notebook import system_html

        return system_html(self)

    # ------------------------------------------------------------ validation
    def validate(self, *, min_distance: float | None = OVERLAP_DISTANCE) -> AtomSystem:
        """Raise InputError if the record is not physically readable; return self otherwise.

        Checks shapes, atomic numbers in 1-118, finite coordinates and lattice, a non-singular lattice, bond
        indices in range, and that no two atoms of a molecule sit closer than `min_distance` (Å; None skips it).
        """
        n = len(self.numbers)
        if n == 0:
            raise InputError("the record has no atoms")
        if self.positions.shape != (n, 3):
            raise InputError(f"{n} atomic numbers but positions of shape {self.positions.shape}")
        bad_z = self.numbers[(self.numbers < 1) | (self.numbers > MAX_Z)]
        if bad_z.size:
            raise InputError(f"unknown atomic number {int(bad_z[0])}")
        if not np.all(np.isfinite(self.positions)):
            atom = int(np.argwhere(~np.isfinite(self.positions))[0, 0])
            raise InputError(f"non-finite coordinates (NaN or inf) at atom {atom + 1}")
        if self.lattice is not None:
            if not np.all(np.isfinite(self.lattice)):
                raise InputError("non-finite lattice")
            if abs(np.linalg.det(self.lattice)) < 1e-6:
                raise InputError("singular lattice (cell volume is zero)")
        if self.charges is not None and self.charges.shape != (n,):
            raise InputError(f"{n} atoms but {self.charges.shape[0]} formal charges")
        if self.bonds is not None and len(self.bonds):
            if self.bonds[:, :2].min() < 0 or self.bonds[:, :2].max() >= n:
                raise InputError("a bond refers to an atom that does not exist")
            if not np.isin(self.bonds[:, 2], BOND_ORDERS).all():
                raise InputError(f"bond orders must be among {BOND_ORDERS}")
        if min_distance is not None and n > 1 and not self.is_periodic:
            diff = self.positions[:, None, :] - self.positions[None, :, :]
            dist = np.sqrt((diff**2).sum(-1))
            np.fill_diagonal(dist, np.inf)
            i, j = np.unravel_index(np.argmin(dist), dist.shape)
            if dist[i, j] < min_distance:
                raise InputError(f"atoms {min(i, j) + 1} and {max(i, j) + 1} overlap ({dist[i, j]:.3f} Å apart)")
        return self


def _wrap(frac: np.ndarray) -> np.ndarray:
    """Fractional coordinates wrapped into [0, 1)."""
    wrapped = frac - np.floor(frac)
    # x - floor(x) rounds to exactly 1.0 for tiny negative x; that is the cell's own origin.
    wrapped[wrapped >= 1.0] = 0.0
    return wrapped
