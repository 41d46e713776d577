"""SMILES corpora as randomised SELFIES token ids, for training NExT-Mol's language model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from atomgen.data.selfies_vocab import SelfiesVocabulary, smiles_to_selfies
from atomgen.errors import InputError


def build_vocabulary(smiles: Sequence[str], *, variants: int = 4, seed: int = 0,
                     randomised_molecules: int | None = None) -> SelfiesVocabulary:
    """The symbols of each molecule's canonical SELFIES and of `variants` randomised ones: randomising moves
    ring and branch symbols around, so the vocabulary must cover more than the canonical strings.

    `randomised_molecules` writes the randomised strings for a seeded random subset of that many molecules only
    (every canonical string is still read): on a corpus of hundreds of thousands the full pass takes many minutes,
    and a symbol that only a rare randomised string spells costs little, since `SelfiesDataset` then falls back
    to the canonical string. A SMILES without a SELFIES form adds nothing (`SelfiesDataset` drops it).
    """
    rng = np.random.default_rng(seed)
    randomised = range(len(smiles))
    if randomised_molecules is not None and randomised_molecules < len(smiles):
        randomised = rng.choice(len(smiles), size=randomised_molecules, replace=False)
    corpus = []
    for text in smiles:
        try:
            corpus.append(smiles_to_selfies(text))
        except InputError:
            continue
    for k in randomised:
        try:
            corpus += [smiles_to_selfies(smiles[int(k)], randomise=True, rng=rng) for _ in range(variants)]
        except InputError:
            continue
    return SelfiesVocabulary.from_selfies(corpus)


class SelfiesDataset(Dataset):
    """Item k: token ids (BOS ... EOS) of molecule k, written from a random starting atom on every draw.

    A randomised string that the vocabulary cannot spell, or that is longer than `max_length`, falls back to the
    canonical one, which must fit (molecules whose canonical SELFIES do not are dropped at construction).
    """

    def __init__(self, smiles: Sequence[str], vocabulary: SelfiesVocabulary, max_length: int,
                 randomise: bool = True, seed: int = 0):
        self.vocabulary = vocabulary
        self.max_length = max_length
        self.randomise = randomise
        self.rng = np.random.default_rng(seed)
        self.smiles, self.canonical = [], []
        for text in smiles:
            try:
                ids = vocabulary.encode(smiles_to_selfies(text))
            except InputError:
                continue
            if len(ids) <= max_length:
                self.smiles.append(text)
                self.canonical.append(ids)

    def __len__(self) -> int:
        return len(self.smiles)

    def lengths(self) -> np.ndarray:
        return np.array([len(ids) for ids in self.canonical])

    def __getitem__(self, k: int) -> list[int]:
        if self.randomise:
            try:
                ids = self.vocabulary.encode(smiles_to_selfies(self.smiles[k], randomise=True, rng=self.rng))
                if len(ids) <= self.max_length:
                    return ids
            except InputError:
                pass
        return self.canonical[k]


def collate_token_ids(items: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
    """Pad id sequences (with 0, the padding id) into `ids` (B, L); `n_tokens` (B,) counts the real ones."""
    lengths = torch.tensor([len(ids) for ids in items], dtype=torch.long)
    ids = torch.zeros(len(items), int(lengths.max()), dtype=torch.long)
    for row, sequence in enumerate(items):
        ids[row, : len(sequence)] = torch.as_tensor(sequence)
    return {"ids": ids, "n_tokens": lengths}
