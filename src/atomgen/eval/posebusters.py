"""PoseBusters' `mol` checks (sanitisation, bond lengths and angles, clashes, flatness, internal energy...)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence


def posebusters_pass_rates(mols: Sequence) -> dict[str, float]:
    """Fraction of molecules passing every check (`all`), and the pass rate of each check.

    Args:
        mols: RDKit Mols with a 3D conformer and hydrogens (e.g. bonds perceived from the generated geometry).
    """
    from posebusters import PoseBusters

    if not mols:
        return {}
    # The energy check logs a warning per molecule it cannot embed; the failure is already in the pass rate.
    logging.getLogger("posebusters").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The internal-energy check embeds a conformer ensemble per molecule: spread many molecules over all cores.
        workers = None if len(mols) >= 100 else 0
        busters = PoseBusters(config="mol", max_workers=workers, chunk_size=max(1, len(mols) // 8))
        table = busters.bust(list(mols), None, None, full_report=False)
    checks = table.astype(bool)
    rates = {"all": float(checks.all(axis=1).mean())}
    rates.update({str(name): float(checks[name].mean()) for name in checks.columns})
    return rates
