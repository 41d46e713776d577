"""NExT-Mol on the command line: both training stages, de novo sampling and conformers for any SMILES; bad input
exits 2 and writes nothing (or, with --skip-invalid, is skipped with a warning)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from atomgen.cli import main
from atomgen.models.nextmol import NExTMolModel
from atomgen.models.streams import SampleStreams


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained through both CLI stages on the 24 QM9 molecules of tests/data."""
    root = tmp_path_factory.mktemp("nextmol")
    common = ["--set", "model.preset=tiny", "--set", "data.dataset=tests/data/qm9_test_sample.xyz",
              "--set", "data.batch_size=8", "--set", "trainer.precision=32", "--set", "trainer.max_steps=3",
              "--set", "optim.warmup_steps=1", "--set", "trainer.log_every_steps=1"]
    assert main(["train", "nextmol", "--config", "configs/nextmol/qm9-small-language.yaml",
                 "--run-dir", str(root / "lm")] + common) == 0
    assert main(["train", "nextmol", "--config", "configs/nextmol/qm9-small-conformer.yaml",
                 "--set", "trainer.compile=false",
                 "--run-dir", str(root / "dmt"), "--set", f"model.language_model={root / 'lm' / 'model'}",
                 "--set", "model.conformer.pair_push=true", "--set", "trainer.sample_every_steps=0"] + common) == 0
    return root / "dmt" / "model"


def test_both_stages_export_one_model(trained):
    document = json.loads((trained / "config.json").read_text())
    assert document["family"] == "nextmol" and document["global_step"] == 3
    model = NExTMolModel.from_pretrained(trained)
    assert len(model.vocabulary) > 10 and set(model.config.elements) <= {1, 6, 7, 8, 9}
    # A `model.conformer.*` option changes that one field and keeps the preset's sizes.
    assert model.config.conformer.pair_push and model.config.conformer.dim == 32


def test_conformers_of_a_smiles_and_of_a_file_keep_the_input_order(tmp_path, trained):
    out = tmp_path / "one.sdf"
    assert main(["conformers", "C[C@H](N)O", "-n", "3", "-o", str(out), "--model", str(trained),
                 "--steps", "4"]) == 0
    records = out.read_text().split("$$$$\n")[:-1]
    assert len(records) == 3 and all(int(r.splitlines()[3][:3]) == 11 for r in records)  # 4 heavy + 7 H
    listing = tmp_path / "smiles.txt"
    listing.write_text("CCO\n# a comment\n\nc1ccccc1\nCC#N\n")
    out = tmp_path / "many.sdf"
    assert main(["conformers", str(listing), "-n", "2", "--seed", "1", "-o", str(out), "--model", str(trained),
                 "--steps", "4"]) == 0
    counts = [int(r.splitlines()[3][:3]) for r in out.read_text().split("$$$$\n")[:-1]]
    assert counts == [9, 9, 12, 12, 6, 6]


def test_the_chirality_steer_moves_chiral_molecules_only(tmp_path, trained):
    written = {}
    for smiles in ("CCO", "C[C@H](N)O"):
        for flag in ([], ["--no-chirality-steer"]):
            out = tmp_path / f"{len(written)}.sdf"
            assert main(["conformers", smiles, "-n", "2", "-o", str(out), "--model", str(trained), "--steps", "6",
                         "--stereo-retries", "0", *flag]) == 0
            written[smiles, bool(flag)] = out.read_text()
    assert written["CCO", True] == written["CCO", False]
    assert written["C[C@H](N)O", True] != written["C[C@H](N)O", False]


def test_refine_steps_are_the_same_draws_refined(tmp_path, trained):
    from atomgen.diffusion import vp

    model = NExTMolModel.from_pretrained(trained)
    plain = model.conformers(["CC(=O)N"], 2, seed=4, steps=5, refine_steps=0, progress=False)
    refined = model.conformers(["CC(=O)N"], 2, seed=4, steps=5, refine_steps=3, progress=False)
    assert all(not np.allclose(a.positions, b.positions) for a, b in zip(plain, refined))
    # Refinement follows the chain and draws no random numbers: the same chain, refined by hand, is the result.
    batch = model.collate([(model._graph("CC(=O)N", None, 0)[1], None)])
    chain = model.conformer.generate(batch, SampleStreams.for_samples(0, [0]), steps=5, refine_steps=0)[0]
    scale = model.config.conformer.coordinate_scale
    by_hand = vp.refine(lambda x, t: model.conformer._predict(x, t, batch, None).float(),
                        torch.as_tensor(chain / scale, dtype=torch.float32)[None], 3,
                        project=lambda x: x - x.mean(1, keepdim=True))[0].numpy() * scale
    assert np.allclose(model.conformer.generate(batch, SampleStreams.for_samples(0, [0]), steps=5, refine_steps=3)[0],
                       by_hand, atol=1e-4)
    out = tmp_path / "out.sdf"
    assert main(["conformers", "CCO", "-n", "1", "-o", str(out), "--model", str(trained), "--steps", "2",
                 "--refine-steps", "-1"]) == 2 and not out.exists()
    assert main(["conformers", "CCO", "-n", "1", "-o", str(out), "--model", str(trained), "--steps", "2",
                 "--refine-steps", "2"]) == 0 and out.exists()


@pytest.mark.parametrize("smiles, message", [
    ("C1CC(", "cannot parse SMILES 'C1CC('"),
    ("CCCl", "element Cl is not one this model knows"),
    ("C" * 30, "92 atoms with hydrogens, more than this model's maximum of 64"),
])
def test_bad_molecules_exit_2_and_write_nothing(tmp_path, trained, capsys, smiles, message):
    out = tmp_path / "out.sdf"
    assert main(["conformers", smiles, "-n", "2", "-o", str(out), "--model", str(trained), "--steps", "2"]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_skip_invalid_warns_counts_and_keeps_the_rest(tmp_path, trained):
    listing = tmp_path / "smiles.txt"
    listing.write_text("CCO\nC1CC(\nCCCl\nCN\n")
    out = tmp_path / "out.sdf"
    with pytest.warns(UserWarning, match="skipped 2 of 4 molecules"):
        assert main(["conformers", str(listing), "-n", "1", "-o", str(out), "--model", str(trained),
                     "--steps", "2", "--skip-invalid"]) == 0
    assert out.read_text().count("$$$$") == 2


def test_de_novo_sampling_writes_molecules_with_bonds(tmp_path, trained):
    out = tmp_path / "samples.sdf"
    assert main(["sample", "--model", str(trained), "-n", "6", "-o", str(out), "--steps", "3", "--top-k", "5"]) == 0
    assert out.read_text().count("$$$$") == 6
    assert main(["sample", "--model", str(trained), "-n", "2", "-o", str(tmp_path / "x.sdf"),
                 "--guidance", "2"]) == 2


def test_drug_like_stages_a_smiles_corpus_then_drugs_etkdg_geometries(tmp_path, caplog):
    """The language stage on SMILES with no 3D data (as on GEOM-DRUGS), then the conformer stage on a built
    drugs-etkdg split of the same molecules: elements beyond QM9's, charged atoms, and conformers of them."""
    from rdkit import Chem

    from atomgen.data.drugs import build_drugs_etkdg

    drug_like = ["CC(=O)Nc1ccc(O)cc1", "Clc1ccc(S(N)(=O)=O)cc1", "C[N+](C)(C)CCO", "O=C([O-])c1ccncc1",
                 "FC(F)(F)c1ccc(Br)cc1", "CCOC(=O)C1=CC=CS1"]
    corpus = tmp_path / "drugs.smi"
    corpus.write_text("\n".join(drug_like * 3 + ["not a smiles"]) + "\n")
    tiny = ["--set", "model.preset=tiny", "--set", "data.batch_size=6", "--set", "trainer.max_steps=3",
            "--set", "optim.warmup_steps=1"]
    assert main(["train", "nextmol", "--config", "configs/nextmol/drugs-small-language.yaml",
                 "--run-dir", str(tmp_path / "lm"), "--set", f"data.dataset={corpus}"] + tiny) == 0
    assert "1 of 19 SMILES left out" in caplog.text
    language = NExTMolModel.from_pretrained(tmp_path / "lm" / "model")
    assert language.config.elements == (1, 6, 7, 8, 9, 16, 17, 35) and language.config.max_length == 96
    assert "[Cl]" in language.vocabulary.tokens and "[N+1]" in language.vocabulary.tokens
    assert all(text and Chem.MolFromSmiles(text) is not None for text in language.sample_smiles(40, seed=0))

    smiles_dir = tmp_path / "geom_drugs"
    smiles_dir.mkdir()
    (smiles_dir / "geom_test_smiles.txt").write_text("\n".join(drug_like) + "\n")
    build_drugs_etkdg(tmp_path / "data" / "drugs-etkdg", "test", smiles_dir=smiles_dir, workers=1, progress=False)
    assert main(["train", "nextmol", "--config", "configs/nextmol/qm9-small-conformer.yaml",
                 "--set", "trainer.compile=false",
                 "--run-dir", str(tmp_path / "dmt"), "--set", f"model.language_model={tmp_path / 'lm' / 'model'}",
                 "--set", "data.dataset=drugs-etkdg", "--set", "data.split=test",
                 "--set", f"data.data_dir={tmp_path / 'data'}", "--set", "trainer.sample_every_steps=0",
                 "--set", "trainer.precision=32"] + tiny) == 0
    assert "molecules left out" not in caplog.text  # the SDF's own bonds and charges: the ions are kept too
    model = NExTMolModel.from_pretrained(tmp_path / "dmt" / "model")
    assert {16, 17, 35} <= set(model.config.elements)
    made = model.conformers(["Clc1ccc(S(N)(=O)=O)cc1", "C[N+](C)(C)CCO"], 1, seed=0, steps=3, progress=False)
    assert [m.n_atoms for m in made] == [17, 21] and all(np.isfinite(m.positions).all() for m in made)


def test_conformer_model_loads_only_nextmol_checkpoints(tmp_path, capsys):
    import torch

    from atomgen.models.quetzal import QuetzalModel
    from atomgen.models.quetzal import preset as quetzal_preset

    torch.manual_seed(0)
    folder = QuetzalModel(quetzal_preset("tiny")).save(tmp_path / "q")
    assert main(["conformers", "CCO", "-o", str(tmp_path / "c.sdf"), "--model", str(folder)]) == 2
    assert "not a 'nextmol' one" in capsys.readouterr().err


def test_transfer_stage_reads_language_states_and_refuses_unspellable_molecules(tmp_path, trained, capsys):
    language_run = trained.parent.parent / "lm" / "model"
    run = tmp_path / "transfer"
    assert main(["train", "nextmol", "--config", "configs/nextmol/qm9-small-conformer.yaml",
                 "--set", "trainer.compile=false", "--run-dir", str(run),
                 "--set", f"model.language_model={language_run}", "--set", "model.transfer=true",
                 "--set", "model.preset=tiny", "--set", "data.dataset=tests/data/qm9_test_sample.xyz",
                 "--set", "data.batch_size=8", "--set", "trainer.precision=32", "--set", "trainer.max_steps=2",
                 "--set", "trainer.sample_every_steps=0", "--set", "optim.warmup_steps=1"]) == 0
    model = NExTMolModel.from_pretrained(run / "model")
    assert model.config.transfer and model.config.conformer.context_dim == model.config.lm_dim
    out = tmp_path / "c.sdf"
    assert main(["conformers", "CCO", "-n", "2", "-o", str(out), "--model", str(run / "model"), "--steps", "3"]) == 0
    # A molecule whose SELFIES needs a symbol the language model never saw cannot be read by it.
    assert main(["conformers", "C[N+](C)(C)C", "-o", str(tmp_path / "x.sdf"), "--model", str(run / "model")]) == 2
    assert "is not in this model's vocabulary" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:MMFF relaxation left")
def test_relax_writes_mmff_minima_of_the_same_draws(tmp_path, trained):
    from atomgen.io.formats import read
    from atomgen.tasks.relax import relax_all, relax_mmff

    out = tmp_path / "relaxed.sdf"
    assert main(["conformers", "CC(=O)NC", "-n", "2", "-o", str(out), "--model", str(trained), "--steps", "4",
                 "--relax"]) == 0
    for system in read(out):  # a second minimisation barely moves a minimum (SDF keeps 4 decimals)
        again = relax_mmff(system)
        assert again is not None and np.abs(again.positions - system.positions).max() < 0.02
    # De novo molecules: the relaxed ones are the plain draws, relaxed (the tiny model's geometry is poor, so MMFF
    # cannot relax every one faithfully: those stay as generated).
    model = NExTMolModel.from_pretrained(trained)
    relaxed = model.sample(4, seed=3, steps=4, progress=False, relax=True)
    expected, _ = relax_all(model.sample(4, seed=3, steps=4, progress=False))
    assert all(np.allclose(a.positions, b.positions, atol=1e-6) for a, b in zip(relaxed, expected))
    assert any(not np.allclose(a.positions, b.positions)
               for a, b in zip(relaxed, model.sample(4, seed=3, steps=4, progress=False)))
    assert main(["sample", "-n", "2", "-o", str(tmp_path / "s.sdf"), "--model", str(trained), "--steps", "4",
                 "--relax"]) == 0
