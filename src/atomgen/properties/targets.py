"""The targets a conditional generator is asked for, drawn as EDM draws them (`qm9/models.py`,
DistributionNodes and DistributionProperty).

First an atom count from the histogram of the generator's training molecules, then the property from a
histogram of 1,000 equal bins between the smallest and largest value among that count's molecules, uniformly
within the chosen bin. An atom count held by a single molecule gives back that molecule's value: EDM keeps 1,000
bins however few molecules a count has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 1000


@dataclass(frozen=True)
class _CountHistogram:
    low: float
    width: float
    probabilities: np.ndarray


class PropertyTargets:
    """p(atom count) and p(value | atom count) of one property over a set of molecules."""

    def __init__(self, atom_counts: np.ndarray, values: np.ndarray):
        atom_counts, values = np.asarray(atom_counts, dtype=np.int64), np.asarray(values, dtype=np.float64)
        if atom_counts.shape != values.shape or not len(values):
            raise ValueError("one atom count per value, and at least one of each")
        counts, frequency = np.unique(atom_counts, return_counts=True)
        self.atom_counts = counts
        self.count_probabilities = frequency / frequency.sum()
        self.histograms = {}
        for n in counts:
            chosen = values[atom_counts == n]
            low, high = chosen.min(), chosen.max() + 1e-12  # EDM's upper edge, so that the maximum lands in a bin
            width = (high - low) / BINS
            bins = np.minimum(((chosen - low) / width).astype(np.int64), BINS - 1)
            histogram = np.bincount(bins, minlength=BINS).astype(np.float64)
            self.histograms[int(n)] = _CountHistogram(low, width, histogram / histogram.sum())

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(atom counts, values) of n targets."""
        atom_counts = rng.choice(self.atom_counts, size=n, p=self.count_probabilities)
        return atom_counts, self.values_for(atom_counts, rng)

    def values_for(self, atom_counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One value per given atom count, from that count's histogram; a count no molecule had is a ValueError."""
        values = np.empty(len(atom_counts))
        for k, n in enumerate(np.asarray(atom_counts, dtype=np.int64)):
            if int(n) not in self.histograms:
                raise ValueError(f"no molecule of {n} atoms to draw a target from")
            histogram = self.histograms[int(n)]
            b = rng.choice(BINS, p=histogram.probabilities)
            values[k] = histogram.low + histogram.width * (b + rng.random())
        return values

    @property
    def value_range(self) -> tuple[float, float]:
        """The smallest and largest value any atom count can give."""
        return (min(h.low for h in self.histograms.values()),
                max(h.low + BINS * h.width for h in self.histograms.values()))
