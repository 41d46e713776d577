"""XYZ and extended XYZ: many frames in one file.

Framing (atom count, comment line, one line per atom) is parsed here so that errors can name the frame. A frame
whose comment line carries extended-XYZ keys (Lattice=, Properties=, pbc=) is interpreted by ASE's extxyz
reader; a plain frame is parsed directly (symbol or atomic number, then x y z; further columns are ignored).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path

from atomgen.elements import atomic_number, symbol
from atomgen.errors import InputError
from atomgen.system import AtomSystem

_EXTENDED_KEYS = ("lattice=", "properties=", "pbc=")


def iter_xyz(path: str | Path) -> Iterator[AtomSystem | InputError]:
    """Yield one AtomSystem per frame, or an InputError (naming file and frame) for a frame that is broken.

    A broken atom-count line ends the file (framing is lost after it), so at most one error follows it.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    pos, frame = 0, 0
    while pos < len(lines):
        if not lines[pos].strip():
            pos += 1
            continue
        head = lines[pos].strip()
        try:
            n_atoms = int(head.split()[0])
            if n_atoms < 1:
                raise ValueError
        except ValueError:
            yield InputError(f"expected a positive atom count on line {pos + 1}, found {head[:40]!r}", path, frame)
            return
        block = lines[pos : pos + n_atoms + 2]
        if len(block) < n_atoms + 2:
            yield InputError(
                f"truncated: {n_atoms} atoms announced on line {pos + 1}, {max(len(block) - 2, 0)} present", path, frame
            )
            return
        try:
            yield _parse_frame(block).validate()
        except InputError as err:
            yield err.located(path, frame)
        pos += n_atoms + 2
        frame += 1


def _parse_frame(block: Sequence[str]) -> AtomSystem:
    comment = block[1]
    if any(key in comment.lower() for key in _EXTENDED_KEYS):
        return _parse_extended(block)
    numbers, positions = [], []
    for k, line in enumerate(block[2:], start=1):
        parts = line.replace("*^", "e").split()
        if len(parts) < 4:
            raise InputError(f"atom {k}: expected 'element x y z', found {line.strip()[:60]!r}")
        try:
            numbers.append(atomic_number(parts[0]))
        except KeyError:
            raise InputError(f"atom {k}: unknown element {parts[0]!r}") from None
        try:
            positions.append([float(v) for v in parts[1:4]])
        except ValueError:
            raise InputError(f"atom {k}: coordinates are not numbers: {' '.join(parts[1:4])!r}") from None
    return AtomSystem(numbers=numbers, positions=positions, name=comment.strip())


def _parse_extended(block: Sequence[str]) -> AtomSystem:
    from ase.io.extxyz import read_xyz

    from atomgen.io.convert import from_ase

    for k, line in enumerate(block[2:], start=1):
        token = line.split()[0] if line.split() else ""
        try:
            atomic_number(token)
        except KeyError:
            raise InputError(f"atom {k}: unknown element {token!r}") from None
    try:
        atoms = next(read_xyz(io.StringIO("\n".join(block) + "\n"), index=0))
    except Exception as exc:  # ASE raises many types for malformed extended headers
        raise InputError(f"malformed extended XYZ frame: {exc}") from None
    system = from_ase(atoms)
    if not system.name:
        system.name = str(atoms.info.get("name", ""))
    return system


def format_xyz(system: AtomSystem, *, extended: bool | None = None) -> str:
    """One frame as text. Extended XYZ (lattice, pbc, properties) when asked or when the system is periodic."""
    extended = system.is_periodic if extended is None else extended
    if extended:
        from ase.io.extxyz import write_xyz

        from atomgen.io.convert import to_ase

        buffer = io.StringIO()
        atoms = to_ase(system)
        atoms.info.pop("bonds", None)  # bonds are not part of extended XYZ
        for key, value in atoms.info.items():  # the comment line is one line: a line break would end it early
            if isinstance(value, str):
                atoms.info[key] = " ".join(value.splitlines())
        write_xyz(buffer, [atoms])
        return buffer.getvalue()
    title = system.name.replace("\n", " ")
    rows = [f"{symbol(z):<2} {x:15.8f} {y:15.8f} {w:15.8f}" for z, (x, y, w) in zip(system.numbers, system.positions)]
    return f"{len(system)}\n{title}\n" + "\n".join(rows) + "\n"

