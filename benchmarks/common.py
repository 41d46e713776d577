"""What every benchmark script shares: running named parts, recording machine, commit, weights and command,
saving results."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


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


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_name(weights_file: Path) -> str:
    """How results name the checkpoint of a weights file: a shipped model by its zoo name, any other by the folder
    path it was loaded from (as given on the command line)."""
    from atomgen.zoo.registry import WEIGHTS_DIR

    folder = weights_file.parent
    return folder.name if folder.resolve().parent == WEIGHTS_DIR.resolve() else str(folder)


@contextmanager
def recording_weights() -> Iterator[dict[str, str]]:
    """Within the block, the yielded dict fills with {name or path: sha256} of every checkpoint whose weights
    `atomgen.models.checkpoint.load_weights` loads."""
    from atomgen.models import checkpoint

    loaded: dict[str, str] = {}

    def record(weights_file: Path) -> None:
        loaded[weights_name(weights_file)] = sha256_of(weights_file)

    checkpoint.LOAD_OBSERVERS.append(record)
    try:
        yield loaded
    finally:
        checkpoint.LOAD_OBSERVERS.remove(record)


def part_command(part: str, argv: list[str]) -> str:
    """The command that measures `part` alone with the options of `argv` (a benchmark script's sys.argv): its
    --parts narrowed to that one part, the script named from the repository root."""
    script = Path(argv[0]).resolve()
    name = str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else argv[0]
    options, args = [], iter(argv[1:])
    for arg in args:
        if arg == "--parts":
            next(args, None)  # its value goes too
        elif not arg.startswith("--parts="):
            options.append(arg)
    return shlex.join(["python", name, "--parts", part, *options])


def _measure(part: str, run: Callable[[], dict]) -> dict:
    """Run one part; its result with wall time, machine, commit, date, the weights it loaded and its command."""
    start = time.perf_counter()
    with recording_weights() as weights:
        value = run()
    return {
        "result": value,
        "wall_s": time.perf_counter() - start,
        "machine": machine(),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "date": time.strftime("%Y-%m-%d"),
        "weights": weights,
        "command": part_command(part, sys.argv),
    }


def run_parts(parts: dict[str, Callable[[], dict]], selected: list[str], results_file: Path,
              stored_as: Callable[[str], str] = str) -> dict:
    """Run the selected parts, each result stored (with wall time, machine, commit, date, the sha256 of every
    checkpoint it loaded, and the command that measures it alone) in `results_file`, under the key
    `stored_as(part)` (the part's name unless a script keeps one part's results under several settings).

    Parts not selected keep their previous numbers; the file is rewritten after every part, so an interrupted
    run loses only the part in progress.
    """
    results: dict = {}
    for part in selected:
        if part not in parts:
            raise SystemExit(f"unknown part {part!r}; parts: {', '.join(parts)}")
        entry = _measure(part, parts[part])
        # Re-read before writing: another benchmark process may have stored a part meanwhile.
        results = json.loads(results_file.read_text()) if results_file.is_file() else {}
        results[stored_as(part)] = entry
        results_file.parent.mkdir(exist_ok=True)
        results_file.write_text(json.dumps(results, indent=1) + "\n")
        print(f"{part}: done in {entry['wall_s']:.0f} s", flush=True)
    return results


def share_difference(new: float, base: float, total: int) -> dict[str, float]:
    """new - base of two shares, each measured on `total` samples, with the binomial standard error of that
    difference (the two samples independent)."""
    return {"value": new - base, "standard_error": ((new * (1 - new) + base * (1 - base)) / total) ** 0.5}


def paired_difference(new: Sequence[float], base: Sequence[float]) -> dict[str, float]:
    """mean(new - base) of two measurements of the same items (a 0/1 flag or a number per molecule), with the
    standard error of that mean from the per-item differences: far tighter than `share_difference` when the two
    agree on most items."""
    difference = np.asarray(new, dtype=float) - np.asarray(base, dtype=float)
    return {"value": float(difference.mean()),
            "standard_error": float(difference.std(ddof=1) / np.sqrt(len(difference)))}
