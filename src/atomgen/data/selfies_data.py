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
        self.kept: list[int] = []  # which of the given SMILES the dataset holds, in order
        for k, text in enumerate(smiles):
            try:
                ids = vocabulary.encode(smiles_to_selfies(text))
            except InputError:
                continue
            if len(ids) <= max_length:
                self.smiles.append(text)
                self.canonical.append(ids)
                self.kept.append(k)

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


class PropertySelfiesDataset(SelfiesDataset):
    """A SelfiesDataset whose item k is (token ids, molecule k's property values), NaN for a value not known."""

    def __init__(self, smiles: Sequence[str], values: np.ndarray, vocabulary: SelfiesVocabulary, max_length: int,
                 randomise: bool = True, seed: int = 0):
        super().__init__(smiles, vocabulary, max_length, randomise, seed)
        self.values = np.asarray(values, dtype=np.float64)[self.kept]

    def __getitem__(self, k: int) -> tuple[list[int], np.ndarray]:
        return super().__getitem__(k), self.values[k]


def collate_property_token_ids(items: Sequence[tuple[Sequence[int], np.ndarray]]) -> dict[str, torch.Tensor]:
    """`collate_token_ids` of the ids, plus `properties` (B, P) (0 where unknown) and `present` (B, P) flags."""
    batch = collate_token_ids([ids for ids, _ in items])
    values = torch.as_tensor(np.stack([v for _, v in items]), dtype=torch.float32)
    batch["present"] = torch.isfinite(values)
    batch["properties"] = torch.nan_to_num(values)
    return batch
