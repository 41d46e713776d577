"""PoseBusters' `mol` checks (sanitisation, bond lengths and angles, clashes, flatness, internal energy...) of many
molecules over worker processes, and their pass rates. What each check gives: `atomgen.eval.posebusters_checks`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Self

from atomgen.eval.posebusters_checks import mol_checks_table
from atomgen.eval.progress import stage_bar

_PARALLEL_THRESHOLD = 20  # below this, starting worker processes costs more than it saves
# Molecules per task. A molecule costs from 0.1 s to several seconds (its conformer ensemble), so small tasks keep
# both workers busy to the end and the bar moving; a task's own cost (sending it, building its table) is about 1 ms.
_CHUNK = 4


def posebusters_pass_rates(mols: Sequence, *, workers: int | None = None, progress: bool = False) -> dict[str, float]:
    """Fraction of molecules passing every check (`all`), and the pass rate of each check.

    Args:
        mols: RDKit Mols with a 3D conformer and hydrogens (e.g. bonds perceived from the generated geometry).
        workers: processes (default: all cores).
        progress: show a bar ("PoseBusters") on stderr.
    """
    with PoseBustersRun(mols, workers=workers) as run:
        return run.pass_rates(progress=progress)


def posebusters_table(mols: Sequence, *, workers: int | None = None, progress: bool = False):
    """PoseBusters' table of the `mol` checks of `mols` (at least one): the columns and values of
    `PoseBusters(config="mol").bust(mols)` (True, False, or NaN where a check could not run), one row per
    molecule in order, indexed 0..n-1."""
    with PoseBustersRun(mols, workers=workers) as run:
        return run.table(progress=progress)


def pass_rates(table) -> dict[str, float]:
    """The pass rates of a table of PoseBusters' checks (`all`: every check of a molecule passed). A check that
    could not run on a molecule (NaN) counts as passed: the table is read as Python truth values."""
    checks = table.astype(bool)
    rates = {"all": float(checks.all(axis=1).mean())}
    rates.update({str(name): float(checks[name].mean()) for name in checks.columns})
    return rates


class PoseBustersRun:
    """PoseBusters' `mol` checks of some molecules, started in worker processes as soon as the run is entered
    (`with`), so that other work of this process meanwhile shares the cores with them; `table` or `pass_rates`
    waits for the results. With few molecules or one worker, the checks run in this process when asked for."""

    def __init__(self, mols: Sequence, *, workers: int | None = None) -> None:
        self._chunks = [list(mols[k : k + _CHUNK]) for k in range(0, len(mols), _CHUNK)]
        self._n = len(mols)
        workers = workers or os.cpu_count() or 1
        self._workers = workers if workers > 1 and self._n >= _PARALLEL_THRESHOLD else 1
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future] = []

    def __enter__(self) -> Self:
        if self._workers > 1:
            self._pool = ProcessPoolExecutor(max_workers=self._workers)
            self._futures = [self._pool.submit(mol_checks_table, chunk) for chunk in self._chunks]
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            # On an error elsewhere, the tasks not yet started are dropped rather than waited for.
            self._pool.shutdown(cancel_futures=True)

    def table(self, *, progress: bool = False):
        """PoseBusters' table of the molecules' checks (see `posebusters_table`); `progress` shows a bar."""
        import pandas as pd

        if not self._n:
            raise ValueError("no molecules to check")
        tables = []
        with stage_bar(desc="PoseBusters", total=self._n, enabled=progress) as bar:
            for k, chunk in enumerate(self._chunks):
                tables.append(self._futures[k].result() if self._futures else mol_checks_table(chunk))
                bar.update(len(chunk))
        return pd.concat(tables, ignore_index=True)

    def pass_rates(self, *, progress: bool = False) -> dict[str, float]:
        """The pass rates of the molecules' checks (see `pass_rates`; empty without molecules)."""
        return pass_rates(self.table(progress=progress)) if self._n else {}
