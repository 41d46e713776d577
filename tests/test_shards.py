"""`--shard i/N` on the command line: the N shards of a run, concatenated in order, are the whole run, byte for byte.

Each command writes XYZ (or SDF for conformers) text; equal text means equal elements and coordinates to the
written precision, and the models' own tests check the coordinates bit for bit.
"""

from __future__ import annotations

import pytest
import torch

from atomgen.cli import main
from atomgen.io.formats import write
from atomgen.models.quetzal import QuetzalModel, preset

from .conftest import embedded

SHARDS = 3


@pytest.fixture(scope="module")
def quetzal(tmp_path_factory):
    torch.manual_seed(0)
    model = QuetzalModel(preset("tiny", prefix_geometry=True))
    torch.nn.init.normal_(model.network.geometry.push[-1].weight)  # starts at zero: make the head use it
    return model.save(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="module")
def nextmol(tmp_path_factory):
    from atomgen.data.selfies_vocab import SelfiesVocabulary
    from atomgen.models.nextmol import NExTMolModel
    from atomgen.models.nextmol import preset as nextmol_preset

    torch.manual_seed(0)
    symbols = SelfiesVocabulary.from_selfies(["[C][C][O][N][=C][#N][Branch1][Ring1]"]).tokens[3:]
    return NExTMolModel(nextmol_preset("tiny", symbols=symbols)).save(tmp_path_factory.mktemp("model") / "nextmol")


def _whole_and_shards(tmp_path, command: list[str], suffix: str = ".xyz") -> tuple[str, list[str]]:
    """The text the command writes unsharded, and the texts of its shards 0/N ... N-1/N."""
    whole = tmp_path / f"whole{suffix}"
    assert main(command + ["-o", str(whole)]) == 0
    parts = []
    for index in range(SHARDS):
        part = tmp_path / f"part{index}{suffix}"
        assert main(command + ["-o", str(part), "--shard", f"{index}/{SHARDS}", "--batch-size", "4"]) == 0
        parts.append(part.read_text())
    return whole.read_text(), parts


def test_sample_shards_concatenate_to_the_whole_run(tmp_path, quetzal):
    whole, parts = _whole_and_shards(tmp_path, ["sample", "--model", str(quetzal), "-n", "10", "--steps", "3",
                                                "--seed", "5"])
    assert all(parts) and "".join(parts) == whole


def test_decorate_and_complete_shards_concatenate_to_the_whole_run(tmp_path, quetzal):
    molecules = write(tmp_path / "in.xyz", [embedded(s) for s in ("CCO", "c1ccccc1", "CC#N", "OCC=O", "CN")])
    whole, parts = _whole_and_shards(tmp_path, ["decorate", str(molecules), "--model", str(quetzal), "--steps", "3"])
    assert "".join(parts) == whole
    whole, parts = _whole_and_shards(tmp_path, ["complete", str(molecules), "-n", "2", "--model", str(quetzal),
                                                "--steps", "3"])
    assert "".join(parts) == whole


def test_conformer_shards_concatenate_to_the_whole_run(tmp_path, nextmol):
    whole, parts = _whole_and_shards(tmp_path, ["conformers", "CCO", "-n", "5", "--model", str(nextmol),
                                                "--steps", "3", "--refine-steps", "0"], suffix=".sdf")
    assert whole.count("$$$$") == 5 and "".join(parts) == whole


@pytest.mark.parametrize("shard", ["3/3", "-1/3", "1", "a/b"])
def test_a_shard_that_does_not_exist_is_refused(tmp_path, quetzal, shard):
    out = tmp_path / "out.xyz"
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--model", str(quetzal), "-n", "4", "-o", str(out), f"--shard={shard}"])
    assert exit_info.value.code == 2 and not out.exists()
