"""Reference sets the evaluator compares against, and their statistics cached once in the data folder.

A reference has a `train` side (novelty: is a sample new?) and a `test` side (distribution distances and FCD:
does the sample look like held-out data?):

| name          | kind     | train side (novelty)                      | test side (distributions, FCD)      |
|---------------|----------|-------------------------------------------|--------------------------------------|
| qm9           | molecule | QM9 train split (100,000, EDM split)      | QM9 test split (13,083)              |
| drugs-etkdg   | molecule | GEOM-DRUGS train SMILES                   | drugs-etkdg test geometries (built)  |
| perov_5       | crystal  | Perov-5 val split (train is not reachable) | Perov-5 test split                  |
| carbon_24     | crystal  | Carbon-24 val split                       | Carbon-24 test split                 |
| a file        | either   | the file's systems                        | the same systems                     |
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atomgen.data.paths import cache_lock, data_dir, shared_data_dir
from atomgen.errors import DatasetError
from atomgen.eval.distributions import GeometryStatistics, geometry_statistics
from atomgen.eval.molecules import analyse_molecules
from atomgen.eval.progress import stage_bar
from atomgen.io.atomic import atomic_path, atomic_write_text
from atomgen.system import AtomSystem

MOLECULE_REFERENCES = ("qm9", "drugs-etkdg")
CRYSTAL_REFERENCES = ("perov_5", "carbon_24")
NAMED_REFERENCES = MOLECULE_REFERENCES + CRYSTAL_REFERENCES


@dataclass
class MoleculeReference:
    """What molecule metrics need from a reference: SMILES sets and geometry statistics."""

    name: str
    train_smiles: set[str]
    test_smiles: list[str]
    geometry: GeometryStatistics
    n_train: int
    n_test: int
    cache_dir: Path | None = None

    kind = "molecule"

    def fcd_statistics(self, *, progress: bool = False) -> dict[str, np.ndarray]:
        """ChemNet statistics of the test SMILES, computed once (and kept in the cache folder when there is one).

        `progress` shows a bar on stderr while they are computed.
        """
        from atomgen.eval.fcd import fcd_statistics

        if self.cache_dir is None:
            return fcd_statistics(self.test_smiles, progress=progress, desc="FCD: reference statistics")
        file = self.cache_dir / "fcd.npz"
        if not file.is_file():  # a ready cache is read without the lock: it may sit in a read-only folder
            # Another process may be computing the same statistics: wait for it and read its file.
            with cache_lock(file):
                if not file.is_file():
                    stats = fcd_statistics(self.test_smiles, progress=progress, desc="FCD: reference statistics")
                    with atomic_path(file) as tmp:
                        with open(tmp, "wb") as handle:
                            np.savez(handle, **stats)
        with np.load(file, allow_pickle=False) as arrays:
            return {"mu": arrays["mu"], "sigma": arrays["sigma"]}


@dataclass
class CrystalReference:
    """What crystal metrics need from a reference: the structures themselves."""

    name: str
    train: list[AtomSystem]
    test: list[AtomSystem]

    kind = "crystal"

    @property
    def n_train(self) -> int:
        return len(self.train)

    @property
    def n_test(self) -> int:
        return len(self.test)


def load_reference(
    reference: str | Path | list[AtomSystem], *, root: str | Path | None = None, progress: bool = True
) -> MoleculeReference | CrystalReference:
    """Resolve a reference name, a file or a list of systems into what the metrics need.

    `progress` shows bars on stderr while a reference is read or its statistics are computed.
    """
    if isinstance(reference, list):
        return _from_systems("systems", reference, progress)
    name = str(reference)
    if name == "qm9":
        return _qm9_reference(root, progress)
    if name == "drugs-etkdg":
        return _drugs_reference(root, progress)
    if name in CRYSTAL_REFERENCES:
        return _crystal_reference(name, progress)
    path = Path(name)
    if not path.exists():
        raise DatasetError(f"unknown reference {name!r}: not one of {', '.join(NAMED_REFERENCES)} and not a file")
    from atomgen.io.formats import read

    return _from_systems(path.name, read(path), progress)


def _crystal_reference(name: str, progress: bool) -> CrystalReference:
    """A named crystal reference: its val split (novelty) and test split (distributions, coverage)."""
    from atomgen.data.crystals import load_crystal_split

    splits = {}
    for split in stage_bar(("val", "test"), desc=f"reading {name}", unit="split", enabled=progress):
        splits[split] = list(load_crystal_split(name, split))
    return CrystalReference(name, splits["val"], splits["test"])


def _from_systems(name: str, systems: list[AtomSystem], progress: bool) -> MoleculeReference | CrystalReference:
    """A reference whose train and test sides are both `systems`."""
    if not systems:
        raise DatasetError(f"reference {name!r} holds no systems")
    if all(s.is_periodic for s in systems):
        return CrystalReference(name, systems, systems)
    analyses = analyse_molecules(systems, progress=progress)
    smiles = [a.rdkit_smiles for a in analyses if a.rdkit_smiles]
    geometry = geometry_statistics([(s.numbers, s.positions, a.edm_bonds) for s, a in zip(systems, analyses)],
                                   progress=progress)
    return MoleculeReference(name, set(smiles), smiles, geometry, len(systems), len(systems))


# --------------------------------------------------------------------------------------------- molecule caches
def _cache_dir(root: str | Path | None, name: str) -> Path:
    return data_dir(root) / "reference" / name


def _cached_molecule_reference(
    name: str, folder: Path, train_smiles_source: Callable[[], list[str]],
    test_systems_source: Callable[[], list[AtomSystem]], n_train: int, progress: bool = False,
) -> MoleculeReference:
    """Build (once) and load the SMILES lists and geometry statistics of a molecule reference."""
    train_file, test_file, geometry_file = folder / "train_smiles.txt", folder / "test_smiles.txt", folder / "geometry.npz"

    def ready() -> bool:
        return train_file.is_file() and test_file.is_file() and geometry_file.is_file()

    if not ready():  # a ready cache is read without the lock: it may sit in a read-only folder
        # One process builds the statistics; another one asking for them meanwhile waits, then reads its files.
        with cache_lock(folder):
            if not ready():
                _build_molecule_reference(folder, train_smiles_source(), test_systems_source(), progress)
    with np.load(geometry_file, allow_pickle=False) as arrays:
        geometry = GeometryStatistics.from_arrays(arrays)
    test_smiles = test_file.read_text().split()
    return MoleculeReference(
        name, set(train_file.read_text().split()), test_smiles, geometry, n_train, len(test_smiles), folder
    )


def _build_molecule_reference(folder: Path, train_smiles: list[str], test_systems: list[AtomSystem],
                              progress: bool) -> None:
    """Write the reference files of `_cached_molecule_reference` into `folder`, each one atomically."""
    analyses = analyse_molecules(test_systems, progress=progress)
    test_smiles = [a.rdkit_smiles for a in analyses if a.rdkit_smiles]
    geometry = geometry_statistics(
        [(s.numbers, s.positions, a.edm_bonds) for s, a in zip(test_systems, analyses)], progress=progress
    )
    with atomic_write_text(folder / "train_smiles.txt") as handle:
        handle.write("\n".join(sorted(set(train_smiles))) + "\n")
    with atomic_write_text(folder / "test_smiles.txt") as handle:
        handle.write("\n".join(test_smiles) + "\n")
    with atomic_path(folder / "geometry.npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **geometry.to_arrays())


def _qm9_reference(root: str | Path | None, progress: bool) -> MoleculeReference:
    """The QM9 reference (EDM split), its statistics cached in the data folder."""
    from atomgen.data.qm9 import SPLIT_SIZES, load_qm9

    def train_smiles() -> list[str]:
        pack = load_qm9("train", root, progress=progress)
        return [a.rdkit_smiles for a in analyse_molecules(list(pack), progress=progress) if a.rdkit_smiles]

    def test_systems() -> list[AtomSystem]:
        return list(load_qm9("test", root, progress=progress))

    return _cached_molecule_reference(
        "qm9", _cache_dir(root, "qm9"), train_smiles, test_systems, SPLIT_SIZES["train"], progress
    )


def _drugs_reference(root: str | Path | None, progress: bool) -> MoleculeReference:
    """The drugs-etkdg reference (built test geometries), its statistics cached in the data folder."""
    from rdkit import Chem, RDLogger

    from atomgen.data.drugs import load_drugs_etkdg

    built = data_dir(root) / "drugs-etkdg"
    if not any(built.glob("test*")):
        raise DatasetError(
            f"the drugs-etkdg test geometries are not built in {built}; "
            "run `atomgen data drugs-etkdg --split test` first (add --max-molecules to keep it small)"
        )
    smiles_file = shared_data_dir() / "geom_drugs" / "geom_train_smiles.txt"
    lines = smiles_file.read_text().split()

    def train_smiles() -> list[str]:
        RDLogger.DisableLog("rdApp.*")
        out = []
        for smi in stage_bar(lines, desc="reference: GEOM-DRUGS train SMILES", enabled=progress):
            mol = Chem.MolFromSmiles(smi)
            if mol is not None:
                out.append(Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=False))
        return out

    # The cache key includes how many test geometries exist, so a larger build refreshes the statistics.
    test = load_drugs_etkdg(built, "test")
    key = hashlib.sha1(str(len(test)).encode()).hexdigest()[:8]
    return _cached_molecule_reference(
        "drugs-etkdg", _cache_dir(root, f"drugs-etkdg-{key}"), train_smiles, lambda: test, len(lines), progress
    )
