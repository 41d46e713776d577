"""The main job of `make demo`: sample from the shipped models on the CPU and evaluate what they make.

Molecules come from Quetzal and are evaluated against QM9; crystals come from the joint ADiT model and are
evaluated against the Perov-5 test split.
"""

from __future__ import annotations

import time
from pathlib import Path

from atomgen.eval.evaluate import evaluate
from atomgen.io.formats import write, write_folder

CRYSTAL_MODEL = "adit-joint-small"


def run_demo(output: str | Path = "demo_out", *, n: int = 1000, seed: int = 0, data_dir: str | Path | None = None,
             model: str = "quetzal-qm9-small", n_crystals: int = 20) -> Path:
    """Sample `n` molecules and `n_crystals` crystals (seeded), write them, evaluate them, write the reports.

    Writes `<output>/samples.sdf`, `<output>/report.json` and `<output>/report.md` for the molecules, and
    `<output>/crystals/` (one CIF per crystal) with `<output>/crystals_report.json` and `.md`; returns the folder.
    """
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    _molecules(out, model, n, seed, data_dir)
    if n_crystals:
        _crystals(out, n_crystals, seed)
    return out


def _molecules(out: Path, model: str, n: int, seed: int, data_dir: str | Path | None) -> None:
    from atomgen.models.registry import load_model

    generator = load_model(model)
    start = time.perf_counter()
    molecules = generator.sample(n, seed=seed, steps=30, batch_size=250)
    seconds = time.perf_counter() - start
    print(f"sampled {n} molecules from {model} in {seconds:.0f} s ({n / seconds:.1f} molecules/s)")
    write(out / "samples.sdf", molecules)
    report = evaluate(molecules, "qm9", seed=seed, data_dir=data_dir, max_expensive=200)
    report.details["generator"] = {"model": model, "seed": seed, "steps": 30, "sampling_seconds": round(seconds, 1)}
    report.save_json(out / "report.json")
    report.save_markdown(out / "report.md")
    print(report.to_markdown())
    print(f"wrote {out}/samples.sdf, {out}/report.json, {out}/report.md")


def _crystals(out: Path, n: int, seed: int) -> None:
    import shutil

    from atomgen.models.registry import load_model

    generator = load_model(CRYSTAL_MODEL)
    start = time.perf_counter()
    crystals = generator.sample(n, seed=seed, condition="perov_5")
    seconds = time.perf_counter() - start
    print(f"sampled {n} Perov-5 crystals from {CRYSTAL_MODEL} in {seconds:.0f} s")
    if (out / "crystals").exists():
        shutil.rmtree(out / "crystals")  # the demo's own output from an earlier run
    write_folder(out / "crystals", crystals)
    report = evaluate(crystals, "perov_5", seed=seed)
    report.details["generator"] = {"model": CRYSTAL_MODEL, "seed": seed, "condition": "perov_5",
                                   "sampling_seconds": round(seconds, 1)}
    report.save_json(out / "crystals_report.json")
    report.save_markdown(out / "crystals_report.md")
    print(report.to_markdown())
    print(f"wrote {out}/crystals/ ({n} CIF files), {out}/crystals_report.json, {out}/crystals_report.md")
