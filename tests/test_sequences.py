"""Atom sequences for autoregressive training: orders, padding, length-grouped batches."""

from __future__ import annotations

import numpy as np
import pytest

from atomgen.data.ordering import atom_order, smiles_order
from atomgen.data.sequences import AtomSequenceDataset, LengthGroupedSampler, collate_sequences
from atomgen.errors import DatasetError

from .conftest import embedded


def test_smiles_order_puts_each_hydrogen_after_its_heavy_atom():
    molecule = embedded("OCC(=O)N")
    order = smiles_order(molecule)
    assert sorted(order.tolist()) == list(range(len(molecule)))
    numbers = molecule.numbers[order]
    heavy = np.nonzero(numbers != 1)[0]
    assert heavy[0] == 0
    # Every hydrogen sits within 1.2 Å of the nearest heavy atom placed before it.
    positions = molecule.positions[order]
    for k in np.nonzero(numbers == 1)[0]:
        before = [h for h in heavy if h < k]
        assert np.linalg.norm(positions[before] - positions[k], axis=1).min() < 1.2
    assert np.array_equal(atom_order(molecule, "dataset"), np.arange(len(molecule)))
    shuffled = atom_order(molecule, "random", np.random.default_rng(0))
    assert sorted(shuffled.tolist()) == list(range(len(molecule)))


def test_dataset_orders_and_collate(small_molecules):
    dataset = AtomSequenceDataset(small_molecules, (1, 6, 7, 8, 9), order="smiles")
    classes, positions = dataset[0]
    assert len(classes) == len(small_molecules[0]) and positions.shape == (len(classes), 3)
    batch = collate_sequences([dataset[k] for k in range(3)])
    lengths = [len(small_molecules[k]) for k in range(3)]
    assert batch["n_atoms"].tolist() == lengths
    assert batch["types"].shape == (3, max(lengths))
    assert (batch["types"][0, lengths[0]:] == 0).all()


def test_dataset_rejects_unknown_elements_and_long_molecules(small_molecules):
    with pytest.raises(DatasetError, match="outside the model's elements"):
        AtomSequenceDataset([embedded("CCS")], (1, 6, 7, 8, 9))
    with pytest.raises(DatasetError, match="more than max_atoms"):
        AtomSequenceDataset(small_molecules, (1, 6, 7, 8, 9), max_atoms=5)


def test_length_grouped_sampler_is_a_seeded_permutation_with_little_padding():
    lengths = np.random.default_rng(0).integers(3, 30, size=2000)
    sampler = LengthGroupedSampler(lengths, batch_size=32, group_batches=20, seed=1)
    first, second = list(sampler), list(sampler)
    assert sorted(first) == list(range(2000)) and first != second  # a new order every epoch
    assert first == list(LengthGroupedSampler(lengths, batch_size=32, group_batches=20, seed=1))
    batches = [lengths[first[k : k + 32]] for k in range(0, 2000, 32)]
    random_batches = np.array_split(lengths[np.random.default_rng(2).permutation(2000)], 63)
    grouped_waste = np.mean([b.max() - b.mean() for b in batches])
    random_waste = np.mean([b.max() - b.mean() for b in random_batches])
    assert grouped_waste < random_waste / 3
