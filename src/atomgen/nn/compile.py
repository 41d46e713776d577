"""Compile a model's repeated blocks with torch.compile (inductor; on a CPU it generates C++ through gcc).

Under bf16 autocast about half of a training step on a CPU is element-wise work between the matrix products
(layer norms, GELU/SiLU, modulation, residual adds), each launched on its own; inductor fuses it. Only the blocks
are compiled, in place (`nn.Module.compile`), so parameter names, checkpoints and the data-dependent code around
them (the prefix-geometry pairs, masks) are unchanged; shapes are dynamic, since batches differ in length. A deep
copy (the EMA weights) does not carry the compiled forward along: it runs its own weights, uncompiled.

The training engine compiles them when a config sets `trainer.compile`; benchmarks/bench_training.py measures,
per shipped config, whether that wins (it loses where every batch has a new sequence length to compile for).
"""

from __future__ import annotations

from typing import TypeVar

from torch import nn

_BLOCKS: set[type[nn.Module]] = set()

Block = TypeVar("Block", bound=type[nn.Module])


def repeated_block(cls: Block) -> Block:
    """Class decorator: mark a block that a model stacks many times, for `compile_blocks`."""
    _BLOCKS.add(cls)
    return cls


def compile_blocks(model: nn.Module) -> int:
    """Compile, in place, every block of `model` marked with `repeated_block`; returns how many there were."""
    blocks = [module for module in model.modules() if type(module) in _BLOCKS]
    for block in blocks:
        block.compile(dynamic=True)
    return len(blocks)
