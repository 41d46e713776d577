"""Property-conditional NExT-Mol: a language model prompted with target properties, guidance, and the errors a
user can make."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch

from atomgen.data.selfies_data import PropertySelfiesDataset, build_vocabulary, collate_property_token_ids
from atomgen.errors import InputError
from atomgen.models.conditions import PropertyStats
from atomgen.models.nextmol import NExTMolModel, preset

SHORT = ["C", "CC", "CO", "CN", "C=O", "N", "O", "CF"]
LONG = ["CCCCCCO", "CCCCCCN", "OCCCCCCO", "CCCCCC=O", "NCCCCCN", "CCOCCCC", "CCCCCCCC", "OCCCCCC#N"]


def _heavy_atoms(smiles: str) -> int:
    from rdkit import Chem

    return Chem.MolFromSmiles(smiles).GetNumAtoms()


@pytest.fixture(scope="module")
def conditional() -> NExTMolModel:
    """A tiny language model that learnt short molecules at gap 2 eV and long ones at gap 9 eV."""
    torch.manual_seed(0)
    smiles = SHORT + LONG
    values = np.array([[2.0]] * len(SHORT) + [[9.0]] * len(LONG))
    vocabulary = build_vocabulary(smiles, seed=0)
    stats = {"gap": asdict(PropertyStats.of(values[:, 0]))}
    model = NExTMolModel(preset("tiny", symbols=vocabulary.tokens[3:], max_length=16, properties=stats))
    dataset = PropertySelfiesDataset(smiles, values, model.vocabulary, 16, seed=0)
    optimizer = torch.optim.Adam(model.language.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for step in range(250):
        batch = collate_property_token_ids([dataset[k] for k in range(len(dataset))])
        loss = model.training_loss(batch, generator=generator)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_the_prompt_steers_what_the_language_model_writes(conditional):
    low = conditional.sample_smiles(64, seed=1, condition={"gap": 2.0})
    high = conditional.sample_smiles(64, seed=1, condition={"gap": 9.0})
    free = conditional.sample_smiles(64, seed=1)
    sizes = {name: np.mean([_heavy_atoms(s) for s in drawn]) for name, drawn in
             (("low", low), ("high", high), ("free", free))}
    assert sizes["low"] < 3.0 < 5.5 < sizes["high"]
    assert sizes["low"] < sizes["free"] < sizes["high"]  # no property asked for: both kinds


def test_guidance_sharpens_and_a_seed_names_samples_whatever_the_batch(conditional):
    options = {"seed": 2, "condition": {"gap": (2.0, 9.0)}, "guidance": 3.0}
    whole = conditional.sample_smiles(40, **options)
    assert conditional.sample_smiles(40, batch_size=3, **options) == whole
    assert conditional.sample_smiles(40, batch_size=3, shard=(1, 2), **options) == whole[20:]
    plain = conditional.sample_smiles(40, seed=2, condition={"gap": (2.0, 9.0)})
    assert plain != whole


def test_conditions_a_model_cannot_take_are_errors(conditional, tmp_path):
    with pytest.raises(InputError, match=r"gap = 20 eV is outside what this NExT-Mol model saw in training "
                                         r"\(2 to 9 eV\)"):
        conditional.sample_smiles(2, condition={"gap": 20.0})
    with pytest.raises(InputError, match="not conditioned on mu"):
        conditional.sample_smiles(2, condition={"mu": 1.0})
    conditional.save(tmp_path / "cond")
    again = NExTMolModel.from_pretrained(tmp_path / "cond")
    assert again.config.properties == conditional.config.properties
    assert again.sample_smiles(8, seed=5, condition={"gap": 9.0}) == conditional.sample_smiles(
        8, seed=5, condition={"gap": 9.0})
    unconditional = NExTMolModel(preset("tiny", symbols=conditional.config.symbols, max_length=16))
    for request in ({"condition": {"gap": 6.0}}, {"guidance": 2.0}):
        with pytest.raises(InputError, match="this NExT-Mol model is unconditional"):
            unconditional.sample_smiles(2, **request)


def test_the_cli_samples_a_condition_and_refuses_what_the_model_cannot_take(conditional, tmp_path, capsys):
    from atomgen.cli import main

    conditional.save(tmp_path / "cond")
    out = tmp_path / "high.sdf"
    assert main(["sample", "--model", str(tmp_path / "cond"), "-n", "4", "-o", str(out), "--steps", "2",
                 "--condition", "gap=8:9", "--guidance", "2"]) == 0
    assert out.read_text().count("$$$$") == 4
    for condition, message in (("gap=30", f"outside what {tmp_path / 'cond'} saw"),  # the model as the user named it
                               ("Cp=3", "unknown property 'Cp'"), ("gap", "write NAME=VALUE")):
        bad = tmp_path / "bad.sdf"
        assert main(["sample", "--model", str(tmp_path / "cond"), "-n", "2", "-o", str(bad),
                     "--condition", condition]) == 2
        assert message in capsys.readouterr().err and not bad.exists()
