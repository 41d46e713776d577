"""Property conditions: what a user asks for, checked and turned into the encoder's inputs; the encoder and the
random subsets it trains on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atomgen.errors import InputError
from atomgen.models.conditions import PropertyStats, parse_condition, resolve_condition
from atomgen.nn.property_condition import SINGLE_SHARE, UNCONDITIONAL_SHARE, PropertyEncoder, training_subsets

STATS = {"mu": PropertyStats(mean=2.7, mad=1.2, low=0.0, high=20.0),
         "gap": PropertyStats(mean=6.9, mad=1.0, low=1.0, high=17.0)}


def test_a_condition_becomes_normalised_values_and_flags_per_sample():
    values, present = resolve_condition({"gap": 7.9}, 3, STATS, seed=0)
    assert present.tolist() == [[False, True]] * 3 and values[:, 1] == pytest.approx([1.0] * 3)
    values, present = resolve_condition(None, 2, STATS, seed=0)
    assert not present.any()
    values, _ = resolve_condition({"mu": [0.3, 2.7, 3.9]}, 3, STATS, seed=0)
    assert values[:, 0] == pytest.approx([-2.0, 0.0, 1.0])


def test_a_range_draws_each_samples_target_from_its_own_stream():
    values, _ = resolve_condition({"gap": (6.0, 7.0)}, 200, STATS, seed=4)
    targets = values[:, 1] * 1.0 + 6.9
    assert targets.min() >= 6.0 and targets.max() <= 7.0 and targets.std() > 0.25
    first, _ = resolve_condition({"gap": (6.0, 7.0)}, 5, STATS, seed=4)
    assert first[:, 1] == pytest.approx(values[:5, 1])  # sample k's target does not depend on n
    other, _ = resolve_condition({"gap": (6.0, 7.0)}, 5, STATS, seed=5)
    assert not np.allclose(other, first)


@pytest.mark.parametrize(("condition", "message"), [
    ({"bandgap": 3.0}, "unknown property 'bandgap'"),
    ({"alpha": 70.0}, r"this model is not conditioned on alpha \(its properties: mu, gap\)"),
    ({"gap": 25.0}, r"gap = 25 eV is outside what this model saw in training \(1 to 17 eV\)"),
    ({"gap": (8.0, 7.0)}, "a range runs from low to high"),
    ({"mu": [1.0, 2.0]}, r"one value per sample \(3\), not 2 values"),
    ({"mu": float("nan")}, "finite"),
])
def test_bad_conditions_are_one_line_errors(condition, message):
    with pytest.raises(InputError, match=message):
        resolve_condition(condition, 3, STATS, seed=0)


def test_an_unconditional_model_says_so():
    with pytest.raises(InputError, match="is not conditioned on gap .its properties: none: it is unconditional"):
        resolve_condition({"gap": 6.0}, 1, {}, seed=0)


def test_cli_conditions_parse_values_and_ranges():
    assert parse_condition(["gap=6.2", "mu=1:3"]) == {"gap": 6.2, "mu": (1.0, 3.0)}
    for bad, message in (["gap"], "NAME=VALUE"), (["gap=high"], "not a number"), (["gap=1", "gap=2"], "twice"), \
            (["Cp=3"], "unknown property 'Cp'"), (["gap=1:2:3"], "LOW:HIGH"):
        with pytest.raises(InputError, match=message):
            parse_condition(bad)


def test_the_encoder_tells_absent_from_present_and_values_apart():
    torch.manual_seed(0)
    encoder = PropertyEncoder(2, 16, tokens=3)
    torch.nn.init.normal_(encoder.absent)
    values = torch.tensor([[0.0, 0.5], [0.0, -0.5], [0.0, 0.5], [9.0, 0.5]])
    present = torch.tensor([[False, True], [False, True], [True, True], [False, True]])
    out = encoder(values, present)
    assert out.shape == (4, 3, 16)
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[0], out[2])
    assert torch.allclose(out[0], out[3])  # an absent property's value is never read


def test_training_subsets_show_none_one_or_a_random_half():
    present = torch.ones(20_000, 6, dtype=torch.bool)
    present[:, 5] = False  # a property some molecules lack is never shown
    chosen = training_subsets(present, torch.Generator().manual_seed(0))
    counts = chosen.sum(dim=1).float()
    assert not chosen[:, 5].any()
    assert abs((counts == 0).float().mean() - (UNCONDITIONAL_SHARE + (1 - UNCONDITIONAL_SHARE - SINGLE_SHARE) / 32)) \
        < 0.01
    assert (counts == 1).float().mean() > SINGLE_SHARE
    shown = chosen[:, :5].float().mean(dim=0)
    assert (shown - shown.mean()).abs().max() < 0.02  # no property favoured
