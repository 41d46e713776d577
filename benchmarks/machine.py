"""This machine's matrix-product peak in fp32 and bf16, and the share of it a model's run reaches.

A throughput row says how fast a model ran; beside the peak measured in the same process it also says how much
of the machine the run used (model FLOPs utilisation, MFU): the matrix-product FLOPs the run needed, counted by
PyTorch's FlopCounterMode, per second, over the best rate this machine reaches on the same kind of product.
"""

from __future__ import annotations

import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

SQUARE = (2048, 2048, 2048)
"""The machine's headline shape: large enough that the kernels run at their best."""

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}

BF16_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16")
"""CPU flags that decide how fast bf16 products run: AMX tiles (Intel Sapphire Rapids and later) reach several
times the fp32 rate; AVX-512 BF16 alone (AMD Zen 4, for one) about twice it."""


def processor() -> dict[str, Any]:
    """The processor's model name and which of BF16_FLAGS it has, from /proc/cpuinfo (empty where unreadable).

    The machines this project runs on are not all alike: the same benchmark read 340 fp32 / 2,470 bf16 GFLOP/s on
    an AMX machine and 180 / 400 on an AVX-512 BF16 one, so every peak is recorded with the processor it ran on."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return {"model": "", "bf16_flags": []}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name", ""), "bf16_flags": [flag for flag in BF16_FLAGS if flag in flags]}


def matmul_rate(rows: int, inner: int, cols: int, dtype: torch.dtype, min_seconds: float = 0.3) -> float:
    """GFLOP/s of (rows × inner) @ (inner × cols) in `dtype` on this process's threads, best of three timings."""
    a = torch.randn(rows, inner).to(dtype)
    b = torch.randn(inner, cols).to(dtype)
    for _ in range(3):  # warm-up: the first calls choose and build kernels
        a @ b
    flops = 2 * rows * inner * cols
    best = 0.0
    for _ in range(3):
        repeats, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < min_seconds / 3 or repeats < 2:
            a @ b
            repeats += 1
        best = max(best, repeats * flops / elapsed / 1e9)
    return best


def peaks(shapes: dict[str, tuple[int, int, int]]) -> dict[str, Any]:
    """fp32 and bf16 GFLOP/s at the square headline shape and at each named (rows, inner, cols) shape of a model;
    `best` is the best rate of each dtype over the model's shapes, the peak its utilisation is read against."""
    table = {"square 2048": SQUARE, **shapes}
    rates = {name: {key: matmul_rate(*shape, dtype) for key, dtype in DTYPES.items()} for name, shape in table.items()}
    best = {key: max(rates[name][key] for name in shapes) for key in DTYPES}
    return {"gflops": rates, "shapes": {name: list(shape) for name, shape in table.items()}, "best": best,
            "threads": torch.get_num_threads(), "processor": processor()}


def counted_flops(run: Callable[[], Any]) -> tuple[Any, int]:
    """(`run()`'s result, the FLOPs of its matrix products and attention) as FlopCounterMode counts them."""
    counter = FlopCounterMode(display=False)
    with counter:
        result = run()
    return result, int(counter.get_total_flops())


def utilisation(flops: float, seconds: float, peak_gflops: float) -> dict[str, float]:
    """The achieved GFLOP/s of a run and its share of `peak_gflops`."""
    achieved = flops / seconds / 1e9
    return {"gflops": achieved, "mfu": achieved / peak_gflops}
