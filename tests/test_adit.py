"""ADiT: flow matching, lattice encoding, joint data, autoencoder, latent DiT, sampling and checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from atomgen.data.augment import augment_systems
from atomgen.data.lattice import lattice_features, lattice_from_features
from atomgen.data.systems import LabelledSystemDataset, atom_count_histogram, collate_systems
from atomgen.diffusion.flow import integrate, interpolate, loss_weights
from atomgen.errors import InputError
from atomgen.models.adit import ADiTModel, preset
from atomgen.models.adit.autoencoder import frac_from_circle, periodic_features, unit_circle
from atomgen.models.adit.denoiser import least_squares_readout
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


def test_velocity_loss_weights_are_capped_and_average_one():
    t = torch.tensor([0.0, 0.5, 0.9, 0.99])
    assert torch.equal(loss_weights(t, "clean"), torch.ones(4))
    weights = loss_weights(t, "velocity", cap=0.9)
    # 1 / (1 - t)² up to the cap, held beyond it, over the mean 2 / (1 - cap) - 1 = 19.
    torch.testing.assert_close(weights, torch.tensor([1.0, 4.0, 100.0, 100.0]) / 19)
    grid = (torch.arange(200000, dtype=torch.float64) + 0.5) / 200000  # a midpoint rule over uniform t
    assert abs(loss_weights(grid, "velocity").mean().item() - 1.0) < 1e-3
    with pytest.raises(ValueError, match="weighting"):
        loss_weights(t, "sigmoid")
    with pytest.raises(ValueError, match="flow_loss"):
        tiny_model(flow_loss="sigmoid")


def test_velocity_weighting_changes_the_loss_not_the_logged_clean_error(batch):
    losses = {}
    for weighting in ("clean", "velocity"):
        model = tiny_model(flow_loss=weighting).with_latent_scale([batch])
        model.set_stage("diffusion")
        losses[weighting] = model.training_loss(batch, augment=False, generator=torch.Generator().manual_seed(0))
    # Same weights and draws: the clean-latent error both log is the same number; the loss each trains on is not.
    torch.testing.assert_close(losses["clean"]["flow_loss"], losses["velocity"]["flow_loss"])
    assert losses["clean"]["loss"] == losses["clean"]["flow_loss"]
    assert not torch.isclose(losses["velocity"]["loss"], losses["clean"]["loss"])


def test_the_input_skip_starts_at_zero_and_learns(batch):
    plain = tiny_model().with_latent_scale([batch])
    skip = tiny_model(dit_input_skip=True).with_latent_scale([batch])
    # Warm-starting a model with the skip from one without it: only the skip is missing, and it adds nothing yet.
    missing = skip.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["denoiser.input_skip.bias", "denoiser.input_skip.weight"]
    # A trained model's output layer is not zero, so move it off DiT's zero start to make the check meaningful.
    for model in (plain, skip):
        torch.nn.init.normal_(model.denoiser.output.weight, generator=torch.Generator().manual_seed(1))
    mask = batch["numbers"] > 0
    noisy = torch.randn(*mask.shape, plain.config.latent_dim, generator=torch.Generator().manual_seed(2))
    t, labels = torch.full((len(mask),), 0.9), batch["label"]
    args = (noisy, t, labels, torch.zeros_like(noisy), mask)
    torch.testing.assert_close(skip.denoiser(*args), plain.denoiser(*args))
    # The skip is trained: the loss reaches its weights.
    skip.set_stage("diffusion")
    skip.training_loss(batch, augment=False, generator=torch.Generator().manual_seed(0))["loss"].backward()
    assert skip.denoiser.input_skip.weight.grad.abs().sum() > 0


def test_the_distance_bias_starts_at_zero_ignores_padding_and_learns(batch):
    plain = tiny_model().with_latent_scale([batch])
    draw = torch.Generator().manual_seed(1)
    for weight in plain.denoiser.parameters():  # off DiT's zero start (output, gates), as a trained model is
        torch.nn.init.normal_(weight, std=0.3, generator=draw)
    biased = tiny_model(dit_distance_bias=True).with_latent_scale([batch])
    missing = biased.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert "denoiser.point_readout.weight" in missing and "denoiser.distance_bias.mlp.2.weight" in missing
    assert all(key.startswith(("denoiser.point_readout.", "denoiser.distance_bias.")) for key in missing)
    mask = batch["numbers"] > 0
    draw = torch.Generator().manual_seed(2)
    noisy = torch.randn(*mask.shape, plain.config.latent_dim, generator=draw)
    previous = torch.randn(*mask.shape, plain.config.latent_dim, generator=draw) * mask.unsqueeze(-1)
    t, labels = torch.full((len(mask),), 0.9), batch["label"]
    # Warm-started, it predicts exactly what the model without the bias does.
    torch.testing.assert_close(biased.denoiser(noisy, t, labels, previous, mask),
                               plain.denoiser(noisy, t, labels, previous, mask))
    # Once the bias is not zero, it changes the prediction, still not through the padding tokens.
    torch.nn.init.normal_(biased.denoiser.distance_bias.mlp[2].weight, generator=torch.Generator().manual_seed(3))
    out = biased.denoiser(noisy, t, labels, previous, mask)
    assert not torch.allclose(out[mask], plain.denoiser(noisy, t, labels, previous, mask)[mask])
    junk = torch.where(mask.unsqueeze(-1), previous, torch.full_like(previous, 50.0))
    torch.testing.assert_close(biased.denoiser(noisy, t, labels, junk, mask)[mask], out[mask])
    # The loss reaches the bias and, through it, the map that reads points from the latents.
    biased.set_stage("diffusion")
    biased.training_loss(batch, augment=False, generator=torch.Generator().manual_seed(0))["loss"].backward()
    assert biased.denoiser.distance_bias.mlp[0].weight.grad.abs().sum() > 0
    assert biased.denoiser.point_readout.weight.grad.abs().sum() > 0


def test_the_point_readout_recovers_coordinates_written_linearly_into_latents(batch):
    # Latents that hold an affine image of the coordinates, among other numbers: the readout finds the map back.
    draw = torch.Generator().manual_seed(0)
    positions = torch.randn(200, 3, generator=draw, dtype=torch.float64)
    image = positions @ torch.randn(3, 3, generator=draw, dtype=torch.float64) + 0.7
    latents = torch.cat([image, torch.randn(200, 5, generator=draw, dtype=torch.float64)], dim=1)
    weight, offset, r2 = least_squares_readout(latents, positions)
    assert r2 == pytest.approx(1.0)
    torch.testing.assert_close(latents @ weight.T + offset, positions)
    # On a model, the fit sets the readout; a model without the bias has nothing to fit.
    model = tiny_model(dit_distance_bias=True).with_latent_scale([batch])
    r2 = model.fit_point_readout([batch])
    assert 0.0 <= r2 <= 1.0
    assert model.denoiser.point_readout.weight.abs().sum() > 0
    with pytest.raises(ValueError, match="distance bias"):
        tiny_model().with_latent_scale([batch]).fit_point_readout([batch])


# ----------------------------------------------------------------------------------------------------- lattice
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


def test_the_dit_can_learn_posterior_draws_instead_of_means(batch):
    means = tiny_model().with_latent_scale([batch])
    draws = tiny_model(diffuse_posterior_samples=True).with_latent_scale([batch])
    mask = batch["numbers"] > 0
    mean, log_var = draws.autoencoder.encode(batch["numbers"], batch["positions"], batch["frac"],
                                             batch["lattice_features"], batch["periodic"], mask)
    # A fresh model's posterior is wide (std about 1), so its draws spread further than its means.
    assert draws.config.latent_scale > 1.2 * means.config.latent_scale
    scale = draws.config.latent_scale
    latents = draws.latents(batch, torch.Generator().manual_seed(5), posterior_sample=True) * scale
    epsilon = torch.randn(mean.shape, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(latents[mask], (mean + (0.5 * log_var).exp() * epsilon)[mask])
    assert (latents[~mask] == 0).all()
    # Training draws them with the loss's generator, so a seeded loss is reproducible.
    draws.set_stage("diffusion")
    losses = [draws.training_loss(batch, augment=False, generator=torch.Generator().manual_seed(0))["loss"]
              for _ in range(2)]
    assert torch.isfinite(losses[0]) and losses[0] == losses[1]


def test_the_decoder_stage_trains_only_the_decoder_on_noisy_latents(batch):
    model = tiny_model(decoder_noise=0.5)
    with pytest.raises(ValueError, match="latent scale"):
        model.set_stage("decoder")
    model = model.with_latent_scale([batch])
    model.set_stage("decoder")
    loss = model.training_loss(batch, augment=False, generator=torch.Generator().manual_seed(0))["loss"]
    loss.backward()
    decoder = {id(p) for module in model.autoencoder.decoder_modules() for p in module.parameters()}
    for name, parameter in model.named_parameters():  # the encoder (so the latent space) and the DiT stay put
        trained = parameter.grad is not None and parameter.grad.abs().sum() > 0
        assert trained == (id(parameter) in decoder), name
    # The same draw without the latent noise gives another loss: the noise reaches the decoder.
    model.autoencoder.zero_grad()
    quiet = tiny_model(decoder_noise=0.0).with_latent_scale([batch])
    quiet.load_state_dict(model.state_dict())
    quiet.set_stage("decoder")
    assert float(quiet.training_loss(batch, augment=False, generator=torch.Generator().manual_seed(0))["loss"]) \
        != float(loss)


# ---------------------------------------------------------------------------------------------------- sampling
@pytest.fixture(scope="module")
def sampler_model(batch):
    model = tiny_model(atom_counts=((0,) * 9 + (4,) + (0,) * 23, (0,) * 5 + (4,) + (0,) * 27))
    return model.with_latent_scale([batch]).eval()


def test_sampling_follows_the_condition_and_the_size_histogram(sampler_model):
    crystals = sampler_model.sample(6, seed=0, steps=4, condition="crystal", progress=False)
    assert all(s.is_periodic and len(s) == 5 for s in crystals)
    molecules = sampler_model.sample(6, seed=0, steps=4, condition="mol", progress=False)
    assert all(not s.is_periodic and len(s) == 9 for s in molecules)
    sized = sampler_model.sample(3, seed=0, steps=4, condition="molecule", n_atoms=12, progress=False)
    assert [len(s) for s in sized] == [12, 12, 12]
    mixed = sampler_model.sample(40, seed=0, steps=2, progress=False)
    assert 0 < sum(s.is_periodic for s in mixed) < 40


def test_sampling_is_seeded_and_batch_independent(sampler_model):
    a = sampler_model.sample(5, seed=3, steps=4, condition="crystal", progress=False, sampler="heun")
    b = sampler_model.sample(5, seed=3, steps=4, condition="crystal", progress=False, sampler="heun")
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.positions, y.positions)
        np.testing.assert_array_equal(x.lattice, y.lattice)


def test_guidance_scale_one_is_the_conditional_model(sampler_model):
    calls = []
    original = sampler_model.denoiser.forward

    def spy(noisy, t, labels, previous, mask):
        calls.append(labels.clone())
        return original(noisy, t, labels, previous, mask)

    sampler_model.denoiser.forward = spy
    try:
        sampler_model.sample(2, seed=0, steps=3, condition="cry", guidance=1.0, progress=False)
        assert all((labels == 1).all() for labels in calls)
        calls.clear()
        sampler_model.sample(2, seed=0, steps=3, condition="cry", guidance=2.0, progress=False)
        assert all(labels.tolist() == [1, 1, 2, 2] for labels in calls)  # conditional + "no label" rows
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
