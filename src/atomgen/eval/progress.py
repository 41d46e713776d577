"""Progress bars for the evaluator's stages: tqdm on stderr, so that stdout carries only the report; and the wall
time of each stage, for whoever asks (the evaluator's benchmark)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

_RECORDERS: list[dict[str, float]] = []  # the dicts of the `stage_seconds` blocks now open


def stage_bar(iterable: Iterable | None = None, *, desc: str, total: int | None = None, enabled: bool = True,
              unit: str = "mol") -> tqdm:
    """A tqdm bar named `desc` over `iterable` (or updated by hand when None); silent when `enabled` is False.

    `total` defaults to len(iterable) where it has one.
    """
    # sys.stderr is looked up at every call, not bound at import, so redirected or captured stderr sees the bars.
    return _StageBar(iterable, desc=desc, total=total, unit=unit, disable=not enabled, file=sys.stderr,
                     dynamic_ncols=True)


@contextmanager
def stage_seconds() -> Iterator[dict[str, float]]:
    """Within the block, the yielded dict fills with {stage: wall seconds from its bar's creation to its end} for
    every stage bar that ends (finished, closed or left) in the block, shown or not; a stage met twice adds up."""
    seconds: dict[str, float] = {}
    _RECORDERS.append(seconds)
    try:
        yield seconds
    finally:
        _RECORDERS.remove(seconds)


class _StageBar(tqdm):
    """A tqdm bar that tells the open `stage_seconds` blocks how long its stage took, once, when it ends."""

    def __init__(self, iterable: Iterable | None, *, desc: str, **kwargs) -> None:
        self._stage = desc  # a disabled tqdm keeps no desc
        self._stage_start: float | None = time.perf_counter()
        super().__init__(iterable, desc=desc, **kwargs)

    def __iter__(self):
        # A disabled tqdm does not close itself at the end of its iterable; the stage ends there all the same.
        try:
            yield from super().__iter__()
        finally:
            self.close()

    def close(self) -> None:
        if self._stage_start is not None:
            elapsed, self._stage_start = time.perf_counter() - self._stage_start, None
            for seconds in _RECORDERS:
                seconds[self._stage] = seconds.get(self._stage, 0.0) + elapsed
        super().close()
