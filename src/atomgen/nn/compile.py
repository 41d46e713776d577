"""Compile a model's repeated blocks with torch.compile (inductor; on a CPU it generates C++ through gcc).

The training engine compiles them when `trainer.compile` is set, as the shipped configs do: in the training
benchmarks (benchmarks/bench_training.py) it made bf16 steps 4-14 % faster in every family.

Under bf16 autocast about half of a training step on a CPU is element-wise work between the matrix products
(layer norms, GELU/SiLU, modulation, residual adds), each launched on its own; inductor fuses it. Only the blocks
are compiled, in place (`nn.Module.compile`), so parameter names, checkpoints and the data-dependent code around
them (the prefix-geometry pairs, masks) are unchanged; shapes are dynamic, since batches differ in length. A deep
copy (the EMA weights) does not carry the compiled forward along: it runs its own weights, uncompiled.
"""

from __future__ import annotations

from torch import nn

from atomgen.nn.diffmlp import FactorisedAdaLNBlock
from atomgen.nn.transformer import TransformerBlock

COMPILED_BLOCKS = (TransformerBlock, FactorisedAdaLNBlock)
"""The block classes every family stacks, and that `compile_blocks` compiles."""


def compile_blocks(model: nn.Module) -> int:
    """Compile, in place, every block of `model` that is one of COMPILED_BLOCKS; returns how many there were."""
    blocks = [module for module in model.modules() if isinstance(module, COMPILED_BLOCKS)]
    for block in blocks:
        block.compile(dynamic=True)
    return len(blocks)

