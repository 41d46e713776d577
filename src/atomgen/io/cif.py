"""CIF files: one or many crystal structures (one `data_` block each), read and written with pymatgen."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from atomgen.errors import InputError
from atomgen.system import AtomSystem

_BLOCK_START = re.compile(r"^data_", re.MULTILINE)


def iter_cif(path: str | Path) -> Iterator[AtomSystem | InputError]:
    """Yield one crystal per `data_` block, or an InputError naming the file and the block."""
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    starts = [m.start() for m in _BLOCK_START.finditer(text)]
    if not starts:
        if text.strip():
            yield InputError("no 'data_' block found: not a CIF file", path, 0)
        return
    for index, (begin, end) in enumerate(zip(starts, starts[1:] + [len(text)])):
        block = text[begin:end]
        try:
            yield parse_cif_block(block)
        except InputError as err:
            yield err.located(path, index)


def parse_cif_block(block: str) -> AtomSystem:
    """One CIF data block as a periodic AtomSystem (fractional coordinates wrapped into the cell)."""
    from pymatgen.core import Structure

    from atomgen.io.convert import from_pymatgen

    name = block.splitlines()[0][len("data_") :].strip()
    _check_cell(block)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns about rounding and occupancy on valid files too
        try:
            structure = Structure.from_str(block, fmt="cif")
        except Exception as exc:  # pymatgen raises ValueError, KeyError, IndexError... on broken CIFs
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"could not parse the CIF block {name!r}: {reason}") from None
    system = from_pymatgen(structure)
    system.name = system.name or name
    return system.validate()


def _check_cell(block: str) -> None:
    # pymatgen silently builds a degenerate cell from missing or zero lengths; say so plainly instead.
    values = {}
    for key in ("a", "b", "c", "alpha", "beta", "gamma"):
        match = re.search(rf"^_cell_{'length' if len(key) == 1 else 'angle'}_{key}\s+(\S+)", block, re.MULTILINE)
        if match is None:
            raise InputError(f"missing lattice: no _cell_{'length' if len(key) == 1 else 'angle'}_{key}")
        try:
            values[key] = float(re.sub(r"\(\d+\)$", "", match.group(1)))
        except ValueError:
            raise InputError(f"lattice value {key} is not a number: {match.group(1)!r}") from None
    if not all(np.isfinite(list(values.values()))) or min(values["a"], values["b"], values["c"]) <= 0:
        raise InputError("singular lattice: cell lengths must be finite and positive")


def format_cif(systems: Iterable[AtomSystem]) -> str:
    """CIF text with one data block per crystal; raises InputError for a system without a lattice.

    A block is named after its system (CifWriter would name it by formula); names that repeat get `_2`, `_3` ...,
    since readers key blocks by name and would keep only one of them.
    """
    from pymatgen.io.cif import CifWriter

    from atomgen.io.convert import to_pymatgen

    parts, used = [], set()
    for index, system in enumerate(systems):
        if not system.is_periodic:
            raise InputError("CIF holds crystals only; this system has no lattice (write SDF or XYZ)", record=index)
        text = str(CifWriter(to_pymatgen(system)))
        header = re.search(r"^data_(.*)$", text, re.MULTILINE)
        name = _unique_block_name(re.sub(r"\s+", "_", system.name) if system.name else header.group(1), used)
        # Spliced in as a plain string, not a regex replacement: a name may hold backslashes.
        parts.append(text[: header.start()] + f"data_{name}" + text[header.end() :])
    return "\n".join(parts)


def _unique_block_name(name: str, used: set[str]) -> str:
    """`name`, or `name_2`, `name_3` ... when a block of that name was already written (case-insensitive, as in
    CIF); the chosen name joins `used`."""
    candidate, count = name, 1
    while candidate.lower() in used:
        count += 1
        candidate = f"{name}_{count}"
    used.add(candidate.lower())
    return candidate
