"""Names of shipped models and where their checkpoint folders are; a path is accepted wherever a name is."""

from __future__ import annotations

import json
from pathlib import Path

from atomgen.errors import InputError

WEIGHTS_DIR = Path(__file__).parent / "weights"


def available() -> dict[str, str]:
    """{name: family} of every model shipped in the package."""
    found = {}
    if WEIGHTS_DIR.is_dir():
        for folder in sorted(WEIGHTS_DIR.iterdir()):
            config = folder / "config.json"
            if config.is_file():
                found[folder.name] = json.loads(config.read_text()).get("family", "?")
    return found


def resolve(name_or_path: str | Path) -> Path:
    """The checkpoint folder of a shipped model name, or the given path if it exists."""
    shipped = WEIGHTS_DIR / str(name_or_path)
    if isinstance(name_or_path, str) and "/" not in name_or_path and shipped.is_dir():
        return shipped
    path = Path(name_or_path)
    if path.exists():
        return path
    names = ", ".join(available()) or "none"
    raise InputError(f"no shipped model or checkpoint folder called {str(name_or_path)!r} (shipped: {names})")
