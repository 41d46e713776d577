"""Products whose rows come out bit for bit the same however many rows are computed together.

A sampled molecule must not depend on which other molecules share its batch (`atomgen.models.base`). Matrix
products are row-independent in exact arithmetic, but BLAS picks kernels by shape, and kernels add in different
orders. Measured here (MKL, fp32): a product of fewer than 12 rows, or one with a single output column at almost
any row count, gives rows a last bit different from the same rows inside another product. Two rules avoid both:
compute at least `MIN_ROWS` rows (padding with zeros), and form single-output products as an elementwise product
and a sum over the last axis, which every row reduces alike.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

MIN_ROWS = 16
"""The fewest rows a batch or a set of pairs is computed with."""


def at_least_rows(function: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """`function(x)` of a (N, ...) tensor whose rows are independent, computed on at least `MIN_ROWS` rows."""
    if len(x) >= MIN_ROWS:
        return function(x)
    padded = torch.cat([x, x.new_zeros(MIN_ROWS - len(x), *x.shape[1:])])
    return function(padded)[: len(x)]


def single_output(linear: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """`linear(x)` for a layer with one output, as a sum of products along the last axis (same value per row)."""
    if linear.out_features != 1:
        raise ValueError(f"single_output needs a layer with one output, not {linear.out_features}")
    out = (x * linear.weight[0].to(x.dtype)).sum(-1, keepdim=True)
    return out if linear.bias is None else out + linear.bias.to(x.dtype)
