"""Training speed of every family through the training engine's own builders, by precision, with the share of
the machine's matrix-product peak each setting reaches.

    python benchmarks/bench_training.py [--parts quetzal,adit-autoencoder,adit-diffusion,nextmol-language,...,overheads]

Each part builds the model and data of a shipped config (configs/), takes the first 12 length-grouped batches of
its training data, and times AdamW steps (after two warm-up steps) in fp32, under bf16 autocast, and under bf16
autocast with the transformer and head blocks compiled (`atomgen.nn.compile`). The `overheads` part (not run by
default) bounds what packed sequences and bf16 weights could save. Results go to benchmarks/results/training.json;
BENCHMARKS.md is rebuilt. Run it on an otherwise idle machine: the timings use every core.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch
from common import run_parts  # a sibling script, run from anywhere
from machine import counted_flops, peaks, utilisation
from write_benchmarks_md import write_benchmarks_md

from atomgen.train.module import batch_sizes

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "training.json"

JOBS = {
    "quetzal": ("configs/quetzal/qm9-small.yaml", []),
    "adit-autoencoder": ("configs/adit/joint-small-autoencoder.yaml", []),
    "adit-diffusion": ("configs/adit/joint-small-diffusion.yaml", ["model.autoencoder=adit-joint-small"]),
    "nextmol-language": ("configs/nextmol/qm9-small-language.yaml", []),
    "nextmol-conformer": ("configs/nextmol/qm9-small-conformer.yaml", ["model.language_model=nextmol-qm9"]),
    "nextmol-drugs-language": ("configs/nextmol/drugs-small-language.yaml", []),
    "property-classifier": ("configs/property-classifier/qm9.yaml", []),
    "quetzal-batch-256": ("configs/quetzal/qm9-small.yaml", ["data.batch_size=256"]),
    "quetzal-one-thread": ("configs/quetzal/qm9-small.yaml", []),
}
"""Each part: a shipped training config and the overrides that point its frozen stage at shipped weights; the
last two ask whether a larger batch, or one thread per run (two runs side by side), trains faster."""

ONE_THREAD = {"quetzal-one-thread"}
"""Parts timed on one thread: if one thread gives more than half of two threads' rate, two runs side by side (one
thread each) train more in all than one run on both."""

SETTINGS = (("fp32", False), ("bf16-mixed", False), ("bf16-mixed", True))
"""(precision, compiled blocks) of every part."""

SHAPES = {"width 256, 2,048 rows": (2048, 256, 1024), "width 384, 4,096 rows": (4096, 384, 384),
          "width 384, 2,048 rows": (2048, 384, 1536)}
"""(rows, inner, cols) of the small presets' typical training matrix products: the peak is read at these."""

STEPS = 12


def _model_and_batches(config, steps: int = STEPS) -> tuple[torch.nn.Module, list[dict]]:
    """The config's new model and the first `steps` length-grouped batches of its training data, as the engine
    builds and draws them (built once: a language stage reads its vocabulary from the whole corpus)."""
    from torch.utils.data import DataLoader

    from atomgen.data.sequences import LengthGroupedSampler
    from atomgen.train.builders import BUILDERS

    torch.manual_seed(0)
    model, dataset, collate, weights = BUILDERS[config.family](config)
    sampler = LengthGroupedSampler(dataset.lengths(), config.data.batch_size, seed=0, weights=weights)
    loader = DataLoader(dataset, batch_size=config.data.batch_size, sampler=sampler, drop_last=True,
                        collate_fn=collate)
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == steps:
            break
    return model, batches


def _step(model, optimiser, batch: dict, precision: str) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision != "fp32"):
        loss = model.training_loss(batch)["loss"]
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()


def training_speed(job: str) -> dict:
    """Units (atoms or tokens) per second of one config in each of SETTINGS, and their share of the peak."""
    from atomgen.nn.compile import compile_blocks
    from atomgen.train.config import load_train_config

    path, overrides = JOBS[job]
    config = load_train_config(ROOT / path, overrides)
    built, batches = _model_and_batches(config)
    rows, flops_per_unit = {}, {}
    for precision, compiled in SETTINGS:
        model = copy.deepcopy(built).train()  # every setting starts from the same weights
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(trainable, lr=1e-4)
        if compiled:
            compile_blocks(model)
        units, seconds = 0, 0.0
        for step, batch in enumerate(batches):
            start = time.perf_counter()
            _step(model, optimiser, batch, precision)
            if step >= 2:  # warm-up: allocators, kernels, and the compilation of the blocks
                seconds += time.perf_counter() - start
                units += int(batch_sizes(batch)[0].sum())
        if not compiled:  # compiling changes how the arithmetic runs, not how much of it there is
            _, flops = counted_flops(lambda: _step(model, optimiser, batches[-1], precision))
            flops_per_unit[precision] = flops / int(batch_sizes(batches[-1])[0].sum())
        label = precision + (", compiled blocks" if compiled else "")
        rows[label] = {"units_per_second": units / seconds, "precision": precision, "compiled": compiled,
                       "flops_per_unit": flops_per_unit[precision]}
    peak = peaks(SHAPES)
    for row in rows.values():
        dtype = "fp32" if row["precision"] == "fp32" else "bf16"
        row["utilisation"] = utilisation(row["flops_per_unit"] * row["units_per_second"], 1.0, peak["best"][dtype])
    fp32 = rows["fp32"]["units_per_second"]
    for row in rows.values():
        row["speedup_over_fp32"] = row["units_per_second"] / fp32
    return {"config": path, "overrides": overrides, "family": config.family, "unit": batch_sizes(batches[0])[1],
            "batch_size": config.data.batch_size, "steps_timed": len(batches) - 2, "by_setting": rows,
            "machine_peak": peak, "threads": torch.get_num_threads()}


OVERHEAD_JOBS = ("quetzal", "nextmol-language")
"""The configs whose padding and casts the `overheads` part measures: the sequence models trained on QM9 (the
GEOM-DRUGS language stage is left out: it builds its 243,480-SMILES corpus first, more than ten minutes here)."""

CAST_OPS = ("aten::copy_", "aten::_to_copy", "aten::to")


def _padded_length(batch: dict) -> int:
    """The length a batch is padded to: the second dimension of its per-item tensors."""
    rows = len(batch_sizes(batch)[0])
    return max(value.shape[1] for value in batch.values()
               if torch.is_tensor(value) and value.dim() >= 2 and value.shape[0] == rows)


def overheads(job: str) -> dict:
    """What packed sequences and bf16 weights could save at most, for one config: the share of its batches' slots
    that hold real atoms or tokens (the first 40 length-grouped batches, as the engine draws them), the share of a
    bf16 autocast step's CPU time spent in dtype copies (torch.profiler, 6 steps after 2 of warm-up), and the
    seconds it takes to cast all parameters to bf16 and back (what autocast's weight casts cost per step)."""
    from torch.profiler import ProfilerActivity, profile

    from atomgen.train.config import load_train_config

    path, overrides = JOBS[job]
    config = load_train_config(ROOT / path, overrides)
    model, batches = _model_and_batches(config, steps=40)
    real = sum(int(batch_sizes(batch)[0].sum()) for batch in batches)
    slots = sum(len(batch_sizes(batch)[0]) * _padded_length(batch) for batch in batches)
    model.train()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    for batch in batches[:2]:
        _step(model, optimiser, batch, "bf16-mixed")
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for batch in batches[2:8]:
            _step(model, optimiser, batch, "bf16-mixed")
    events = profiler.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    casts = sum(event.self_cpu_time_total for event in events if event.key in CAST_OPS)
    weights = [p.detach() for p in model.parameters()]
    start = time.perf_counter()
    for weight in weights:
        weight.to(torch.bfloat16).float()
    cast_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for batch in batches[8:14]:
        _step(model, optimiser, batch, "bf16-mixed")
    step_seconds = (time.perf_counter() - start) / 6
    return {"config": path, "unit": batch_sizes(batches[0])[1], "batches": len(batches), "real_share": real / slots,
            "cast_share_of_step": casts / total, "parameters": sum(w.numel() for w in weights),
            "weight_cast_seconds": cast_seconds, "step_seconds": step_seconds, "threads": torch.get_num_threads()}


def _on_threads(threads: int, job: str) -> dict:
    """training_speed(job) with torch on `threads` threads (the peak is measured on as many)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return training_speed(job)
    finally:
        torch.set_num_threads(before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(JOBS))  # and `overheads`
    args = parser.parse_args()
    parts = {job: (lambda job=job: _on_threads(1 if job in ONE_THREAD else torch.get_num_threads(), job))
             for job in JOBS}
    parts["overheads"] = lambda: {job: overheads(job) for job in OVERHEAD_JOBS}
    run_parts(parts, args.parts.split(","), RESULTS)
    write_benchmarks_md()


if __name__ == "__main__":
    main()
