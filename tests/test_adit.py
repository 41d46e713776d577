"""ADiT: flow matching, lattice encoding, joint data, autoencoder, latent DiT, sampling and checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from atomgen.data.augment import augment_systems
from atomgen.data.lattice import lattice_features, lattice_from_features
from atomgen.data.systems import LabelledSystemDataset, atom_count_histogram, collate_systems
from atomgen.diffusion.flow import integrate, interpolate
from atomgen.errors import InputError
from atomgen.models.adit import ADiTModel, preset
from atomgen.models.adit.autoencoder import frac_from_circle, periodic_features, unit_circle
from atomgen.models.base import MIN_BATCH_ROWS
from atomgen.system import AtomSystem

from .conftest import embedded


@pytest.fixture(scope="module")
def systems():
    molecules = [embedded(s) for s in ("CCO", "c1ccccc1", "CC#N", "OCC(O)CO")]
    rng = np.random.default_rng(0)
    crystals = []
    for k in range(4):
        cell = np.diag([4.0 + k * 0.2, 4.1, 3.9]) + 0.3 * rng.standard_normal((3, 3))
        crystals.append(AtomSystem.from_fractional([38, 22, 8, 8, 8], rng.random((5, 3)), cell, name=f"c{k}"))
    return molecules, crystals


@pytest.fixture(scope="module")
def batch(systems):
    molecules, crystals = systems
    dataset = LabelledSystemDataset([(0, molecules), (1, crystals)], max_atoms=32, max_z=100)
    return collate_systems([dataset[k] for k in range(len(dataset))])


def tiny_model(stage: str = "autoencoder", **overrides) -> ADiTModel:
    torch.manual_seed(0)
    config = preset("tiny", labels=("mol", "cry"), periodic=(False, True), **overrides)
    return ADiTModel(config, stage=stage)


# ------------------------------------------------------------------------------------------------ flow matching
@pytest.mark.parametrize("method, steps", [("euler", 200), ("heun", 40)])
def test_flow_sampler_reaches_a_gaussian_target(method, steps):
    # For data N(m, s²) and x_t = t·x₁ + (1-t)·ε, the exact clean-data predictor is the posterior mean
    # E[x₁ | x_t] = m + t·s²·(x_t - t·m) / (t²s² + (1-t)²); integrating its ODE must give N(m, s²) back.
    m, s = 1.5, 0.4

    def predict_clean(x, t):
        t = t[:, None]
        return m + t * s**2 * (x - t * m) / (t**2 * s**2 + (1 - t) ** 2)

    noise = torch.randn(20000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = integrate(predict_clean, noise, steps, method)
    assert abs(out.mean().item() - m) < 0.01
    assert abs(out.std().item() - s) < 0.01
    # Picked up part-way, from points of the path x_t of data drawn from the target, it ends on the target too.
    data = m + s * torch.randn(20000, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = integrate(predict_clean, interpolate(data, noise, torch.full((20000,), 0.6)), steps, method, start=0.6)
    assert abs(out.mean().item() - m) < 0.01
    assert abs(out.std().item() - s) < 0.01
    with pytest.raises(ValueError, match="start time"):
        integrate(predict_clean, noise, steps, method, start=1.0)


def test_flow_interpolation_endpoints():
    clean, noise = torch.ones(2, 3), torch.zeros(2, 3)
    assert torch.equal(interpolate(clean, noise, torch.tensor([0.0, 1.0])), torch.tensor([[0.0] * 3, [1.0] * 3]))


def test_lattice_features_round_trip(systems):
    for crystal in systems[1]:
        rebuilt = lattice_from_features(lattice_features(crystal.lattice, len(crystal)), len(crystal))
        again = AtomSystem.from_fractional(crystal.numbers, crystal.frac_coords, rebuilt)
        np.testing.assert_allclose(again.lattice_parameters, crystal.lattice_parameters, atol=1e-8)
        assert again.volume == pytest.approx(crystal.volume)


def test_impossible_angles_give_a_flat_cell_not_an_error():
    flat = lattice_from_features(np.array([2.0, 2.0, 2.0, 0.1, 0.1, 3.0]), 8)
    assert abs(np.linalg.det(flat)) < 1e-2


def test_periodic_inputs_and_wrapped_differences():
    f = torch.rand(5, 3)
    torch.testing.assert_close(periodic_features(f, 3), periodic_features(f + 1, 3), atol=1e-5, rtol=0)
    f = torch.tensor([0.0, 0.25, 0.5, 0.999, 0.01])
    torch.testing.assert_close(frac_from_circle(3.0 * unit_circle(f)), f, atol=1e-6, rtol=0)


# --------------------------------------------------------------------------------------------------------- data
def test_joint_batch_keeps_molecules_and_crystals_apart(batch, systems):
    molecules, crystals = systems
    assert batch["periodic"].tolist() == [False] * 4 + [True] * 4
    assert batch["frac"][:4].abs().sum() == 0 and batch["lattice"][:4].abs().sum() == 0
    frac = batch["frac"][4:, :5]
    assert (frac >= 0).all() and (frac < 1).all()
    np.testing.assert_allclose(batch["lattice_features"][4].numpy(),
                               lattice_features(crystals[0].lattice, 5), rtol=1e-5)
    assert batch["n_atoms"].tolist() == [len(m) for m in molecules] + [5] * 4


def test_fractional_coordinates_outside_the_cell_are_wrapped_in_the_dataset():
    outside = AtomSystem(numbers=[6, 6], positions=[[-0.5, 0.0, 0.0], [5.5, 1.0, 1.0]], lattice=np.eye(3) * 4)
    dataset = LabelledSystemDataset([(0, [outside])], max_atoms=8, max_z=100)
    frac = dataset[0]["frac"]
    assert (frac >= 0).all() and (frac < 1).all()
    np.testing.assert_allclose(frac[:, 0], [0.875, 0.375], atol=1e-6)


def test_mp20_format_rows_load_as_a_training_source(tmp_path):
    from atomgen.data.crystals import read_cdvae_csv

    from .conftest import needs_shared_data

    table = read_cdvae_csv(needs_shared_data("crystals", "mp_20_format_sample.csv"))
    dataset = LabelledSystemDataset([(3, table.systems)], max_atoms=32, max_z=100)
    assert len(dataset) == 4 and dataset.periodic.all() and (dataset.labels == 3).all()
    assert sum(atom_count_histogram(dataset, 3).values()) == 4


def test_dataset_rejects_systems_the_model_cannot_hold(systems):
    with pytest.raises(Exception, match="more than max_atoms"):
        LabelledSystemDataset([(0, systems[0])], max_atoms=4, max_z=100)


def test_augmentation_is_a_rigid_motion(batch):
    mask = batch["numbers"] > 0
    positions, frac, lattice = augment_systems(batch["positions"], batch["frac"], batch["lattice"],
                                               batch["periodic"], mask, torch.Generator().manual_seed(1))
    for row in range(4):  # molecules: centred, same internal distances
        n = int(batch["n_atoms"][row])
        torch.testing.assert_close(torch.cdist(positions[row, :n], positions[row, :n]),
                                   torch.cdist(batch["positions"][row, :n], batch["positions"][row, :n]),
                                   atol=1e-4, rtol=0)
        assert positions[row, :n].mean(0).abs().max() < 1e-5
    for row in range(4, 8):  # crystals: wrapped shift, rotated lattice of the same shape, positions = frac·L
        assert (frac[row, :5] >= 0).all() and (frac[row, :5] < 1).all()
        torch.testing.assert_close(positions[row, :5], frac[row, :5] @ lattice[row])
        torch.testing.assert_close(lattice[row] @ lattice[row].T, batch["lattice"][row] @ batch["lattice"][row].T,
                                   atol=1e-4, rtol=0)


# -------------------------------------------------------------------------------------------------- autoencoder
def test_padding_does_not_change_a_systems_latents(batch):
    model = tiny_model().eval()
    full = model.latents(batch)
    single = {k: v[4:5] for k, v in batch.items()}
    single = {**single, **{k: single[k][:, :5] for k in ("numbers", "positions", "frac")}}
    torch.testing.assert_close(model.latents(single)[0], full[4, :5], atol=1e-5, rtol=0)


def test_autoencoder_learns_to_reconstruct(batch):
    model = tiny_model()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    first = None
    for _ in range(150):
        losses = model.training_loss(batch, generator=generator)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        first = first if first is not None else {k: float(v.detach()) for k, v in losses.items()}
    assert all(math.isfinite(float(v)) for v in losses.values())
    assert float(losses["type_loss"]) < 0.3 * first["type_loss"]
    assert float(losses["lattice_loss"]) < 0.3 * first["lattice_loss"]
    decoded = model.reconstruct(batch)
    assert [s.is_periodic for s in decoded] == [False] * 4 + [True] * 4
    assert all(len(s) == n for s, n in zip(decoded, batch["n_atoms"].tolist()))


def test_a_noise_trained_autoencoder_has_standardised_means_and_a_fixed_posterior(batch):
    model = tiny_model(latent_noise=0.1)
    mask = batch["numbers"] > 0
    mean, log_var = model.autoencoder.encode(batch["numbers"], batch["positions"], batch["frac"],
                                             batch["lattice_features"], batch["periodic"], mask)
    real = mean[mask]
    torch.testing.assert_close(real.mean(-1), torch.zeros(len(real)), atol=1e-5, rtol=0)
    torch.testing.assert_close(real.var(-1, unbiased=False), torch.ones(len(real)), atol=1e-3, rtol=0)
    assert torch.allclose(log_var, torch.full_like(log_var, 2 * math.log(0.1)))
    # The means are bounded, so the KL term is the same for every input: only the reconstruction trains them.
    losses = model.training_loss(batch, generator=torch.Generator().manual_seed(0))
    dim = model.config.latent_dim
    expected_kl = 0.5 * (dim + dim * 0.1**2 - dim - dim * 2 * math.log(0.1))
    assert float(losses["kl"]) == pytest.approx(expected_kl, rel=1e-4)
    losses["loss"].backward()
    assert model.autoencoder.to_latent.weight.grad.abs().sum() > 0


def test_only_the_current_stage_trains(batch):
    model = tiny_model()
    assert all(p.requires_grad for p in model.autoencoder.parameters())
    assert not any(p.requires_grad for p in model.denoiser.parameters())
    with pytest.raises(ValueError, match="latent scale"):
        model.set_stage("diffusion")
    model = model.with_latent_scale([batch])
    model.set_stage("diffusion")
    assert model.config.latent_scale > 0
    assert not any(p.requires_grad for p in model.autoencoder.parameters())
    loss = model.training_loss(batch, generator=torch.Generator().manual_seed(0))["loss"]
    loss.backward()
    assert all(p.grad is None for p in model.autoencoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.denoiser.parameters())


# ---------------------------------------------------------------------------------------------------- sampling
@pytest.fixture(scope="module")
def sampler_model(batch):
    model = tiny_model(atom_counts=((0,) * 9 + (4,) + (0,) * 23, (0,) * 5 + (4,) + (0,) * 27))
    model = model.with_latent_scale([batch]).eval()
    # The DiT's output layer starts at zero (it predicts zeros, whatever the noise): give it weights, so that
    # samples depend on their noise.
    torch.nn.init.normal_(model.denoiser.output.weight, std=0.5, generator=torch.Generator().manual_seed(1))
    return model


def test_sampling_follows_the_condition_and_the_size_histogram(sampler_model):
    crystals = sampler_model.sample(6, seed=0, steps=4, condition="crystal", progress=False)
    assert all(s.is_periodic and len(s) == 5 for s in crystals)
    molecules = sampler_model.sample(6, seed=0, steps=4, condition="mol", progress=False)
    assert all(not s.is_periodic and len(s) == 9 for s in molecules)
    sized = sampler_model.sample(3, seed=0, steps=4, condition="molecule", n_atoms=12, progress=False)
    assert [len(s) for s in sized] == [12, 12, 12]
    mixed = sampler_model.sample(40, seed=0, steps=2, progress=False)
    assert 0 < sum(s.is_periodic for s in mixed) < 40


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_seed_names_systems_whatever_the_batch_size_and_shards(sampler_model, precision):
    options = {"seed": 3, "steps": 4, "progress": False, "sampler": "heun", "precision": precision}
    whole = sampler_model.sample(20, **options)
    assert 0 < sum(s.is_periodic for s in whole) < 20  # crystals and molecules, of different sizes
    for batch_size in (1, 3, 50):
        again = sampler_model.sample(20, batch_size=batch_size, **options)
        shards = [s for i in range(4) for s in sampler_model.sample(20, batch_size=batch_size, shard=(i, 4),
                                                                     **options)]
        for run in (again, shards):
            for x, y in zip(whole, run, strict=True):
                np.testing.assert_array_equal(x.numbers, y.numbers)
                np.testing.assert_array_equal(x.positions, y.positions)
                assert (x.lattice is None) == (y.lattice is None)
                if x.lattice is not None:
                    np.testing.assert_array_equal(x.lattice, y.lattice)
    other = sampler_model.sample(20, seed=4, steps=4, progress=False, sampler="heun")
    assert [s.is_periodic for s in other] != [s.is_periodic for s in whole]  # each seed draws its own classes


def test_guidance_scale_one_is_the_conditional_model(sampler_model):
    calls = []
    original = sampler_model.denoiser.forward

    def spy(noisy, t, labels, previous, mask, properties=None):
        calls.append(labels.clone())
        return original(noisy, t, labels, previous, mask, properties)

    sampler_model.denoiser.forward = spy
    try:
        sampler_model.sample(2, seed=0, steps=3, condition="cry", guidance=1.0, progress=False)
        assert all((labels == 1).all() for labels in calls)
        calls.clear()
        sampler_model.sample(2, seed=0, steps=3, condition="cry", guidance=2.0, progress=False)
        # Conditional rows, then as many "no label" rows (the batch padded to MIN_BATCH_ROWS with its first job).
        assert all(labels.tolist() == [1] * MIN_BATCH_ROWS + [2] * MIN_BATCH_ROWS for labels in calls)
    finally:
        del sampler_model.denoiser.forward


@pytest.mark.parametrize("kwargs, message", [
    ({"condition": "perov_5"}, "unknown class label 'perov_5'"),
    ({"n_atoms": 40}, "1 to 32 atoms, not 40"),
    ({"n_atoms": 0}, "1 to 32 atoms, not 0"),
])
def test_bad_sampling_requests_are_clear_errors(sampler_model, kwargs, message):
    with pytest.raises(InputError, match=message):
        sampler_model.sample(2, steps=2, progress=False, **kwargs)


def test_an_autoencoder_only_checkpoint_cannot_sample():
    with pytest.raises(InputError, match="only a trained autoencoder"):
        tiny_model().sample(2, steps=2, progress=False)


def test_checkpoint_round_trip_and_wrong_family(tmp_path, sampler_model):
    from atomgen.models.quetzal import QuetzalModel
    from atomgen.models.quetzal import preset as quetzal_preset
    from atomgen.models.registry import load_model

    folder = sampler_model.save(tmp_path / "adit")
    loaded = load_model(folder)
    assert isinstance(loaded, ADiTModel) and loaded.config == sampler_model.config
    a = sampler_model.sample(3, seed=1, steps=3, condition="cry", progress=False)
    b = loaded.sample(3, seed=1, steps=3, condition="cry", progress=False)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.positions, y.positions, atol=1e-6)
    QuetzalModel(quetzal_preset("tiny")).save(tmp_path / "quetzal")
    with pytest.raises(InputError, match="not a 'adit' one"):
        ADiTModel.from_pretrained(tmp_path / "quetzal")


def test_reconstruction_metrics_score_perfect_and_broken_copies(systems):
    from atomgen.eval.reconstruction import crystal_reconstruction, molecule_reconstruction

    molecules, crystals = systems
    perfect = molecule_reconstruction(molecules, [m.copy() for m in molecules])
    assert perfect["type_accuracy"] == 1 and perfect["match_rate"] == 1 and perfect["same_molecule_rate"] == 1
    shifted = molecule_reconstruction(molecules, [m.copy(positions=m.positions + [0.3, 0, 0]) for m in molecules])
    assert shifted["position_rmsd_mean"] == pytest.approx(0.3) and shifted["match_rate"] == 0
    assert crystal_reconstruction(crystals, [c.copy() for c in crystals])["match_rate"] == 1
    barium = [c.copy(numbers=np.where(c.numbers == 38, 56, c.numbers)) for c in crystals]  # Sr -> Ba
    result = crystal_reconstruction(crystals, barium)
    assert result["type_accuracy"] < 1 and result["match_rate"] == 0
