"""NExT-Mol benchmark: conformers against DFT geometries beside RDKit, stereo kept, de novo molecules, 1D-to-3D
transfer, and conformer speed.

    python benchmarks/bench_nextmol.py [--parts conformers,denovo,transfer] [--model nextmol-qm9]
        [--without-transfer DIR --with-transfer DIR] [-n 1000] [-k 10] [--data-dir DIR]

Results go to benchmarks/results/nextmol.json (parts not run keep their last numbers); BENCHMARKS.md is rebuilt.
Run it on an otherwise idle machine: the timings use every core.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from common import run_parts  # a sibling script, run from anywhere
from write_benchmarks_md import write_benchmarks_md

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


def conformers(model_name: str, n: int, k: int, data_dir: str | None) -> dict:
    """Best heavy-atom RMSD among k conformers to the DFT geometry, for the model and RDKit in one run; the
    share of generated conformers of chiral molecules whose every stereocentre is right; conformers per second."""
    from atomgen.eval.conformers import rdkit_baselines, single_reference_rmsd
    from atomgen.models.nextmol.alignment import chirality_agreement

    model = _model(model_name)
    references = _test_references(n, data_dir)
    start = time.perf_counter()
    generated = model.conformers(references, k, seed=0)
    model_seconds = time.perf_counter() - start
    by_molecule = [generated[i * k : (i + 1) * k] for i in range(len(references))]
    rows = {"NExT-Mol": single_reference_rmsd(by_molecule, references)}
    start = time.perf_counter()
    rows.update(rdkit_baselines(references, k, seed=0))
    rdkit_seconds = time.perf_counter() - start
    chiral = right = 0
    for mol, confs in zip(references, by_molecule):
        for conformer in confs:
            agree, total = chirality_agreement(mol, conformer.positions)
            if total:
                chiral += 1
                right += agree == total
    for row in rows.values():
        row.pop("per_molecule")
    return {"n": len(references), "k": k, "rows": rows, "stereo_right": right / max(chiral, 1),
            "chiral_conformers": chiral, "conformers_per_second": {
                "NExT-Mol": len(references) * k / model_seconds,
                "ETKDG + ETKDG+MMFF (both rows)": len(references) * k / rdkit_seconds},
            "threads": torch.get_num_threads()}


def denovo(model_name: str, n: int, data_dir: str | None) -> dict:
    """n molecules (seed 0): SELFIES from the language model, one conformer each, full evaluator against QM9."""
    from atomgen import evaluate

    model = _model(model_name)
    start = time.perf_counter()
    generated = model.sample(n, seed=0, batch_size=256)
    seconds = time.perf_counter() - start
    report = evaluate(generated, "qm9", seed=0, data_dir=data_dir, max_expensive=500)
    return {"model": model_name, "n": n, "sampling_seconds": seconds, "metrics": report.metrics,
            "details": report.details}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="conformers,denovo")
    parser.add_argument("--model", default="nextmol-qm9")
    parser.add_argument("-n", type=int, default=1000, help="molecules")
    parser.add_argument("-k", type=int, default=10, help="conformers per molecule")
    parser.add_argument("--without-transfer", help="model folder trained without the 1D-to-3D transfer")
    parser.add_argument("--with-transfer", help="model folder trained with it, same size and budget")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    parts = {
        "conformers": lambda: conformers(args.model, args.n, args.k, args.data_dir),
        "denovo": lambda: denovo(args.model, args.n, args.data_dir),
        "transfer": lambda: transfer(args.without_transfer, args.with_transfer, args.n // 3, args.k, args.data_dir),
    }
    run_parts(parts, args.parts.split(","), RESULTS)
    write_benchmarks_md()


if __name__ == "__main__":
    main()
