"""GFN2-xTB (Bannwarth, Ehlert and Grimme 2019) through tblite: a judge of generated molecules that nothing was
trained on.

`singlepoint` gives a neutral closed-shell molecule's energy, frontier orbital energies and dipole; `relax`
minimises its energy and says how far the geometry moved and how much energy that released. xTB's orbital energies
are not DFT's (its HOMO of a QM9 molecule lies about 4 eV below B3LYP's), so the conditional benchmark maps each onto
QM9's labels with a linear calibration fitted on test molecules (`Calibration`), whose own error is this judge's
floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from atomgen.system import AtomSystem

BOHR = 0.529177210903
"""Å per Bohr."""
HARTREE_TO_EV = 27.211386
HARTREE_TO_KCAL_PER_MOL = 627.509474
AU_TO_DEBYE = 2.541746473
MIN_DISTANCE = 0.5
"""Å: atoms closer than this (H2's 0.74 Å is the shortest bond there is) are not a molecule xTB can judge. Its SCF
still converges on them, to meaningless orbitals: two nitrogens 0.0008 Å apart, a collapsed N2 from a conformer
model, came out with a gap of 8.9 million eV."""
JUDGED = ("homo", "lumo", "gap", "mu")
"""The QM9 properties xTB computes, in the units of `atomgen.properties.qm9_properties` (eV, D)."""


@dataclass(frozen=True)
class XTBResult:
    """One GFN2-xTB single point: energy (Hartree), HOMO, LUMO and gap (eV), dipole moment (D)."""

    energy: float
    homo: float
    lumo: float
    gap: float
    mu: float


def _calculator(numbers: np.ndarray, positions: np.ndarray):
    from tblite.interface import Calculator

    calculator = Calculator("GFN2-xTB", np.asarray(numbers, dtype=np.int32), np.asarray(positions) / BOHR)
    calculator.set("verbosity", 0)
    return calculator


def judgeable(numbers: np.ndarray, positions: np.ndarray) -> bool:
    """Whether xTB can judge a neutral closed-shell molecule here: an even number of electrons (otherwise a spin
    state would have to be chosen), finite positions, and no two atoms closer than MIN_DISTANCE."""
    positions = np.asarray(positions, dtype=np.float64)
    if len(numbers) == 0 or int(np.sum(numbers)) % 2 or not np.isfinite(positions).all():
        return False
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    return bool(distances[np.triu_indices(len(positions), 1)].min(initial=np.inf) >= MIN_DISTANCE)


def singlepoint(numbers: np.ndarray, positions: np.ndarray) -> XTBResult | None:
    """GFN2-xTB of a neutral molecule (positions in Å); None where it is not `judgeable` or the SCF fails."""
    from tblite.exceptions import TBLiteRuntimeError

    if not judgeable(numbers, positions):
        return None
    try:
        result = _calculator(numbers, positions).singlepoint()
    except TBLiteRuntimeError:
        return None
    energies = result.get("orbital-energies")
    occupied = int(round(result.get("orbital-occupations").sum() / 2))  # doubly occupied, ascending energies
    homo, lumo = energies[occupied - 1] * HARTREE_TO_EV, energies[occupied] * HARTREE_TO_EV
    return XTBResult(float(result.get("energy")), float(homo), float(lumo), float(lumo - homo),
                     float(np.linalg.norm(result.get("dipole")) * AU_TO_DEBYE))


def xtb_properties(systems: Sequence[AtomSystem]) -> dict[str, np.ndarray]:
    """HOMO, LUMO, gap (eV) and dipole (D) of every molecule, NaN where `singlepoint` gives None."""
    results = [singlepoint(s.numbers, s.positions) for s in systems]
    return {name: np.array([np.nan if r is None else getattr(r, name) for r in results]) for name in JUDGED}


@dataclass(frozen=True)
class Relaxation:
    """A GFN2-xTB minimisation: the energy it released (kcal/mol, ≥ 0 up to the optimiser's tolerance), the
    heavy-and-light-atom RMSD between the start and the minimum (Å, no realignment: the minimiser does not rotate),
    and whether the gradient fell below the tolerance within the step limit."""

    energy_drop: float
    rmsd: float
    converged: bool
    positions: np.ndarray


def relax(numbers: np.ndarray, positions: np.ndarray, max_steps: int = 300,
          gradient_tolerance: float = 1e-3) -> Relaxation | None:
    """Minimise the GFN2-xTB energy with L-BFGS (gradient tolerance in Hartree/Bohr, xtb's "normal" level);
    None where the molecule is not `judgeable`."""
    from tblite.exceptions import TBLiteRuntimeError

    if not judgeable(numbers, positions):
        return None
    start = np.asarray(positions, dtype=np.float64) / BOHR
    calculator = _calculator(numbers, positions)

    def energy_and_gradient(flat: np.ndarray) -> tuple[float, np.ndarray]:
        calculator.update(flat.reshape(-1, 3))
        result = calculator.singlepoint()
        return float(result.get("energy")), result.get("gradient").ravel()

    try:
        first, _ = energy_and_gradient(start.ravel())
        found = minimize(energy_and_gradient, start.ravel(), jac=True, method="L-BFGS-B",
                         options={"maxiter": max_steps, "gtol": gradient_tolerance})
    except TBLiteRuntimeError:
        return None
    end = found.x.reshape(-1, 3) * BOHR
    rmsd = float(np.sqrt(((end - np.asarray(positions)) ** 2).sum(axis=1).mean()))
    return Relaxation((first - float(found.fun)) * HARTREE_TO_KCAL_PER_MOL, rmsd, bool(found.success), end)


@dataclass(frozen=True)
class Calibration:
    """DFT ≈ slope · xTB + intercept for one property, fitted by least squares on labelled molecules; `mae` is the
    fit's own mean absolute error on them (the floor of any error this judge reports)."""

    slope: float
    intercept: float
    mae: float
    n: int

    @classmethod
    def fit(cls, xtb_values: np.ndarray, labels: np.ndarray) -> Calibration:
        """The calibration of finite xTB values against their labels."""
        keep = np.isfinite(xtb_values) & np.isfinite(labels)
        slope, intercept = np.polyfit(xtb_values[keep], labels[keep], 1)
        mae = float(np.abs(slope * xtb_values[keep] + intercept - labels[keep]).mean())
        return cls(float(slope), float(intercept), mae, int(keep.sum()))

    def __call__(self, xtb_values: np.ndarray) -> np.ndarray:
        return self.slope * np.asarray(xtb_values) + self.intercept
