"""ADiT on the command line: both training stages from the shipped YAML, then sampling molecules and crystals
to SDF, CIF (one multi-block file or one file per structure) and extended XYZ; bad requests exit 2, write nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from atomgen.cli import main
from atomgen.io.formats import write
from atomgen.models.adit import ADiTModel
from atomgen.system import AtomSystem

from .conftest import embedded


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny joint model trained through both CLI stages on a few molecules and crystals."""
    root = tmp_path_factory.mktemp("adit")
    molecules = write(root / "mols.sdf", [embedded(s) for s in ("CCO", "CC#N", "OCC(O)CO", "CC(C)=O")])
    rng = np.random.default_rng(0)
    cells = [AtomSystem.from_fractional([38, 22, 8, 8, 8], rng.random((5, 3)), np.eye(3) * 3.9) for _ in range(4)]
    crystals = write(root / "cells.cif", cells)
    common = ["--set", "model.preset=tiny", "--set", f"data.dataset={molecules},{crystals}",
              "--set", "data.shares=null", "--set", "data.batch_size=4",
              "--set", "trainer.precision=32", "--set", "trainer.log_every_steps=2",
              "--set", "trainer.max_steps=4", "--set", "optim.warmup_steps=2"]
    assert main(["train", "adit", "--config", "configs/adit/joint-small-autoencoder.yaml",
                 "--run-dir", str(root / "ae")] + common) == 0
    assert main(["train", "adit", "--config", "configs/adit/joint-small-diffusion.yaml",
                 "--set", "trainer.compile=false",
                 "--run-dir", str(root / "dit"), "--set", f"model.autoencoder={root / 'ae' / 'model'}",
                 "--set", "trainer.sample_every_steps=2", "--set", "trainer.sample_count=6",
                 "--set", "trainer.sample_steps=3"] + common) == 0
    return root / "dit" / "model"


def test_two_stage_training_exports_a_sampling_model(trained):
    document = json.loads((trained / "config.json").read_text())
    assert document["family"] == "adit" and document["global_step"] == 4
    config = document["config"]
    assert config["labels"] == ["mols", "cells"] and config["periodic"] == [False, True]
    assert config["latent_scale"] > 0 and sum(config["atom_counts"][1]) == 4
    assert ADiTModel.from_pretrained(trained).ready_to_sample


def test_a_dit_continues_from_a_trained_model_on_its_latent_scale(tmp_path, trained):
    # Other molecules under the same label: a latent scale measured afresh would differ from the trained one.
    molecules = write(tmp_path / "new" / "mols.sdf", [embedded(s) for s in ("C1CC1", "NC=O", "c1ccoc1")])
    run, crystals = tmp_path / "run", trained.parent.parent / "cells.cif"
    assert main(["train", "adit", "--config", "configs/adit/joint-small-diffusion.yaml",
                 "--set", "trainer.compile=false", "--run-dir", str(run),
                 "--set", "model.preset=tiny", "--set", f"data.dataset={molecules},{crystals}",
                 "--set", "data.shares=null", "--set", "data.batch_size=4", "--set", "trainer.precision=32",
                 "--set", "trainer.max_steps=1", "--set", "trainer.sample_every_steps=0", "--set", "optim.lr=0",
                 "--set", f"model.autoencoder={trained.parent.parent / 'ae' / 'model'}",
                 "--set", f"init_from={trained}"]) == 0
    source, continued = ADiTModel.from_pretrained(trained), ADiTModel.from_pretrained(run / "model")
    assert continued.config.latent_scale == source.config.latent_scale
    for name, tensor in source.state_dict().items():  # a zero learning rate: still the trained weights
        torch.testing.assert_close(continued.state_dict()[name], tensor, msg=name)


def test_a_dit_warm_started_on_a_retrained_autoencoder_keeps_that_autoencoder(tmp_path, trained):
    root, retrained = trained.parent.parent, tmp_path / "ae2"
    data = ["--set", "model.preset=tiny", "--set", f"data.dataset={root / 'mols.sdf'},{root / 'cells.cif'}",
            "--set", "data.shares=null", "--set", "data.batch_size=4", "--set", "trainer.precision=32",
            "--set", "trainer.sample_every_steps=0", "--set", "optim.warmup_steps=1"]
    assert main(["train", "adit", "--config", "configs/adit/joint-small-autoencoder.yaml", "--run-dir",
                 str(retrained), "--set", "trainer.max_steps=2", "--set", f"init_from={trained}"] + data) == 0
    run = tmp_path / "dit"
    assert main(["train", "adit", "--config", "configs/adit/joint-small-diffusion.yaml",
                 "--set", "trainer.compile=false", "--run-dir", str(run),
                 "--set", "trainer.max_steps=1", "--set", "optim.lr=0", "--set",
                 f"model.autoencoder={retrained / 'model'}", "--set", f"init_from={trained}"] + data) == 0
    source, new_autoencoder = ADiTModel.from_pretrained(trained), ADiTModel.from_pretrained(retrained / "model")
    warm = ADiTModel.from_pretrained(run / "model")
    for name, tensor in warm.autoencoder.state_dict().items():
        torch.testing.assert_close(tensor, new_autoencoder.autoencoder.state_dict()[name], msg=name)
    for name, tensor in warm.denoiser.state_dict().items():  # a zero learning rate: still the trained DiT
        torch.testing.assert_close(tensor, source.denoiser.state_dict()[name], msg=name)
    assert warm.config.latent_scale != source.config.latent_scale  # measured on the new autoencoder's latents


def test_sample_crystals_to_a_folder_a_cif_and_extxyz(tmp_path, trained):
    base = ["sample", "--model", str(trained), "--kind", "crystal", "-n", "3", "--steps", "3"]
    assert main(base + ["-o", str(tmp_path / "each") + "/"]) == 0
    files = sorted(p.name for p in (tmp_path / "each").iterdir())
    assert files == ["00000.cif", "00001.cif", "00002.cif"]
    assert main(base + ["-o", str(tmp_path / "all.cif")]) == 0
    assert main(base + ["-o", str(tmp_path / "all.extxyz"), "--sampler", "heun"]) == 0
    # An untrained model's atoms may coincide and its cells be flat, which the readers rightly refuse: count the
    # written structures instead.
    assert (tmp_path / "all.cif").read_text().count("\ndata_") == 3
    assert (tmp_path / "all.extxyz").read_text().count('Lattice="') == 3


def test_sample_molecules_to_sdf(tmp_path, trained):
    out = tmp_path / "mols.sdf"
    assert main(["sample", "--model", str(trained), "--label", "mols", "-n", "4", "--steps", "3",
                 "--n-atoms", "7", "-o", str(out)]) == 0
    # An untrained model may stack atoms on one another, which `read` rightly refuses: count them from the text.
    records = out.read_text().split("$$$$\n")[:-1]
    assert [int(record.splitlines()[3][:3]) for record in records] == [7, 7, 7, 7]


@pytest.mark.parametrize("extra, message", [
    (["--label", "perov_5"], "unknown class label 'perov_5'"),
    (["--n-atoms", "64"], "1 to 32 atoms, not 64"),
    (["--temperature", "0.5"], "--temperature: not an option of this adit model"),
    (["--closed-shell"], "--closed-shell: not an option of this adit model"),
    (["--kind", "crystal", "--label", "cells"], "--kind or --label, not both"),
])
def test_bad_requests_exit_2_and_write_nothing(tmp_path, trained, capsys, extra, message):
    out = tmp_path / "out.cif"
    assert main(["sample", "--model", str(trained), "-n", "2", "--steps", "2", "-o", str(out)] + extra) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_crystals_into_sdf_and_a_full_output_folder_are_refused(tmp_path, trained, capsys):
    out = tmp_path / "out.sdf"
    assert main(["sample", "--model", str(trained), "--kind", "crystal", "-n", "2", "--steps", "2",
                 "-o", str(out)]) == 2
    assert "SDF holds molecules only" in capsys.readouterr().err and not out.exists()
    folder = tmp_path / "busy"
    folder.mkdir()
    (folder / "mine.txt").write_text("keep me")
    assert main(["sample", "--model", str(trained), "-n", "2", "--steps", "2", "-o", str(folder) + "/"]) == 2
    assert "not empty" in capsys.readouterr().err and (folder / "mine.txt").read_text() == "keep me"


def test_quetzal_rejects_adit_options(tmp_path, capsys):
    import torch

    from atomgen.models.quetzal import QuetzalModel
    from atomgen.models.quetzal import preset as quetzal_preset

    torch.manual_seed(0)
    folder = QuetzalModel(quetzal_preset("tiny")).save(tmp_path / "q")
    assert main(["sample", "--model", str(folder), "--kind", "crystal", "-n", "2", "-o",
                 str(tmp_path / "x.cif")]) == 2
    assert "makes molecules only" in capsys.readouterr().err
