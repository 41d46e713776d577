"""SDF (MDL V2000/V3000) files: many molecules, bonds, charges and data fields.

Records are split on `$$$$` here so that an error can name its record; each V2000 record gets a quick
structural check of its own (counts line, atom lines, element symbols, numbers) that yields a precise message,
then RDKit parses it without sanitisation and without removing hydrogens.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from atomgen.elements import atomic_number
from atomgen.errors import InputError
from atomgen.io.convert import BONDS_FIELD
from atomgen.system import AtomSystem


class BondlessRecordsWarning(UserWarning):
    """Some molecules were written without bonds: no bond table perceived from their coordinates sanitises."""

    def __init__(self, count: int, total: int):
        super().__init__(f"{count} of {total} molecules written without bonds: no sanitisable bond table could be "
                         f"perceived from their coordinates (their {BONDS_FIELD!r} data field says so)")
        self.count = count


def iter_sdf(path: str | Path) -> Iterator[AtomSystem | InputError]:
    """Yield one AtomSystem per record, or an InputError naming the file and the record."""
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        return
    chunks = text.split("$$$$")
    # Text after the last `$$$$` is a record only if it holds something (a file may or may not end in `$$$$`).
    if not chunks[-1].strip():
        chunks = chunks[:-1]
    for index, chunk in enumerate(chunks):
        # Drop only the line break that ends the `$$$$` line: the next line is the record's name, maybe empty.
        block = chunk.removeprefix("\r\n").removeprefix("\n") if index else chunk
        try:
            yield parse_mol_block(block)
        except InputError as err:
            yield err.located(path, index)


def parse_mol_block(block: str) -> AtomSystem:
    """One SDF record (mol block plus data fields) as an AtomSystem."""
    from rdkit import Chem, RDLogger

    from atomgen.io.convert import from_rdkit

    _check_v2000(block)
    RDLogger.DisableLog("rdApp.*")
    try:
        supplier = Chem.SDMolSupplier()
        supplier.SetData(block if block.rstrip().endswith("$$$$") else block + "\n$$$$\n", sanitize=False, removeHs=False)
        mol = next(iter(supplier), None)
    finally:
        RDLogger.EnableLog("rdApp.*")
    if mol is None:
        raise InputError("RDKit could not parse this mol block")
    return from_rdkit(mol).validate()


def _check_v2000(block: str) -> None:
    lines = block.splitlines()
    if len(lines) < 4:
        raise InputError("truncated record: fewer than 4 lines (no counts line)")
    counts = lines[3]
    if "V3000" in counts:
        return
    try:
        n_atoms, n_bonds = int(counts[0:3]), int(counts[3:6])
    except ValueError:
        raise InputError(f"malformed counts line {counts.strip()[:40]!r}") from None
    if n_atoms < 1:
        raise InputError("the record has no atoms")
    if len(lines) < 4 + n_atoms + n_bonds:
        raise InputError(f"truncated record: {n_atoms} atoms and {n_bonds} bonds announced, fewer lines present")
    for k, line in enumerate(lines[4 : 4 + n_atoms], start=1):
        try:
            coords = [float(line[0:10]), float(line[10:20]), float(line[20:30])]
        except ValueError:
            raise InputError(f"atom {k}: coordinates are not numbers: {line[:30].strip()!r}") from None
        if any(c != c or c in (float("inf"), float("-inf")) for c in coords):
            raise InputError(f"non-finite coordinates (NaN or inf) at atom {k}")
        element = line[31:34].strip()
        try:
            atomic_number(element)
        except KeyError:
            raise InputError(f"atom {k}: unknown element {element!r}") from None
    if not any(line.startswith("M  END") for line in lines[4 + n_atoms + n_bonds :]):
        raise InputError("truncated record: no 'M  END' line")


def format_sdf(systems: Iterable[AtomSystem]) -> str:
    """SDF text for molecules (bonds perceived from coordinates where absent; properties as data fields).

    A molecule without bonds of its own and without any sanitisable perceived bond table is written without bonds,
    with an `atomgen_bonds` data field saying so; a BondlessRecordsWarning counts such records.
    """
    from rdkit import Chem

    from atomgen.io.convert import to_rdkit

    parts, bondless = [], 0
    for system in systems:
        mol = to_rdkit(system)
        if mol.GetNumBonds() == 0 and mol.HasProp(BONDS_FIELD):
            bondless += 1
        try:  # Kekulé form where possible: aromatic bond type 4 is a query feature many readers reject.
            block = Chem.MolToMolBlock(mol)
        except (ValueError, RuntimeError):
            block = Chem.MolToMolBlock(mol, kekulize=False)
        fields = "".join(f">  <{key}>\n{mol.GetProp(key)}\n\n" for key in mol.GetPropNames())
        parts.append(f"{block}{fields}$$$$\n")
    if bondless:
        warnings.warn(BondlessRecordsWarning(bondless, len(parts)), stacklevel=2)
    return "".join(parts)
