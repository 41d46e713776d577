"""The `sdf-readback` part of bench_evaluator.py: QM9 converted XYZ -> SDF by atomgen, then read back by RDKit.

Every molecule takes the path of `atomgen convert mols.xyz mols.sdf` (atomgen.io.formats: write an XYZ file, read
it, write an SDF file), in chunks of 500; RDKit's SDMolSupplier then reads every record with its defaults
(sanitize=True) and hydrogens kept (removeHs=False).

Connectivity is judged on heavy atoms: the graph of heavy atoms labelled by element and the bonds between them,
bond orders, formal charges and hydrogens ignored, compared as the canonical SMILES of that skeleton. That is the
fair test of "the right molecule was written": bond orders and charge placement legitimately differ between a
perception and QM9's SMILES (Kekulé structures, zwitterions drawn neutral), while a missing or extra heavy-atom bond
is a different molecule. How often the full canonical SMILES (stereo ignored) agrees too is recorded beside it.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
import tempfile
import time
import warnings
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from atomgen.system import AtomSystem

CHUNK = 500  # molecules per SDF file: few enough to spread over processes, many enough to keep file overhead low
MAX_FAILURES_LISTED = 20


def qm9_with_smiles(limit: int | None = None, seed: int = 0) -> list[tuple[AtomSystem, str]]:
    """(AtomSystem, QM9's SMILES) for every QM9 molecule of qm9pack in gdb order, or a seeded random `limit` of them.

    The molecules come from `atomgen.data.qm9.iter_qm9pack` (the source of the prepared packs); their properties
    carry the gdb index but no SMILES, which are read from the same qm9pack files.
    """
    from atomgen.data.qm9 import N_MOLECULES, iter_qm9pack

    smiles = _qm9pack_smiles()
    keep = None
    if limit is not None:
        rows = np.random.default_rng(seed).choice(N_MOLECULES, size=min(limit, N_MOLECULES), replace=False)
        keep = set(rows.tolist())
    return [(system, smiles[system.properties["index"]]) for row, system in enumerate(iter_qm9pack())
            if keep is None or row in keep]


def _qm9pack_smiles() -> dict[int, str]:
    """QM9's SMILES by gdb index, from the qm9pack CSV files."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the QM9 source package is missing: pip install qm9pack")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    csv.field_size_limit(sys.maxsize)  # the coordinate columns exceed csv's default field size
    smiles: dict[int, str] = {}
    for part in (1, 2, 3):
        with open(folder / f"qm9_part{part}.csv", newline="") as handle:
            smiles.update((int(row["Index"]), row["SMILES"]) for row in csv.DictReader(handle))
    return smiles


def heavy_atom_key(mol) -> str:
    """Canonical SMILES of a molecule's heavy-atom skeleton: element-labelled heavy atoms and the bonds between
    them, every bond single, no charges, no hydrogens."""
    from rdkit import Chem

    skeleton = Chem.RWMol()
    index = {}
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() > 1:
            bare = Chem.Atom(atom.GetAtomicNum())
            bare.SetNoImplicit(True)
            index[atom.GetIdx()] = skeleton.AddAtom(bare)
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        if i in index and j in index:
            skeleton.AddBond(index[i], index[j], Chem.BondType.SINGLE)
    skeleton.UpdatePropertyCache(strict=False)
    return Chem.MolToSmiles(skeleton, isomericSmiles=False)


def _same_smiles(mol, smiles: str) -> bool:
    """Whether a read-back molecule has QM9's canonical SMILES, stereo ignored (bond orders and charges count)."""
    from rdkit import Chem

    reference = Chem.MolFromSmiles(smiles)
    if reference is None:
        return False
    return Chem.MolToSmiles(Chem.RemoveAllHs(mol), isomericSmiles=False) == Chem.MolToSmiles(reference,
                                                                                          isomericSmiles=False)


def convert_and_read(chunk: list[tuple[AtomSystem, str]]) -> tuple[list[tuple[str, str, bool]], int]:
    """Write a chunk to XYZ, convert it to SDF as `atomgen convert` does, and read every record back with RDKit.

    Returns, per molecule, (outcome, read-back heavy-atom key, same full SMILES) with outcome one of "ok",
    "connectivity differs", "unreadable"; and the number of molecules written without bonds.
    """
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    from atomgen.io.formats import read, write
    from atomgen.io.sdf import BondlessRecordsWarning

    with tempfile.TemporaryDirectory() as tmp:
        xyz = write(Path(tmp) / "in.xyz", [system for system, _ in chunk])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BondlessRecordsWarning)
            sdf = write(Path(tmp) / "out.sdf", read(xyz))
        bondless = sum(w.message.count for w in caught if isinstance(w.message, BondlessRecordsWarning))
        _quiet = BlockLogs()  # an unreadable record is counted below; RDKit's own complaint would only be noise
        supplier = Chem.SDMolSupplier(str(sdf), sanitize=True, removeHs=False)
        outcomes = []
        for mol, (_, smiles) in zip(supplier, chunk, strict=True):
            if mol is None:
                outcomes.append(("unreadable", "", False))
                continue
            key = heavy_atom_key(mol)
            same = key == heavy_atom_key(Chem.MolFromSmiles(smiles, sanitize=False))
            outcomes.append(("ok" if same else "connectivity differs", key, _same_smiles(mol, smiles)))
    return outcomes, bondless


def measure_readback(limit: int | None = None, processes: int = 2) -> dict:
    """The `sdf-readback` numbers: every QM9 molecule (or a seeded random `limit`) through XYZ -> SDF -> RDKit."""
    import rdkit

    molecules = qm9_with_smiles(limit)
    chunks = [molecules[k : k + CHUNK] for k in range(0, len(molecules), CHUNK)]
    start = time.perf_counter()
    if processes > 1:
        with get_context("fork").Pool(processes) as pool:
            results = pool.map(convert_and_read, chunks)
    else:
        results = [convert_and_read(chunk) for chunk in chunks]
    seconds = time.perf_counter() - start
    outcomes = [outcome for chunk_outcomes, _ in results for outcome in chunk_outcomes]
    n = len(molecules)
    readable = sum(status != "unreadable" for status, _, _ in outcomes)
    connected = sum(status == "ok" for status, _, _ in outcomes)
    failures = [{"name": system.name, "smiles": smiles, "why": status, "read_back_heavy_atoms": key}
                for (system, smiles), (status, key, _) in zip(molecules, outcomes) if status != "ok"]
    return {
        "n": n,
        "source": "qm9pack, all molecules in gdb order" if limit is None else f"qm9pack, seeded random {n} (seed 0)",
        "read_back_sanitized": readable,
        "share_read_back_sanitized": readable / n,
        "same_heavy_atom_connectivity": connected,
        "share_same_heavy_atom_connectivity": connected / n,
        "share_same_canonical_smiles": sum(same for _, _, same in outcomes) / n,
        "written_without_bonds": sum(bondless for _, bondless in results),
        "n_failures": len(failures),
        "failures": failures[:MAX_FAILURES_LISTED],
        "seconds_convert_and_read": seconds,
        "processes": processes,
        "rdkit": rdkit.__version__,
    }
