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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atomgen.data.paths import data_dir, shared_data_dir
from atomgen.errors import DatasetError
from atomgen.eval.distributions import GeometryStatistics, geometry_statistics
from atomgen.eval.molecules import analyse_molecules
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

    def fcd_statistics(self) -> dict[str, np.ndarray]:
        """ChemNet statistics of the test SMILES, computed once (and kept in the cache folder when there is one)."""
        from atomgen.eval.fcd import fcd_statistics

        file = None if self.cache_dir is None else self.cache_dir / "fcd.npz"
        if file is not None and file.is_file():
            with np.load(file, allow_pickle=False) as arrays:
                return {"mu": arrays["mu"], "sigma": arrays["sigma"]}
        stats = fcd_statistics(self.test_smiles)
        if file is not None:
            with atomic_path(file) as tmp:
                with open(tmp, "wb") as handle:
                    np.savez(handle, **stats)
        return stats


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
    """Resolve a reference name, a file or a list of systems into what the metrics need."""
    if isinstance(reference, list):
        return _from_systems("systems", reference)
    name = str(reference)
    if name == "qm9":
        return _qm9_reference(root, progress)
    if name == "drugs-etkdg":
        return _drugs_reference(root)
    if name in CRYSTAL_REFERENCES:
        from atomgen.data.crystals import load_crystal_split

        return CrystalReference(
            name, list(load_crystal_split(name, "val")), list(load_crystal_split(name, "test"))
        )
    path = Path(name)
    if not path.exists():
        raise DatasetError(f"unknown reference {name!r}: not one of {', '.join(NAMED_REFERENCES)} and not a file")
    from atomgen.io.formats import read

    return _from_systems(path.name, read(path))


def _from_systems(name: str, systems: list[AtomSystem]) -> MoleculeReference | CrystalReference:
    if not systems:
        raise DatasetError(f"reference {name!r} holds no systems")
    if all(s.is_periodic for s in systems):
        return CrystalReference(name, systems, systems)
    analyses = analyse_molecules(systems)
    smiles = [a.rdkit_smiles for a in analyses if a.rdkit_smiles]
    geometry = geometry_statistics([(s.numbers, s.positions, a.edm_bonds) for s, a in zip(systems, analyses)])
    return MoleculeReference(name, set(smiles), smiles, geometry, len(systems), len(systems))


# --------------------------------------------------------------------------------------------- molecule caches
def _cache_dir(root: str | Path | None, name: str) -> Path:
    return data_dir(root) / "reference" / name


def _cached_molecule_reference(
    name: str, folder: Path, train_smiles_source, test_systems_source, n_train: int
) -> MoleculeReference:
    """Build (once) and load the SMILES lists and geometry statistics of a molecule reference."""
    train_file, test_file, geometry_file = folder / "train_smiles.txt", folder / "test_smiles.txt", folder / "geometry.npz"
    if not (train_file.is_file() and test_file.is_file() and geometry_file.is_file()):
        train_smiles = train_smiles_source()
        test_systems = test_systems_source()
        analyses = analyse_molecules(test_systems)
        test_smiles = [a.rdkit_smiles for a in analyses if a.rdkit_smiles]
        geometry = geometry_statistics(
            [(s.numbers, s.positions, a.edm_bonds) for s, a in zip(test_systems, analyses)]
        )
        with atomic_write_text(train_file) as handle:
            handle.write("\n".join(sorted(set(train_smiles))) + "\n")
        with atomic_write_text(test_file) as handle:
            handle.write("\n".join(test_smiles) + "\n")
        with atomic_path(geometry_file) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **geometry.to_arrays())
    with np.load(geometry_file, allow_pickle=False) as arrays:
        geometry = GeometryStatistics.from_arrays(arrays)
    test_smiles = test_file.read_text().split()
    return MoleculeReference(
        name, set(train_file.read_text().split()), test_smiles, geometry, n_train, len(test_smiles), folder
    )


def _qm9_reference(root: str | Path | None, progress: bool) -> MoleculeReference:
    from atomgen.data.qm9 import SPLIT_SIZES, load_qm9

    def train_smiles() -> list[str]:
        pack = load_qm9("train", root, progress=progress)
        return [a.rdkit_smiles for a in analyse_molecules(list(pack)) if a.rdkit_smiles]

    def test_systems() -> list[AtomSystem]:
        return list(load_qm9("test", root, progress=progress))

    return _cached_molecule_reference(
        "qm9", _cache_dir(root, "qm9"), train_smiles, test_systems, SPLIT_SIZES["train"]
    )


def _drugs_reference(root: str | Path | None) -> MoleculeReference:
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
        for smi in lines:
            mol = Chem.MolFromSmiles(smi)
            if mol is not None:
                out.append(Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=False))
        return out

    # The cache key includes how many test geometries exist, so a larger build refreshes the statistics.
    test = load_drugs_etkdg(built, "test")
    key = hashlib.sha1(str(len(test)).encode()).hexdigest()[:8]
    return _cached_molecule_reference(
        "drugs-etkdg", _cache_dir(root, f"drugs-etkdg-{key}"), train_smiles, lambda: test, len(lines)
    )
