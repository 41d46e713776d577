"""PoseBusters' `mol` checks (sanitisation, bond lengths and angles, clashes, flatness, internal energy...)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

from atomgen.eval.progress import stage_bar

_PARALLEL_THRESHOLD = 100  # below this, starting worker processes costs more than it saves
_CHUNK = 25  # molecules per task: the bar moves every few seconds, and the pool stays busy to the end


def posebusters_pass_rates(mols: Sequence, *, progress: bool = False) -> dict[str, float]:
    """Fraction of molecules passing every check (`all`), and the pass rate of each check.

    Args:
        mols: RDKit Mols with a 3D conformer and hydrogens (e.g. bonds perceived from the generated geometry).
        progress: show a bar ("PoseBusters") on stderr.
    """
    import pandas as pd

    if not mols:
        return {}
    chunks = [list(mols[k : k + _CHUNK]) for k in range(0, len(mols), _CHUNK)]
    tables = []
    with stage_bar(desc="PoseBusters", total=len(mols), enabled=progress) as bar:
        for table in _busted_chunks(chunks, parallel=len(mols) >= _PARALLEL_THRESHOLD):
            tables.append(table)
            bar.update(len(table))
    checks = pd.concat(tables).astype(bool)
    rates = {"all": float(checks.all(axis=1).mean())}
    rates.update({str(name): float(checks[name].mean()) for name in checks.columns})
    return rates


def _busted_chunks(chunks: list[list], parallel: bool) -> Iterator:
    """PoseBusters' table of each chunk, in chunk order: over all cores when `parallel`, else in this process."""
    if not parallel:
        yield from map(_bust, chunks)
        return
    # The internal-energy check embeds a conformer ensemble per molecule: many molecules are spread over all
    # cores, as PoseBusters itself would, but chunk by chunk so that the bar can follow.
    with ProcessPoolExecutor() as pool:
        yield from pool.map(_bust, chunks)


def _bust(mols: list):
    """PoseBusters' `mol` checks of some molecules, one row of booleans per molecule, in this process."""
    from posebusters import PoseBusters

    # The energy check logs a warning per molecule it cannot embed; the failure is already in the pass rate.
    logging.getLogger("posebusters").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PoseBusters(config="mol", max_workers=0).bust(mols, None, None, full_report=False)
