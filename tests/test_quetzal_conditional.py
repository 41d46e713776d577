"""Property-conditional Quetzal: a property vector in the trunk and the head, trained on random subsets of the
properties, sampled with or without classifier-free guidance."""

from __future__ import annotations

import re
from dataclasses import asdict

import numpy as np
import pytest
import torch

from atomgen.data.sequences import AtomSequenceDataset, collate_sequences
from atomgen.errors import InputError
from atomgen.models.conditions import PropertyStats
from atomgen.models.quetzal import QuetzalModel, preset
from atomgen.models.quetzal.sampler import CachedTrunk, generate_batch
from atomgen.models.streams import SampleStreams

from .quetzal_reference import UncachedTrunk

STATS = {"mu": asdict(PropertyStats(2.7, 1.2, 0.0, 10.0)), "gap": asdict(PropertyStats(6.9, 1.0, 1.0, 17.0))}


@pytest.fixture
def conditional() -> QuetzalModel:
    torch.manual_seed(0)
    model = QuetzalModel(preset("tiny", prefix_geometry=True, properties=STATS)).eval()
    # Untrained, the head's output and conditioning layers are zero (positions ignore every input), and so are the
    # absent embedding and the property vector: give them weights, so the tests see a model that uses them.
    torch.nn.init.normal_(model.network.head.out.weight, std=0.05)
    torch.nn.init.normal_(model.network.head.cond_modulation[-1].weight, std=0.05)
    torch.nn.init.normal_(model.network.properties.absent)
    torch.nn.init.normal_(model.network.properties.out[-1].weight, std=0.05)
    return model


def test_a_conditional_model_warm_started_from_an_unconditional_one_begins_at_it(tmp_path, small_molecules):
    """Its property vector starts at zero: whatever is asked, the logits are the unconditional model's."""
    torch.manual_seed(0)
    plain = QuetzalModel(preset("tiny", prefix_geometry=True)).eval()
    plain.save(tmp_path / "plain")
    extended = QuetzalModel(preset("tiny", prefix_geometry=True, properties=STATS)).eval()
    extended.warm_start(str(tmp_path / "plain"))
    batch = _batch(small_molecules[:3], np.array([[2.0, 5.0], [np.nan, 9.0], [np.nan, np.nan]]))
    vector = extended.network.property_vector(batch["properties"], batch["present"])
    tokens = extended.network.embed(batch["types"], batch["positions"], properties=vector)
    assert torch.equal(tokens, plain.network.embed(batch["types"], batch["positions"]))
    hidden, logits = extended.network.type_logits(tokens)
    assert torch.equal(logits, plain.network.type_logits(tokens)[1])
    next_types = batch["types"][:, 1:]
    z = extended.network.condition(hidden[:, :-1], next_types, properties=vector)
    assert torch.equal(z, plain.network.condition(hidden[:, :-1], next_types))


def _batch(molecules, values: np.ndarray) -> dict:
    dataset = AtomSequenceDataset(molecules, (1, 6, 7, 8, 9))
    batch = collate_sequences([dataset[k] for k in range(len(dataset))])
    values = torch.as_tensor(values, dtype=torch.float32)
    return {**batch, "properties": torch.nan_to_num(values), "present": torch.isfinite(values)}


def test_the_condition_reaches_the_types_and_the_positions(conditional):
    low = conditional.sample(12, seed=1, steps=4, condition={"gap": 2.0}, progress=False)
    high = conditional.sample(12, seed=1, steps=4, condition={"gap": 15.0}, progress=False)
    free = conditional.sample(12, seed=1, steps=4, progress=False)
    assert any(not np.array_equal(a.numbers, b.numbers) for a, b in zip(low, high))
    same = [(a, b) for a, b in zip(low, free) if np.array_equal(a.numbers, b.numbers)]
    assert not any(np.allclose(a.positions, b.positions) for a, b in same if len(a) > 1)


def test_a_conditioned_trunk_matches_the_reference_without_a_cache(conditional):
    properties = conditional.network.property_vector(torch.randn(6, 2), torch.tensor([[True, False]] * 6))
    options = conditional._options(8, 1.0, None)
    empty_types, empty_positions = torch.zeros(6, 0, dtype=torch.long), torch.zeros(6, 0, 3)
    outputs = [generate_batch(conditional.network, empty_types, empty_positions, options,
                              SampleStreams.for_samples(3, range(6)), trunk, {"properties": properties})
               for trunk in (CachedTrunk, UncachedTrunk)]
    for (types_a, positions_a), (types_b, positions_b) in zip(*outputs):
        assert np.array_equal(types_a, types_b)
        assert np.allclose(positions_a, positions_b, atol=1e-4)


def test_guided_sampling_is_seeded_per_molecule_and_differs_from_plain(conditional):
    options = {"seed": 4, "steps": 4, "progress": False, "condition": {"mu": (1.0, 5.0)}, "guidance": 2.5}
    whole = conditional.sample(20, batch_size=20, **options)
    again = conditional.sample(20, batch_size=3, **options)
    assert len({len(m) for m in whole}) > 2  # rows finish at different steps: the guided halves drop out together
    for a, b in zip(whole, again, strict=True):
        assert np.array_equal(a.numbers, b.numbers) and np.allclose(a.positions, b.positions, atol=1e-5)
    plain = conditional.sample(20, batch_size=20, **{**options, "guidance": 1.0})
    assert any(not np.array_equal(a.numbers, b.numbers) for a, b in zip(whole, plain))


def test_training_shows_subsets_and_the_likelihood_asks_for_no_property(conditional, small_molecules):
    values = np.array([[2.0, np.nan]] * 6 + [[np.nan, 7.0]] * 6)
    batch = _batch(small_molecules, values)
    conditional.train()
    losses = [conditional.training_loss(batch, generator=torch.Generator().manual_seed(k))["loss"] for k in range(2)]
    assert losses[0] != losses[1]  # the shown subset is drawn per step
    losses[0].backward()
    assert conditional.network.properties.value[0].weight.grad.abs().sum() > 0
    assert conditional.network.head_condition.weight.grad.abs().sum() > 0
    conditional.eval()
    assert np.isfinite(conditional.log_likelihood(small_molecules[:2], steps=4)).all()


def test_a_quetzal_model_refuses_conditions_it_cannot_take(conditional, tmp_path):
    with pytest.raises(InputError, match=r"gap = 30 eV is outside what this Quetzal model saw"):
        conditional.sample(2, condition={"gap": 30.0}, progress=False)
    conditional.save(tmp_path / "cond")
    loaded = QuetzalModel.from_pretrained(tmp_path / "cond")
    assert loaded.config.properties == conditional.config.properties
    with pytest.raises(InputError, match=f"outside what {re.escape(str(tmp_path / 'cond'))} saw"):  # as loaded
        loaded.sample(2, condition={"gap": 30.0}, progress=False)
    plain = QuetzalModel(preset("tiny"))
    for request in ({"condition": {"gap": 6.0}}, {"guidance": 2.0}):
        with pytest.raises(InputError, match="this Quetzal model is unconditional"):
            plain.sample(2, progress=False, **request)


def test_a_conditional_run_measures_its_properties_and_trains(tmp_path, small_molecules):
    from atomgen.io.formats import write
    from atomgen.train.config import load_train_config
    from atomgen.train.run import train

    for k, molecule in enumerate(small_molecules):
        molecule.properties.update(gap=5.0 + k, mu=0.5 * k)
    data = write(tmp_path / "labelled.extxyz", small_molecules)
    config = load_train_config("configs/quetzal/qm9-small.yaml", [
        "model.preset=tiny", "model.properties=[gap, mu]", f"data.dataset={data}", "data.batch_size=4",
        "trainer.max_steps=3", "trainer.compile=false", "trainer.precision=32", "optim.warmup_steps=1",
        "trainer.sample_every_steps=0"])
    model = QuetzalModel.from_pretrained(train(config, tmp_path / "run"))
    assert model.config.properties["gap"] == pytest.approx(asdict(PropertyStats.of(5.0 + np.arange(12))))
    assert len(model.sample(3, condition={"gap": 9.0, "mu": 1.0}, steps=2, progress=False)) == 3
