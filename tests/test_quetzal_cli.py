"""Quetzal on the command line: sample, likelihood, decorate, complete, train; bad input exits 2, writes nothing."""

from __future__ import annotations

import json

import pytest
import torch

from atomgen.cli import main
from atomgen.io.formats import read, write
from atomgen.models.quetzal import QuetzalModel, preset

from .conftest import embedded


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return QuetzalModel(preset("tiny")).save(tmp_path_factory.mktemp("model") / "tiny")


def test_sample_then_likelihood(tmp_path, checkpoint, capsys):
    out = tmp_path / "samples.sdf"
    assert main(["sample", "--model", str(checkpoint), "-n", "5", "-o", str(out), "--steps", "4",
                 "--position-temperature", "0.5"]) == 0
    assert len(read(out)) == 5
    table = tmp_path / "ll.csv"
    assert main(["likelihood", str(out), "--model", str(checkpoint), "--steps", "8", "-o", str(table)]) == 0
    rows = table.read_text().splitlines()
    assert rows[0].startswith("index,name,n_atoms,log_likelihood_nats") and len(rows) == 6


def test_closed_shell_sampling_from_the_command_line(tmp_path, checkpoint):
    out = tmp_path / "closed.xyz"
    # The paper's solver: two DPM-Solver++ steps of this untrained head land atoms on top of each other (0.008 Å
    # apart), which the reader rightly refuses; two Heun steps spread them out.
    assert main(["sample", "--model", str(checkpoint), "-n", "12", "-o", str(out), "--steps", "2", "--seed", "3",
                 "--closed-shell", "--solver", "heun"]) == 0
    molecules = read(out)
    odd_counts = [sum(int(z) in (1, 7, 9) for z in m.numbers) for m in molecules]  # H, N, F have odd valences
    assert len(molecules) == 12 and all(count % 2 == 0 for m, count in zip(molecules, odd_counts) if len(m) < 32)


def test_decorate_keeps_order_of_a_multi_frame_xyz(tmp_path, checkpoint):
    molecules = [embedded("CCO"), embedded("c1ccccc1"), embedded("CC#N")]
    source = write(tmp_path / "in.xyz", molecules)
    out = tmp_path / "out.sdf"
    args = ["decorate", str(source), "-o", str(out), "--model", str(checkpoint), "--steps", "4", "--seed", "2"]
    assert main(args) == 0
    result = read(out)
    assert [int((m.numbers != 1).sum()) for m in result] == [3, 6, 3]
    # Closed shell: CCO, benzene and acetonitrile need an even, even and odd number of hydrogens (N's valence is odd).
    assert main(args + ["--closed-shell"]) == 0
    closed = read(out)
    assert len(closed) == 3
    # A molecule that reached the atom limit (32) was made to stop whatever its parity.
    assert all(int((m.numbers == 1).sum()) % 2 == odd for m, odd in zip(closed, (0, 0, 1)) if len(m) < 32)


def test_complete_from_smiles(tmp_path, checkpoint):
    out = tmp_path / "completed.xyz"
    assert main(["complete", "c1ccccc1", "-n", "3", "-o", str(out), "--model", str(checkpoint), "--steps", "4"]) == 0
    assert len(read(out)) == 3


@pytest.mark.parametrize("case", ["unknown element", "too long", "wrong family", "corrupt", "bad smiles",
                                  "negative temperature"])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, checkpoint, case, capsys):
    out = tmp_path / "out.sdf"
    model = str(checkpoint)
    if case == "unknown element":
        args = ["decorate", str(write(tmp_path / "s.sdf", [embedded("CCO"), embedded("CCS")])), "-o", str(out)]
        expected = "record 1: element S"
    elif case == "too long":
        args = ["complete", str(write(tmp_path / "long.sdf", [embedded("C" * 40)])), "-o", str(out)]
        expected = "more than this model's maximum"
    elif case == "wrong family":
        other = tmp_path / "other"
        other.mkdir()
        (other / "config.json").write_text(json.dumps({"family": "adit", "config": {}}))
        model = str(other)
        args = ["decorate", str(write(tmp_path / "s.sdf", [embedded("CCO")])), "-o", str(out)]
        expected = "'adit' model"
    elif case == "corrupt":
        broken = tmp_path / "broken"
        broken.mkdir()
        (broken / "config.json").write_text((checkpoint / "config.json").read_text())
        (broken / "model.safetensors").write_bytes((checkpoint / "model.safetensors").read_bytes()[:100])
        model = str(broken)
        args = ["sample", "-n", "2", "-o", str(out)]
        expected = "corrupt weights"
    elif case == "bad smiles":
        args = ["complete", "C1CC(", "-o", str(out)]
        expected = "cannot parse SMILES"
    else:
        args = ["sample", "-n", "2", "-o", str(out), "--position-temperature", "-1"]
        expected = "position temperature must be at least 0"
    assert main(args + ["--model", model, "--steps", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0]
    assert not out.exists()


def test_train_then_resume(tmp_path, small_molecules, capsys):
    data = write(tmp_path / "train.sdf", small_molecules)
    run = tmp_path / "run"
    common = ["train", "quetzal", "--config", "configs/quetzal/qm9-small.yaml",
              "--set", "trainer.compile=false", "--run-dir", str(run),
              "--set", "model.preset=tiny", "--set", f"data.dataset={data}", "--set", "data.batch_size=4",
              "--set", "trainer.precision=32", "--set", "trainer.sample_every_steps=0",
              "--set", "trainer.log_every_steps=2"]
    assert main(common + ["--set", "trainer.max_steps=2"]) == 0  # 3 batches per epoch: it stops mid-epoch
    # The run's own checkpoint (not user input) holds its very end, so a resume starts from there.
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 2
    assert main(common + ["--set", "trainer.max_steps=3"]) == 2  # refuses to overwrite a run without --resume
    assert main(common + ["--set", "trainer.max_steps=5", "--resume"]) == 0
    exported = json.loads((run / "model" / "config.json").read_text())
    assert exported["family"] == "quetzal" and exported["global_step"] == 5
    assert QuetzalModel.from_pretrained(run / "model").config == preset("tiny", prefix_geometry=True)


def test_train_from_trained_weights_with_a_new_head_extension(tmp_path, small_molecules, capsys):
    data = write(tmp_path / "train.sdf", small_molecules)
    common = ["train", "quetzal", "--config", "configs/quetzal/qm9-small.yaml",
              "--set", "trainer.compile=false", "--set", "model.preset=tiny",
              "--set", f"data.dataset={data}", "--set", "data.batch_size=4", "--set", "trainer.precision=32",
              "--set", "trainer.sample_every_steps=0", "--set", "trainer.max_steps=1"]
    paper = tmp_path / "paper"
    assert main(common + ["--run-dir", str(paper), "--set", "model.prefix_geometry=false"]) == 0
    # With a zero learning rate the run's weights stay what it started from: the paper model's, plus the
    # prefix-geometry tensors it never had.
    extended = tmp_path / "extended"
    assert main(common + ["--run-dir", str(extended), "--set", f"init_from={paper / 'model'}",
                          "--set", "optim.lr=0"]) == 0
    summary = capsys.readouterr().out
    assert "tensors it lacks keep their initial values (geometry" in summary
    assert "settings that differ from it: prefix_geometry\n" in summary
    source = QuetzalModel.from_pretrained(paper / "model").network.state_dict()
    started = QuetzalModel.from_pretrained(extended / "model").network.state_dict()
    assert set(started) > set(source) and all(name.startswith("geometry.") for name in set(started) - set(source))
    for name, tensor in source.items():
        torch.testing.assert_close(started[name], tensor, msg=name)
    # The other way round the checkpoint holds tensors the model lacks: another architecture, refused.
    assert main(common + ["--run-dir", str(tmp_path / "refused"), "--set", "model.prefix_geometry=false",
                          "--set", f"init_from={extended / 'model'}"]) == 2
    assert "do not fit this model" in capsys.readouterr().err
