"""Where prepared datasets live (a cache folder outside the package) and where the shared raw files are."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from atomgen.errors import DatasetError


def data_dir(override: str | Path | None = None) -> Path:
    """The cache folder for prepared datasets: `override`, else $ATOMGEN_DATA, else ~/.cache/atomgen."""
    if override is not None:
        root = Path(override)
    elif os.environ.get("ATOMGEN_DATA"):
        root = Path(os.environ["ATOMGEN_DATA"])
    else:
        root = Path.home() / ".cache" / "atomgen"
    root.mkdir(parents=True, exist_ok=True)
    return root


def shared_data_dir() -> Path:
    """The folder of raw shared data (crystal CSVs, GEOM SMILES): $ATOMGEN_SHARED_DATA, else ../shared/data.

    `../shared/data` is looked up beside the repository checkout and beside the current directory.
    """
    candidates = []
    if os.environ.get("ATOMGEN_SHARED_DATA"):
        candidates.append(Path(os.environ["ATOMGEN_SHARED_DATA"]))
    candidates.append(Path(__file__).resolve().parents[3].parent / "shared" / "data")
    candidates.append(Path.cwd().parent / "shared" / "data")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise DatasetError(
        "shared data folder not found; looked in " + ", ".join(str(c) for c in candidates)
        + " (set ATOMGEN_SHARED_DATA to a copy of shared/data)"
    )


@contextmanager
def cache_lock(entry: str | Path) -> Iterator[None]:
    """Hold an exclusive lock, shared by all processes, on the cache entry `entry` (a file or folder) while the
    block runs.

    The lock is `fcntl.flock` on a file `.<name>.lock` beside the entry. A process that prepares an entry takes the
    lock and checks again whether the entry is ready: a second process preparing the same entry waits for the
    first and then reuses its result instead of writing the same entry at the same time. The operating system
    drops the lock when its holder exits, so a killed preparation never leaves the cache locked. The lock file
    itself stays (deleting it would let two processes lock two different files).
    """
    entry = Path(entry)
    entry.parent.mkdir(parents=True, exist_ok=True)
    with open(entry.parent / f".{entry.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
