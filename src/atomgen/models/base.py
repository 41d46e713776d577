"""What the three generator families share: checkpoints, device, the element check, and the sampling loop.

The loop (`GenerativeModel.run_batches`) is the one path every family samples through. Each family hands it jobs
(one per sample: its number in the run, a size, and what the family needs to build it) and a function that
generates one batch; the loop owns the rest:

* batches hold jobs of one size only, where a size is a function of the sample alone (Quetzal: its prefix length;
  ADiT and conformers: its atom count rounded up to `padded_size`), so the length a sample is padded to, which
  changes the order of sums over atoms, never depends on the other samples of its batch;
* every batch is computed with at least `MIN_BATCH_ROWS` rows (padding rows, without a sample, fill it up);
* each sample draws from its own random stream (`atomgen.models.streams`);
* results come back in job order, with one progress bar.

Together these make sample k of a run a function of (model, seed, k, settings) only, whatever the batch size,
the order of batches or the number of processes the run is split over.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from atomgen.elements import symbol
from atomgen.errors import InputError
from atomgen.models import checkpoint
from atomgen.models.sampler_settings import PRECISIONS
from atomgen.models.streams import SampleStreams
from atomgen.nn.rows import MIN_ROWS

MIN_BATCH_ROWS = MIN_ROWS
"""The fewest rows a batch is computed with: matrix products of fewer rows take other BLAS kernels, which add in
another order (`atomgen.nn.rows`), so a sample computed among few others, as the last ones of a run or of a shard
are, would differ from the same sample in a full batch."""


PAD_MULTIPLE = 8
"""Systems are padded to a multiple of this many atoms (`padded_size`)."""


@dataclass(frozen=True)
class Job:
    """One sample to generate.

    Attributes:
        index: the sample's number in the run: it seeds the sample's random stream and places its result.
        size: jobs of one batch share it (Quetzal: prefix length; ADiT and conformers: `padded_size`).
        payload: whatever the family's batch function needs to build this sample.
    """

    index: int
    size: int
    payload: Any = None


BatchFunction = Callable[[list[Job], SampleStreams], list[Any]]
"""Generates one batch: given its jobs (padding rows repeat the first job) and their streams (None for padding),
returns one result per row."""


class CheckpointedModel(nn.Module):
    """A network that saves itself as an atomgen checkpoint and loads from a shipped name or a folder.

    Subclasses set `family` and `config_class`, and keep their hyperparameters in `self.config` (a dataclass with
    `to_dict()`).
    """

    family: str
    config_class: type
    loaded_from: str | None = None
    """The shipped name or folder the model was loaded from (None for one built in code): what its messages call it."""

    def called(self, generic: str) -> str:
        """How a message names this model: the name or folder it was loaded from, else `generic`."""
        return self.loaded_from or generic

    def weights_module(self) -> nn.Module:
        """The module whose state is the checkpoint's weights (the model itself unless a family says otherwise)."""
        return self

    def save(self, path: str | Path, dtype: torch.dtype | None = None, extra: dict[str, Any] | None = None) -> Path:
        """Write a checkpoint folder (safetensors weights + config.json)."""
        return checkpoint.save_checkpoint(path, self.family, self.config.to_dict(), self.weights_module(), dtype,
                                          extra)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, device: str | torch.device = "cpu"):
        """Load a shipped model by name (see `atomgen.zoo.available()`) or a checkpoint folder."""
        from atomgen.zoo import resolve

        folder = resolve(name_or_path)
        model = cls(checkpoint.load_config(folder, cls.family, cls.config_class))
        checkpoint.load_weights(folder, model.weights_module())
        model.loaded_from = str(name_or_path)
        return model.to(device).eval()

    def warm_start(self, name_or_path: str | Path) -> list[str]:
        """Start from a trained model's weights (see `checkpoint.warm_start`); returns the tensors kept."""
        return checkpoint.warm_start(name_or_path, self.family, self.weights_module())

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


class GenerativeModel(CheckpointedModel):
    """Base of every generator family's public model object: a checkpointed model that names the atomic numbers
    it can build in `elements` and samples through `run_batches`."""

    # ------------------------------------------------------------------------------------------------------ inputs

    @property
    def elements(self) -> tuple[int, ...]:
        """Atomic numbers this model can build."""
        raise NotImplementedError

    def check_elements(self, numbers: Sequence[int] | np.ndarray, source: str | Path | None = None,
                       record: int | None = None, what: str = "") -> None:
        """An InputError naming the file and record when `numbers` hold an element this model does not know;
        `what` (a SMILES, say) starts the message."""
        unknown = sorted({int(z) for z in np.asarray(numbers).ravel()} - set(self.elements))
        if unknown:
            names = ", ".join(symbol(z) if 0 < z < 119 else str(z) for z in unknown)
            allowed = ", ".join(symbol(z) for z in self.elements)
            prefix = f"{what}: " if what else ""
            raise InputError(f"{prefix}element {names} is not one this model knows ({allowed})", source, record)

    # ---------------------------------------------------------------------------------------------------- sampling
    def run_batches(self, jobs: Sequence[Job], generate: BatchFunction, *, seed: int, batch_size: int,
                    progress: bool = True, desc: str = "sampling", unit: str = "mol", stream: int = 0,
                    precision: str = "fp32") -> list[Any]:
        """The result of every job, in job order (see the module's docstring for what the loop guarantees);
        `stream` picks which of each sample's streams this pass draws from (`streams.sample_seed`), and
        `precision` (`PRECISIONS`) the arithmetic of `generate`'s matrix products."""
        if batch_size < 1:
            raise InputError(f"the batch size must be at least 1, not {batch_size}")
        autocast = precision_context(precision, self.device)
        self.eval()
        order = sorted(range(len(jobs)), key=lambda k: (jobs[k].size, k))
        results: list[Any] = [None] * len(jobs)
        with tqdm(total=len(jobs), desc=desc, unit=unit, disable=not progress) as bar:
            for batch in _batches_of_one_size(order, jobs, batch_size):
                chosen = [jobs[k] for k in batch]
                padding = max(0, MIN_BATCH_ROWS - len(chosen))
                streams = SampleStreams.for_samples(seed, [job.index for job in chosen] + [None] * padding,
                                                    self.device, stream)
                with autocast:
                    outputs = generate(chosen + [chosen[0]] * padding, streams)
                for k, output in zip(batch, outputs[: len(chosen)]):
                    results[k] = output
                bar.update(len(chosen))
        return results


def precision_context(precision: str, device: torch.device) -> torch.autocast:
    """The autocast context of a sampling precision: "fp32", or "bf16", where matrix products run in bfloat16
    (AMX on recent x86 CPUs, tensor cores on GPUs) and what the model marks as needing it stays in float32."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def padded_size(atoms: int) -> int:
    """The length a system of `atoms` atoms is padded to: the next multiple of 8. Coarser buckets waste work on
    padding, finer ones split a run into more, smaller batches (QM9's 3-29 atoms make 4 buckets)."""
    return -(-atoms // PAD_MULTIPLE) * PAD_MULTIPLE


def rows_to_keep(growing: torch.Tensor) -> torch.Tensor | None:
    """Which rows of an autoregressive batch the next step computes: the growing ones, topped up with finished ones
    to `MIN_BATCH_ROWS` (fewer rows would change the arithmetic of the growing ones), in their current order;
    None when all stay."""
    if growing.all() or len(growing) <= MIN_BATCH_ROWS:
        return None
    finished = (~growing).nonzero().squeeze(-1)
    keep = growing.clone()
    keep[finished[: max(0, MIN_BATCH_ROWS - int(growing.sum()))]] = True
    return None if keep.all() else keep.nonzero().squeeze(-1)


def _batches_of_one_size(order: list[int], jobs: Sequence[Job], batch_size: int) -> list[list[int]]:
    """Cut the size-sorted job positions into batches of at most `batch_size` jobs of one size each."""
    batches: list[list[int]] = []
    for k in order:
        if batches and len(batches[-1]) < batch_size and jobs[batches[-1][0]].size == jobs[k].size:
            batches[-1].append(k)
        else:
            batches.append([k])
    return batches


def shard_range(count: int, shard: tuple[int, int] | None) -> range:
    """The sample numbers of shard i of N of a run of `count` samples (contiguous slices, sizes differing by at
    most one); None is the whole run."""
    if shard is None:
        return range(count)
    index, total = shard
    if not 0 <= index < total:
        raise InputError(f"shard {index}/{total} does not exist: shards of {total} are numbered 0 to {total - 1}")
    return range(count * index // total, count * (index + 1) // total)
