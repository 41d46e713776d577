"""What every benchmark script shares: running named parts, recording machine and commit, saving results."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> str:
    """A one-line description of the machine a number was measured on (its GPU too, where one is visible)."""
    import torch

    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{platform.machine()}, {os.cpu_count()} cores{gpu}, Python {platform.python_version()}"


def run_parts(parts: dict[str, Callable[[], dict]], selected: list[str], results_file: Path) -> dict:
    """Run the selected parts, each result stored (with wall time, machine, commit, date) in `results_file`.

    Parts not selected keep their previous numbers; the file is rewritten after every part, so an interrupted
    run loses only the part in progress.
    """
    results: dict = {}
    for part in selected:
        if part not in parts:
            raise SystemExit(f"unknown part {part!r}; parts: {', '.join(parts)}")
        start = time.perf_counter()
        value = parts[part]()
        # Re-read before writing: another benchmark process may have stored a part meanwhile.
        results = json.loads(results_file.read_text()) if results_file.is_file() else {}
        results[part] = {
            "result": value,
            "wall_s": time.perf_counter() - start,
            "machine": machine(),
            "commit": _git("rev-parse", "--short", "HEAD"),
            "date": time.strftime("%Y-%m-%d"),
        }
        results_file.parent.mkdir(exist_ok=True)
        results_file.write_text(json.dumps(results, indent=1) + "\n")
        print(f"{part}: done in {results[part]['wall_s']:.0f} s", flush=True)
    return results
