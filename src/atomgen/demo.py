"""The main job of `make demo`: until a model ships, evaluate QM9 test molecules as if they were generated."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from atomgen.data.qm9 import load_qm9
from atomgen.eval.evaluate import evaluate
from atomgen.io.formats import write


def run_demo(output: str | Path = "demo_out", *, n: int = 2000, seed: int = 0, data_dir: str | Path | None = None) -> Path:
    """Draw `n` QM9 test molecules (seeded), write them as SDF, evaluate them against QM9, write the report.

    Writes `<output>/samples.sdf`, `<output>/report.json` and `<output>/report.md`; returns the folder.
    """
    out = Path(output)
    test = load_qm9("test", data_dir)
    rows = np.sort(np.random.default_rng(seed).choice(len(test), size=min(n, len(test)), replace=False))
    molecules = [test[int(k)] for k in rows]
    out.mkdir(parents=True, exist_ok=True)
    write(out / "samples.sdf", molecules)
    report = evaluate(molecules, "qm9", seed=seed, data_dir=data_dir, max_expensive=200)
    report.save_json(out / "report.json")
    report.save_markdown(out / "report.md")
    print(report.to_markdown())
    print(f"wrote {out}/samples.sdf, {out}/report.json, {out}/report.md")
    return out
