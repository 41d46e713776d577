"""Quetzal: training loss, KV-cached sampling, exact likelihood, decoration, completion, checkpoints."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from atomgen.data.sequences import AtomSequenceDataset, collate_sequences
from atomgen.diffusion.edm import EDMConfig
from atomgen.errors import InputError
from atomgen.models.quetzal import QuetzalModel, preset
from atomgen.models.quetzal.likelihood import canonical_frame
from atomgen.models.quetzal.network import START, STOP
from atomgen.models.quetzal.prefix_geometry import CUTOFF, PrefixGeometry
from atomgen.models.quetzal.sampler import CachedTrunk, generate_batch
from atomgen.models.streams import SampleStreams
from atomgen.system import AtomSystem
from atomgen.tasks.complete import complete, contains_fragment, murcko_scaffold
from atomgen.tasks.decorate import decorate, hydrogen_rmsd, rdkit_decorate

from .conftest import embedded
from .quetzal_reference import UncachedTrunk


@pytest.fixture(params=["paper", "prefix-geometry-head"])
def tiny_model(request) -> QuetzalModel:
    torch.manual_seed(0)
    model = QuetzalModel(preset("tiny", prefix_geometry=request.param != "paper")).eval()
    if model.network.geometry is not None:
        # Its push starts at zero; give it weights, so the tests see a head that uses it.
        torch.nn.init.normal_(model.network.geometry.push[-1].weight, std=1.0)
    return model


def _batch(molecules):
    dataset = AtomSequenceDataset(molecules, (1, 6, 7, 8, 9))
    return collate_sequences([dataset[k] for k in range(len(dataset))])


@pytest.mark.parametrize("prefix_geometry", [False, True])
def test_training_loss_falls(small_molecules, prefix_geometry):
    torch.manual_seed(0)
    model = QuetzalModel(preset("tiny", prefix_geometry=prefix_geometry))
    batch = _batch(small_molecules)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(60):
        loss = model.training_loss(batch, generator=generator)
        optimiser.zero_grad()
        loss["loss"].backward()
        optimiser.step()
        losses.append(loss["type_loss"].item())
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:5])


@pytest.mark.parametrize("prefix_geometry", [False, True])
def test_denoising_error_is_the_identity_error_before_training_and_falls_with_it(small_molecules, prefix_geometry):
    torch.manual_seed(0)
    model = QuetzalModel(preset("tiny", prefix_geometry=prefix_geometry))
    batch = _batch(small_molecules)
    sigmas = (0.001, 1.0)
    before = model.denoising_error(batch, sigmas, torch.Generator().manual_seed(1))
    # The head's output layer starts at zero, so D(x, σ) = c_skip·x ≈ x at small σ: the noise stays as it was.
    for part in ("hydrogen", "heavy"):
        assert before[0.001][part] == pytest.approx(0.001 * 3**0.5, rel=0.25)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(80):
        loss = model.training_loss(batch, generator=generator)
        optimiser.zero_grad()
        loss["loss"].backward()
        optimiser.step()
    after = model.denoising_error(batch, sigmas, torch.Generator().manual_seed(1))
    assert after[1.0]["heavy"] < 0.9 * before[1.0]["heavy"]


def test_prefix_geometry_is_invariant_in_and_equivariant_out_and_ignores_absent_and_distant_atoms():
    torch.manual_seed(0)
    geometry = PrefixGeometry(classes=6, width=16)
    torch.nn.init.normal_(geometry.push[-1].weight)  # the output layer starts at zero; give it something to do
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(5, 3, generator=generator)
    placed_positions = torch.randn(5, 4, 3, generator=generator) * 1.5
    placed_types = torch.tensor([[1, 2, 0, 0], [3, 3, 1, 0], [5, 4, 2, 1], [0, 0, 0, 0], [2, 0, 0, 0]])
    hidden = torch.randn(5, 16, generator=generator)
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=generator))[0]
    shift = torch.tensor([0.3, -1.0, 2.0])

    def terms(points, atoms, types):
        pairs = geometry.pairs(points, types, atoms)
        return geometry.input_term(pairs), geometry.output_term(pairs, hidden)

    inputs, outputs = terms(x, placed_positions, placed_types)
    moved_inputs, moved_outputs = terms(x @ rotation.T + shift, placed_positions @ rotation.T + shift, placed_types)
    assert torch.allclose(moved_inputs, inputs, atol=1e-5)
    assert torch.allclose(moved_outputs, outputs @ rotation.T, atol=1e-5)
    assert torch.equal(outputs[3], torch.zeros(3))  # no atoms placed: no push
    # Moving an absent atom, or a present one beyond the cutoff, changes nothing.
    elsewhere = placed_positions.clone()
    elsewhere[0, 2] += 5.0
    elsewhere[4, 0] = x[4] + torch.tensor([CUTOFF + 0.1, 0.0, 0.0])
    far = placed_positions.clone()
    far[4, 0] = x[4] + torch.tensor([0.0, CUTOFF + 2.0, 0.0])
    assert torch.allclose(terms(x, elsewhere, placed_types)[1][0], outputs[0])
    assert torch.allclose(terms(x, elsewhere, placed_types)[1][4], terms(x, far, placed_types)[1][4])
    assert torch.allclose(terms(x, elsewhere, placed_types)[1][4], torch.zeros(3), atol=1e-6)


def test_prefix_geometry_terms_match_a_sum_over_each_points_atoms_one_by_one():
    torch.manual_seed(0)
    geometry = PrefixGeometry(classes=6, width=16)
    torch.nn.init.normal_(geometry.push[-1].weight)
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(6, 3, generator=generator)
    placed_positions = torch.randn(6, 5, 3, generator=generator) * 2.5  # some atoms beyond the cutoff
    placed_types = torch.randint(0, 6, (6, 5), generator=generator)
    hidden = torch.randn(6, 16, generator=generator)
    pairs = geometry.pairs(x, placed_types, placed_positions)
    inputs, outputs = geometry.input_term(pairs), geometry.output_term(pairs, hidden)
    for row in range(6):
        feature_sum, push = torch.zeros(64), torch.zeros(3)
        for atom in range(5):
            delta = x[row] - placed_positions[row, atom]
            distance = (delta.pow(2).sum() + 1e-4).sqrt()
            if placed_types[row, atom] == 0 or distance >= CUTOFF:
                continue
            smooth = 0.5 * (torch.cos(math.pi * distance / CUTOFF) + 1)
            rbf = torch.exp(-geometry.gamma * (distance - geometry.centres) ** 2)
            feature = geometry.radial(rbf) * geometry.atom_type.weight[placed_types[row, atom]] * smooth
            feature_sum += feature
            push += geometry.push(feature + geometry.pair_from_hidden(hidden[row])) * delta * smooth / distance
        assert torch.allclose(inputs[row], geometry.to_input(feature_sum), atol=1e-5)
        assert torch.allclose(outputs[row], push, atol=1e-5)


def test_cache_and_no_cache_give_the_same_molecules(tiny_model):
    options = tiny_model._options(8, 1.0, None)
    empty_types, empty_positions = torch.zeros(6, 0, dtype=torch.long), torch.zeros(6, 0, 3)
    outputs = [generate_batch(tiny_model.network, empty_types, empty_positions, options,
                              SampleStreams.for_samples(3, range(6)), trunk)
               for trunk in (CachedTrunk, UncachedTrunk)]
    for (types_a, positions_a), (types_b, positions_b) in zip(*outputs):
        assert np.array_equal(types_a, types_b)
        assert np.allclose(positions_a, positions_b, atol=1e-4)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_seed_names_molecules_whatever_the_batch_size_and_shards(tiny_model, precision):
    batch_size = 5  # below MIN_BATCH_ROWS: the batches are padded, and the whole run's rows drop out as they stop
    options = {"seed": 7, "steps": 4, "progress": False, "precision": precision}
    whole = tiny_model.sample(24, batch_size=24, **options)
    again = tiny_model.sample(24, batch_size=batch_size, **options)
    shards = [m for i in range(3) for m in tiny_model.sample(24, batch_size=batch_size, shard=(i, 3), **options)]
    assert len({len(m) for m in whole}) > 2  # molecules of several sizes finish at different steps
    for run in (again, shards):
        assert all(np.array_equal(a.numbers, b.numbers) and np.array_equal(a.positions, b.positions)
                   for a, b in zip(whole, run, strict=True))
    assert [len(m) for m in tiny_model.sample(24, seed=8, steps=4, progress=False)] != [len(m) for m in whole]


def test_sampler_settings_are_checked_and_change_only_the_positions_arithmetic(tiny_model):
    with pytest.raises(InputError, match="unknown ODE solver 'euler'"):
        tiny_model.sample(2, solver="euler", progress=False)
    with pytest.raises(InputError, match="unknown precision 'fp16'"):
        tiny_model.sample(2, precision="fp16", progress=False)
    # The first atom's type is drawn before any position is solved: every setting agrees on it.
    runs = [tiny_model.sample(16, seed=3, steps=6, solver=solver, precision=precision, progress=False)
            for solver, precision in (("heun", "fp32"), ("dpm2m", "fp32"), ("dpm2m", "bf16"))]
    assert all([m.numbers[0] for m in run] == [m.numbers[0] for m in runs[0]] for run in runs)
    assert all(np.isfinite(m.positions).all() for run in runs for m in run)


def test_teacher_forced_logits_match_the_cached_trunk_atom_by_atom(tiny_model, small_molecules):
    batch = _batch(small_molecules[:1])
    atoms, atom_positions = batch["types"], batch["positions"]
    types = torch.cat([torch.full((1, 1), START), atoms], dim=1)  # START, a_1 ... a_n
    positions = torch.cat([torch.zeros(1, 1, 3), atom_positions], dim=1)
    next_types = torch.cat([atoms, torch.full((1, 1), STOP)], dim=1)
    with torch.no_grad():
        forced, forced_conditions = tiny_model.network(types, positions, next_types)
        trunk = CachedTrunk(tiny_model.network, types[:, :1], positions[:, :1])
        cached, conditions = [trunk.logits], []
        for k in range(1, types.shape[1]):
            conditions.append(trunk.condition(types[:, k]))
            trunk.append(types[:, k], positions[:, k])
            cached.append(trunk.logits)
    assert torch.allclose(torch.stack(cached, dim=1), forced, atol=1e-4)
    assert torch.allclose(torch.stack(conditions, dim=1), forced_conditions[:, :-1], atol=1e-4)
    with torch.no_grad():  # a prefix of three tokens at once (decoration, completion), then the next atom
        trunk = CachedTrunk(tiny_model.network, types[:, :3], positions[:, :3])
        assert torch.allclose(trunk.logits, forced[:, 2], atol=1e-4)
        assert torch.allclose(trunk.condition(types[:, 3]), forced_conditions[:, 2], atol=1e-4)
        trunk.append(types[:, 3], positions[:, 3])
        assert torch.allclose(trunk.logits, forced[:, 3], atol=1e-4)


def test_sampling_is_seeded_and_respects_masks_and_limits():
    torch.manual_seed(0)
    model = QuetzalModel(preset("tiny", max_atoms=6)).eval()
    first = model.sample(8, seed=1, steps=4, progress=False, elements=[6, 1])
    again = model.sample(8, seed=1, steps=4, progress=False, elements=[6, 1])
    assert all(np.array_equal(a.positions, b.positions) for a, b in zip(first, again))
    assert all(set(m.numbers.tolist()) <= {1, 6} and 1 <= len(m) <= 6 for m in first)
    with pytest.raises(InputError, match="not one this model knows"):
        model.sample(2, elements=[16], progress=False)


def test_closed_shell_sampling_stops_only_at_an_even_valence_sum():
    torch.manual_seed(0)
    model = QuetzalModel(preset("tiny", max_atoms=12)).eval()
    odd = {1, 7, 9}  # H, N, F: odd EDM valences; C and O even

    def odd_sum(molecule) -> bool:
        return sum(int(z) in odd for z in molecule.numbers) % 2 == 1

    free = model.sample(60, seed=3, steps=2, progress=False)
    closed = model.sample(60, seed=3, steps=2, progress=False, closed_shell=True)
    assert any(odd_sum(m) for m in free)  # an untrained model stops anywhere: the constraint has work to do
    # Only a molecule that reached the atom limit may end on an odd sum (the limit forces STOP).
    assert not any(odd_sum(m) for m in closed if len(m) < 12)
    assert model._valence_parity().tolist() == [0, 1, 0, 1, 0, 1]  # STOP, then H, C, N, O, F


def test_likelihood_equals_the_closed_form_of_a_gaussian_head(tiny_model, monkeypatch):
    """With the head replaced by the exact denoiser of N(μ(z), s²) (μ read off the conditioning vector), every
    position term has a closed form; the type terms are recomputed step by step through the KV-cached trunk, so
    this also checks that atom i's density uses the vector that predicts atom i."""
    s = 0.5

    def exact_denoiser(x, sigma, cond_embedding, placed):
        mean = cond_embedding[:, :3]
        return mean + s**2 / (s**2 + sigma.unsqueeze(-1) ** 2) * (x - mean)

    monkeypatch.setattr(tiny_model.network, "denoise", exact_denoiser)
    molecule = embedded("CCO")
    config = EDMConfig(sigma_data=tiny_model.config.sigma_data)
    r = math.sqrt((s**2 + config.sigma_min**2) / (s**2 + config.sigma_max**2))

    network = tiny_model.network.double()
    classes = torch.as_tensor(tiny_model.classes(molecule.numbers))
    positions = torch.as_tensor(molecule.positions)
    expected = 0.0
    with torch.no_grad():
        trunk = CachedTrunk(network, torch.tensor([[START]]), torch.zeros(1, 1, 3, dtype=torch.float64))
        for t, x in zip(classes, positions):
            expected += torch.log_softmax(trunk.logits[0], -1)[t].item()
            mean = network.head.embed_condition(trunk.condition(t.view(1)))[0, :3] * (1 - r)
            std = r * config.sigma_max
            log_density = -0.5 * ((x - mean) ** 2).sum() / std**2 - 3 * math.log(std) - 1.5 * math.log(2 * math.pi)
            expected += log_density.item()
            trunk.append(t.view(1), x.view(1, 3))
        expected += torch.log_softmax(trunk.logits[0], -1)[STOP].item()
    network.float()
    value = tiny_model.log_likelihood([molecule], frame="given", steps=256)[0]
    assert value == pytest.approx(expected, abs=0.01 * len(molecule))


def test_position_temperature_scales_a_gaussian_heads_spread(tiny_model, monkeypatch):
    """With the exact denoiser of N(μ(z), s²), each position's ODE is affine in its starting noise: scaling that
    noise by τ moves every one-atom sample τ of the way from the noise-free point to the τ = 1 sample."""
    s = 0.5

    def exact_denoiser(x, sigma, cond_embedding, placed):
        mean = cond_embedding[:, :3]
        return mean + s**2 / (s**2 + sigma.unsqueeze(-1) ** 2) * (x - mean)

    monkeypatch.setattr(tiny_model.network, "denoise", exact_denoiser)
    drawn = {tau: np.stack([m.positions[0] for m in tiny_model.sample(
        16, seed=5, steps=12, max_atoms=1, position_temperature=tau, progress=False)]) for tau in (0.0, 0.5, 1.0)}
    assert np.allclose(drawn[0.5], 0.5 * (drawn[0.0] + drawn[1.0]), atol=1e-4)
    spread = np.linalg.norm(drawn[1.0] - drawn[0.0], axis=-1)
    assert s < spread.mean() < 4 * s  # at τ = 1 the samples spread as the Gaussian does (about s·|ε|)
    with pytest.raises(InputError, match="position temperature must be at least 0"):
        tiny_model.sample(2, position_temperature=-0.5, progress=False)


def test_likelihood_does_not_change_under_rotation(tiny_model):
    molecule = embedded("CC(=O)NC")
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64))[0]
    rotation = rotation * torch.linalg.det(rotation)  # a proper rotation
    moved = molecule.copy()
    moved.positions = molecule.positions @ rotation.numpy().T + np.array([1.5, -2.0, 0.3])
    assert np.allclose(canonical_frame(moved), canonical_frame(molecule), atol=1e-8)
    canonical = tiny_model.log_likelihood([molecule, moved], steps=32)
    assert canonical[0] == pytest.approx(canonical[1], abs=1e-6)
    # The test has teeth: the untrained model is not invariant in the given frame.
    given = tiny_model.log_likelihood([molecule, moved], frame="given", steps=32)
    assert abs(given[0] - given[1]) > 1e-3


def test_likelihood_rejects_bad_molecules(tiny_model):
    sulfur = AtomSystem(numbers=np.array([16, 1]), positions=np.array([[0.0, 0, 0], [1.3, 0, 0]]))
    with pytest.raises(InputError, match="record 1.*element S"):
        tiny_model.log_likelihood([embedded("C"), sulfur], source="in.sdf")


def test_decoration_keeps_heavy_atoms_first_and_adds_only_hydrogens(tiny_model):
    molecules = [embedded("CCO"), embedded("c1ccncc1"), embedded("CC#N")]
    decorated = decorate(tiny_model, molecules, seed=0, steps=4, progress=False)
    assert [m.name for m in decorated] == [m.name for m in molecules]
    for result, original in zip(decorated, molecules):
        heavy = original.numbers != 1
        k = int(heavy.sum())
        assert np.array_equal(result.numbers[:k], original.numbers[heavy])
        assert np.array_equal(result.positions[:k], original.positions[heavy])
        assert (result.numbers[k:] == 1).all()


def test_prefix_errors_name_the_record():
    model = QuetzalModel(preset("tiny", max_atoms=5)).eval()
    long = AtomSystem(numbers=np.full(6, 6), positions=np.arange(18, dtype=float).reshape(6, 3))
    with pytest.raises(InputError, match="frag.sdf, record 0: prefix has 6 atoms"):
        model.extend([long], source="frag.sdf", progress=False)
    sulfur = AtomSystem(numbers=np.array([16]), positions=np.zeros((1, 3)))
    with pytest.raises(InputError, match="record 1: element S"):
        model.extend([embedded("C"), sulfur], source="frag.sdf", progress=False)


def test_hydrogen_rmsd_uses_the_optimal_assignment():
    truth = embedded("CCO")
    shuffled = truth.copy()
    hydrogens = np.nonzero(truth.numbers == 1)[0]
    shuffled.positions[hydrogens] = truth.positions[hydrogens[::-1]]
    assert hydrogen_rmsd(shuffled, truth) == pytest.approx(0.0, abs=1e-12)
    fewer = AtomSystem(numbers=truth.numbers[:-1], positions=truth.positions[:-1])
    assert hydrogen_rmsd(fewer, truth) == float("inf")


def test_rdkit_decoration_baseline_is_close_on_a_force_field_geometry():
    truth = embedded("CCO")
    baseline = rdkit_decorate(truth)
    assert baseline is not None and hydrogen_rmsd(baseline, truth) < 0.5


def test_scaffold_completion(tiny_model):
    molecule = embedded("c1ccccc1CCO")
    scaffold, smiles = murcko_scaffold(molecule)
    assert smiles == "c1ccccc1" and len(scaffold) == 6
    assert contains_fragment(molecule, smiles) and not contains_fragment(embedded("CCCCCC"), smiles)
    assert murcko_scaffold(embedded("CCO")) is None
    completions = complete(tiny_model, [scaffold], 3, seed=0, steps=4, progress=False)
    assert len(completions) == 3
    assert all(np.array_equal(c.positions[:6], scaffold.positions) for c in completions)


def test_save_and_load_round_trip(tmp_path, tiny_model):
    tiny_model.save(tmp_path / "m", dtype=torch.float16)
    loaded = QuetzalModel.from_pretrained(tmp_path / "m")
    assert loaded.config == tiny_model.config
    # fp16 storage rounds the weights but keeps the Fourier frequencies (buffers) exact.
    frequencies = [m.network.input_point.fourier.frequencies for m in (loaded, tiny_model)]
    assert torch.equal(*frequencies)
    for (name, a), b in zip(tiny_model.network.named_parameters(), loaded.network.parameters()):
        assert torch.allclose(a, b, atol=2e-3, rtol=2e-3), name


def test_bad_checkpoints_are_clear_errors(tmp_path, tiny_model):
    folder = tiny_model.save(tmp_path / "m")
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="corrupt weights"):
        QuetzalModel.from_pretrained(folder)
    other = tiny_model.save(tmp_path / "other")
    (other / "config.json").write_text((other / "config.json").read_text().replace('"quetzal"', '"adit"'))
    with pytest.raises(InputError, match="'adit' model, not a 'quetzal'"):
        QuetzalModel.from_pretrained(other)
    wider = QuetzalModel(replace(tiny_model.config, dim=48)).save(tmp_path / "wider")
    (wider / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(InputError, match="has shape"):
        QuetzalModel.from_pretrained(wider)
    with pytest.raises(InputError, match="no shipped model or checkpoint folder"):
        QuetzalModel.from_pretrained("no-such-model")


def test_compiled_blocks_compute_the_same_loss_and_gradients(small_molecules):
    from atomgen.nn.compile import compile_blocks

    torch.manual_seed(0)
    model = QuetzalModel(preset("tiny"))
    batch = _batch(small_molecules[:4])
    compiled = copy.deepcopy(model)
    # Every transformer block of both halves of the trunk, and every block of the position head.
    assert compile_blocks(compiled) == len(model.network.type_stack.blocks) + len(
        model.network.position_stack.blocks) + len(model.network.head.blocks)
    losses = []
    for network in (model, compiled):
        loss = network.training_loss(batch, generator=torch.Generator().manual_seed(0))["loss"]
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-6)
    for (name, plain), (_, fused) in zip(model.named_parameters(), compiled.named_parameters(), strict=True):
        torch.testing.assert_close(fused.grad, plain.grad, rtol=1e-3, atol=1e-6, msg=name)
