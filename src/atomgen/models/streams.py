"""One random stream per sample, so that a seed names molecules, not batches.

Sample k of a run draws every random number it needs (its size, its class, its types, its noise) from its own
generator, seeded from (run seed, k). Which other samples share its batch, the order batches run in, and how a run
is split across processes therefore never change it: `atomgen sample --shard i/N` gives exactly the i-th slice of
the whole run.

Rows of a batch that carry no sample (padding, see `atomgen.models.base.MIN_BATCH_ROWS`) have no stream: their
draws are zeros, and whatever they compute is thrown away.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def sample_seed(seed: int, index: int, stream: int = 0) -> int:
    """The seed of sample `index`'s own stream in a run seeded with `seed` (a 63-bit integer).

    NumPy's SeedSequence hashes the triple, so neighbouring samples and neighbouring run seeds get unrelated streams
    (seed + index would make sample 1 of seed 0 the same as sample 0 of seed 1). `stream` separates the stages of
    one sample that draw independently (NExT-Mol's SELFIES, then its conformer).
    """
    if min(seed, index, stream) < 0:
        raise ValueError(f"seeds, sample indices and streams are non-negative, not ({seed}, {index}, {stream})")
    state = np.random.SeedSequence([int(seed), int(index), int(stream)]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def sample_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """A NumPy generator of sample `index`'s stream, for the draws made before any tensor exists (a size, a class)."""
    return np.random.default_rng(sample_seed(seed, index, stream))


class SampleStreams:
    """The random streams of the rows of one batch (None for a padding row), drawn row by row and stacked.

    Selecting rows keeps the same generators, so a row's stream goes on where it stopped however the batch shrinks.
    """

    def __init__(self, generators: Sequence[torch.Generator | None], device: torch.device | str = "cpu"):
        self.generators = list(generators)
        self.device = torch.device(device)

    @classmethod
    def for_samples(cls, seed: int, indices: Sequence[int | None], device: torch.device | str = "cpu",
                    stream: int = 0) -> SampleStreams:
        """Streams of samples `indices` of a run seeded with `seed`; None gives a padding row."""
        device = torch.device(device)
        return cls([None if k is None else torch.Generator(device).manual_seed(sample_seed(seed, k, stream))
                    for k in indices], device)

    def __len__(self) -> int:
        return len(self.generators)

    @property
    def real(self) -> torch.Tensor:
        """(B,) True for the rows that carry a sample."""
        return torch.tensor([g is not None for g in self.generators], device=self.device)

    def select(self, rows: torch.Tensor | Sequence[int]) -> SampleStreams:
        """The streams of the chosen rows, in that order (the same generators, not copies)."""
        return SampleStreams([self.generators[int(r)] for r in rows], self.device)

    def uniform(self, only: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) one float64 uniform on [0, 1) per row; with `only` (B,) booleans, the other rows draw nothing and
        get 0 (an autoregressive sampler's finished rows, so a row's stream is used alike in any batch)."""
        return self._stack((), torch.float64, torch.rand, only=only)

    def normal(self, shape: Sequence[int], dtype: torch.dtype = torch.float32,
               lengths: Sequence[int] | None = None, only: torch.Tensor | None = None) -> torch.Tensor:
        """(B, *shape) standard normal numbers from each row's own stream. With `lengths`, row r draws only
        (lengths[r], *shape[1:]) numbers, zero-padded to shape[0]: a padded system draws as many as it has atoms,
        whatever its batch is padded to. `only` as in `uniform`."""
        return self._stack(tuple(shape), dtype, torch.randn, lengths, only)

    def _stack(self, shape: tuple[int, ...], dtype: torch.dtype, draw, lengths: Sequence[int] | None = None,
               only: torch.Tensor | None = None) -> torch.Tensor:
        drawing = [True] * len(self) if only is None else only.tolist()
        rows = []
        for row, (generator, draws) in enumerate(zip(self.generators, drawing)):
            value = torch.zeros(shape, dtype=dtype, device=self.device)
            if generator is not None and draws and lengths is None:
                value = draw(shape, generator=generator, dtype=dtype, device=self.device)
            elif generator is not None and draws:
                count = int(lengths[row])
                value[:count] = draw((count, *shape[1:]), generator=generator, dtype=dtype, device=self.device)
            rows.append(value)
        return torch.stack(rows) if rows else torch.zeros((0, *shape), dtype=dtype, device=self.device)


def categorical(logits: torch.Tensor, uniform: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """One class per row of `logits` (B, C), by inverse-CDF sampling with one given uniform per row.

    Temperature 0 takes the most likely class. The CDF is built in float64 so that rare classes keep their share.
    """
    if temperature == 0:
        return logits.argmax(-1)
    cdf = torch.softmax(logits.double() / temperature, dim=-1).cumsum(-1)
    # The first class whose CDF exceeds u: a class of probability 0 is never chosen, even at u = 0.
    choice = torch.searchsorted(cdf, (uniform.to(cdf) * cdf[:, -1]).unsqueeze(-1), right=True).squeeze(-1)
    return choice.clamp(max=logits.shape[-1] - 1)
