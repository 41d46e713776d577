"""NExT-Mol benchmark: conformers against DFT geometries beside RDKit, stereo kept (and what keeps it), the
sampler's bond-length precision, de novo molecules, conformer speed (at most 100 molecules), 1D-to-3D transfer,
and a language model alone on a SMILES corpus (GEOM-DRUGS).

    python benchmarks/bench_nextmol.py
        [--parts conformers,stereo,sampler,solvers,denovo,seeds,speed,geom-qm9,transfer,language]
        [--model nextmol-qm9] [--against MODEL] [--without-transfer DIR --with-transfer DIR]
        [--language-model DIR] [--corpus geom-drugs] [-n 1000] [-k 10] [--data-dir DIR]

Results go to benchmarks/results/nextmol.json (parts not run keep their last numbers); BENCHMARKS.md is rebuilt.
Run it on an otherwise idle machine: the timings use every core.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from common import paired_difference, run_parts, share_difference  # sibling scripts, run from anywhere
from machine import counted_flops, peaks, utilisation
from write_benchmarks_md import write_benchmarks_md

from atomgen.models.sampler_settings import NEXTMOL_PRECISION

RESULTS = Path(__file__).resolve().parent / "results" / "nextmol.json"


def _model(name: str):
    from atomgen.models.nextmol import NExTMolModel

    return NExTMolModel.from_pretrained(name)


def _test_references(n: int, data_dir: str | None) -> list:
    """A seeded random n of QM9 test molecules whose bonds RDKit perceives, as RDKit molecules carrying their DFT
    geometry (hydrogens explicit, chirality read from 3D)."""
    from atomgen.data.molecular_graphs import mol_from_coordinates
    from atomgen.data.qm9 import load_qm9

    test = load_qm9("test", data_dir)
    references = []
    for k in np.random.default_rng(0).permutation(len(test)):
        system = test[int(k)]
        mol = mol_from_coordinates(system.numbers, system.positions)
        if mol is not None:
            references.append(mol)
        if len(references) == n:
            break
    return references


STEREO_RETRIES = 2  # the library's default, written into the results


def conformers(model_name: str, n: int, k: int, data_dir: str | None) -> dict:
    """Best heavy-atom RMSD among k conformers to the DFT geometry, for the model and RDKit in one run, and the
    share of generated conformers of chiral molecules whose every stereocentre is right."""
    from atomgen.eval.conformers import rdkit_baselines, single_reference_rmsd
    from atomgen.models.nextmol.alignment import chirality_agreement

    model = _model(model_name)
    references = _test_references(n, data_dir)
    generated = model.conformers(references, k, seed=0, stereo_retries=STEREO_RETRIES)
    by_molecule = [generated[i * k : (i + 1) * k] for i in range(len(references))]
    rows = {"NExT-Mol": single_reference_rmsd(by_molecule, references)}
    rows.update(rdkit_baselines(references, k, seed=0))
    # ETKDG cannot embed a few molecules, which its rows leave out: NExT-Mol's row on the same molecules as theirs.
    same = np.array([rows["NExT-Mol"]["per_molecule"][key] for key in rows["ETKDG"]["per_molecule"]])
    rows["NExT-Mol, the molecules ETKDG embedded"] = {"mean": float(same.mean()), "median": float(np.median(same)),
                                                       "n_molecules": len(same), "n_failed": 0, "k": k}
    chiral = right = 0
    for mol, confs in zip(references, by_molecule):
        for conformer in confs:
            agree, total = chirality_agreement(mol, conformer.positions)
            if total:
                chiral += 1
                right += agree == total
    for row in rows.values():
        row.pop("per_molecule", None)
    return {"n": len(references), "k": k, "rows": rows, "stereo_right": right / max(chiral, 1),
            "stereo_retries": STEREO_RETRIES, "chiral_conformers": chiral}


SPEED_SHAPES = {"pair update, batch 256 of 24 atoms": (147456, 64, 64), "atom MLP, batch 256": (6144, 192, 768)}
"""(rows, inner, cols) of the conformer network's matrix products in sampling: the peak is read at these."""


def speed(model_name: str, n: int, k: int, data_dir: str | None) -> dict:
    """Conformers per second, generation only (no scoring), on the same n test molecules in one run: NExT-Mol
    (default sampler, stereo retries on), with and without its MMFF relaxation, ETKDG, and ETKDG + MMFF
    (embedding and optimisation)."""
    from atomgen.eval.conformers import etkdg_conformers
    from atomgen.tasks.relax import relax_all

    model = _model(model_name)
    references = _test_references(n, data_dir)
    start = time.perf_counter()
    made = model.conformers(references, k, seed=0, stereo_retries=STEREO_RETRIES, progress=False)
    generation = time.perf_counter() - start
    start = time.perf_counter()
    relax_all(made)
    per_second = {"NExT-Mol": len(made) / generation,
                  "NExT-Mol + MMFF relax": len(made) / (generation + time.perf_counter() - start)}
    for name, mmff in (("ETKDG", False), ("ETKDG + MMFF", True)):
        start = time.perf_counter()
        made = sum(len(etkdg_conformers(mol, k, seed=0, mmff=mmff)) for mol in references)
        per_second[name] = made / (time.perf_counter() - start)
    # The share of the machine's peak: matrix-product FLOPs per conformer, counted on the same conformers (the
    # same seed draws the same stereo retries, so the count is that of the timed run).
    _, flops = counted_flops(lambda: model.conformers(references, k, seed=0, stereo_retries=STEREO_RETRIES,
                                                      progress=False))
    peak = peaks(SPEED_SHAPES)
    dtype = "bf16" if NEXTMOL_PRECISION == "bf16" else "fp32"
    use = utilisation(flops / (len(references) * k) * per_second["NExT-Mol"], 1.0, peak["best"][dtype])
    return {"n": len(references), "k": k, "conformers_per_second": per_second, "threads": torch.get_num_threads(),
            "precision": NEXTMOL_PRECISION, "flops_per_conformer": flops / (len(references) * k),
            "utilisation": use, "machine_peak": peak}


def _without_chiral_order(model):
    """The same network with the chiral-order pair feature made uninformative: every neighbour number embeds as
    "no number". Shows whether the trained network uses the feature, with nothing else changed."""
    net = model.conformer.network
    if net.chiral_centre is None:
        raise SystemExit("this model has no chiral-order feature to remove")
    with torch.no_grad():
        for embedding in (net.chiral_centre, net.chiral_neighbour):
            embedding.weight[1:] = embedding.weight[0]
    return model


def stereo(model_name: str, n: int, k: int, data_dir: str | None) -> dict:
    """Share of conformers with every stereocentre right, on n QM9 test molecules that have stereocentres, split
    by one centre against several: the model alone, without its chiral-order feature, with the sampler's steer,
    with retries, with both (the default); and what each does to the bonds (against DFT)."""
    from rdkit import Chem

    from atomgen.models.nextmol.alignment import chirality_agreement

    def centres(mol) -> int:
        return len(Chem.FindMolChiralCenters(mol, includeUnassigned=False, useLegacyImplementation=False))

    references = [mol for mol in _test_references(20 * n, data_dir) if centres(mol)][:n]
    settings = {"model alone, first draws": (False, 0, False), "chiral order removed, first draws": (True, 0, False),
                "steered, first draws": (False, 0, True), "model alone, 2 retries": (False, 2, False),
                "steered, 2 retries (the default)": (False, 2, True)}
    rows = {}
    for name, (remove, retries, steer) in settings.items():
        model = _without_chiral_order(_model(model_name)) if remove else _model(model_name)
        generated = model.conformers(references, k, seed=0, stereo_retries=retries, steer_chirality=steer,
                                     progress=False)
        right = {"one centre": [], "several centres": []}
        for index, mol in enumerate(references):
            group = "one centre" if centres(mol) == 1 else "several centres"
            for conformer in generated[index * k : (index + 1) * k]:
                agree, total = chirality_agreement(mol, conformer.positions)
                right[group].append(agree == total)
        every = right["one centre"] + right["several centres"]
        geometry = _geometry_scores([mol for mol in references for _ in range(k)], [c.positions for c in generated])
        rows[name] = {"all": float(np.mean(every)),
                      **{group: float(np.mean(hits)) if hits else None for group, hits in right.items()},
                      "bond_length_mae": geometry["bond_length_mae"],
                      "molecule_stability": geometry["molecule_stability"]}
    return {"model": model_name, "k": k, "n": len(references),
            "n_several_centres": sum(centres(mol) > 1 for mol in references), "rows": rows}


def _geometry_scores(references: list, positions: list[np.ndarray]) -> dict:
    """How precise the geometries are, against each molecule's DFT one (same atom order): the mean absolute error
    of the bond lengths of the molecular graph, and EDM's atom and molecule stability of the geometry."""
    from atomgen.eval.bonds import edm_bond_orders, stable_atoms

    errors, stable = [], []
    for mol, xyz in zip(references, positions):
        reference = mol.GetConformer().GetPositions()
        pairs = np.array([(bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()) for bond in mol.GetBonds()])
        length = np.linalg.norm(xyz[pairs[:, 0]] - xyz[pairs[:, 1]], axis=1)
        errors.append(np.abs(length - np.linalg.norm(reference[pairs[:, 0]] - reference[pairs[:, 1]], axis=1)))
        numbers = np.array([atom.GetAtomicNum() for atom in mol.GetAtoms()])
        stable.append(stable_atoms(numbers, edm_bond_orders(numbers, xyz)))
    every = np.concatenate(errors)
    return {"bond_length_mae": float(every.mean()), "bonds_within_0.02": float((every < 0.02).mean()),
            "atom_stability": float(np.concatenate(stable).mean()),
            "molecule_stability": float(np.mean([row.all() for row in stable]))}


SAMPLER_SETTINGS = {"DDPM, 100 steps": ("ddpm", 100, 0, "fp32"), "DDPM, 50 steps": ("ddpm", 50, 0, "fp32"),
                    "DDPM, 50 steps, 10 refine steps": ("ddpm", 50, 10, "fp32"),
                    "DDPM, 50 steps, 10 refine steps, bf16": ("ddpm", 50, 10, "bf16"),
                    "DDPM, 25 steps, 5 refine steps": ("ddpm", 25, 5, "fp32"),
                    "DDPM, 25 steps, 5 refine steps, bf16": ("ddpm", 25, 5, "bf16"),
                    "DDIM, 100 steps": ("ddim", 100, 0, "fp32"), "DDIM, 50 steps": ("ddim", 50, 0, "fp32"),
                    "DDIM, 20 steps": ("ddim", 20, 0, "fp32"),
                    "DDIM, 20 steps, 10 refine steps": ("ddim", 20, 10, "fp32"),
                    **{f"{label}, {steps} steps, 5 refine steps, bf16": (solver, steps, 5, "bf16")
                       for solver, label in (("sde-dpm2m", "SDE-DPM-Solver++(2M)"), ("dpm2m", "DPM-Solver++(2M)"))
                       for steps in (10, 15, 20)}}
"""name: (solver, diffusion steps, refine steps, precision) of the 'sampler' part."""


def sampler(model_name: str, n: int, data_dir: str | None, settings: list[str] | None = None) -> dict:
    """One conformer of each of n QM9 test molecules per sampler setting (all of SAMPLER_SETTINGS, or the names in
    `settings`; seed 0, no stereo retries): bond-length error against the DFT geometry, EDM stability, and the RMSD
    to it; the DFT geometries' own stability is the ceiling (EDM's bond tables do not call every DFT geometry
    stable). The default sampler's conformers are scored again after the MMFF relaxation (`atomgen.tasks.relax`)."""
    from atomgen.eval.conformers import single_reference_rmsd
    from atomgen.tasks.relax import relax_all

    model = _model(model_name)
    references = _test_references(n, data_dir)
    rows = {"DFT geometry (reference)": _geometry_scores(
        references, [mol.GetConformer().GetPositions() for mol in references])}
    config = model.config
    default = (config.sampling_solver, config.sampling_steps, config.refine_steps, NEXTMOL_PRECISION)
    for name in settings or SAMPLER_SETTINGS:
        solver, steps, refine_steps, precision = SAMPLER_SETTINGS[name]
        start = time.perf_counter()
        generated = model.conformers(references, 1, seed=0, steps=steps, solver=solver, stereo_retries=0,
                                     refine_steps=refine_steps, progress=False, precision=precision)
        seconds = time.perf_counter() - start
        rmsd = single_reference_rmsd([[system] for system in generated], references)
        rows[name] = {**_geometry_scores(references, [system.positions for system in generated]),
                      "rmsd_median": rmsd["median"], "rmsd_mean": rmsd["mean"],
                      "conformers_per_second": len(generated) / seconds}
        if (solver, steps, refine_steps, precision) == default:  # the default sampler, also with the MMFF polish
            relaxed, unchanged = relax_all(generated)
            rmsd = single_reference_rmsd([[system] for system in relaxed], references)
            rows[f"{name}, MMFF-relaxed"] = {
                **_geometry_scores(references, [system.positions for system in relaxed]),
                "rmsd_median": rmsd["median"], "rmsd_mean": rmsd["mean"], "left_unrelaxed": unchanged}
    return {"model": model_name, "n": len(references), "rows": rows}


SOLVER_PAIR = {"before (DDPM, 50 steps, 10 refine steps)": ("ddpm", 50, 10),
               "default (SDE-DPM-Solver++(2M), 15 steps, 5 refine steps)": ("sde-dpm2m", 15, 5)}
"""The conformer sampler the `solvers` part compares, by name: (solver, steps, refine steps), both in bf16."""


def solvers(model_name: str, n: int, k: int, data_dir: str | None) -> dict:
    """The two samplers of SOLVER_PAIR on the same molecules and seeds, with every difference paired:
    one conformer of each of n test molecules at seeds 0 and 1 (bonds, stability, RMSD to the DFT geometry, as the
    `sampler` part), and the best of k conformers (stereo retries on, as `conformers`) of n // 2 of them, whose
    per-molecule difference carries its standard error."""
    from atomgen.eval.conformers import single_reference_rmsd

    model = _model(model_name)
    references = _test_references(n, data_dir)
    single, best = {}, {}
    for name, (solver, steps, refine_steps) in SOLVER_PAIR.items():
        for seed in (0, 1):
            generated = model.conformers(references, 1, seed=seed, steps=steps, solver=solver, stereo_retries=0,
                                         refine_steps=refine_steps, progress=False)
            rmsd = single_reference_rmsd([[system] for system in generated], references)
            single[f"{name}, seed {seed}"] = {**_geometry_scores(references, [s.positions for s in generated]),
                                              "rmsd_median": rmsd["median"], "rmsd_mean": rmsd["mean"]}
        start = time.perf_counter()
        generated = model.conformers(references[: n // 2], k, seed=0, steps=steps, solver=solver,
                                     stereo_retries=STEREO_RETRIES, refine_steps=refine_steps, progress=False)
        seconds = time.perf_counter() - start
        rmsd = single_reference_rmsd([generated[i * k : (i + 1) * k] for i in range(n // 2)], references[: n // 2])
        best[name] = {"mean": rmsd["mean"], "median": rmsd["median"], "seconds": seconds,
                      "per_molecule": np.array([rmsd["per_molecule"][i] for i in range(n // 2)])}
    before, after = (best[name].pop("per_molecule") for name in SOLVER_PAIR)
    difference = paired_difference(after, before)
    return {"n": n, "k": k, "single_conformer": single, "best_of_k": best,
            "best_of_k_difference": {"mean": difference["value"], "standard_error": difference["standard_error"]},
            "threads": torch.get_num_threads()}


def denovo(model_name: str, n: int, data_dir: str | None) -> dict:
    """n molecules (seed 0): SELFIES from the language model, one conformer each, full evaluator against QM9;
    then the same molecules after the MMFF relaxation (`atomgen.tasks.relax`), evaluated again."""
    from atomgen import evaluate
    from atomgen.tasks.relax import relax_all

    model = _model(model_name)
    start = time.perf_counter()
    generated = model.sample(n, seed=0, batch_size=256)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    relaxed, unchanged = relax_all(generated)
    relax_seconds = time.perf_counter() - start
    report = evaluate(generated, "qm9", seed=0, data_dir=data_dir, max_expensive=500)
    relaxed_report = evaluate(relaxed, "qm9", seed=0, data_dir=data_dir, max_expensive=500)
    return {"model": model_name, "n": n, "sampling_seconds": seconds, "metrics": report.metrics,
            "details": report.details,
            "relaxed": {"metrics": relaxed_report.metrics, "details": relaxed_report.details,
                        "left_unrelaxed": unchanged, "seconds": relax_seconds}}


SEEDS = tuple(range(6))


def seeds(model_name: str, against: str | None, n: int) -> dict:
    """n de novo molecules per seed (seeds 0-5, the default sampler) from one model, or from two side by side:
    how much of a difference between two sets of weights is sampling noise.

    Two models that share the language model's weights draw the same molecular graphs at each seed, so their
    difference is paired molecule by molecule (the conformer model alone differs) and its standard error comes
    from the per-molecule differences; otherwise it is the binomial one of two independent samples."""
    from atomgen.eval.molecules import analyse_molecules

    models, flags, graphs = {}, {}, {}
    for name in [model_name] + ([against] if against else []):
        model = _model(name)
        rows, flags[name], graphs[name] = [], {"molecule_stability": [], "rdkit_validity": []}, []
        for seed in SEEDS:
            generated = model.sample(n, seed=seed, batch_size=256, progress=False)
            analyses = analyse_molecules(generated)
            stable = [float(a.stable) for a in analyses]
            valid = [float(a.rdkit_smiles is not None) for a in analyses]
            rows.append({"seed": seed, "molecule_stability": float(np.mean(stable)),
                         "rdkit_validity": float(np.mean(valid)),
                         "atom_stability": sum(a.n_stable_atoms for a in analyses) / sum(a.n_atoms for a in analyses)})
            flags[name]["molecule_stability"] += stable
            flags[name]["rdkit_validity"] += valid
            graphs[name] += [tuple(system.numbers) for system in generated]
        models[name] = {"rows": rows, "mean": {key: float(np.mean([row[key] for row in rows])) for key in rows[0]
                                               if key != "seed"}}
    result = {"n": n, "seeds": list(SEEDS), "models": models}
    if against:
        paired = graphs[model_name] == graphs[against]
        result["paired"] = paired
        result["difference"] = {
            key: paired_difference(flags[against][key], flags[model_name][key]) if paired else
            share_difference(models[against]["mean"][key], models[model_name]["mean"][key], n * len(SEEDS))
            for key in ("molecule_stability", "rdkit_validity")}
    return result


def geom_qm9(model_name: str, n: int, data_dir: str | None) -> dict:
    """COV/AMR on the GEOM-QM9 conformer test list against the one reference reachable here: QM9's DFT geometry.

    GEOM's CREST ensembles are not available, so each listed molecule that is also a QM9 *test* molecule (same
    graph; QM9 train molecules are left out, since the model has seen their geometry) gets its DFT geometry as the
    single reference. Each method makes 2K conformers, K being GEOM's ensemble size from the list, as in the usual
    protocol; recall (COV-R, AMR-R) then asks whether one of them finds the DFT minimum, precision (COV-P, AMR-P)
    how many of them lie near it. Threshold 0.5 Å. At most n molecules (in QM9 test order) are scored.
    """
    import csv

    from rdkit import Chem

    from atomgen.data.molecular_graphs import mol_from_coordinates
    from atomgen.data.paths import shared_data_dir
    from atomgen.data.qm9 import load_qm9
    from atomgen.eval.conformers import DELTA_QM9, coverage_metrics, etkdg_conformers

    def graph_key(mol) -> str:
        return Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=False)

    with open(shared_data_dir() / "geom_qm9" / "conformer_test_smiles.csv") as handle:
        listed, unparsable = {}, 0
        for row in csv.DictReader(handle):
            mol = Chem.MolFromSmiles(row["corrected_smiles"])
            if mol is None:  # a few listed SMILES (charged aromatic rings) do not kekulise in RDKit
                unparsable += 1
            else:
                listed.setdefault(graph_key(mol), int(row["n_conformers"]))
    matched, sizes = [], []
    for system in load_qm9("test", data_dir):
        mol = mol_from_coordinates(system.numbers, system.positions)
        if mol is not None and graph_key(mol) in listed:
            matched.append(mol)
            sizes.append(2 * listed.pop(graph_key(mol)))
    references, sizes = matched[:n], sizes[:n]
    model = _model(model_name)
    rows = {"NExT-Mol": [], "ETKDG": [], "ETKDG+MMFF": []}
    for index, (reference, k) in enumerate(zip(references, sizes)):
        rows["NExT-Mol"].append(model.conformers([reference], k, seed=index, progress=False))
        # Same seed, so the MMFF row optimises exactly the ETKDG row's embeddings.
        rows["ETKDG"].append(etkdg_conformers(reference, k, seed=index))
        rows["ETKDG+MMFF"].append(etkdg_conformers(reference, k, seed=index, mmff=True))
    # A molecule some method makes no conformer of (ETKDG cannot embed a few) is left out of every row.
    kept = [i for i in range(len(references)) if all(len(made[i]) for made in rows.values())]
    table = {}
    for name, generated in rows.items():
        metrics = coverage_metrics([generated[i] for i in kept], [[references[i]] for i in kept], DELTA_QM9)
        metrics.pop("per_molecule")
        table[name] = metrics
    return {"n_molecules": len(kept), "left_out": len(references) - len(kept), "listed_unparsable": unparsable,
            "listed_in_qm9_test": len(matched),
            "conformers_per_molecule_median": float(np.median([sizes[i] for i in kept])), "rows": table}


def transfer(without: str, with_transfer: str, n: int, k: int, data_dir: str | None) -> dict:
    """The same conformer benchmark for two models of the same size and budget, without and with the transfer."""
    from atomgen.eval.conformers import single_reference_rmsd

    references = _test_references(n, data_dir)
    rows = {}
    for name, folder in (("without transfer", without), ("with transfer", with_transfer)):
        generated = _model(folder).conformers(references, k, seed=0, progress=False)
        result = single_reference_rmsd([generated[i * k : (i + 1) * k] for i in range(len(references))], references)
        result.pop("per_molecule")
        rows[name] = {**result, "model": folder}
    return {"n": len(references), "k": k, "rows": rows}


def _smiles_metrics(smiles: list[str], train: set[str], reference: dict) -> dict:
    """Validity, uniqueness among the valid, novelty among the unique (canonical SMILES), FCD against the
    reference statistics, and the mean heavy-atom count of a list of SMILES."""
    from rdkit import Chem

    from atomgen.eval.fcd import fcd_from_statistics, fcd_statistics

    canonical = [_canonical(text) for text in smiles]
    valid = [text for text in canonical if text]
    unique = set(valid)
    heavy = [Chem.MolFromSmiles(text).GetNumAtoms() for text in valid]
    return {"n": len(smiles), "validity": len(valid) / len(smiles), "uniqueness": len(unique) / max(1, len(valid)),
            "novelty": len(unique - train) / max(1, len(unique)),
            "fcd": fcd_from_statistics(fcd_statistics(valid), reference), "heavy_atoms_mean": float(np.mean(heavy))}


def _canonical(text: str) -> str | None:
    """RDKit's canonical SMILES of `text` (None when RDKit cannot parse it, or it holds no atom)."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    _quiet = BlockLogs()
    mol = Chem.MolFromSmiles(text) if text else None
    return Chem.MolToSmiles(mol) if mol is not None and mol.GetNumAtoms() else None


def language(folder: str | None, corpus: str, n: int) -> dict:
    """The language model alone, trained on a SMILES corpus: n samples (seed 0, temperature 1, no top-k) scored
    against the corpus (novelty against its train split, FCD against its test split), beside n random SMILES of
    its val split, which show what the data itself scores at that n."""
    from atomgen.data.smiles_corpus import read_smiles_corpus
    from atomgen.eval.fcd import fcd_statistics

    if folder is None:
        raise SystemExit("--parts language needs --language-model: the model folder of a language run")
    model = _model(folder)
    start = time.perf_counter()
    samples = model.sample_smiles(n, seed=0)
    seconds = time.perf_counter() - start
    train = {text for text in map(_canonical, read_smiles_corpus(corpus, "train")) if text}
    test = [text for text in map(_canonical, read_smiles_corpus(corpus, "test")) if text]
    reference = fcd_statistics(test)
    val = read_smiles_corpus(corpus, "val")
    held_out = [val[int(k)] for k in np.random.default_rng(0).choice(len(val), size=min(n, len(val)), replace=False)]
    return {"model": folder, "corpus": corpus, "n": n, "sampling_seconds": seconds, "n_train": len(train),
            "n_test": len(test), "vocabulary": len(model.vocabulary) - 3, "max_length": model.config.max_length,
            "rows": {"language model": _smiles_metrics(samples, train, reference),
                     f"{corpus} val SMILES (the data itself)": _smiles_metrics(held_out, train, reference)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="conformers,denovo,speed")
    parser.add_argument("--model", default="nextmol-qm9")
    parser.add_argument("--against", help="the 'seeds' part: a second model (folder or zoo name) beside --model")
    parser.add_argument("-n", type=int, default=1000, help="molecules")
    parser.add_argument("-k", type=int, default=10, help="conformers per molecule")
    parser.add_argument("--without-transfer", help="model folder trained without the 1D-to-3D transfer")
    parser.add_argument("--with-transfer", help="model folder trained with it, same size and budget")
    parser.add_argument("--sampler-settings", nargs="+", choices=list(SAMPLER_SETTINGS), default=None,
                        help="the 'sampler' part runs only these settings (quote each name)")
    parser.add_argument("--language-model", help="the 'language' part: a language run's model folder")
    parser.add_argument("--corpus", default="geom-drugs", help="the 'language' part: the SMILES corpus it learnt")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    parts = {
        "conformers": lambda: conformers(args.model, args.n, args.k, args.data_dir),
        "denovo": lambda: denovo(args.model, args.n, args.data_dir),
        "seeds": lambda: seeds(args.model, args.against, args.n),
        "speed": lambda: speed(args.model, min(args.n, 100), args.k, args.data_dir),
        "stereo": lambda: stereo(args.model, args.n, args.k, args.data_dir),
        "sampler": lambda: sampler(args.model, args.n, args.data_dir, args.sampler_settings),
        "solvers": lambda: solvers(args.model, args.n, args.k, args.data_dir),
        "geom-qm9": lambda: geom_qm9(args.model, args.n, args.data_dir),
        "transfer": lambda: transfer(args.without_transfer, args.with_transfer, args.n // 3, args.k, args.data_dir),
        "language": lambda: language(args.language_model, args.corpus, args.n),
    }
    run_parts(parts, args.parts.split(","), RESULTS)
    write_benchmarks_md()


if __name__ == "__main__":
    main()
