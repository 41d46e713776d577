"""The main job of `make demo`: sample molecules from the shipped Quetzal model and evaluate them against QM9."""

from __future__ import annotations

import time
from pathlib import Path

from atomgen.eval.evaluate import evaluate
from atomgen.io.formats import write


def run_demo(output: str | Path = "demo_out", *, n: int = 1000, seed: int = 0, data_dir: str | Path | None = None,
             model: str = "quetzal-qm9-small") -> Path:
    """Sample `n` molecules (seeded) on the CPU, write them as SDF, evaluate them against QM9, write the report.

    Writes `<output>/samples.sdf`, `<output>/report.json` and `<output>/report.md`; returns the folder.
    """
    from atomgen.models.registry import load_model

    out = Path(output)
    generator = load_model(model)
    start = time.perf_counter()
    molecules = generator.sample(n, seed=seed, steps=30, batch_size=250)
    seconds = time.perf_counter() - start
    print(f"sampled {n} molecules from {model} in {seconds:.0f} s ({n / seconds:.1f} molecules/s)")
    out.mkdir(parents=True, exist_ok=True)
    write(out / "samples.sdf", molecules)
    report = evaluate(molecules, "qm9", seed=seed, data_dir=data_dir, max_expensive=200)
    report.details["generator"] = {"model": model, "seed": seed, "steps": 30, "sampling_seconds": round(seconds, 1)}
    report.save_json(out / "report.json")
    report.save_markdown(out / "report.md")
    print(report.to_markdown())
    print(f"wrote {out}/samples.sdf, {out}/report.json, {out}/report.md")
    return out
