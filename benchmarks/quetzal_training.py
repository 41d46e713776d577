"""Quetzal training benchmarks (parts of bench_quetzal.py): atoms per second by setting with the share of the
machine's peak, and whether bf16 autocast learns as well as fp32 from the same weights and batches."""

from __future__ import annotations

import time

import numpy as np
import torch
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


PRECISION_STEPS = 100
"""AdamW steps of each arm of the 'train-precision' part."""


def train_precision(model_name: str, data_dir: str | None) -> dict:
    """Does bf16 autocast learn as well as fp32? From the shipped weights, the same PRECISION_STEPS batches of QM9
    train in the same order and the same noise draws, once in each precision (lr 1e-4, no warm-up); then the
    loss of both models on the same 8 batches of QM9 valid in fp32 with the same rotations and noise, and before
    training."""
    from atomgen.models.quetzal import QuetzalModel

    train = _batches(data_dir, 128, PRECISION_STEPS, seed=1)
    valid = _batches(data_dir, 128, 8, split="valid")

    def validation_loss(model) -> dict[str, float]:
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            # Augmented as in training (centred, rotated; seeded), so that the loss is the one the model learns.
            losses = [model.training_loss(batch, generator=generator) for batch in valid]
        return {key: float(np.mean([float(loss[key]) for loss in losses]))
                for key in ("loss", "type_loss", "position_loss")}

    arms = {"before": validation_loss(QuetzalModel.from_pretrained(model_name).eval())}
    for precision in ("fp32", "bf16-mixed"):
        model = QuetzalModel.from_pretrained(model_name).train()
        optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
        generator = torch.Generator().manual_seed(0)
        start, train_losses = time.perf_counter(), []
        for batch in train:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision != "fp32"):
                loss = model.training_loss(batch, generator=generator)["loss"]
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            train_losses.append(float(loss.detach()))
        seconds = time.perf_counter() - start
        arms[precision] = {**validation_loss(model.eval()), "train_loss_last_25": float(np.mean(train_losses[-25:])),
                           "seconds": seconds}
    return {"model": model_name, "steps": PRECISION_STEPS, "batch_size": 128, "lr": 1e-4, "arms": arms,
            "threads": torch.get_num_threads()}
