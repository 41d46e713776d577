"""Shared blocks: the KV cache gives what a full causal pass gives; distance biases are invariant and start at zero;
random rotations are proper and uniform."""

from __future__ import annotations

import torch

from atomgen.data.augment import augment_molecules, centre, random_rotations
from atomgen.nn.distance_bias import DistanceBias
from atomgen.nn.transformer import TransformerStack


def test_kv_cache_matches_full_causal_pass():
    torch.manual_seed(0)
    stack = TransformerStack(depth=3, dim=32, heads=4).eval()
    x = torch.randn(2, 7, 32)
    with torch.no_grad():
        full = stack(x, causal=True)
        cache = stack.new_cache(batch=2, capacity=8, like=x)
        pieces = [stack(x[:, :3], causal=True, cache=cache)]  # a prefix of three tokens, then one at a time
        pieces += [stack(x[:, k : k + 1], causal=True, cache=cache) for k in range(3, 7)]
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-5)
    assert cache.length == 7


def test_kv_cache_keep_drops_rows():
    torch.manual_seed(1)
    stack = TransformerStack(depth=2, dim=16, heads=2).eval()
    x = torch.randn(3, 4, 16)
    with torch.no_grad():
        full = stack(x, causal=True)
        cache = stack.new_cache(batch=3, capacity=4, like=x)
        stack(x[:, :3], causal=True, cache=cache)
        cache.keep(torch.tensor([2, 0]))
        last = stack(x[[2, 0], 3:4], causal=True, cache=cache)
    assert torch.allclose(last[:, 0], full[[2, 0], 3], atol=1e-5)


def test_distance_bias_starts_at_zero_and_is_invariant_under_rigid_motions():
    torch.manual_seed(2)
    bias = DistanceBias(layers=3, heads=2)
    points = torch.randn(2, 5, 3) * 2
    assert all(torch.equal(b, torch.zeros(2, 2, 5, 5)) for b in bias(points, points))
    torch.nn.init.normal_(bias.mlp[-1].weight)
    rotation = random_rotations(1, generator=torch.Generator().manual_seed(0))[0]
    moved = points @ rotation.T + torch.tensor([1.0, -2.0, 0.5])
    before, after = bias(points, points), bias(moved, moved)
    assert len(before) == 3 and before[0].shape == (2, 2, 5, 5)
    assert before[0].abs().max() > 0.1
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(before, after))
    # A row of queries against the same keys is the matching row of the full matrix (what the KV cache asks for).
    row = bias(points[:, 3:4], points[:, :4])
    assert all(torch.allclose(r, b[:, :, 3:4, :4], atol=1e-6) for r, b in zip(row, before))


def test_per_layer_attention_biases_reach_their_own_layer_and_the_cache_agrees():
    torch.manual_seed(3)
    stack = TransformerStack(depth=2, dim=16, heads=2).eval()
    x = torch.randn(2, 5, 16)
    biases = [torch.randn(2, 2, 5, 5), torch.zeros(2, 2, 5, 5)]
    with torch.no_grad():
        plain = stack(x, causal=True)
        biased = stack(x, causal=True, mask=biases)
        cache = stack.new_cache(batch=2, capacity=5, like=x)
        pieces = [stack(x[:, :2], causal=True, cache=cache, mask=[b[:, :, :2, :2] for b in biases])]
        pieces += [stack(x[:, k:k + 1], causal=True, cache=cache, mask=[b[:, :, k:k + 1, :k + 1] for b in biases])
                   for k in range(2, 5)]
    assert not torch.allclose(plain, biased, atol=1e-3)
    assert torch.allclose(torch.cat(pieces, dim=1), biased, atol=1e-5)


def test_adaln_zero_block_starts_as_identity():
    stack = TransformerStack(depth=2, dim=16, heads=2, cond_dim=8)
    x = torch.randn(2, 5, 16)
    assert torch.allclose(stack(x, cond=torch.randn(2, 8)), x)


def test_random_rotations_are_proper_and_uniform():
    rotations = random_rotations(20000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    identity = torch.eye(3, dtype=torch.float64).expand(20000, 3, 3)
    assert torch.allclose(rotations @ rotations.transpose(1, 2), identity, atol=1e-10)
    assert torch.allclose(torch.linalg.det(rotations), torch.ones(20000, dtype=torch.float64))
    # Haar measure: every matrix entry averages 0 and has variance 1/3.
    assert rotations.mean(0).abs().max() < 0.02
    assert (rotations.var(0) - 1 / 3).abs().max() < 0.02


def test_centre_on_anchor_atoms_and_augment_keeps_padding_zero():
    positions = torch.tensor([[[1.0, 0, 0], [3.0, 0, 0], [10.0, 0, 0], [0, 0, 0]]])
    mask = torch.tensor([[True, True, True, False]])
    heavy = torch.tensor([[True, True, False, False]])
    centred = centre(positions, mask, heavy)
    assert torch.allclose(centred[0, :2].mean(0), torch.zeros(3))
    moved = augment_molecules(positions, mask, 0.1, heavy, torch.Generator().manual_seed(0))
    assert torch.equal(moved[0, 3], torch.zeros(3))
    distances = torch.cdist(positions[0, :3], positions[0, :3])
    assert torch.allclose(torch.cdist(moved[0, :3], moved[0, :3]), distances, atol=1e-5)
