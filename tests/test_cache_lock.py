"""Two processes preparing the same dataset cache at once: one prepares it, the other waits and reuses it, and
the cache is whole and the same as one process alone makes it.

QM9 itself takes minutes to read, so the processes prepare a 40-molecule stand-in through the same
`prepare_qm9` code path: its source, size and split are replaced, nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from atomgen.system import AtomSystem

REPO = Path(__file__).resolve().parents[1]
N_SMALL = 40
SOURCE_SECONDS = 1.5  # how long reading the stand-in takes: long enough for the other process to arrive


def _small_source():
    """40 water-like molecules with distinct geometries and properties, read slowly (like a real source)."""
    time.sleep(SOURCE_SECONDS)
    for k in range(N_SMALL):
        positions = np.array([[0.0, 0.0, 0.0], [0.96 + 0.001 * k, 0.0, 0.0], [-0.24, 0.93, 0.01 * k]])
        yield AtomSystem(numbers=np.array([8, 1, 1]), positions=positions, properties={"index": k, "U0": -2.0 * k},
                         name=f"gdb_{k}")


def _small_split(n: int) -> dict[str, np.ndarray]:
    """A fixed 30 / 5 / 5 split of the stand-in."""
    rows = np.arange(n)
    return {"train": rows[:30], "valid": rows[30:35], "test": rows[35:]}


def use_small_qm9(set_attribute: Callable[[object, str, object], None] = setattr) -> None:
    """Make `prepare_qm9` read the stand-in (its source, its size and its split), through `set_attribute`."""
    from atomgen.data import qm9

    set_attribute(qm9, "iter_qm9pack", _small_source)
    set_attribute(qm9, "N_MOLECULES", N_SMALL)
    set_attribute(qm9, "edm_split", _small_split)


def child_main(root: str, barrier: str, name: str) -> None:
    """One preparing process: wait until its sibling is also ready, prepare, report what it did on stdout."""
    from atomgen.data import qm9

    use_small_qm9()
    read = []

    def noted_source():
        read.append(True)  # this process read the source: it prepared the cache
        return _small_source()

    qm9.iter_qm9pack = noted_source
    Path(barrier, name).touch()
    while len(os.listdir(barrier)) < 2:  # both start preparing within milliseconds of each other
        time.sleep(0.005)
    started = time.perf_counter()
    qm9.prepare_qm9(root, progress=False)
    print(json.dumps({"built": bool(read), "seconds": time.perf_counter() - started}))


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (lock files aside), by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


def test_two_processes_prepare_one_cache_once(tmp_path, monkeypatch):
    shared, barrier = tmp_path / "shared", tmp_path / "barrier"
    barrier.mkdir()
    code = "import sys; from tests.test_cache_lock import child_main; child_main(*sys.argv[1:])"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + str(REPO)}
    children = [subprocess.Popen([sys.executable, "-c", code, str(shared), str(barrier), name], cwd=REPO, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in "ab"]
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["built"] for r in results) == [False, True]
    # The one that did not build arrived while the other was reading, so it waited for it.
    assert next(r for r in results if not r["built"])["seconds"] > SOURCE_SECONDS / 2

    from atomgen.data.qm9 import prepare_qm9

    use_small_qm9(monkeypatch.setattr)
    alone = prepare_qm9(tmp_path / "alone", progress=False)
    together = shared / "qm9"
    assert _files(together) == _files(alone)  # identical bytes, and no temporary folder left over
    assert sorted(p.name for p in together.iterdir() if not p.name.endswith(".lock")) == [
        "test.pack", "train.pack", "valid.pack"]
