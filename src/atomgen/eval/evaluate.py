"""`atomgen.evaluate`: every metric of EVALUATION.md for a set of generated molecules or crystals."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from atomgen.errors import InputError
from atomgen.eval.distributions import distribution_distances, geometry_statistics
from atomgen.eval.instability import CAUSES
from atomgen.eval.molecules import MoleculeAnalysis, analyse_molecules, perceive_molecule
from atomgen.eval.reference import CrystalReference, MoleculeReference, load_reference
from atomgen.eval.report import EvaluationReport
from atomgen.system import AtomSystem


def evaluate(
    systems: Sequence[AtomSystem],
    reference: str | Path | list[AtomSystem] = "qm9",
    *,
    fcd: bool = True,
    posebusters: bool = True,
    strain: bool = True,
    max_expensive: int = 1000,
    seed: int = 0,
    n_skipped: int = 0,
    data_dir: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> EvaluationReport:
    """Evaluate generated systems against a reference set.

    Args:
        systems: generated molecules or crystals (all of one kind, matching the reference's kind).
        reference: 'qm9', 'drugs-etkdg', 'perov_5', 'carbon_24', a file of reference systems, or a list of them.
        fcd, posebusters, strain: switch the expensive molecule metrics on or off.
        max_expensive: PoseBusters and strain run on at most this many valid molecules (a seeded random subset).
        seed: seeds the subset choice; recorded in the report.
        n_skipped: records the caller skipped as unreadable, recorded in the report.
        data_dir: the dataset cache folder (default $ATOMGEN_DATA).
        workers: processes for the per-molecule analysis (default: all cores).
        progress: show progress while a reference is prepared for the first time.
    """
    start = time.perf_counter()
    if not systems:
        raise InputError("nothing to evaluate: no systems")
    ref = load_reference(reference if not isinstance(reference, Path) else str(reference), root=data_dir,
                         progress=progress)
    periodic = [s.is_periodic for s in systems]
    if ref.kind == "crystal" and not all(periodic):
        raise InputError(f"reference {ref.name!r} holds crystals, but sample {periodic.index(False)} has no lattice")
    if ref.kind == "molecule" and any(periodic):
        raise InputError(f"reference {ref.name!r} holds molecules, but sample {periodic.index(True)} is periodic")
    if isinstance(ref, CrystalReference):
        report = _evaluate_crystals(systems, ref)
    else:
        report = _evaluate_molecules(systems, ref, fcd, posebusters, strain, max_expensive, seed, workers)
    report.n_skipped = n_skipped
    report.seed = seed
    report.elapsed_s = time.perf_counter() - start
    return report


def _evaluate_molecules(
    systems: Sequence[AtomSystem], ref: MoleculeReference, fcd: bool, posebusters: bool, strain: bool,
    max_expensive: int, seed: int, workers: int | None,
) -> EvaluationReport:
    analyses = analyse_molecules(systems, workers=workers)
    n = len(systems)
    metrics = molecule_metrics(analyses, ref.train_smiles)
    stats = geometry_statistics([(s.numbers, s.positions, a.edm_bonds) for s, a in zip(systems, analyses)])
    distances = distribution_distances(stats, ref.geometry)
    details: dict[str, object] = {
        "bond_length_w1_by_type": distances.pop("bond_length_w1_by_type"),
        "bond_angle_w1_by_type": distances.pop("bond_angle_w1_by_type"),
        "counts": {
            "samples": n,
            "edm_valid": sum(a.edm_smiles is not None for a in analyses),
            "rdkit_valid": sum(a.rdkit_smiles is not None for a in analyses),
        },
        # Share of all samples that are unstable for each cause (they add up to 1 - molecule stability).
        "instability_causes": {cause: sum(a.instability == cause for a in analyses) / n for cause in CAUSES},
    }
    metrics.update(distances)
    not_computed: dict[str, str] = {}
    valid_smiles = [a.rdkit_smiles for a in analyses if a.rdkit_smiles]

    if fcd:
        from atomgen.eval.fcd import fcd_from_statistics, fcd_statistics

        if len(valid_smiles) >= 2 and len(ref.test_smiles) >= 2:
            metrics["fcd"] = fcd_from_statistics(fcd_statistics(valid_smiles), ref.fcd_statistics())
            details["fcd_sizes"] = {"samples": len(valid_smiles), "reference": len(ref.test_smiles)}
        else:
            not_computed["fcd"] = "fewer than two valid molecules"
    else:
        not_computed["fcd"] = "switched off"

    if posebusters or strain:
        valid_idx = [k for k, a in enumerate(analyses) if a.rdkit_smiles]
        chosen = sorted(random.Random(seed).sample(valid_idx, min(max_expensive, len(valid_idx))))
        mols = [m for m in (perceive_molecule(systems[k].numbers, systems[k].positions) for k in chosen) if m]
        if posebusters:
            from atomgen.eval.posebusters import posebusters_pass_rates

            rates = posebusters_pass_rates(mols)
            metrics["posebusters_pass"] = rates.pop("all", float("nan"))
            details["posebusters_checks"] = rates
            details["posebusters_n"] = len(mols)
        if strain:
            from atomgen.eval.strain import strain_summary

            summary = strain_summary(mols)
            metrics["strain_median"] = summary.pop("strain_median")
            details["strain"] = summary
    if not posebusters:
        not_computed["posebusters"] = "switched off"
    if not strain:
        not_computed["strain"] = "switched off"
    return EvaluationReport(
        kind="molecule",
        reference={"name": ref.name, "n_train": ref.n_train, "n_test": ref.n_test},
        n_samples=n,
        metrics=metrics,
        details=details,
        not_computed=not_computed,
    )


def molecule_metrics(analyses: Sequence[MoleculeAnalysis], train_smiles: set[str]) -> dict[str, float]:
    """Stability, validity, uniqueness and novelty from per-molecule analyses."""
    n = len(analyses)
    n_atoms = sum(a.n_atoms for a in analyses)
    edm_smiles = [a.edm_smiles for a in analyses if a.edm_smiles is not None]
    valid = [a.rdkit_smiles for a in analyses if a.rdkit_smiles is not None]
    unique = set(valid)
    return {
        "atom_stability": sum(a.n_stable_atoms for a in analyses) / n_atoms if n_atoms else 0.0,
        "molecule_stability": float(np.mean([a.stable for a in analyses])),
        "edm_validity": len(edm_smiles) / n,
        "edm_valid_unique": len(set(edm_smiles)) / n,
        "rdkit_validity": len(valid) / n,
        "connected_validity": float(np.mean([a.connected_valid for a in analyses])),
        "uniqueness": len(unique) / len(valid) if valid else float("nan"),
        "novelty": len(unique - train_smiles) / len(unique) if unique else float("nan"),
    }


def _evaluate_crystals(systems: Sequence[AtomSystem], ref: CrystalReference) -> EvaluationReport:
    from atomgen.eval.crystals import crystal_metrics

    result = crystal_metrics(list(systems), reference=ref.test, train=ref.train)
    metrics = {k: float(v) for k, v in result.items() if isinstance(v, (int, float))}
    details = {k: v for k, v in result.items() if not isinstance(v, (int, float))}
    return EvaluationReport(
        kind="crystal",
        reference={"name": ref.name, "n_train": ref.n_train, "n_test": ref.n_test},
        n_samples=len(systems),
        metrics=metrics,
        details=details,
    )
