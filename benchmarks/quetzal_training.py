"""Quetzal training benchmarks (parts of bench_quetzal.py): atoms per second by setting with the share of the
machine's peak, and whether bf16 autocast learns as well as fp32 from the same weights and batches."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from common import share_difference
from machine import counted_flops, peaks, utilisation

TRAIN_SHAPES = {"trunk MLP, training batch": (2432, 256, 1024), "head block, training batch": (4864, 384, 384)}
"""(rows, inner, cols) of the small preset's training matrix products (batch 128, about 19 atoms per molecule,
two noise draws per atom): the machine's peak is read at these."""


TRAIN_SETTINGS = (("prefix geometry", True, "fp32", False), ("prefix geometry", True, "bf16-mixed", False),
                  ("prefix geometry", True, "bf16-mixed", True), ("paper", False, "bf16-mixed", False))
"""(head, prefix geometry, precision, compiled blocks) of the 'train-throughput' part."""


def _batches(data_dir: str | None, batch_size: int, count: int, split: str = "train", seed: int = 0) -> list[dict]:
    from atomgen.data.qm9 import load_qm9
    from atomgen.data.sequences import AtomSequenceDataset, collate_sequences

    dataset = AtomSequenceDataset(load_qm9(split, data_dir), (1, 6, 7, 8, 9))
    order = np.random.default_rng(seed).permutation(len(dataset))
    return [collate_sequences([dataset[int(k)] for k in order[i * batch_size : (i + 1) * batch_size]])
            for i in range(count)]


def _step(model, optimiser, batch: dict, precision: str, device: str) -> torch.Tensor:
    """One AdamW step under the given precision; returns the loss."""
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision != "fp32"):
        loss = model.training_loss(batch)["loss"]
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    return loss


def train_throughput(data_dir: str | None, device: str = "cpu", device_name: str = "CPU") -> dict:
    """Training atoms per second of the small preset on QM9 train in each of TRAIN_SETTINGS, at batch 128 (on a GPU
    also 512); on a CPU also the share of the machine's matrix-product peak, measured in this run, that each
    setting reaches."""
    from atomgen.models.quetzal import QuetzalModel, preset
    from atomgen.nn.compile import compile_blocks

    rows = {}
    for batch_size in (128,) if device == "cpu" else (128, 512):
        batches = [{key: value.to(device) for key, value in batch.items()}
                   for batch in _batches(data_dir, batch_size, 12)]
        for head, geometry, precision, compiled in TRAIN_SETTINGS:
            torch.manual_seed(0)
            model = QuetzalModel(preset("small", prefix_geometry=geometry)).to(device)
            if compiled:
                compile_blocks(model)
            optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
            atoms, seconds = 0, 0.0
            for step, batch in enumerate(batches):
                start = time.perf_counter()
                _step(model, optimiser, batch, precision, device)
                if device != "cpu":
                    torch.cuda.synchronize(device)  # GPU work is queued: time it done
                if step >= 2:  # the first steps warm up allocators and kernels (and compile the blocks)
                    seconds += time.perf_counter() - start
                    atoms += int(batch["n_atoms"].sum())
            label = (f"{head} head, {precision}" + (", compiled blocks" if compiled else "")
                     + ("" if device == "cpu" else f", batch {batch_size}"))
            rows[label] = {"atoms_per_second": atoms / seconds, "precision": precision}
            if device == "cpu" and compiled:  # the same arithmetic as the uncompiled setting before it
                rows[label]["flops_per_atom"] = rows[f"{head} head, {precision}"]["flops_per_atom"]
            elif device == "cpu":
                _, flops = counted_flops(lambda: _step(model, optimiser, batches[-1], precision, device))
                rows[label]["flops_per_atom"] = flops / int(batches[-1]["n_atoms"].sum())
    result = {"batch_size": 128, "preset": "small", "by_setting": rows, "device": device_name,
              "threads": torch.get_num_threads()}
    if device == "cpu":
        result["machine_peak"] = peak = peaks(TRAIN_SHAPES)
        for row in rows.values():
            dtype = "fp32" if row["precision"] == "fp32" else "bf16"
            row["utilisation"] = utilisation(row["flops_per_atom"] * row["atoms_per_second"], 1.0, peak["best"][dtype])
    return result


PRECISION_STEPS, PRECISION_WARMUP, PRECISION_LR = 200, 20, 1e-4
"""AdamW steps of each arm of the 'train-precision' part, its linear warm-up and its peak learning rate."""

PRECISION_ARMS = (("fp32", 0), ("fp32", 1), ("bf16-mixed", 0), ("bf16-mixed", 1))
"""(precision, seed) of each arm: the seed orders the batches and draws the noise, so the two fp32 seeds give the
spread that chance alone makes, against which the difference between the precisions is read."""

PRECISION_RUNS = Path(__file__).resolve().parents[1] / "runs" / "train-precision"
"""Where each arm's trained weights go, for the 'train-precision-samples' part."""


def _arm_name(precision: str, seed: int) -> str:
    return f"{precision}-seed{seed}"


def train_precision(model_name: str, data_dir: str | None) -> dict:
    """Does bf16 autocast learn as well as fp32? From the shipped weights, PRECISION_STEPS AdamW steps on QM9 train
    in each of PRECISION_ARMS (warm-up then a constant rate; an arm's seed fixes its batch order and noise, and
    arms of the same seed see the same batches and noise); then the loss of every model on the same 8 batches of
    QM9 valid in fp32 with the same rotations and noise, and before training. Each arm's weights are saved under
    runs/train-precision/ for the sample comparison."""
    from atomgen.models.quetzal import QuetzalModel

    valid = _batches(data_dir, 128, 8, split="valid")

    def validation_loss(model) -> dict[str, float]:
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            # Augmented as in training (centred, rotated; seeded), so that the loss is the one the model learns.
            losses = [model.training_loss(batch, generator=generator) for batch in valid]
        return {key: float(np.mean([float(loss[key]) for loss in losses]))
                for key in ("loss", "type_loss", "position_loss")}

    arms = {"before": validation_loss(QuetzalModel.from_pretrained(model_name).eval())}
    for precision, seed in PRECISION_ARMS:
        train = _batches(data_dir, 128, PRECISION_STEPS, seed=1 + seed)
        model = QuetzalModel.from_pretrained(model_name).train()
        optimiser = torch.optim.AdamW(model.parameters(), lr=PRECISION_LR)
        warmup = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: min(1.0, (step + 1) / PRECISION_WARMUP))
        generator = torch.Generator().manual_seed(seed)
        start, train_losses = time.perf_counter(), []
        for batch in train:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision != "fp32"):
                loss = model.training_loss(batch, generator=generator)["loss"]
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            warmup.step()
            train_losses.append(float(loss.detach()))
        seconds = time.perf_counter() - start
        name = _arm_name(precision, seed)
        model.eval().save(PRECISION_RUNS / name)
        arms[name] = {**validation_loss(model), "train_loss_last_50": float(np.mean(train_losses[-50:])),
                      "seconds": seconds, "precision": precision, "seed": seed}
    return {"model": model_name, "steps": PRECISION_STEPS, "warmup_steps": PRECISION_WARMUP, "batch_size": 128,
            "lr": PRECISION_LR, "grad_clip": 1.0, "arms": arms, "threads": torch.get_num_threads()}


def train_precision_samples(seeds: tuple[int, ...], n: int, data_dir: str | None) -> dict:
    """The seed-0 arms of 'train-precision' (fp32 and bf16 training from the same weights, batches and noise),
    each sampled on the same seeds (n molecules each, the default sampler) and evaluated against QM9 without
    PoseBusters and strain: the paired difference in molecule stability, ± one standard error."""
    from atomgen import evaluate
    from atomgen.models.quetzal import QuetzalModel

    metrics = ("atom_stability", "molecule_stability", "rdkit_validity", "fcd")
    arms = {}
    for precision in ("fp32", "bf16-mixed"):
        folder = PRECISION_RUNS / _arm_name(precision, 0)
        if not folder.is_dir():
            raise SystemExit(f"{folder} is missing: run --parts train-precision first")
        model = QuetzalModel.from_pretrained(folder)
        rows = []
        for seed in seeds:
            report = evaluate(model.sample(n, seed=seed, batch_size=256, progress=False), "qm9", seed=0,
                              data_dir=data_dir, posebusters=False, strain=False, progress=False)
            rows.append({"seed": seed, **{key: report.metrics.get(key) for key in metrics}})
        arms[precision] = {"rows": rows, "mean": {key: float(np.mean([row[key] for row in rows])) for key in metrics}}
    fp32, bf16 = (arms[key]["mean"]["molecule_stability"] for key in ("fp32", "bf16-mixed"))
    total = n * len(seeds)
    return {"n": n, "seeds": list(seeds), "arms": arms, "stability_difference": share_difference(bf16, fp32, total),
            "threads": torch.get_num_threads()}
