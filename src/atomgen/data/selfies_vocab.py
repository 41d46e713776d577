"""SELFIES as token ids for a language model: a vocabulary, randomised training strings, and decoding.

SELFIES (Krenn et al., 2020) are strings of bracketed symbols in which every sequence decodes to a valid molecule,
so a language model over them cannot emit an invalid one. The vocabulary is the set of symbols seen in training,
plus three special tokens; a string with a symbol outside it is an InputError naming that symbol.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from atomgen.errors import InputError

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIAL_TOKENS = (PAD, BOS, EOS)
_constrained = False


def selfies_library():
    """The selfies module, with every neutral element it leaves unconstrained bounded by RDKit's largest valence.

    SELFIES bounds the bonds of each atom by a table that covers the organic subset; any other element (Si, Se,
    As, Bi, ...; GEOM-DRUGS has a few) may take 8, which decodes to molecules RDKit rejects (a six-bonded Si).
    Elements RDKit allows any valence (metals) keep SELFIES' default. Set once, for the whole process.
    """
    global _constrained
    import selfies

    if not _constrained:
        from rdkit import Chem

        table = Chem.GetPeriodicTable()
        constraints = selfies.get_semantic_constraints()
        for number in range(2, 87):
            valences = list(table.GetValenceList(number))
            symbol = table.GetElementSymbol(number)
            if symbol not in constraints and valences and -1 not in valences:
                constraints[symbol] = max(valences)
        selfies.set_semantic_constraints(constraints)
        _constrained = True
    return selfies


def smiles_to_selfies(smiles: str, *, randomise: bool = False, rng: np.random.Generator | None = None) -> str:
    """The SELFIES of a SMILES (hydrogens implicit, stereochemistry kept); `randomise` starts the walk over the
    molecular graph at a random atom in a random order, the augmentation NExT-Mol trains with."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    selfies = selfies_library()

    _quiet = BlockLogs()  # the InputError below says what is wrong in one line
    mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        raise InputError(f"cannot parse SMILES {smiles!r}")
    if randomise:
        seed = int((rng or np.random.default_rng()).integers(2**31))
        order = np.random.default_rng(seed).permutation(mol.GetNumAtoms()).tolist()
        mol = Chem.RenumberAtoms(mol, order)
        text = Chem.MolToSmiles(mol, canonical=False)
    else:
        text = Chem.MolToSmiles(mol)
    try:
        return selfies.encoder(text)
    except selfies.EncoderError as exc:
        raise InputError(f"SMILES {smiles!r} has no SELFIES form: {exc}") from None


def selfies_to_smiles(text: str, closed_shell: bool = False) -> str:
    """Canonical SMILES of a SELFIES string ('' when it holds no atom).

    SELFIES never exceeds a valence, but an atom written with a fixed hydrogen count (a stereocentre such as
    `[C@@H1]`, or `[NH1]`) that ends up with fewer bonds than its symbol expects decodes to a radical. With
    `closed_shell`, each such unpaired electron becomes one more hydrogen, so the molecule is closed-shell like
    every training molecule; its graph and heavy atoms are unchanged.
    """
    from rdkit import Chem

    selfies = selfies_library()
    decoded = selfies.decoder(text)
    mol = Chem.MolFromSmiles(decoded) if decoded else None
    if mol is None:
        return ""
    if closed_shell and any(atom.GetNumRadicalElectrons() for atom in mol.GetAtoms()):
        mol = Chem.RWMol(mol)
        for atom in mol.GetAtoms():
            if atom.GetNumRadicalElectrons():
                atom.SetNumExplicitHs(atom.GetTotalNumHs() + atom.GetNumRadicalElectrons())
                atom.SetNumRadicalElectrons(0)
                atom.SetNoImplicit(True)
        Chem.SanitizeMol(mol)
        Chem.AssignStereochemistry(mol, cleanIt=True, force=True)  # a centre with two hydrogens is no centre
    return Chem.MolToSmiles(mol)


class SelfiesVocabulary:
    """Token ids of SELFIES symbols: 0 is padding, 1 begin, 2 end, then the symbols in a fixed order."""

    def __init__(self, symbols: Sequence[str]):
        symbols = [s for s in symbols if s not in SPECIAL_TOKENS]
        self.tokens: list[str] = [*SPECIAL_TOKENS, *symbols]
        self.index = {token: k for k, token in enumerate(self.tokens)}
        self.pad, self.bos, self.eos = (self.index[t] for t in SPECIAL_TOKENS)

    @classmethod
    def from_selfies(cls, strings: Iterable[str]) -> SelfiesVocabulary:
        """The vocabulary of every symbol in `strings`, sorted (so the same corpus always gives the same ids)."""
        selfies = selfies_library()
        seen: set[str] = set()
        for text in strings:
            seen.update(selfies.split_selfies(text))
        return cls(sorted(seen))

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, *, source: str | None = None, record: int | None = None) -> list[int]:
        """BOS, the ids of a SELFIES string's symbols, EOS; an unknown symbol is an InputError."""
        import selfies

        ids = [self.bos]
        for symbol in selfies.split_selfies(text):
            if symbol not in self.index:
                raise InputError(f"SELFIES symbol {symbol} is not in this model's vocabulary", source, record)
            ids.append(self.index[symbol])
        return [*ids, self.eos]

    def decode(self, ids: Iterable[int]) -> str:
        """The SELFIES string of token ids, stopping at EOS and skipping special tokens."""
        symbols = []
        for k in ids:
            if k == self.eos:
                break
            if k >= len(SPECIAL_TOKENS):
                symbols.append(self.tokens[k])
        return "".join(symbols)

    def elements(self) -> tuple[int, ...]:
        """Sorted atomic numbers that the symbols place, hydrogen included (SELFIES leave most hydrogens
        implicit; the molecules they spell have them)."""
        from rdkit import Chem

        found = {1}
        for token in self.tokens[len(SPECIAL_TOKENS):]:
            mol = Chem.MolFromSmiles(selfies_library().decoder(token))  # one atom, or none for a ring or branch
            if mol is not None:
                found.update(atom.GetAtomicNum() for atom in mol.GetAtoms())
        return tuple(sorted(found))

    def atom_mask(self) -> np.ndarray:
        """True for the symbols that place an atom on their own (not branches or rings): a string that starts
        with one of them always decodes to a molecule with at least one atom."""
        selfies = selfies_library()

        return np.array([k >= len(SPECIAL_TOKENS) and bool(selfies.decoder(token))
                         for k, token in enumerate(self.tokens)])
