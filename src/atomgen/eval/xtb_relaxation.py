"""The opt-in physics check of generated molecules: how far from a GFN2-xTB minimum each one is.

Each molecule is relaxed with GFN2-xTB (`atomgen.properties.xtb.relax`); the energy released (kcal/mol) and the
RMSD between the generated and the relaxed geometry (Å, all atoms) say how much of its geometry a semi-empirical
quantum method, trained on nothing, accepts. Beside MMFF strain, which asks the same of a force field.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from atomgen.eval.progress import stage_bar
from atomgen.properties.xtb import relax
from atomgen.system import AtomSystem


def xtb_relaxation_summary(systems: Sequence[AtomSystem], *, progress: bool = False) -> dict[str, float]:
    """Median and mean energy drop and RMSD over the molecules xTB could relax (an odd electron count or a failed
    SCF leaves one out), how many those were, and the share whose minimisation converged.

    `progress` shows a bar ("GFN2-xTB relaxation") on stderr.
    """
    results = [relax(s.numbers, s.positions)
               for s in stage_bar(systems, desc="GFN2-xTB relaxation", enabled=progress)]
    done = [r for r in results if r is not None]
    if not done:
        return {"xtb_energy_drop_median": float("nan"), "xtb_rmsd_median": float("nan"), "xtb_n": 0}
    drops, rmsds = np.array([r.energy_drop for r in done]), np.array([r.rmsd for r in done])
    return {"xtb_energy_drop_median": float(np.median(drops)), "xtb_rmsd_median": float(np.median(rmsds)),
            "xtb_energy_drop_mean": float(drops.mean()), "xtb_rmsd_mean": float(rmsds.mean()), "xtb_n": len(done),
            "xtb_converged": float(np.mean([r.converged for r in done]))}
