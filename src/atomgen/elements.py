"""Element symbols <-> atomic numbers (the periodic table, 1-118)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

SYMBOLS: tuple[str, ...] = tuple(
    """X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr
    Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu
    Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg
    Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og""".split()
)
MAX_Z = len(SYMBOLS) - 1
_NUMBER_OF = {s.lower(): z for z, s in enumerate(SYMBOLS) if z > 0}


def atomic_number(symbol: str) -> int:
    """Atomic number of an element symbol (case-insensitive, also accepts '6'); KeyError if unknown."""
    token = symbol.strip()
    if token.isdigit():
        z = int(token)
        if 1 <= z <= MAX_Z:
            return z
        raise KeyError(symbol)
    return _NUMBER_OF[token.lower()]


def symbol(z: int) -> str:
    """Element symbol of atomic number `z`; KeyError if outside 1-118."""
    if not 1 <= int(z) <= MAX_Z:
        raise KeyError(z)
    return SYMBOLS[int(z)]


def symbols(numbers: Iterable[int]) -> list[str]:
    """Symbols for a sequence of atomic numbers."""
    return [symbol(z) for z in numbers]


def numbers_from_symbols(syms: Iterable[str]) -> np.ndarray:
    """Atomic numbers for a sequence of symbols, as int64."""
    return np.array([atomic_number(s) for s in syms], dtype=np.int64)
