"""The data row: the reference's own held-out systems, evaluated exactly as a sample is, so that every metric of
a report stands beside what real data scores on it (QM9's test molecules are not 100 % stable by RDKit, for
instance).

For a named reference the row is computed once per setting and kept in the data folder; for a file, the "data" are
the file's own systems, so novelty finds them in the reference by construction.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from atomgen import __version__
from atomgen.data.paths import cache_lock, data_dir
from atomgen.eval.reference import CRYSTAL_REFERENCES, NAMED_REFERENCES
from atomgen.eval.report import EvaluationReport
from atomgen.system import AtomSystem

MAX_DATA_ROW = 1000  # held-out systems evaluated for the data row, at most


def reference_test_systems(reference: str, root: str | Path | None = None) -> list[AtomSystem]:
    """The held-out side of a reference: a named reference's test split, or a file's own systems."""
    if reference == "qm9":
        from atomgen.data.qm9 import load_qm9

        return list(load_qm9("test", root, progress=False))
    if reference == "drugs-etkdg":
        from atomgen.data.drugs import load_drugs_etkdg

        return list(load_drugs_etkdg(data_dir(root) / "drugs-etkdg", "test"))
    if reference in CRYSTAL_REFERENCES:
        from atomgen.data.crystals import load_crystal_split

        return list(load_crystal_split(reference, "test"))
    from atomgen.io.formats import read

    return read(reference)


DATA_ROW_FORMAT = 2
"""Bumped whenever what a cached data row holds changes, so that older cached rows are computed again."""


def data_row(reference: str, n: int, *, seed: int = 0, data_dir_root: str | Path | None = None,
             progress: bool = False, **switches: Any) -> EvaluationReport:
    """`evaluate` of min(n, MAX_DATA_ROW) held-out systems of `reference` (drawn with `seed`) against the same
    reference, with the same `switches` (fcd, posebusters, strain, xtb, max_expensive) as the sample's.

    `details["data_row"]` says what was drawn and whether it was held out (a named reference's test split) or
    the reference file's own systems. A named reference's row is cached in the data folder, keyed by the draw,
    the switches, the size of its test side and atomgen's version.
    """
    from atomgen.eval.evaluate import evaluate

    size = min(n, MAX_DATA_ROW)
    named = reference in NAMED_REFERENCES
    test = reference_test_systems(reference, data_dir_root)

    def evaluated() -> EvaluationReport:
        row = evaluate(_drawn(test, size, seed), reference, seed=seed, data_dir=data_dir_root, progress=progress,
                       **switches)
        row.details["data_row"] = {"reference": reference, "drawn": min(size, len(test)), "seed": seed,
                                   "held_out": named}
        return row

    if not named:
        return evaluated()
    identity = [DATA_ROW_FORMAT, __version__, len(test), size, seed, sorted(switches.items())]
    key = hashlib.sha1(json.dumps(identity).encode()).hexdigest()[:12]
    file = data_dir(data_dir_root) / "reference" / reference / f"data-row-{key}.json"
    cached = _read_cached(file)
    if cached is None:
        with cache_lock(file):
            cached = _read_cached(file)
            if cached is None:
                evaluated().save_json(file)
                cached = _read_cached(file)
    return cached


def _read_cached(file: Path) -> EvaluationReport | None:
    """A cached data row, or None when there is none or it cannot be read (it is then computed again)."""
    try:
        return EvaluationReport.from_dict(json.loads(file.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _drawn(systems: list[AtomSystem], size: int, seed: int) -> list[AtomSystem]:
    """`size` of the systems drawn at random (seeded), in their order."""
    if size >= len(systems):
        return systems
    return [systems[k] for k in sorted(random.Random(seed).sample(range(len(systems)), size))]
