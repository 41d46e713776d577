"""GEOM-DRUGS: `drugs-etkdg` built from the split SMILES, and a reader for GEOM's own msgpack release.

`drugs-etkdg` has one conformer per molecule made by RDKit ETKDGv3 + MMFF94 from the MiDi-split SMILES in
``shared/data/geom_drugs``. These are force-field geometries, NOT GEOM's CREST/GFN2-xTB ones, and results on
them must be reported under the name `drugs-etkdg`.

Layout: ``out_dir/<split>/shard_00000.sdf, ...`` (one shard per `chunk_size` selected molecules, written by
write-then-rename, so a shard that exists is finished and is skipped on restart) and ``summary.json``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from atomgen.data.paths import cache_lock, shared_data_dir
from atomgen.errors import DatasetError, InputError
from atomgen.io.atomic import atomic_path, atomic_write_text
from atomgen.io.convert import from_rdkit
from atomgen.system import AtomSystem

log = logging.getLogger(__name__)

NAME = "drugs-etkdg"
SPLITS = ("train", "val", "test")
_SHARD = "shard_{:05d}.sdf"


# ------------------------------------------------------------------------------------------ selection
def _select(
    path: Path, max_molecules: int | None, max_atoms: int | None, max_heavy_atoms: int | None
) -> tuple[list[tuple[int, str]], int]:
    """(line index, SMILES) of the molecules to build, in file order, and how many lines the size limits cut."""
    from rdkit import Chem

    chosen: list[tuple[int, str]] = []
    too_big = 0
    with open(path, encoding="utf-8") as handle:
        for idx, line in enumerate(handle):
            if max_molecules is not None and len(chosen) >= max_molecules:
                break
            smi = line.strip()
            if not smi:
                continue
            if max_atoms is not None or max_heavy_atoms is not None:
                # Parsing costs time, so only when a size limit needs it; a SMILES that does not parse is
                # kept here and counted as a failure by the worker.
                mol = Chem.MolFromSmiles(smi)
                if mol is not None:
                    heavy = mol.GetNumAtoms()
                    total = heavy + sum(a.GetTotalNumHs() for a in mol.GetAtoms())
                    if (max_heavy_atoms is not None and heavy > max_heavy_atoms) or (
                        max_atoms is not None and total > max_atoms
                    ):
                        too_big += 1
                        continue
            chosen.append((idx, smi))
    return chosen, too_big


# ------------------------------------------------------------------------------------------- embedding
def _embed(smiles: str, seed: int):
    """One MMFF-optimised ETKDGv3 conformer with hydrogens (RDKit Mol), or None when any step fails."""
    from rdkit import Chem
    from rdkit.Chem import rdDistGeom, rdForceFieldHelpers

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    mol = Chem.AddHs(mol)
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = seed
    params.numThreads = 1
    params.timeout = 60  # seconds; a pathological macrocycle must not stall a whole shard
    if rdDistGeom.EmbedMolecule(mol, params) < 0:
        params.useRandomCoords = True  # the usual rescue for large or strained molecules
        if rdDistGeom.EmbedMolecule(mol, params) < 0:
            return None
    if not rdForceFieldHelpers.MMFFHasAllMoleculeParams(mol):
        return None
    converged = rdForceFieldHelpers.MMFFOptimizeMolecule(mol, maxIters=2000) == 0
    mol.SetIntProp("mmff_converged", int(converged))
    return mol


def _build_shard(job: tuple[Path, list[tuple[int, str]], int, str]) -> tuple[int, int]:
    """Embed one chunk and write it as a finished SDF shard; returns (written, failed)."""
    from rdkit import Chem

    path, chunk, seed, split = job
    written = 0
    with atomic_path(path) as tmp:
        writer = Chem.SDWriter(str(tmp))
        for idx, smi in chunk:
            try:
                # The seed depends on the line index only, so output does not depend on chunking or workers.
                mol = _embed(smi, seed + idx)
            except Exception:  # noqa: BLE001 - one bad molecule must never lose a shard
                log.debug("embedding raised for line %d: %s", idx, smi, exc_info=True)
                mol = None
            if mol is None:
                continue
            mol.SetProp("_Name", smi)
            mol.SetIntProp("index", idx)
            mol.SetProp("split", split)
            writer.write(mol)
            written += 1
        writer.close()
    return written, len(chunk) - written


def build_drugs_etkdg(
    out_dir: str | Path,
    split: str = "train",
    *,
    smiles_dir: str | Path | None = None,
    max_molecules: int | None = None,
    max_atoms: int | None = None,
    max_heavy_atoms: int | None = None,
    workers: int = 2,
    seed: int = 0,
    chunk_size: int = 500,
    progress: bool = True,
) -> Path:
    """Build (or finish building) `drugs-etkdg` for one split; returns the split's folder ``out_dir/split``.

    Args:
        out_dir: where shards go (``out_dir/<split>/shard_*.sdf``).
        split: train, val or test (file ``geom_<split>_smiles.txt``).
        smiles_dir: folder with the SMILES files; defaults to ``shared/data/geom_drugs`` beside the project.
        max_molecules: build only the first N SMILES (after the size limits) of the file.
        max_atoms, max_heavy_atoms: skip molecules with more atoms (hydrogens included) / heavy atoms.
        workers: processes; 1 runs in this process.
        seed: molecule on line i is embedded with seed + i.
        chunk_size: molecules per shard. Keep it (and the other options) fixed when resuming.

    Molecules whose embedding or MMFF setup fails are counted and skipped. Counts go to ``summary.json``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    src = Path(smiles_dir) if smiles_dir is not None else shared_data_dir() / "geom_drugs"
    smiles_file = src / f"geom_{split}_smiles.txt"
    if not smiles_file.is_file():
        raise DatasetError(f"GEOM-DRUGS SMILES file not found: {smiles_file}")
    dest = Path(out_dir) / split
    dest.mkdir(parents=True, exist_ok=True)

    # Another process building the same split meanwhile waits here, then finds the shards written and only
    # recounts them (shards are atomic, but two builders would embed every molecule twice).
    with cache_lock(dest):
        chosen, too_big = _select(smiles_file, max_molecules, max_atoms, max_heavy_atoms)
        chunks = [chosen[i : i + chunk_size] for i in range(0, len(chosen), chunk_size)]
        jobs = [(dest / _SHARD.format(n), chunk, seed, split) for n, chunk in enumerate(chunks)]
        pending = [job for job in jobs if not job[0].exists()]
        from tqdm import tqdm

        bar = tqdm(total=len(chosen), initial=len(chosen) - sum(len(j[1]) for j in pending), unit="mol",
                   desc=f"{NAME} {split}", disable=not progress)
        if workers <= 1:
            for job in pending:
                _build_shard(job)
                bar.update(len(job[1]))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                # Shards are independent files, so completion order does not matter.
                for job, _ in zip(pending, pool.map(_build_shard, pending)):
                    bar.update(len(job[1]))
        bar.close()

        # Counts are recomputed from the shards, so a resumed build reports the same totals as a fresh one.
        written = sum(_count_records(job[0]) for job in jobs)
        summary = {
            "dataset": NAME, "split": split, "source": str(smiles_file), "geometry": "RDKit ETKDGv3 + MMFF94",
            "selected": len(chosen), "written": written, "failed": len(chosen) - written, "too_big": too_big,
            "shards": len(jobs), "chunk_size": chunk_size, "seed": seed, "max_molecules": max_molecules,
            "max_atoms": max_atoms, "max_heavy_atoms": max_heavy_atoms,
        }
        with atomic_write_text(dest / "summary.json") as handle:
            json.dump(summary, handle, indent=2)
    log.info("%s %s: %d written, %d failed, %d over the size limit", NAME, split, written,
             summary["failed"], too_big)
    return dest


def _count_records(path: Path) -> int:
    with open(path, encoding="utf-8") as handle:
        return sum(1 for line in handle if line.startswith("$$$$"))


def iter_drugs_etkdg(out_dir: str | Path, split: str) -> Iterator[AtomSystem]:
    """Stream a built split back as AtomSystems (hydrogens, bonds and charges included), in SMILES-file order."""
    from rdkit import Chem

    folder = Path(out_dir) / split
    shards = sorted(folder.glob("shard_*.sdf"))
    if not shards:
        raise DatasetError(f"no {NAME} shards in {folder}; run build_drugs_etkdg first")
    for shard in shards:
        for k, mol in enumerate(Chem.SDMolSupplier(str(shard), removeHs=False)):
            if mol is None:
                raise InputError("unreadable SDF record", shard, k)
            yield from_rdkit(mol, name=mol.GetProp("_Name"))


def load_drugs_etkdg(out_dir: str | Path, split: str) -> list[AtomSystem]:
    """Every molecule of a built split, as a list (see `iter_drugs_etkdg`)."""
    return list(iter_drugs_etkdg(out_dir, split))


# ---------------------------------------------------------------------------------------- GEOM msgpack
def _conformer_system(smiles: str, conf: dict, mol_props: dict[str, Any], path: Path) -> AtomSystem:
    xyz = np.asarray(conf.get("xyz", ()), dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 4 or len(xyz) == 0:
        raise InputError(f"conformer 'xyz' must be rows [Z, x, y, z], got shape {xyz.shape}", path, smiles)
    props = dict(mol_props)
    props.update({k: v for k, v in conf.items() if k != "xyz" and isinstance(v, (int, float, str, bool))})
    return AtomSystem(numbers=np.rint(xyz[:, 0]).astype(np.int64), positions=xyz[:, 1:], properties=props,
                      name=smiles)


def read_geom_msgpack(path: str | Path, *, max_conformers: int | None = None) -> Iterator[AtomSystem]:
    """Stream GEOM's msgpack release (e.g. ``drugs_crude.msgpack``, ``qm9_crude.msgpack``) as AtomSystems.

    The file is a sequence of msgpack maps {SMILES: {"conformers": [{"xyz": [[Z, x, y, z], ...],
    "boltzmannweight", "totalenergy", ...}], "uniqueconfs", "charge", ...}}. One AtomSystem per conformer,
    named by the SMILES; its properties are the molecule's scalar fields overlaid by the conformer's (GEOM's
    units: Å, energies in Hartree) plus `conformer_index`. GEOM gives only a total charge, so `charges` and
    `bonds` stay None. `max_conformers` keeps the first N conformers of each molecule as stored.

    Raises InputError naming the file and the record (SMILES, or the molecule's index when the SMILES is not
    known) on a truncated or corrupt file.
    """
    import msgpack

    path = Path(path)
    size = path.stat().st_size
    n_mol, last, consumed = 0, None, 0
    with open(path, "rb") as handle:
        # GEOM packs ~1000 molecules per map, which can exceed msgpack's 100 MiB default buffer.
        unpacker = msgpack.Unpacker(handle, raw=False, strict_map_key=False, max_buffer_size=2**31 - 1)
        while True:
            try:
                chunk = next(unpacker)
            except StopIteration:
                break
            except Exception as exc:  # msgpack raises several unrelated types on corrupt bytes
                raise InputError(f"corrupt msgpack data after {last!r}: {exc}", path, n_mol) from exc
            consumed = unpacker.tell()  # end of the last complete object
            if not isinstance(chunk, dict):
                raise InputError(f"expected a map of SMILES, got {type(chunk).__name__}", path, n_mol)
            for smiles, entry in chunk.items():
                if not isinstance(entry, dict) or not isinstance(entry.get("conformers"), list):
                    raise InputError("record has no 'conformers' list", path, str(smiles))
                mol_props = {k: v for k, v in entry.items() if isinstance(v, (int, float, str, bool))}
                confs = entry["conformers"][:max_conformers]
                for k, conf in enumerate(confs):
                    if not isinstance(conf, dict):
                        raise InputError(f"conformer {k} is not a map", path, str(smiles))
                    system = _conformer_system(str(smiles), conf, mol_props, path)
                    system.properties["conformer_index"] = k
                    yield system
                n_mol, last = n_mol + 1, smiles
        # Iteration stops silently at end of file even mid-object (and tell() then counts the partial bytes),
        # so compare the end of the last complete object with the file size.
        if consumed != size:
            raise InputError(f"file ends inside a record (truncated?) after {last!r}", path, n_mol)
