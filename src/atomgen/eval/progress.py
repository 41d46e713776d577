"""Progress bars for the evaluator's stages: tqdm on stderr, so that stdout carries only the report."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from tqdm import tqdm


def stage_bar(iterable: Iterable | None = None, *, desc: str, total: int | None = None, enabled: bool = True,
              unit: str = "mol") -> tqdm:
    """A tqdm bar named `desc` over `iterable` (or updated by hand when None); silent when `enabled` is False.

    `total` defaults to len(iterable) where it has one.
    """
    # sys.stderr is looked up at every call, not bound at import, so redirected or captured stderr sees the bars.
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=not enabled, file=sys.stderr,
                dynamic_ncols=True)
