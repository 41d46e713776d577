"""SMILES corpora for training a language model on molecules that have no 3D data here.

`geom-drugs` is the GEOM-DRUGS MiDi split in ``shared/data/geom_drugs`` (243,480 / 30,434 / 30,434 SMILES);
any ``.smi`` or ``.txt`` file of one SMILES a line (the first whitespace-separated field; blank lines and
lines starting with ``#`` are skipped) is a corpus too.
"""

from __future__ import annotations

from pathlib import Path

from atomgen.data.paths import shared_data_dir
from atomgen.errors import DatasetError

NAMED_CORPORA = {"geom-drugs": "geom_drugs/geom_{split}_smiles.txt"}
CORPUS_SUFFIXES = (".smi", ".txt")
SPLITS = ("train", "val", "test")


def is_smiles_corpus(name: str) -> bool:
    """Whether `name` is a named SMILES corpus or a SMILES file (by its suffix)."""
    return name in NAMED_CORPORA or (Path(name).suffix.lower() in CORPUS_SUFFIXES and Path(name).is_file())


def corpus_path(name: str, split: str = "train") -> Path:
    """The file behind a corpus: the named corpus's file of that split, or `name` itself."""
    if name in NAMED_CORPORA:
        if split not in SPLITS:
            raise DatasetError(f"corpus {name!r} has splits {', '.join(SPLITS)}, not {split!r}")
        path = shared_data_dir() / NAMED_CORPORA[name].format(split=split)
        if not path.is_file():
            raise DatasetError(f"corpus {name!r}: {path} is missing")
        return path
    return Path(name)


def read_smiles_corpus(name: str, split: str = "train") -> list[str]:
    """The SMILES of a corpus in file order; an empty corpus is an error naming the file."""
    path = corpus_path(name, split)
    smiles: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            smiles.append(fields[0])
    if not smiles:
        raise DatasetError(f"{path}: no SMILES in the file")
    return smiles
