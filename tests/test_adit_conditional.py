"""Property-conditional ADiT: the property vector joins the DiT's time and label conditioning, trained on random
subsets of each molecule's properties (none where the label is hidden), sampled with classifier-free guidance."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch

from atomgen.data.systems import LabelledSystemDataset, collate_systems
from atomgen.errors import InputError
from atomgen.models.adit import ADiTModel, preset
from atomgen.models.conditions import PropertyStats
from atomgen.system import AtomSystem

from .conftest import embedded

STATS = {"gap": asdict(PropertyStats(6.9, 1.0, 1.0, 17.0)), "mu": asdict(PropertyStats(2.7, 1.2, 0.0, 10.0))}


@pytest.fixture(scope="module")
def labelled_batch():
    molecules = [embedded(s) for s in ("CCO", "c1ccccc1", "CC#N", "OCC(O)CO")]
    for k, molecule in enumerate(molecules):
        molecule.properties.update(gap=5.0 + k, mu=1.0 + k)
    rng = np.random.default_rng(0)
    crystals = [AtomSystem.from_fractional([38, 22, 8, 8, 8], rng.random((5, 3)), np.diag([4.0, 4.1, 3.9]))
                for _ in range(2)]
    dataset = LabelledSystemDataset([(0, molecules), (1, crystals)], max_atoms=32, max_z=100,
                                    properties=["gap", "mu"])
    return collate_systems([dataset[k] for k in range(len(dataset))])


@pytest.fixture(scope="module")
def conditional(labelled_batch):
    torch.manual_seed(0)
    config = preset("tiny", labels=("mol", "cry"), periodic=(False, True), properties=STATS,
                    atom_counts=((0,) * 9 + (4,) + (0,) * 23, (0,) * 5 + (4,) + (0,) * 27))
    model = ADiTModel(config).with_latent_scale([labelled_batch]).eval()
    generator = torch.Generator().manual_seed(1)
    torch.nn.init.normal_(model.denoiser.output.weight, std=0.5, generator=generator)
    for layer in model.denoiser.blocks.blocks:  # adaLN-zero: let the conditioning reach the blocks
        torch.nn.init.normal_(layer.modulation[-1].weight, std=0.2, generator=generator)
    return model


def test_crystals_carry_no_properties_and_molecules_theirs(labelled_batch):
    assert labelled_batch["present"].tolist() == [[True, True]] * 4 + [[False, False]] * 2
    assert labelled_batch["properties"][1].tolist() == [6.0, 2.0]


def test_the_properties_steer_the_samples_and_guidance_sharpens_them(conditional):
    options = {"seed": 0, "steps": 4, "progress": False}
    low = conditional.sample(6, condition={"gap": 2.0}, **options)
    high = conditional.sample(6, condition={"gap": 15.0}, **options)
    assert all(not s.is_periodic and len(s) == 9 for s in low)  # properties imply the molecule classes
    assert not any(np.allclose(a.positions, b.positions) for a, b in zip(low, high))
    plain = conditional.sample(6, condition={"gap": 15.0}, guidance=1.0, **options)
    assert not any(np.allclose(a.positions, b.positions) for a, b in zip(plain, high))
    crystals = conditional.sample(3, condition="cry", **options)  # a label alone still works
    assert all(s.is_periodic for s in crystals)


def test_training_shows_no_property_where_the_label_is_hidden(conditional, labelled_batch):
    conditional.set_stage("diffusion")
    hide = torch.tensor([True, False, False, False, False, False])
    vectors = conditional._training_properties(labelled_batch, hide, torch.Generator().manual_seed(0))
    absent = conditional.denoiser.property_vector(torch.zeros(1, 2), torch.zeros(1, 2, dtype=torch.bool))
    assert torch.allclose(vectors[0], absent[0]) and torch.allclose(vectors[4], absent[0])
    loss = conditional.training_loss(labelled_batch, generator=torch.Generator().manual_seed(0))["loss"]
    loss.backward()
    assert conditional.denoiser.properties.out[-1].weight.grad.abs().sum() > 0
    conditional.eval()


def test_property_requests_an_adit_model_cannot_take_are_errors(conditional):
    with pytest.raises(InputError, match="gap = 40 eV is outside what this ADiT model saw"):
        conditional.sample(2, condition={"gap": 40.0}, progress=False)
    labels_only = ADiTModel(preset("tiny", labels=("mol", "cry"), periodic=(False, True), latent_scale=1.0))
    with pytest.raises(InputError, match=r"conditioned on its class label only: it takes no properties \(gap"):
        labels_only.sample(1, condition={"gap": 6.0}, progress=False)


def test_the_cli_passes_properties_and_a_label_to_adit(conditional, tmp_path, capsys):
    from atomgen.cli import main

    conditional.save(tmp_path / "adit")
    out = tmp_path / "mols.xyz"
    assert main(["sample", "--model", str(tmp_path / "adit"), "-n", "2", "-o", str(out), "--steps", "2",
                 "--condition", "gap=6:7", "--label", "mol"]) == 0
    assert out.read_text().count("\n") > 10
    assert main(["sample", "--model", str(tmp_path / "adit"), "-n", "2", "-o", str(tmp_path / "x.xyz"),
                 "--condition", "alpha=70"]) == 2
    assert "not conditioned on alpha" in capsys.readouterr().err
