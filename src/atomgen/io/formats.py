"""One entry point for every file format: `read`, `write`, and the format-by-suffix table."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from atomgen.errors import InputError
from atomgen.io.atomic import atomic_path, atomic_write_text
from atomgen.io.cif import format_cif, iter_cif
from atomgen.io.pack import Pack, write_pack
from atomgen.io.sdf import format_sdf, iter_sdf
from atomgen.io.xyz import format_xyz, iter_xyz
from atomgen.system import AtomSystem

_READERS: dict[str, Callable[[Path], Iterator[AtomSystem | InputError]]] = {
    "sdf": iter_sdf,
    "xyz": iter_xyz,
    "extxyz": iter_xyz,
    "cif": iter_cif,
}
_SUFFIXES = {".sdf": "sdf", ".mol": "sdf", ".xyz": "xyz", ".extxyz": "extxyz", ".cif": "cif", ".pack": "pack"}
FORMATS = tuple(sorted(set(_SUFFIXES.values())))


@dataclass
class ReadResult:
    """Systems read from one or more files, and the records skipped (with `skip_invalid`)."""

    systems: list[AtomSystem] = field(default_factory=list)
    skipped: list[InputError] = field(default_factory=list)


def detect_format(path: str | Path) -> str:
    """The format name for a path, from its suffix; InputError for an unknown suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InputError(f"unknown file type {suffix or '(no suffix)'!r}; use one of {', '.join(_SUFFIXES)}", path)
    return _SUFFIXES[suffix]


def read_files(path: str | Path, *, skip_invalid: bool = False, fmt: str | None = None) -> ReadResult:
    """Read a file, or every readable file of a folder (sorted by name), into AtomSystems.

    Args:
        path: a file, a pack folder, or a folder of files.
        skip_invalid: warn about and count broken records instead of raising on the first one.
        fmt: force a format instead of guessing it from the suffix.

    Raises:
        InputError: a missing or empty input, or (without `skip_invalid`) the first broken record.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path)
    if path.is_dir() and fmt is None and path.suffix.lower() != ".pack":
        result = ReadResult()
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in _SUFFIXES and not p.name.startswith("."))
        if not files:
            raise InputError("the folder holds no SDF, XYZ, extended XYZ, CIF or pack files", path)
        for file in files:
            part = read_files(file, skip_invalid=skip_invalid)
            result.systems += part.systems
            result.skipped += part.skipped
        return result
    kind = fmt or detect_format(path)
    if kind == "pack":
        pack = Pack(path)
        return ReadResult(systems=[pack[k] for k in range(len(pack))])
    result = ReadResult()
    for item in _READERS[kind](path):
        if isinstance(item, InputError):
            if not skip_invalid:
                raise item
            warnings.warn(f"skipped {item}", stacklevel=2)
            result.skipped.append(item)
        else:
            result.systems.append(item)
    if not result.systems and not result.skipped:
        raise InputError("the file holds no records (empty file)", path)
    return result


def read(path: str | Path, *, skip_invalid: bool = False, fmt: str | None = None) -> list[AtomSystem]:
    """Read all systems of a file or folder (see `read_files`)."""
    return read_files(path, skip_invalid=skip_invalid, fmt=fmt).systems


def write(path: str | Path, systems: Sequence[AtomSystem], *, fmt: str | None = None) -> Path:
    """Write systems to one file (or a pack folder), atomically: on any error no output is left behind.

    SDF: a molecule without bonds whose coordinates give no sanitisable bond table is written without bonds and
    counted in a BondlessRecordsWarning (see `atomgen.io.sdf.format_sdf`).
    """
    kind = fmt or detect_format(path)
    systems = list(systems)
    if kind == "pack":
        return write_pack(path, systems)
    if kind == "sdf":
        periodic = [k for k, s in enumerate(systems) if s.is_periodic]
        if periodic:
            raise InputError("SDF holds molecules only; this system is a crystal (write CIF or XYZ)", path, periodic[0])
        text = format_sdf(systems)
    elif kind == "cif":
        try:
            text = format_cif(systems)
        except InputError as err:
            raise err.located(path) from None
    else:
        text = "".join(format_xyz(s, extended=True if kind == "extxyz" else None) for s in systems)
    with atomic_write_text(path) as handle:
        handle.write(text)
    return Path(path)


def write_folder(path: str | Path, systems: Sequence[AtomSystem]) -> Path:
    """Write one file per system into a new folder: crystals as `NNNNN.cif`, molecules as `NNNNN.sdf`.

    The folder appears complete or not at all; an existing folder must be empty (its files are never replaced).
    """
    folder = Path(path)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError("output folder exists and is not empty", folder)
    width = max(5, len(str(len(systems))))
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        for index, system in enumerate(systems):
            name = f"{index:0{width}d}.{'cif' if system.is_periodic else 'sdf'}"
            (tmp / name).write_text(format_cif([system]) if system.is_periodic else format_sdf([system]),
                                    encoding="utf-8")
    return folder
