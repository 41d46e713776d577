"""NExT-Mol building blocks: graph features, VP diffusion, alignment, chirality from 3D, and the conformer model's
training step and sampling (the SELFIES side is in test_selfies.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from atomgen.data.conformer_data import ConformerDataset, collate_graphs
from atomgen.data.molecular_graphs import graph_from_mol, mol_from_smiles
from atomgen.diffusion import vp
from atomgen.errors import InputError
from atomgen.models.nextmol.alignment import chirality_agreement, kabsch_align
from atomgen.models.nextmol.chirality import chirality_error, steer_chirality, stereocentre_volumes
from atomgen.models.nextmol.conformer import ConformerConfig, ConformerModel, local_distance_error
from atomgen.models.sampler_settings import NEXTMOL_SOLVERS
from atomgen.models.streams import SampleStreams

from .conftest import embedded


def test_graph_features_tell_mirror_images_and_double_bond_isomers_apart():
    r, s = graph_from_mol(mol_from_smiles("C[C@H](N)O")), graph_from_mol(mol_from_smiles("C[C@@H](N)O"))
    assert not np.array_equal(r.atom_features[:, 5], s.atom_features[:, 5])  # chirality tag column
    np.testing.assert_array_equal(np.delete(r.atom_features, 5, axis=1), np.delete(s.atom_features, 5, axis=1))
    e, z = graph_from_mol(mol_from_smiles("C/C=C/C")), graph_from_mol(mol_from_smiles("C/C=C\\C"))
    assert e.bond_stereo.max() == 1 and z.bond_stereo.max() == 2
    assert (e.numbers == 1).sum() == 8 and e.graph_distance[0, 3] == 3


@pytest.mark.parametrize("smiles", ["CC(=O)N", "c1ccccc1O", "C[C@@H]1C[C@H]1O", "C#CC=O"])
def test_a_smiles_gives_the_graph_of_the_same_molecule_perceived_from_coordinates(smiles):
    """Training graphs come from coordinates and user input from SMILES: the model must see the same features."""
    from atomgen.data.molecular_graphs import mol_from_coordinates

    molecule = embedded(smiles)  # atoms in the SMILES' order, hydrogens after their heavy atoms as AddHs puts them
    from_smiles = graph_from_mol(mol_from_smiles(smiles))
    from_coordinates = graph_from_mol(mol_from_coordinates(molecule.numbers, molecule.positions))
    # Every column but the chirality tag, whose CW/CCW refers to the order the bonds happen to be stored in.
    np.testing.assert_array_equal(np.delete(from_smiles.atom_features, 5, axis=1),
                                  np.delete(from_coordinates.atom_features, 5, axis=1))
    np.testing.assert_array_equal(from_smiles.bond_types, from_coordinates.bond_types)
    assert (from_smiles.atom_features[from_smiles.numbers == 1, 2] > 0).all()  # hydrogens' hybridisation is set


@pytest.mark.parametrize("smiles", ["C[C@H](O)[C@@H](C)N", "C[C@@H](O)[C@@H](C)N", "N[C@@H](C)C(=O)O",
                                    "N[C@H](C)C(=O)O", "C[C@@H]1C[C@H]1O", "CC(C)O", "C[S@](=O)CC"])
def test_the_chiral_order_gives_every_stereocentre_one_handedness_in_3d(smiles):
    from atomgen.data.molecular_graphs import mol_from_coordinates

    molecule = embedded(smiles)  # a geometry with the stereo as written, atoms in the SMILES' order
    centres = 0
    for mol in (mol_from_smiles(smiles), mol_from_coordinates(molecule.numbers, molecule.positions)):
        order, x = graph_from_mol(mol).chiral_order, molecule.positions
        for centre in np.nonzero(order.any(axis=1))[0]:
            points = [x[int(np.nonzero(order[centre] == k)[0][0])] for k in range(1, int(order[centre].max()) + 1)]
            if len(points) == 3:  # a lone pair (the sulfoxide's S) is the fourth, opposite the three neighbours
                points.append(2 * x[centre] - np.mean(points, axis=0))
            first, second, third, fourth = points
            # The same sign for R and S, one centre or two: the numbering, not the tag, carries the handedness.
            assert np.linalg.det(np.stack([second - first, third - first, fourth - first])) < 0, (smiles, centre)
            centres += 1
    assert centres == 2 * len(re.findall("@+", smiles))  # every centre of both molecules is numbered


def test_conformer_dataset_rebuilds_graphs_and_survives_a_round_trip(tmp_path, small_molecules):
    dataset = ConformerDataset.from_systems(small_molecules)
    assert len(dataset) == len(small_molecules)
    graph, positions = dataset[2]
    np.testing.assert_allclose(positions, small_molecules[2].positions, atol=1e-5)
    direct = graph_from_mol(mol_from_smiles(graph.smiles))
    assert direct.smiles == graph.smiles
    chiral = ConformerDataset.from_systems(small_molecules + [embedded("C[C@H](O)[C@@H](C)N")])
    chiral.save(tmp_path / "graphs.npz")
    again = ConformerDataset.load(tmp_path / "graphs.npz")
    assert again.graph(len(small_molecules)).chiral_order.max() == 4
    for k in range(len(chiral)):
        a, b = chiral.graph(k), again.graph(k)
        np.testing.assert_array_equal(a.graph_distance, b.graph_distance)
        np.testing.assert_array_equal(a.bond_types, b.bond_types)
        np.testing.assert_array_equal(a.chiral_order, b.chiral_order)


def test_a_graph_file_of_the_older_format_is_refused(small_molecules):
    from atomgen.errors import DatasetError

    dataset = ConformerDataset.from_systems(small_molecules[:2])
    arrays = {**dataset.arrays, "bonds": dataset.arrays["bonds"][:, :4]}  # no chiral-order columns
    with pytest.raises(DatasetError, match="older format"):  # `load_qm9_graphs` then perceives its cache again
        ConformerDataset(arrays, dataset.smiles, dataset.selfies)


GAUSSIAN_MEAN, GAUSSIAN_STD = 1.5, 0.4


def _sample_gaussian_target(steps: int, stochastic: bool, multistep: bool = False) -> torch.Tensor:
    """vp.sample with the exact clean predictor of data N(GAUSSIAN_MEAN, GAUSSIAN_STD²), 20,000 seeded rows."""
    m, s = GAUSSIAN_MEAN, GAUSSIAN_STD

    def predict_clean(x, t):  # the exact posterior mean of x0 for data N(m, s²)
        alpha, sigma = (v[:, None] for v in vp.alpha_sigma(t))
        return m + alpha * s**2 * (x - alpha * m) / (alpha**2 * s**2 + sigma**2)

    noise = torch.randn(20000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    generator = torch.Generator().manual_seed(1)
    return vp.sample(predict_clean, noise, steps, stochastic=stochastic, multistep=multistep,
                     noise_like=lambda x: torch.randn(x.shape, generator=generator, dtype=x.dtype))


def test_vp_sampler_reaches_a_gaussian_target():
    for stochastic in (True, False):
        out = _sample_gaussian_target(200, stochastic)
        assert abs(out.mean().item() - GAUSSIAN_MEAN) < 0.02 and abs(out.std().item() - GAUSSIAN_STD) < 0.02


def test_the_multistep_sampler_reaches_the_target_in_few_steps_where_first_order_does_not():
    for stochastic in (True, False):
        spreads = {}
        for multistep in (False, True):
            out = _sample_gaussian_target(15, stochastic, multistep)
            assert abs(out.mean().item() - GAUSSIAN_MEAN) < 0.02
            spreads[multistep] = out.std().item()
        assert abs(spreads[True] - GAUSSIAN_STD) < 0.02 < abs(spreads[False] - GAUSSIAN_STD)


def test_a_guide_moves_the_noisy_sample_so_that_the_steer_persists():
    """A model that trusts its input (x̂₀ = x_t/α) keeps whatever the guide did: a shift d of one estimate comes
    out as the same shift d of the sample, with either sampler. Steering x̂₀ alone would keep only a
    fraction of it."""
    shift = torch.tensor([0.7, -0.2, 0.1], dtype=torch.float64)

    def trusting(x, t):
        return x / vp.alpha_sigma(t)[0][:, None]

    calls = []

    def shift_third(clean, t):
        calls.append(t)
        return clean + shift if len(calls) == 3 else clean

    noise = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for stochastic in (True, False):
        calls.clear()
        runs = []
        for guide in (None, shift_third):
            generator = torch.Generator().manual_seed(1)
            runs.append(vp.sample(trusting, noise, 20, stochastic=stochastic, guide=guide,
                                  noise_like=lambda x: torch.randn(x.shape, generator=generator, dtype=x.dtype)))
        assert len(calls) == 20
        assert torch.allclose(runs[1] - runs[0], shift.expand(5, 3), atol=1e-8)


def test_the_steer_gives_every_stereocentre_its_hand_and_moves_nothing_else():
    molecules = [embedded("C[C@H](N)O"), embedded("CCO"), embedded("C[C@H]1CO[C@@H]1C")]
    dataset = ConformerDataset.from_systems(molecules)
    batch = collate_graphs([dataset[k] for k in range(len(dataset))])
    order = batch["chiral_order"]
    mirrored = batch["positions"] * torch.tensor([-1.0, 1.0, 1.0]) / 1.5  # every centre of the wrong hand
    volumes, centres = stereocentre_volumes(mirrored, order)
    assert centres.sum().item() == 3 and torch.all(volumes[centres] < 0)
    steered = steer_chirality(mirrored, order)
    volumes, _ = stereocentre_volumes(steered, order)
    assert torch.all(volumes[centres] > 0.3)
    moved = (steered - mirrored).norm(dim=-1) > 0
    involved = centres.clone()
    for row, _, neighbour in order.nonzero().tolist():
        involved[row, neighbour] = True
    assert not torch.any(moved & ~involved)  # only the centres and their neighbours move
    assert torch.equal(steered[1], mirrored[1])  # a molecule without stereocentres is left alone
    assert torch.equal(steer_chirality(mirrored[1:2], order[1:2]), mirrored[1:2])


def test_kabsch_undoes_rotations_but_not_reflections():
    from atomgen.data.augment import random_rotations

    points = torch.randn(3, 7, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[2, 5:] = False
    moved = points @ random_rotations(3, dtype=torch.float64).transpose(1, 2) + 2.0
    expected = points * mask[..., None]  # a rotated copy lands exactly on the target; padding comes back as 0
    torch.testing.assert_close(kabsch_align(moved, points, mask), expected, atol=1e-8, rtol=0)
    mirrored = kabsch_align(points * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64), points, mask)
    assert (mirrored - expected).abs().max() > 0.1


def test_chirality_is_read_back_from_coordinates():
    molecule = embedded("N[C@@H](C)C(=O)O")
    mol = mol_from_smiles("N[C@@H](C)C(=O)O")
    # `embedded` keeps RDKit's atom order for the same SMILES, so the coordinates fit `mol` atom by atom.
    assert chirality_agreement(mol, molecule.positions) == (1, 1)
    assert chirality_agreement(mol, molecule.positions * np.array([1.0, 1.0, -1.0])) == (0, 1)
    assert chirality_agreement(mol_from_smiles("CCO"), embedded("CCO").positions) == (0, 0)


@pytest.mark.parametrize("extensions", [False, True])  # the paper's DMT; with pair push and chiral order
def test_conformer_model_trains_and_samples_centred_coordinates(small_molecules, extensions):
    dataset = ConformerDataset.from_systems(small_molecules + [embedded("C[C@H](O)[C@@H](C)N")])
    batch = collate_graphs([dataset[k] for k in range(len(dataset))])
    torch.manual_seed(0)
    model = ConformerModel(ConformerConfig(dim=32, pair_dim=16, depth=2, heads=2, pair_push=extensions,
                                           chiral_order=extensions))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(0)

    def probe() -> float:  # the training loss over the same 16 seeded noise draws
        with torch.no_grad():
            return float(np.mean([model.training_loss(batch, generator=torch.Generator().manual_seed(seed))
                                  ["loss"] for seed in range(16)]))

    first = probe()
    for _ in range(120):
        loss = model.training_loss(batch, generator=generator)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert probe() < 0.7 * first
    coordinates = model.generate(batch, SampleStreams.for_samples(0, range(len(dataset))), steps=10)
    assert [len(c) for c in coordinates] == [len(dataset[k][0]) for k in range(len(dataset))]
    assert all(np.abs(c.mean(0)).max() < 1e-4 for c in coordinates)



def test_local_distance_error_reads_only_bonds_and_1_3_pairs_and_ignores_rotation(small_molecules):
    dataset = ConformerDataset.from_systems(small_molecules[:4])
    batch = collate_graphs([dataset[k] for k in range(len(dataset))])
    clean, distance, mask = batch["positions"], batch["graph_distance"], batch["mask"]
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)))[0]
    assert torch.allclose(local_distance_error(clean @ rotation.T, clean, distance, mask), torch.zeros(4), atol=1e-5)
    # Ethanol (CCO, molecule 0): stretching its C-O bond by 0.1 length units counts, in that molecule only.
    stretched = clean.clone()
    o_row = int(np.flatnonzero(small_molecules[0].numbers == 8)[0])
    stretched[0, o_row] += 0.1 * (clean[0, o_row] - clean[0, 1]) / (clean[0, o_row] - clean[0, 1]).norm()
    error = local_distance_error(stretched, clean, distance, mask)
    assert error[0] > 1e-4 and torch.all(error[1:] == 0)
    padded = clean.clone()
    padded[~mask] += 5.0
    assert torch.allclose(local_distance_error(padded, clean, distance, mask), torch.zeros(4), atol=1e-5)


def _losses_by_setting(systems: list, field: str, values: tuple, seed: int) -> dict:
    """The training losses of one tiny conformer model (the same initial weights each time) on one batch of
    `systems` at one seeded draw, for each value of the config field `field`."""
    dataset = ConformerDataset.from_systems(systems)
    batch = collate_graphs([dataset[k] for k in range(len(dataset))])
    losses = {}
    for value in values:
        torch.manual_seed(0)
        model = ConformerModel(ConformerConfig(dim=32, pair_dim=16, depth=2, heads=2, **{field: value}))
        losses[value] = model.training_loss(batch, generator=torch.Generator().manual_seed(seed))
    return losses


def test_the_local_geometry_weight_adds_the_local_error_to_the_loss(small_molecules):
    losses = _losses_by_setting(small_molecules[:4], "local_geometry_weight", (0.0, 10.0), seed=1)
    assert torch.equal(losses[0.0]["aligned_mse"], losses[10.0]["aligned_mse"])
    assert losses[0.0]["local_mse"] > 0
    assert losses[10.0]["loss"] > losses[0.0]["loss"]


def test_chirality_error_is_zero_for_the_truth_and_counts_every_centre_of_a_mirror_image():
    molecules = [embedded("C[C@H](N)O"), embedded("CCO"), embedded("C[C@H]1CO[C@@H]1C")]
    dataset = ConformerDataset.from_systems(molecules)
    batch = collate_graphs([dataset[k] for k in range(len(dataset))])
    clean, order = batch["positions"], batch["chiral_order"]
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)))[0]
    rotation = rotation * torch.sign(torch.linalg.det(rotation))  # a proper rotation
    hinge, centres = chirality_error(clean @ rotation.T, clean, order)
    assert centres.sum(-1).tolist() == [1, 0, 2]
    assert torch.equal(hinge, torch.zeros_like(hinge))
    mirrored, _ = chirality_error(clean * torch.tensor([-1.0, 1.0, 1.0]), clean, order)
    assert torch.all(mirrored[centres] > 0.2**2) and torch.all(mirrored[~centres] == 0)
    # Flattening one centre of the ring onto its neighbours' plane costs the margin, not a mirror's price.
    flat = clean.clone()
    centre = int(centres[2].nonzero()[0])
    neighbours = [int((order[2, centre] == k).nonzero()[0]) for k in (1, 2, 3)]
    flat[2, centre] = clean[2, neighbours].mean(0)
    hinge_flat, _ = chirality_error(flat, clean, order)
    assert 0 < hinge_flat[2, centre] < mirrored[2, centre]


def test_the_chirality_weight_adds_the_chirality_error_to_the_loss():
    dataset = ConformerDataset.from_systems([embedded("C[C@H](N)O"), embedded("C[C@H]1CO[C@@H]1C")])
    batch = collate_graphs([dataset[k] for k in range(len(dataset))])
    losses = {}
    for weight in (0.0, 10.0):
        torch.manual_seed(0)
        config = ConformerConfig(dim=32, pair_dim=16, depth=2, heads=2, chiral_order=True, chirality_weight=weight)
        losses[weight] = ConformerModel(config).training_loss(batch, generator=torch.Generator().manual_seed(1))
    assert torch.equal(losses[0.0]["aligned_mse"], losses[10.0]["aligned_mse"])
    assert 0 <= losses[0.0]["wrong_handedness"] <= 1
    assert losses[10.0]["loss"] > losses[0.0]["loss"]


def test_uniform_chirality_weighting_counts_the_high_noise_levels_min_snr_drowns():
    dataset = ConformerDataset.from_systems([embedded("C[C@H](N)O"), embedded("C[C@H]1CO[C@@H]1C")])
    batch = collate_graphs([dataset[k] for k in range(len(dataset))])
    losses = {}
    for weighting in ("min_snr", "uniform"):
        torch.manual_seed(0)
        config = ConformerConfig(dim=32, pair_dim=16, depth=2, heads=2, chiral_order=True, chirality_weight=10.0,
                                 chirality_noise_weighting=weighting)
        # Seed 0 draws noise levels t = 0.70 and 0.80, where min-SNR weighs a term by 0.26 and 0.10.
        losses[weighting] = ConformerModel(config).training_loss(batch, generator=torch.Generator().manual_seed(0))
    assert torch.equal(losses["min_snr"]["aligned_mse"], losses["uniform"]["aligned_mse"])
    assert losses["min_snr"]["wrong_handedness"] > 0
    assert losses["uniform"]["loss"] > losses["min_snr"]["loss"]
    with pytest.raises(ValueError, match="chirality_noise_weighting"):
        ConformerConfig(chirality_noise_weighting="snr")


def test_low_noise_share_moves_the_training_noise_levels_into_the_low_noise_band(small_molecules):
    losses = _losses_by_setting(small_molecules[:4], "low_noise_share", (0.0, 1.0), seed=3)
    # The same untrained network errs far less when every molecule is only slightly noisy: at low noise the
    # preconditioned estimate is almost its input.
    assert losses[1.0]["aligned_mse"] < 0.2 * losses[0.0]["aligned_mse"]
    with pytest.raises(ValueError, match="low_noise_share"):
        ConformerConfig(low_noise_share=-0.1)


def test_the_pair_push_is_equivariant_and_ignores_padding(small_molecules):
    from atomgen.models.nextmol.conformer_net import ConformerNetwork

    torch.manual_seed(0)
    network = ConformerNetwork(32, 16, 2, 2, pair_push=True).eval()
    torch.nn.init.normal_(network.push[-1].weight)  # it starts at zero; give it something to do
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 5, 3, generator=generator)
    pairs = torch.randn(2, 5, 5, 16, generator=generator)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=generator))[0]
    with torch.no_grad():
        push = network._pair_push(x, pairs, mask)
        torch.testing.assert_close(network._pair_push(x @ rotation.T + 1.0, pairs, mask), push @ rotation.T)
        moved = x.clone()
        moved[1, 3:] += 10.0  # padding atoms move: nothing changes
        torch.testing.assert_close(network._pair_push(moved, pairs, mask), push)
    assert push.abs().sum() > 0


def test_a_network_with_the_extensions_starts_as_the_trained_network_without_them(small_molecules):
    from atomgen.models.nextmol.conformer_net import ConformerNetwork

    dataset = ConformerDataset.from_systems(small_molecules[:3] + [embedded("C[C@H](O)[C@@H](C)N")])
    batch = collate_graphs([dataset[k] for k in range(4)])
    assert batch["chiral_order"].max() == 4
    torch.manual_seed(0)
    plain = ConformerNetwork(32, 16, 2, 2).eval()
    extended = ConformerNetwork(32, 16, 2, 2, pair_push=True, chiral_order=True).eval()
    new = extended.load_state_dict(plain.state_dict(), strict=False).missing_keys  # what `init_from` does
    assert new and all(name.startswith(("fine_distance", "push", "chiral_")) for name in new)
    x, t = torch.randn(*batch["mask"].shape, 3), torch.full((4,), 0.5)
    with torch.no_grad():
        torch.testing.assert_close(extended(x, t, batch, 1.5), plain(x, t, batch, 1.5))


def test_the_transfer_adapter_starts_as_no_transfer(small_molecules):
    from atomgen.models.nextmol.conformer_net import ConformerNetwork

    dataset = ConformerDataset.from_systems(small_molecules[:3])
    batch = collate_graphs([dataset[k] for k in range(3)])
    torch.manual_seed(0)
    network = ConformerNetwork(32, 16, 2, 2, context_dim=24).eval()
    x, t = torch.randn(*batch["mask"].shape, 3), torch.full((3,), 0.5)
    with_context = network(x, t, batch, 1.5, torch.randn(*batch["mask"].shape, 24))
    torch.testing.assert_close(with_context, network(x, t, batch, 1.5))


def test_conformers_of_rdkit_molecules_keep_their_atom_order():
    from atomgen.data.molecular_graphs import mol_from_coordinates
    from atomgen.data.selfies_vocab import SelfiesVocabulary
    from atomgen.models.nextmol import NExTMolModel, preset

    molecule = embedded("OCC#N")
    reordered = molecule.copy(numbers=molecule.numbers[::-1].copy(), positions=molecule.positions[::-1].copy())
    mol = mol_from_coordinates(reordered.numbers, reordered.positions)
    torch.manual_seed(0)
    model = NExTMolModel(preset("tiny", symbols=SelfiesVocabulary.from_selfies(["[C]"]).tokens[3:]))
    (conformer,) = model.conformers([mol], 1, steps=3, progress=False)
    np.testing.assert_array_equal(conformer.numbers, reordered.numbers)
    assert conformer.name == "N#CCO"



def test_the_solver_choice_reaches_the_diffusion_sampler(monkeypatch):
    from atomgen.data.selfies_vocab import SelfiesVocabulary
    from atomgen.models.nextmol import NExTMolModel, preset

    seen = []
    original = vp.sample

    def spy(*args, **kwargs):
        seen.append((args[2], kwargs["stochastic"], kwargs["multistep"]))
        return original(*args, **kwargs)

    monkeypatch.setattr(vp, "sample", spy)
    torch.manual_seed(0)
    model = NExTMolModel(preset("tiny", symbols=SelfiesVocabulary.from_selfies(["[C]"]).tokens[3:]))
    made = {solver: model.conformers(["OCC#N"], 1, steps=3 + k, progress=False, seed=0, solver=solver)
            for k, solver in enumerate(("ddpm", "ddim", "sde-dpm2m", "dpm2m"))}
    assert seen == [(3, True, False), (4, False, False), (5, True, True), (6, False, True)]
    assert not np.allclose(made["ddpm"][0].positions, made["ddim"][0].positions)
    model.conformers(["OCC#N"], 1, progress=False, seed=0)  # None: the model's own solver and steps
    assert seen[-1] == (model.config.sampling_steps, *NEXTMOL_SOLVERS[model.config.sampling_solver])
    with pytest.raises(InputError, match="unknown conformer solver 'euler'"):
        model.conformers(["OCC#N"], 1, progress=False, solver="euler")


def test_the_precision_changes_only_the_arithmetic_of_the_conformer_network():
    from atomgen.data.selfies_vocab import SelfiesVocabulary
    from atomgen.models.nextmol import NExTMolModel, preset

    torch.manual_seed(0)
    model = NExTMolModel(preset("tiny", symbols=SelfiesVocabulary.from_selfies(["[C]"]).tokens[3:]))
    fp32, bf16 = (model.conformers(["OCC#N"], 2, steps=4, seed=1, progress=False, precision=precision)
                  for precision in ("fp32", "bf16"))
    for a, b in zip(fp32, bf16, strict=True):
        assert np.array_equal(a.numbers, b.numbers) and np.isfinite(b.positions).all()
        assert 0 < np.abs(a.positions - b.positions).max() < 0.5  # rounded, not a different draw
    with pytest.raises(InputError, match="unknown precision 'fp16'"):
        model.conformers(["OCC#N"], 1, steps=2, progress=False, precision="fp16")


def test_conformers_with_wrong_relative_stereo_are_drawn_again():
    from atomgen.data.selfies_vocab import SelfiesVocabulary
    from atomgen.models.nextmol import NExTMolModel, preset

    torch.manual_seed(0)
    model = NExTMolModel(preset("tiny", symbols=SelfiesVocabulary.from_selfies(["[C]"]).tokens[3:]))
    chiral = ["C[C@H](O)[C@@H](C)N", "C[C@@H]1C[C@H]1O"]  # two centres each: a mirror cannot mend one of them

    def right(conformers) -> list[bool]:
        return [agree == total for agree, total in (chirality_agreement(mol_from_smiles(chiral[k // 12]),
                                                                        c.positions)
                                                    for k, c in enumerate(conformers))]

    once = right(model.conformers(chiral, 12, steps=3, progress=False, stereo_retries=0))
    retried = right(model.conformers(chiral, 12, steps=3, progress=False, stereo_retries=3))
    # The first draws are the same; a retry only replaces a conformer that has more centres wrong.
    assert all(r for o, r in zip(once, retried) if o)
    assert sum(retried) > sum(once)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_seed_names_de_novo_molecules_whatever_the_batch_size_and_shards(precision):
    from atomgen.data.selfies_vocab import SelfiesVocabulary
    from atomgen.models.nextmol import NExTMolModel, preset

    torch.manual_seed(0)
    symbols = SelfiesVocabulary.from_selfies(["[C][C][O][N][=C][#N][Branch1][Ring1]"]).tokens[3:]
    model = NExTMolModel(preset("tiny", symbols=symbols, max_length=12)).eval()
    options = {"seed": 3, "steps": 3, "refine_steps": 0, "progress": False, "precision": precision}
    whole = model.sample(12, **options)
    assert len({len(m) for m in whole}) > 2  # molecules of several sizes, so several padded sizes
    for batch_size in (2, 40):
        again = model.sample(12, batch_size=batch_size, **options)
        shards = [m for i in range(3) for m in model.sample(12, batch_size=batch_size, shard=(i, 3), **options)]
        for run in (again, shards):
            for a, b in zip(whole, run, strict=True):
                assert a.name == b.name
                np.testing.assert_array_equal(a.positions, b.positions)
    assert model.sample_smiles(30, seed=3, batch_size=4) == model.sample_smiles(30, seed=3)


def test_the_pair_term_of_the_values_is_the_attention_weighted_sum_of_the_pair_values():
    from atomgen.models.nextmol.conformer_net import RelationalBlock

    torch.manual_seed(0)
    block = RelationalBlock(dim=16, pair_dim=8, heads=4)
    torch.nn.init.normal_(block.pair_value.bias)
    batch, n = 3, 5
    weights = torch.softmax(torch.randn(batch, 4, n, n), dim=-1)
    pairs = torch.randn(batch, n, n, 8)
    # The values built explicitly, one per (i, j) pair and head, as the block's formula reads.
    values = block.pair_value(pairs).view(batch, n, n, 4, 4)
    expected = torch.einsum("bhij,bijhd->bhid", weights, values)
    torch.testing.assert_close(block._pair_values(weights, pairs), expected, rtol=1e-5, atol=1e-5)
