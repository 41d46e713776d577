"""Shared blocks: the KV cache gives what a full causal pass gives; distance biases are invariant and start at zero;
random rotations are proper and uniform."""

from __future__ import annotations

import pytest
import torch

from atomgen.data.augment import augment_molecules, centre, random_rotations
from atomgen.nn.rows import at_least_rows, single_output
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


def test_rows_come_out_the_same_however_many_are_computed_together():
    torch.manual_seed(2)
    wide, single = torch.nn.Linear(48, 64), torch.nn.Linear(64, 1)
    x = torch.randn(200, 48)
    with torch.no_grad():
        full = single_output(single, at_least_rows(wide, x))
        assert torch.allclose(full, single(wide(x)), atol=1e-5)  # the same function as the layers themselves
        for start, stop in [(0, 1), (3, 8), (10, 23), (50, 131), (7, 200)]:
            part = single_output(single, at_least_rows(wide, x[start:stop]))
            assert torch.equal(part, full[start:stop]), (start, stop)
    with pytest.raises(ValueError, match="one output"):
        single_output(wide, x)


def test_single_token_attention_over_a_cache_does_not_depend_on_the_batch():
    torch.manual_seed(3)
    stack = TransformerStack(depth=2, dim=32, heads=4).eval()
    x = torch.randn(40, 9, 32)
    with torch.no_grad():
        outputs = []
        for rows in (slice(0, 40), slice(5, 21)):
            cache = stack.new_cache(batch=x[rows].shape[0], capacity=9, like=x)
            stack(x[rows, :8], causal=True, cache=cache)
            outputs.append(stack(x[rows, 8:], causal=True, cache=cache))
    assert torch.equal(outputs[0][5:21], outputs[1])


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
