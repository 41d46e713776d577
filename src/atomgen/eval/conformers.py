"""Conformer metrics (docs/EVALUATION.md, section Conformers).

RMSD is heavy-atom, symmetry-aware, after optimal alignment: RDKit ``rdMolAlign.GetBestRMS`` on copies with
every hydrogen removed. Conformers of one molecule must share its heavy-atom order (hydrogens may be absent on
either side); the bond graph used for the symmetry search is the reference's (or the first RDKit Mol given), so
generated AtomSystems need no bonds.

* Ensemble mode: for reference conformers R and generated G, COV-R is the fraction of R with some G closer than
  ``delta``, AMR-R the mean over R of the minimum RMSD to G; COV-P / AMR-P swap the roles. Mean and median are
  taken over molecules. ``delta`` is 0.5 Å for QM9-size molecules and 0.75 Å for drug-size ones.
* Single-reference mode (QM9's DFT minimum): per molecule the minimum RMSD of its k generated conformers to the
  one reference; mean and median of those minima, always beside the RDKit baselines (`rdkit_baselines`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Union

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdDistGeom, rdForceFieldHelpers, rdMolAlign

from atomgen.errors import InputError
from atomgen.io.convert import to_rdkit
from atomgen.system import AtomSystem

DELTA_QM9 = 0.5
DELTA_DRUGS = 0.75
# GetBestRMS enumerates every graph automorphism; a cap (10x below RDKit's 1e6 default) bounds the time spent on
# highly symmetric molecules (several tert-butyl or CF3 groups). RDKit offers no time limit for this call.
MAX_MATCHES = 100_000

Conformer = Union[Chem.Mol, AtomSystem]
# A conformer set: one Mol (all of its conformers) or a sequence of Mols / AtomSystems.
ConformerSet = Union[Chem.Mol, Sequence[Conformer]]


# ------------------------------------------------------------------------------------------------ RMSD core
def _items(conformers: ConformerSet | Conformer) -> list[Conformer]:
    if isinstance(conformers, (Chem.Mol, AtomSystem)):
        return [conformers]
    return list(conformers)


def _template(*sets: list[Conformer]) -> Chem.Mol:
    """The graph that defines atom equivalences: the first RDKit Mol found, else the first AtomSystem's."""
    for items in sets:
        for item in items:
            if isinstance(item, Chem.Mol):
                return item
    for items in sets:
        if items:
            return to_rdkit(items[0])
    raise InputError("no conformers given")


def _heavy_coords(item: Conformer, heavy_z: np.ndarray) -> list[np.ndarray]:
    """Heavy-atom coordinates of every conformer of one item, after checking them against the template's.

    Only heavy atoms are compared, so a generated conformer without hydrogens can meet a reference with them.
    """
    if isinstance(item, AtomSystem):
        z, coords = item.numbers, [item.positions]
    else:
        z = np.array([a.GetAtomicNum() for a in item.GetAtoms()])
        coords = [np.asarray(c.GetPositions(), dtype=np.float64) for c in item.GetConformers()]
        if not coords:
            raise InputError(f"molecule {Chem.MolToSmiles(item)!r} has no conformer")
    keep = z != 1
    if not np.array_equal(z[keep], heavy_z):
        raise InputError("conformers of one molecule must have the same heavy atoms in the same order")
    out = [xyz[keep] for xyz in coords]
    if not all(np.all(np.isfinite(xyz)) for xyz in out):
        raise InputError("non-finite coordinates in a conformer")
    return out


def _heavy_stack(items: list[Conformer], template: Chem.Mol) -> Chem.Mol:
    """One hydrogen-free Mol on the template's graph holding every conformer of `items`, in order."""
    numbers = np.array([a.GetAtomicNum() for a in template.GetAtoms()])
    mol = Chem.RWMol(template)
    mol.RemoveAllConformers()
    # Remove hydrogens by hand (from the end, so indices stay valid): RemoveHs keeps some H and needs sanitised
    # input, while AtomSystems converted without sanitisation may not pass it.
    for idx in sorted(np.flatnonzero(numbers == 1).tolist(), reverse=True):
        mol.RemoveAtom(int(idx))
    out = mol.GetMol()
    out.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(out)
    heavy_z = numbers[numbers != 1]
    for item in items:
        for xyz in _heavy_coords(item, heavy_z):
            conf = Chem.Conformer(len(heavy_z))
            for k, (x, y, z) in enumerate(xyz):
                conf.SetAtomPosition(k, (float(x), float(y), float(z)))
            out.AddConformer(conf, assignId=True)
    return out


def _matrix(probe: Chem.Mol, ref: Chem.Mol, max_matches: int) -> np.ndarray:
    pids = [c.GetId() for c in probe.GetConformers()]
    rids = [c.GetId() for c in ref.GetConformers()]
    out = np.empty((len(rids), len(pids)))
    for i, rid in enumerate(rids):
        for j, pid in enumerate(pids):
            # GetBestRMS moves the probe conformer; harmless, every call re-aligns from scratch.
            out[i, j] = rdMolAlign.GetBestRMS(probe, ref, prbId=pid, refId=rid, maxMatches=max_matches)
    return out


def best_rmsd(probe: Conformer, ref: Conformer, *, max_matches: int = MAX_MATCHES) -> float:
    """Heavy-atom, symmetry-aware RMSD (Å) between two conformers of one molecule after optimal alignment."""
    return float(rmsd_matrix(probe, ref, max_matches=max_matches)[0, 0])


def rmsd_matrix(
    gen: ConformerSet | Conformer, ref: ConformerSet | Conformer, *, max_matches: int = MAX_MATCHES
) -> np.ndarray:
    """RMSD matrix of shape (n_ref, n_gen): entry [i, j] is `best_rmsd(gen[j], ref[i])`."""
    gen_items, ref_items = _items(gen), _items(ref)
    template = _template(ref_items, gen_items)
    return _matrix(_heavy_stack(gen_items, template), _heavy_stack(ref_items, template), max_matches)


# --------------------------------------------------------------------------------------------- aggregation
def coverage_from_matrix(rmsd: np.ndarray, delta: float = DELTA_QM9) -> dict[str, float]:
    """COV-R, AMR-R, COV-P, AMR-P of one molecule from its (n_ref, n_gen) RMSD matrix (covered: RMSD < delta)."""
    rmsd = np.asarray(rmsd, dtype=np.float64)
    if rmsd.size == 0:
        raise InputError(f"coverage needs at least one generated and one reference conformer, got "
                         f"{rmsd.shape[1] if rmsd.ndim == 2 else 0} and {rmsd.shape[0]}")
    ref_min, gen_min = rmsd.min(axis=1), rmsd.min(axis=0)
    return {
        "COV-R": float(np.mean(ref_min < delta)),
        "AMR-R": float(np.mean(ref_min)),
        "COV-P": float(np.mean(gen_min < delta)),
        "AMR-P": float(np.mean(gen_min)),
    }


def _paired(gen_by_mol: Mapping | Sequence, ref_by_mol: Mapping | Sequence) -> list[tuple[object, object, object]]:
    if isinstance(ref_by_mol, Mapping) != isinstance(gen_by_mol, Mapping):
        raise InputError("give generated and reference conformers both as mappings or both as sequences")
    if isinstance(ref_by_mol, Mapping):
        missing = [key for key in ref_by_mol if key not in gen_by_mol]
        if missing:
            raise InputError(f"no generated conformers for {len(missing)} molecule(s), e.g. {missing[0]!r}")
        return [(key, gen_by_mol[key], ref) for key, ref in ref_by_mol.items()]
    if len(gen_by_mol) != len(ref_by_mol):
        raise InputError(f"{len(gen_by_mol)} generated sets for {len(ref_by_mol)} reference sets")
    return [(i, g, r) for i, (g, r) in enumerate(zip(gen_by_mol, ref_by_mol))]


def coverage_metrics(
    gen_by_mol: Mapping | Sequence,
    ref_by_mol: Mapping | Sequence,
    delta: float = DELTA_QM9,
    *,
    max_matches: int = MAX_MATCHES,
) -> dict:
    """Ensemble metrics over molecules.

    Args:
        gen_by_mol, ref_by_mol: per molecule a conformer set, either both mappings (keyed e.g. by SMILES; every
            reference key needs generated conformers) or both sequences in the same order.
        delta: coverage threshold in Å (`DELTA_QM9` = 0.5, `DELTA_DRUGS` = 0.75).

    Returns:
        {"COV-R": {"mean", "median"}, "AMR-R": ..., "COV-P": ..., "AMR-P": ..., "delta", "n_molecules",
        "per_molecule": {key: {metric: value}}}.
    """
    per_mol = {key: coverage_from_matrix(rmsd_matrix(g, r, max_matches=max_matches), delta)
               for key, g, r in _paired(gen_by_mol, ref_by_mol)}
    out: dict = {"delta": float(delta), "n_molecules": len(per_mol)}
    for metric in ("COV-R", "AMR-R", "COV-P", "AMR-P"):
        values = np.array([m[metric] for m in per_mol.values()])
        out[metric] = _summary(values)
    out["per_molecule"] = per_mol
    return out


def _summary(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"mean": float("nan"), "median": float("nan")}
    return {"mean": float(np.mean(values)), "median": float(np.median(values))}


def single_reference_rmsd(
    gen_by_mol: Mapping | Sequence, ref_by_mol: Mapping | Sequence, *, max_matches: int = MAX_MATCHES
) -> dict:
    """Per molecule, the minimum RMSD of its generated conformers to its one reference; mean and median of those.

    Returns {"mean", "median", "n_molecules", "n_failed" (molecules with no generated conformer, left out of the
    mean and median), "k" (generated conformers per molecule, max), "per_molecule"}.
    """
    per_mol: dict = {}
    k = 0
    failed = 0
    for key, gen, ref in _paired(gen_by_mol, ref_by_mol):
        if not _items(gen):  # the method made no conformer at all (e.g. ETKDG could not embed it)
            failed += 1
            continue
        row = rmsd_matrix(gen, ref, max_matches=max_matches)
        if row.shape[0] != 1:
            raise InputError(f"molecule {key!r}: {row.shape[0]} reference conformers, expected exactly one")
        k = max(k, row.shape[1])
        per_mol[key] = float(row.min())
    return {**_summary(np.array(list(per_mol.values()))), "n_molecules": len(per_mol), "n_failed": failed, "k": k,
            "per_molecule": per_mol}


# ---------------------------------------------------------------------------------------------- baselines
def _embeddable(mol: Conformer) -> Chem.Mol:
    """A sanitised Mol with explicit hydrogens, atom order unchanged (new hydrogens, if any, go last)."""
    if isinstance(mol, AtomSystem):
        mol = to_rdkit(mol, sanitize=True)
    mol = Chem.Mol(mol)
    Chem.SanitizeMol(mol)
    return Chem.AddHs(mol)


def etkdg_conformers(mol: Conformer, k: int, seed: int = 0, mmff: bool = False) -> list[Chem.Mol]:
    """k RDKit ETKDGv3 conformers (seeded), optionally each MMFF94-optimised; one Mol per conformer.

    The molecule keeps the input's atom order, so the output can be scored against the input directly. Fewer
    than k come back only if embedding fails even from random coordinates.
    """
    work = _embeddable(mol)
    work.RemoveAllConformers()
    params = rdDistGeom.ETKDGv3()
    if seed < 0:
        raise ValueError("seed must be >= 0 (RDKit reads a negative seed as 'unseeded')")
    # RDKit seeds conformer i with randomSeed * (i + 1): seed 0 would make all k conformers identical.
    params.randomSeed = int(seed) + 1
    params.numThreads = 1  # the caller decides parallelism; never grab every core
    cids = list(rdDistGeom.EmbedMultipleConfs(work, int(k), params))
    if len(cids) < k:
        # Large or strained molecules often need random starting coordinates.
        params.useRandomCoords = True
        work.RemoveAllConformers()
        cids = list(rdDistGeom.EmbedMultipleConfs(work, int(k), params))
    if mmff and cids and rdForceFieldHelpers.MMFFHasAllMoleculeParams(work):
        for cid in cids:
            rdForceFieldHelpers.MMFFOptimizeMolecule(work, confId=cid, maxIters=2000)
    return [Chem.Mol(work, confId=cid) for cid in cids]


def rdkit_baselines(
    ref_by_mol: Mapping | Sequence, k: int, seed: int = 0, *, max_matches: int = MAX_MATCHES
) -> dict[str, dict]:
    """Single-reference RMSD of the RDKit baselines with k conformers per molecule: {"ETKDG": ..., "ETKDG+MMFF": ...}.

    Both rows use the same ETKDG embeddings (MMFF optimises copies), so they differ only by the force field.
    Each value is what `single_reference_rmsd` returns.
    """
    keys = list(ref_by_mol) if isinstance(ref_by_mol, Mapping) else list(range(len(ref_by_mol)))
    refs = [ref_by_mol[key] for key in keys]
    etkdg, mmff = {}, {}
    for key, ref in zip(keys, refs):
        raw = etkdg_conformers(ref, k, seed, mmff=False)
        etkdg[key] = raw
        mmff[key] = [_mmff(c) for c in raw]
    refs_by_key = dict(zip(keys, refs))
    return {
        "ETKDG": single_reference_rmsd(etkdg, refs_by_key, max_matches=max_matches),
        "ETKDG+MMFF": single_reference_rmsd(mmff, refs_by_key, max_matches=max_matches),
    }


def _mmff(conf: Chem.Mol) -> Chem.Mol:
    out = Chem.Mol(conf)
    if rdForceFieldHelpers.MMFFHasAllMoleculeParams(out):
        rdForceFieldHelpers.MMFFOptimizeMolecule(out, maxIters=2000)
    return out


def format_rows(results: Mapping[str, Mapping]) -> str:
    """`method | mean | median` table lines (Å) from {method: single_reference_rmsd(...) result}."""
    lines = ["method | mean | median"]
    lines += [f"{name} | {r['mean']:.3f} | {r['median']:.3f}" for name, r in results.items()]
    return "\n".join(lines)
