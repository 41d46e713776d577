"""SMILES corpora for the language model: reading files and the named GEOM-DRUGS split, the elements a
vocabulary places, and a vocabulary that stays complete when only some molecules' randomised strings are read."""

from __future__ import annotations

import pytest

from atomgen.data.selfies_data import SelfiesDataset, build_vocabulary
from atomgen.data.selfies_vocab import smiles_to_selfies
from atomgen.data.smiles_corpus import corpus_path, is_smiles_corpus, read_smiles_corpus
from atomgen.errors import DatasetError

DRUG_LIKE = ["CC(=O)Nc1ccc(O)cc1", "Clc1ccc(S(N)(=O)=O)cc1", "C[N+](C)(C)CCO", "O=C([O-])c1ccncc1",
             "FC(F)(F)c1ccc(Br)cc1", "CCOC(=O)C1=CC=CS1"]


def test_a_file_corpus_skips_blank_and_comment_lines_and_keeps_the_first_field(tmp_path):
    path = tmp_path / "corpus.smi"
    path.write_text("# header\nCCO ethanol\n\n  c1ccccc1\tbenzene\nCC#N\n")
    assert is_smiles_corpus(str(path)) and not is_smiles_corpus(str(tmp_path / "absent.smi"))
    assert read_smiles_corpus(str(path)) == ["CCO", "c1ccccc1", "CC#N"]


def test_an_empty_corpus_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("# nothing here\n\n")
    with pytest.raises(DatasetError, match="empty.txt: no SMILES"):
        read_smiles_corpus(str(path))


def test_the_named_geom_drugs_corpus_reads_its_split_from_the_shared_folder(tmp_path, monkeypatch):
    folder = tmp_path / "geom_drugs"
    folder.mkdir()
    (folder / "geom_val_smiles.txt").write_text("CCO\nCCN\n")
    monkeypatch.setenv("ATOMGEN_SHARED_DATA", str(tmp_path))
    assert is_smiles_corpus("geom-drugs")
    assert read_smiles_corpus("geom-drugs", "val") == ["CCO", "CCN"]
    with pytest.raises(DatasetError, match="geom_train_smiles.txt is missing"):
        corpus_path("geom-drugs", "train")
    with pytest.raises(DatasetError, match="not 'dev'"):
        corpus_path("geom-drugs", "dev")


def test_a_vocabulary_knows_the_elements_of_the_parsable_smiles_plus_hydrogen():
    assert build_vocabulary(DRUG_LIKE + ["not a smiles"]).elements() == (1, 6, 7, 8, 9, 16, 17, 35)
    assert build_vocabulary(["ClC(Cl)(Cl)Cl"]).elements() == (1, 6, 17)


def test_a_vocabulary_from_some_randomised_strings_spells_every_canonical_one():
    full = build_vocabulary(DRUG_LIKE, seed=0)
    partial = build_vocabulary(DRUG_LIKE + ["not a smiles"], seed=0, randomised_molecules=2)
    assert set(partial.tokens) <= set(full.tokens)
    for smiles in DRUG_LIKE:
        partial.encode(smiles_to_selfies(smiles))  # raises for a symbol outside the vocabulary
    # Every molecule stays in the dataset: a randomised string the vocabulary cannot spell falls back.
    dataset = SelfiesDataset(DRUG_LIKE + ["not a smiles"], partial, max_length=64, seed=0)
    assert len(dataset) == len(DRUG_LIKE)
    assert all(dataset[k][0] == partial.bos and dataset[k][-1] == partial.eos for k in range(len(dataset)))
