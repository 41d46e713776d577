"""Quetzal's prefix bonds: each token's bond orders to the atoms before it, as EDM's evaluator reads them."""

from __future__ import annotations

import numpy as np
import torch

from atomgen.eval.bonds import edm_bond_orders
from atomgen.models.quetzal import QuetzalModel, preset
from atomgen.models.quetzal.network import START
from atomgen.models.quetzal.prefix_bonds import PrefixBonds

from .conftest import embedded

ELEMENTS = (1, 6, 7, 8, 9)


def _tokens(system) -> tuple[torch.Tensor, torch.Tensor]:
    """START then the atoms of `system`, as type classes and positions (one row)."""
    classes = torch.tensor([START] + [ELEMENTS.index(int(z)) + 1 for z in system.numbers])
    positions = torch.cat([torch.zeros(1, 3), torch.as_tensor(system.positions, dtype=torch.float32)])
    return classes[None], positions[None]


def test_order_sums_are_the_evaluators_bond_orders_to_earlier_atoms():
    bonds = PrefixBonds(ELEMENTS, 8)
    for smiles in ("CC#N", "CC(=O)O", "c1ccncc1", "FC(F)F", "OCC(O)CO"):
        system = embedded(smiles)
        orders = edm_bond_orders(system.numbers, system.positions)
        expected = np.tril(orders, -1).sum(axis=1)  # atom i's orders to atoms 0..i-1
        sums = bonds.order_sums(*_tokens(system))[0]
        assert sums[0] == 0  # START bonds to nothing
        assert np.array_equal(sums[1:].numpy(), expected), smiles
        # Bonds are symmetric, so the sums over a whole molecule count each bond once.
        assert int(sums.sum()) == orders.sum() // 2
    triple = bonds.order_sums(*_tokens(embedded("CC#N")))[0]
    assert 3 in triple.tolist()  # the nitrile's C#N is read as a triple bond


def test_a_tokens_sum_does_not_change_when_atoms_are_added_after_it():
    bonds = PrefixBonds(ELEMENTS, 8)
    types, positions = _tokens(embedded("CC(C)=O"))
    whole = bonds.order_sums(types, positions)[0]
    for length in range(1, types.shape[1]):
        assert torch.equal(bonds.order_sums(types[:, :length], positions[:, :length])[0], whole[:length])


def test_a_model_warm_started_without_prefix_bonds_computes_the_same_logits(tmp_path, small_molecules):
    torch.manual_seed(0)
    plain = QuetzalModel(preset("tiny", prefix_geometry=True)).eval()
    plain.save(tmp_path / "plain")
    extended = QuetzalModel(preset("tiny", prefix_geometry=True, prefix_bonds=True)).eval()
    assert extended.warm_start(tmp_path / "plain") == ["bonds.embedding.weight"]  # the one tensor left as it was
    types, positions = _tokens(small_molecules[2])
    next_types = torch.cat([types[:, 1:], torch.zeros(1, 1, dtype=torch.long)], dim=1)
    with torch.no_grad():
        for a, b in zip(plain.network(types, positions, next_types), extended.network(types, positions, next_types)):
            assert torch.equal(a, b)
        torch.nn.init.normal_(extended.network.bonds.embedding.weight)
        assert not torch.allclose(plain.network(types, positions, next_types)[0],
                                  extended.network(types, positions, next_types)[0])
