"""`atomgen.evaluate`: every metric of EVALUATION.md for a set of generated molecules or crystals."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atomgen.errors import InputError
from atomgen.eval.distributions import GeometryStatistics, distribution_distances, geometry_statistics
from atomgen.eval.instability import CAUSES
from atomgen.eval.molecules import MoleculeAnalysis, analyse_molecules, perceive_molecule
from atomgen.eval.posebusters import PoseBustersRun, pass_rates
from atomgen.eval.progress import stage_bar
from atomgen.eval.reference import CrystalReference, MoleculeReference, load_reference
from atomgen.eval.report import EvaluationReport
from atomgen.eval.strain import strain_summary
from atomgen.system import AtomSystem

_NOT_COMPUTED = "not computed: "  # how crystal_metrics marks a metric it could not compute, before the reason


def evaluate(
    systems: Sequence[AtomSystem],
    reference: str | Path | list[AtomSystem] = "qm9",
    *,
    fcd: bool = True,
    posebusters: bool = True,
    strain: bool = True,
    coverage: bool = False,
    xtb: bool = False,
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
        coverage: crystals: also CDVAE's COV-R / COV-P against the reference's test side (slow: CrystalNN
            fingerprints of every site; needs matminer). The cut-offs are CDVAE's for the named references
            (perov_5, carbon_24); any other reference reports coverage as not computed.
        xtb: molecules: also relax each with GFN2-xTB (`atomgen.eval.xtb_relaxation`; about 0.1 s a QM9 molecule)
            and report the energy released and the RMSD to the relaxed geometry.
        max_expensive: PoseBusters, strain and xTB run on at most this many valid molecules (a seeded random
            subset).
        seed: seeds the subset choice; recorded in the report.
        n_skipped: records the caller skipped as unreadable, recorded in the report.
        data_dir: the dataset cache folder (default $ATOMGEN_DATA).
        workers: processes for the per-molecule analysis and PoseBusters (default: all cores).
        progress: show a progress bar on stderr for every stage (and while a reference is prepared).
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
        report = _evaluate_crystals(systems, ref, coverage, progress)
    else:
        options = _MoleculeOptions(fcd, posebusters, strain, xtb, max_expensive, seed, workers, progress)
        report = _evaluate_molecules(systems, ref, options)
        if coverage:
            report.not_computed["coverage"] = ("COV-R / COV-P are crystal metrics (conformer coverage: "
                                               "atomgen evaluate-conformers)")
    report.n_skipped = n_skipped
    report.seed = seed
    report.elapsed_s = time.perf_counter() - start
    return report


@dataclass(frozen=True)
class _MoleculeOptions:
    """The switches of `evaluate` that molecule evaluation reads."""

    fcd: bool
    posebusters: bool
    strain: bool
    xtb: bool
    max_expensive: int
    seed: int
    workers: int | None
    progress: bool


def _evaluate_molecules(systems: Sequence[AtomSystem], ref: MoleculeReference,
                        options: _MoleculeOptions) -> EvaluationReport:
    """Every molecule metric of `systems` against `ref`, stage by stage."""
    progress = options.progress
    analyses = analyse_molecules(systems, workers=options.workers, progress=progress)
    n = len(systems)
    with stage_bar(desc="uniqueness and novelty", total=n, enabled=progress) as bar:
        metrics = molecule_metrics(analyses, ref.train_smiles)
        bar.update(n)
    chosen = expensive_indices(analyses, options.max_expensive, options.seed)
    checked, expensive = (perceived_molecules(systems, chosen, progress=progress)
                          if options.posebusters or options.strain else ([], []))
    records = [{"stable": a.stable, "rdkit_valid": a.rdkit_smiles is not None, "cause": a.instability,
                "smiles": a.rdkit_smiles, "posebusters": None} for a in analyses]
    not_computed: dict[str, str] = {}
    # PoseBusters' checks, by far the slowest stage, start in worker processes here; the stages up to their
    # results share the cores with them.
    with PoseBustersRun(expensive if options.posebusters else [], workers=options.workers) as posebusters:
        details, statistics = _add_distributions(systems, analyses, ref, progress, metrics)
        if options.fcd:
            _add_fcd(analyses, ref, progress, metrics, details, not_computed)
        else:
            not_computed["fcd"] = "switched off"
        strain = strain_summary(expensive, progress=progress) if options.strain else None
        if options.posebusters and expensive:
            table = posebusters.table(progress=progress)
            rates = pass_rates(table)
            for k, passed in zip(checked, table.astype(bool).all(axis=1)):
                records[k]["posebusters"] = bool(passed)
            metrics["posebusters_pass"] = rates.pop("all")
            details["posebusters_checks"] = rates
            details["posebusters_n"] = len(expensive)
        elif options.posebusters:
            metrics["posebusters_pass"] = float("nan")
            details["posebusters_checks"], details["posebusters_n"] = {}, 0
        else:
            not_computed["posebusters"] = "switched off"
    if strain is not None:
        metrics["strain_median"] = strain.pop("strain_median")
        details["strain"] = strain
    else:
        not_computed["strain"] = "switched off"
    if options.xtb:
        from atomgen.eval.xtb_relaxation import xtb_relaxation_summary

        relaxation = xtb_relaxation_summary([systems[k] for k in chosen], progress=progress)
        metrics.update({key: relaxation.pop(key) for key in ("xtb_energy_drop_median", "xtb_rmsd_median")})
        details["xtb"] = relaxation
    else:
        not_computed["xtb"] = "opt-in (xtb=True, `atomgen evaluate --xtb`)"
    return EvaluationReport(
        kind="molecule",
        reference={"name": ref.name, "n_train": ref.n_train, "n_test": ref.n_test},
        n_samples=n,
        metrics=metrics,
        details=details,
        not_computed=not_computed,
        records=records,
        statistics=statistics,
    )


def _add_distributions(systems: Sequence[AtomSystem], analyses: Sequence[MoleculeAnalysis], ref: MoleculeReference,
                       progress: bool, metrics: dict) -> tuple[dict[str, object], GeometryStatistics]:
    """Distances of the samples' geometry distributions to the reference's, into `metrics`; the evaluation's
    details so far (distances by type, validity counts, instability causes) and the samples' statistics."""
    n = len(systems)
    stats = geometry_statistics([(s.numbers, s.positions, a.edm_bonds) for s, a in zip(systems, analyses)],
                                progress=progress)
    distances = distribution_distances(stats, ref.geometry)
    details: dict[str, object] = {
        "bond_length_w1_by_type": distances.pop("bond_length_w1_by_type"),
        "bond_angle_w1_by_type": distances.pop("bond_angle_w1_by_type"),
        "counts": {
            "samples": n,
            "edm_valid": sum(a.edm_smiles is not None for a in analyses),
            "rdkit_valid": sum(a.rdkit_smiles is not None for a in analyses),
            "openbabel_pdb_valid": sum(a.openbabel_pdb_valid for a in analyses),
        },
        # Share of all samples that are unstable for each cause (they add up to 1 - molecule stability).
        "instability_causes": {cause: sum(a.instability == cause for a in analyses) / n for cause in CAUSES},
    }
    metrics.update(distances)
    return details, stats


def _add_fcd(analyses: Sequence[MoleculeAnalysis], ref: MoleculeReference, progress: bool, metrics: dict,
             details: dict, not_computed: dict) -> None:
    """FCD of the RDKit-valid samples against the reference's test side, into `metrics` (or why not)."""
    from atomgen.eval.fcd import fcd_from_statistics, fcd_statistics

    valid_smiles = [a.rdkit_smiles for a in analyses if a.rdkit_smiles]
    if len(valid_smiles) >= 2 and len(ref.test_smiles) >= 2:
        with _one_torch_thread():
            reference = ref.fcd_statistics(progress=progress)
            metrics["fcd"] = fcd_from_statistics(fcd_statistics(valid_smiles, progress=progress), reference)
        details["fcd_sizes"] = {"samples": len(valid_smiles), "reference": len(ref.test_smiles)}
    else:
        not_computed["fcd"] = "fewer than two valid molecules"


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Within the block, torch computes on one thread; as many as before after it."""
    import torch

    # ChemNet's batches gain nothing from a second thread (the 9,500 SMILES of 10,000 QM9 molecules take 30 s on
    # one or two, with the same numbers), and beside PoseBusters' workers a second thread that waits for a busy
    # core doubled the time: the other core is theirs.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def expensive_indices(analyses: Sequence[MoleculeAnalysis], max_expensive: int, seed: int) -> list[int]:
    """The molecules PoseBusters, strain and xTB judge: a seeded random subset of at most `max_expensive`
    RDKit-valid molecules, in sample order."""
    valid_idx = [k for k, a in enumerate(analyses) if a.rdkit_smiles]
    return sorted(random.Random(seed).sample(valid_idx, min(max_expensive, len(valid_idx))))


def perceived_molecules(systems: Sequence[AtomSystem], chosen: Sequence[int], *,
                        progress: bool = False) -> tuple[list[int], list]:
    """RDKit Mols of the chosen molecules, bonds perceived again from their geometry (for PoseBusters and
    strain), and the sample index of each (a molecule whose perception fails is left out of both)."""
    indices, mols = [], []
    for k in stage_bar(chosen, desc="bonds for PoseBusters and strain", enabled=progress):
        mol = perceive_molecule(systems[k].numbers, systems[k].positions)
        if mol is not None:
            indices.append(k)
            mols.append(mol)
    return indices, mols


def molecule_metrics(analyses: Sequence[MoleculeAnalysis], train_smiles: set[str]) -> dict[str, float]:
    """Stability, validity (EDM, RDKit, connected, ADiT's OpenBabel flavour), uniqueness and novelty from
    per-molecule analyses."""
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
        # ADiT's published QM9 validity, for comparison with its paper: far more lenient than rdkit_validity.
        "openbabel_pdb_validity": float(np.mean([a.openbabel_pdb_valid for a in analyses])),
        "uniqueness": len(unique) / len(valid) if valid else float("nan"),
        "novelty": len(unique - train_smiles) / len(unique) if unique else float("nan"),
    }


def _evaluate_crystals(systems: Sequence[AtomSystem], ref: CrystalReference, coverage: bool,
                       progress: bool) -> EvaluationReport:
    """Every crystal metric of `systems` against `ref` (coverage only when asked: it is slow)."""
    from atomgen.eval.crystals import crystal_metrics

    result = crystal_metrics(list(systems), reference=ref.test, train=ref.train, dataset=ref.name,
                             compute_coverage=coverage, progress=progress)
    metrics, details, not_computed = {}, {}, {}
    recall, precision = result.pop("cov_recall"), result.pop("cov_precision")
    per_crystal = result.pop("per_crystal")
    records = [{"structural": failure is None, "compositional": compositional, "failure": failure}
               for failure, compositional in zip(per_crystal["failure"], per_crystal["compositional"])]
    for key, value in result.items():
        if isinstance(value, str) and value.startswith(_NOT_COMPUTED):
            not_computed[key] = value.removeprefix(_NOT_COMPUTED)
        elif isinstance(value, (int, float)):
            metrics[key] = float(value)
        else:
            details[key] = value
    # COV-R and COV-P are computed together, or not at all for one reason.
    if not coverage:  # crystal_metrics' reason names its own argument; the report names evaluate's
        not_computed["coverage"] = "switched off (coverage=True, --coverage)"
    elif isinstance(recall, str):
        not_computed["coverage"] = recall.removeprefix(_NOT_COMPUTED)
    else:
        metrics.update(cov_recall=recall, cov_precision=precision)
    return EvaluationReport(
        kind="crystal",
        reference={"name": ref.name, "n_train": ref.n_train, "n_test": ref.n_test},
        n_samples=len(systems),
        metrics=metrics,
        details=details,
        not_computed=not_computed,
        records=records,
    )
