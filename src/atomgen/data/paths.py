"""Where prepared datasets live (a cache folder outside the package) and where the shared raw files are."""

from __future__ import annotations

import os
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
