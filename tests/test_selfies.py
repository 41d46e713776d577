"""SELFIES for NExT-Mol's language model: randomised strings, the vocabulary, decoding to molecules RDKit accepts
(closing radicals), the KV-cached sampler and training, and the map from each atom to the symbol that placed it."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from atomgen.data.molecular_graphs import mol_from_smiles
from atomgen.data.selfies_vocab import SelfiesVocabulary, selfies_to_smiles, smiles_to_selfies
from atomgen.errors import InputError
from atomgen.models.nextmol.language import SelfiesLanguageModel
from atomgen.models.streams import SampleStreams

SMILES = ["CCO", "C[C@H](N)O", "C[C@@H](N)O", "C/C=C/C", "c1ccncc1", "OC(=O)C#N", "N[C@@H](C)C(=O)O"]


@pytest.fixture(scope="module")
def vocabulary() -> SelfiesVocabulary:
    rng = np.random.default_rng(0)
    corpus = [smiles_to_selfies(s, randomise=True, rng=rng) for s in SMILES * 5] + [smiles_to_selfies(s) for s in SMILES]
    return SelfiesVocabulary.from_selfies(corpus)


def test_randomised_selfies_are_the_same_molecule():
    from rdkit import Chem

    rng = np.random.default_rng(1)
    for smiles in SMILES:
        canonical = Chem.MolToSmiles(Chem.MolFromSmiles(smiles))
        variants = {smiles_to_selfies(smiles, randomise=True, rng=rng) for _ in range(6)}
        assert {selfies_to_smiles(v) for v in variants} == {canonical}


def test_vocabulary_round_trip_and_unknown_symbols(vocabulary):
    text = smiles_to_selfies("C[C@H](N)O")
    ids = vocabulary.encode(text)
    assert ids[0] == vocabulary.bos and ids[-1] == vocabulary.eos
    assert vocabulary.decode(ids[1:]) == text
    with pytest.raises(InputError, match=r"symbol \[Cl\] is not in this model's vocabulary"):
        vocabulary.encode(smiles_to_selfies("CCl"))
    with pytest.raises(InputError, match="cannot parse SMILES"):
        smiles_to_selfies("C1CC(")


def test_every_sample_of_even_an_untrained_language_model_is_a_molecule(vocabulary):
    from rdkit import Chem
    from rdkit.Chem.Descriptors import NumRadicalElectrons

    torch.manual_seed(0)
    model = SelfiesLanguageModel(vocabulary, max_length=24, dim=32, depth=2, heads=2).eval()
    sequences = model.sample(SampleStreams.for_samples(0, range(3000)))
    smiles = [selfies_to_smiles(vocabulary.decode(s)) for s in sequences]
    assert all(s and Chem.MolFromSmiles(s) is not None for s in smiles)
    assert max(len(s) for s in sequences) <= 23  # BOS takes one of the 24 positions
    closed = [selfies_to_smiles(vocabulary.decode(s), closed_shell=True) for s in sequences]
    assert any(NumRadicalElectrons(Chem.MolFromSmiles(s)) for s in smiles)  # random SELFIES do leave radicals
    assert not any(NumRadicalElectrons(Chem.MolFromSmiles(s)) for s in closed)
    # Closing a radical only adds hydrogens: the heavy-atom graph is the same.
    for raw, fixed in zip(smiles, closed):
        a, b = Chem.MolFromSmiles(raw), Chem.MolFromSmiles(fixed)
        assert a.GetNumAtoms() == b.GetNumAtoms() and a.GetNumBonds() == b.GetNumBonds()


def test_random_strings_of_drug_like_symbols_decode_to_molecules_rdkit_accepts():
    # GEOM-DRUGS holds elements outside SELFIES' own valence table (Si, Bi, ...): unbounded, a Si could take
    # six bonds and the molecule would not parse. Random strings with many branches try hard to overfill one.
    from rdkit import Chem

    drug_like = ["C[Si](C)(C)OC", "CC(C)[Se]C", "C[As](C)C", "Cl[Bi](Cl)Cl", "C[B](C)O", "[O-][N+](=O)c1ccsc1",
                 "CS(=O)(=O)N", "CP(=O)(O)O", "Ic1ccccc1Br"]
    vocabulary = SelfiesVocabulary.from_selfies([smiles_to_selfies(s) for s in drug_like])
    symbols = vocabulary.tokens[3:]
    assert {"[Si]", "[Se]", "[As]", "[Bi]"} <= set(symbols)
    rng = np.random.default_rng(0)
    branchy = [s for s in symbols if "Branch" in s or "Ring" in s]
    atoms = [s for s in symbols if s not in branchy]
    for _ in range(3000):  # the language model's first symbol always places an atom (`atom_mask`); so here
        picks = [rng.choice(atoms), *rng.choice(symbols, size=int(rng.integers(1, 20)))]
        text = "".join(str(s) + str(rng.choice(branchy)) if rng.random() < 0.5 else str(s) for s in picks)
        smiles = selfies_to_smiles(text, closed_shell=True)
        assert smiles and Chem.MolFromSmiles(smiles) is not None, text


def test_closing_a_radical_adds_a_hydrogen_and_drops_a_lost_stereocentre():
    import selfies
    from rdkit import Chem

    assert selfies_to_smiles(selfies.encoder("CN=C(O)NC([NH])=O"), closed_shell=True) == "CN=C(O)NC(N)=O"
    assert selfies_to_smiles(selfies.encoder("C[C@@H](O)[CH2]"), closed_shell=True) == "CC(C)O"
    kept = Chem.MolToSmiles(Chem.MolFromSmiles("C[C@@H](O)N"))  # a closed-shell molecule is left alone
    assert selfies_to_smiles(selfies.encoder("C[C@@H](O)N"), closed_shell=True) == kept


def test_cached_sampling_matches_recomputing_the_prefix(vocabulary):
    torch.manual_seed(0)
    model = SelfiesLanguageModel(vocabulary, max_length=16, dim=32, depth=2, heads=2).eval()
    greedy = model.sample(SampleStreams.for_samples(0, [0]), temperature=0)[0]
    ids = torch.tensor([[vocabulary.bos]])
    for position in range(1, 16):  # the same greedy decoding, re-reading the whole prefix every time
        logits = model.head(model.hidden_states(ids))[0, -1]
        if position == 1:
            logits = logits.masked_fill(~model.first_allowed, float("-inf"))
        logits[[vocabulary.pad, vocabulary.bos]] = float("-inf")
        token = int(logits.argmax())
        if token == vocabulary.eos:
            break
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    assert greedy == ids[0, 1:].tolist()


def test_language_model_learns(vocabulary):
    torch.manual_seed(0)
    model = SelfiesLanguageModel(vocabulary, max_length=32, dim=32, depth=2, heads=2)
    encoded = [vocabulary.encode(smiles_to_selfies(s)) for s in SMILES]
    ids = torch.zeros(len(encoded), max(map(len, encoded)), dtype=torch.long)
    for row, sequence in enumerate(encoded):
        ids[row, : len(sequence)] = torch.tensor(sequence)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = float(model.loss(ids))
    for _ in range(100):
        loss = model.loss(ids)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss) < 0.3 * first



def test_every_atom_is_traced_to_the_selfies_symbol_that_placed_it():
    import selfies

    from atomgen.data.selfies_atoms import atom_symbol_index

    rng = np.random.default_rng(0)
    for smiles in SMILES + ["C1CC2CC1C2", "[NH3+]CC(=O)[O-]"]:
        mol = mol_from_smiles(smiles)
        for text in (smiles_to_selfies(smiles), smiles_to_selfies(smiles, randomise=True, rng=rng)):
            symbols = list(selfies.split_selfies(text))
            index = atom_symbol_index(mol, text)
            assert (index >= 0).all()
            for atom, k in zip(mol.GetAtoms(), index):
                element = re.match(r"\[[=#/\\]?([A-Z][a-z]?)", symbols[k]).group(1)
                expected = atom.GetSymbol() if atom.GetAtomicNum() > 1 else atom.GetNeighbors()[0].GetSymbol()
                assert element == expected
