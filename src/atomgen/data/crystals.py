"""CDVAE-format crystal CSV files (Perov-5, Carbon-24, MP-20) read into periodic `AtomSystem`s.

The CDVAE benchmark CSVs hold one crystal per row: a `material_id`, the structure as CIF text in a `cif`
column, and per-dataset property columns (Perov-5: heat_all, heat_ref, dir_gap, ind_gap; Carbon-24:
energy_per_atom; MP-20: formation_energy_per_atom, band_gap, e_above_hull, spacegroup.number). Every column
whose value parses as a number becomes an entry of `AtomSystem.properties`; text columns (formula, elements)
and the unnamed pandas index column are dropped.

Only the `val` and `test` splits of Perov-5 and Carbon-24 are available offline (see shared/data/README.md):
projects train on `val` and evaluate on `test`, and say so.
"""

from __future__ import annotations

import csv
import math
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from atomgen.data.paths import shared_data_dir
from atomgen.errors import DatasetError, InputError
from atomgen.io.cif import parse_cif_block
from atomgen.io.convert import to_pymatgen
from atomgen.system import AtomSystem

__all__ = [
    "CRYSTAL_DATASETS",
    "CrystalTable",
    "SkippedRecord",
    "crystal_data_root",
    "crystal_from_cif",
    "niggli_reduced",
    "load_crystal_split",
    "read_cdvae_csv",
]

REQUIRED_COLUMNS = ("material_id", "cif")
# Text columns of the CDVAE CSVs; everything else that parses as a number is a property.
_TEXT_COLUMNS = {"", "material_id", "cif", "formula", "pretty_formula", "elements"}

# dataset name -> available splits (file name is f"{name}_{split}.csv").
CRYSTAL_DATASETS: dict[str, tuple[str, ...]] = {
    "perov_5": ("val", "test"),
    "carbon_24": ("val", "test"),
    "mp_20": ("train", "val", "test"),  # the full MP-20 is not shipped; only a format sample is
}

# CIF text can exceed the csv module's default field size limit (128 kB) for large cells.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True)
class SkippedRecord:
    """A CSV row that was skipped with `skip_invalid=True`: its 0-based row index, material_id and reason."""

    row: int
    material_id: str
    reason: str


@dataclass
class CrystalTable:
    """The crystals read from one CSV file, plus the rows skipped as invalid.

    Behaves like a read-only list of `AtomSystem` (len, iteration, indexing).
    """

    systems: list[AtomSystem]
    skipped: list[SkippedRecord] = field(default_factory=list)
    path: str | None = None

    @property
    def n_skipped(self) -> int:
        """Number of rows skipped because their CIF was invalid."""
        return len(self.skipped)

    def __len__(self) -> int:
        return len(self.systems)

    def __iter__(self) -> Iterator[AtomSystem]:
        return iter(self.systems)

    def __getitem__(self, index: int) -> AtomSystem:
        return self.systems[index]


# --------------------------------------------------------------------------------------------------- parsing
def crystal_from_cif(cif: str, *, niggli: bool = True) -> AtomSystem:
    """One CIF text as a periodic `AtomSystem` (Cartesian Å, fractional coordinates wrapped into [0, 1)).

    Args:
        cif: the CIF text (anything before its `data_` line, like pymatgen's comment, is ignored).
        niggli: replace the cell by its Niggli-reduced equivalent (pymatgen `get_reduced_structure`),
            as CDVAE does when it builds its graphs.

    Raises:
        InputError: unparsable CIF, missing or singular lattice, NaN coordinates, disordered sites.
    """
    start = cif.find("data_")
    if start < 0:
        raise InputError("no 'data_' block: not a CIF")
    system = parse_cif_block(cif[start:])
    if niggli:
        system = niggli_reduced(system)
    system.properties = {}
    return system


def niggli_reduced(system: AtomSystem) -> AtomSystem:
    """The same crystal in its Niggli-reduced cell (atoms in the same order, wrapped into the new cell)."""
    try:
        reduced = to_pymatgen(system).get_reduced_structure(reduction_algo="niggli")
    except Exception as exc:  # a near-degenerate cell can make the reduction fail to converge
        raise InputError(f"Niggli reduction failed: {exc}") from None
    return AtomSystem.from_fractional(
        system.numbers, reduced.frac_coords, reduced.lattice.matrix, name=system.name, properties=system.properties
    ).validate()


def _number(text: str) -> float | int | None:
    """The value of a numeric CSV cell (int when integral text), None for text or empty cells."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_cdvae_csv(path: str | Path, *, niggli: bool = True, skip_invalid: bool = False) -> CrystalTable:
    """Read a CDVAE-format CSV (columns `material_id`, `cif`, numeric properties) into crystals.

    Args:
        path: the CSV file.
        niggli: Niggli-reduce every cell (see `crystal_from_cif`).
        skip_invalid: warn about and skip rows whose CIF is invalid instead of raising; the skipped rows are
            listed in `CrystalTable.skipped`.

    Returns:
        A `CrystalTable`: `name` of each system is the material_id, numeric columns are in `properties`.

    Raises:
        InputError: the file lacks a required column (message lists them), or a row has an invalid CIF
            (record = 0-based data row index) and `skip_invalid` is False.
    """
    path = Path(path)
    systems: list[AtomSystem] = []
    skipped: list[SkippedRecord] = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise InputError(
                f"not a CDVAE crystal CSV: missing column(s) {', '.join(missing)} (found: {', '.join(columns)})",
                path,
            )
        for row_index, row in enumerate(reader):
            material_id = (row.get("material_id") or "").strip()
            try:
                system = crystal_from_cif(row.get("cif") or "", niggli=niggli)
            except InputError as err:
                if not skip_invalid:
                    raise InputError(f"material_id {material_id!r}: {err.message}", path, row_index) from None
                skipped.append(SkippedRecord(row_index, material_id, err.message))
                continue
            system.name = material_id
            for key, text in row.items():
                if key is None or key in _TEXT_COLUMNS or text is None:
                    continue  # key None: surplus cells of a ragged row
                value = _number(text)
                if value is not None:
                    system.properties[key] = value
            systems.append(system)
    if skipped:
        warnings.warn(f"{path}: skipped {len(skipped)} row(s) with an invalid CIF", stacklevel=2)
    return CrystalTable(systems=systems, skipped=skipped, path=str(path))


# ------------------------------------------------------------------------------------------------- datasets
def crystal_data_root(data_root: str | Path | None = None) -> Path:
    """The folder holding the crystal CSVs: `data_root`, else `crystals/` in the shared data folder."""
    return Path(data_root) if data_root is not None else shared_data_dir() / "crystals"


def load_crystal_split(
    name: str,
    split: str,
    *,
    data_root: str | Path | None = None,
    niggli: bool = True,
    skip_invalid: bool = False,
) -> CrystalTable:
    """Load one split (`train`, `val`, `test`) of perov_5, carbon_24 or mp_20 from `crystal_data_root()`.

    Raises:
        DatasetError: unknown dataset or split, or the CSV is not where it should be (the message says where
            it looked and how to point atomgen elsewhere).
    """
    key = name.lower().replace("-", "_")
    if key not in CRYSTAL_DATASETS:
        raise DatasetError(f"unknown crystal dataset {name!r}; known: {', '.join(CRYSTAL_DATASETS)}")
    split = {"valid": "val", "validation": "val"}.get(split, split)
    if split not in ("train", "val", "test"):
        raise DatasetError(f"unknown split {split!r}; use train, val or test")
    root = crystal_data_root(data_root)
    path = root / f"{key}_{split}.csv"
    if not path.is_file():
        note = ""
        if split not in CRYSTAL_DATASETS[key]:
            note = f" ({key} ships only the {', '.join(CRYSTAL_DATASETS[key])} splits offline)"
        raise DatasetError(
            f"crystal split {key}/{split} not found: looked for {path}{note}; pass data_root= or set "
            "ATOMGEN_SHARED_DATA to a shared/data folder"
        )
    return read_cdvae_csv(path, niggli=niggli, skip_invalid=skip_invalid)
