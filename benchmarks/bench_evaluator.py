"""Evaluator benchmark: the datasets judged as if generated (beside published rows), and the evaluator's speed.

    python benchmarks/bench_evaluator.py [--parts qm9-train,speed,default-run,perov_5,carbon_24,xtb,report]
        [--data-dir DIR]
    python benchmarks/bench_evaluator.py --parts sdf-readback [--readback-limit N] [--processes 2]

Each part's numbers go into benchmarks/results/evaluator.json (parts not run keep their last numbers), and
BENCHMARKS.md is regenerated from that file. The first run also prepares QM9 and the reference statistics in the
data cache; the timings exclude that one-off preparation.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from common import run_parts  # a sibling script, run from anywhere
from write_benchmarks_md import write_benchmarks_md

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "evaluator.json"
PARTS = ("qm9-train", "qm9-subsets", "speed", "default-run", "perov_5", "carbon_24", "sdf-readback", "xtb",
         "report")


def qm9_train(data_dir: str | None) -> dict:
    """All 100,000 QM9 training molecules evaluated as if generated, with every metric."""
    from atomgen import evaluate
    from atomgen.data.qm9 import load_qm9

    train = list(load_qm9("train", data_dir))
    return evaluate(train, "qm9", data_dir=data_dir, max_expensive=500, seed=0).to_dict()


def qm9_subsets(data_dir: str | None, n: int = 10_000, seeds: tuple[int, ...] = (0, 1)) -> dict:
    """Seeded random 10,000-molecule subsets of the QM9 train split: the sample size papers evaluate at; with the
    causes of the dataset's own unstable molecules, the floor a generator's causes are read against."""
    from atomgen import evaluate
    from atomgen.data.qm9 import load_qm9

    train = load_qm9("train", data_dir)
    out, causes = {}, {}
    for seed in seeds:
        rows = np.random.default_rng(seed).choice(len(train), size=n, replace=False)
        report = evaluate([train[int(k)] for k in rows], "qm9", data_dir=data_dir, fcd=False, posebusters=False,
                          strain=False)
        out[str(seed)] = report.metrics
        causes[str(seed)] = report.details["instability_causes"]
    return {"n": n, "by_seed": out, "instability_causes_by_seed": causes}


def xtb_data_row(data_dir: str | None, n: int = 1000) -> dict:
    """The opt-in GFN2-xTB relaxation check on a seeded n of QM9 test molecules: the data row of that check
    (B3LYP minima relaxed with GFN2-xTB), with the time it takes."""
    from atomgen import evaluate
    from atomgen.data.qm9 import load_qm9

    test = load_qm9("test", data_dir)
    molecules = [test[int(k)] for k in np.random.default_rng(0).permutation(len(test))[:n]]
    start = time.perf_counter()
    report = evaluate(molecules, "qm9", data_dir=data_dir, fcd=False, posebusters=False, strain=False, xtb=True,
                      max_expensive=n, progress=False)
    return {"n": n, "seconds": time.perf_counter() - start,
            "metrics": {key: report.metrics[key] for key in ("xtb_energy_drop_median", "xtb_rmsd_median")},
            "details": report.details["xtb"]}


def _qm9_sample(data_dir: str | None, n: int) -> list:
    """A seeded random n molecules of the QM9 train split (the sample the speed parts evaluate)."""
    from atomgen.data.qm9 import load_qm9

    train = load_qm9("train", data_dir)
    rows = np.random.default_rng(0).choice(len(train), size=n, replace=False)
    return [train[int(k)] for k in rows]


def speed(data_dir: str | None, n: int = 10_000) -> dict:
    """Seconds to evaluate n QM9 molecules with everything but FCD, PoseBusters and strain; then FCD alone."""
    from atomgen import evaluate
    from atomgen.eval.fcd import fcd_from_statistics, fcd_statistics
    from atomgen.eval.molecules import analyse_molecules
    from atomgen.eval.reference import load_reference

    molecules = _qm9_sample(data_dir, n)
    reference = load_reference("qm9", root=data_dir)
    reference.fcd_statistics()  # cached reference statistics, as in any later evaluation
    start = time.perf_counter()
    evaluate(molecules, "qm9", data_dir=data_dir, fcd=False, posebusters=False, strain=False)
    cheap = time.perf_counter() - start
    smiles = [a.rdkit_smiles for a in analyse_molecules(molecules) if a.rdkit_smiles]
    start = time.perf_counter()
    value = fcd_from_statistics(fcd_statistics(smiles), reference.fcd_statistics())
    fcd_seconds = time.perf_counter() - start
    return {"n": n, "seconds_without_fcd_posebusters_strain": cheap, "seconds_fcd": fcd_seconds, "fcd": value,
            "n_valid_for_fcd": len(smiles)}


def default_run(data_dir: str | None, n: int = 10_000) -> dict:
    """Seconds of `evaluate` of n QM9 molecules with its default metrics (FCD; PoseBusters and strain on its
    seeded subset of 1,000), as `atomgen evaluate` runs it, bars shown, stage by stage (PoseBusters' workers start
    before the distributions: its stage is the wait for them after FCD and strain, which ran beside them), with
    the metrics that show PoseBusters and strain unchanged. The reference statistics are prepared before the clock
    starts, as they are cached in every evaluation after the first."""
    from atomgen import evaluate
    from atomgen.eval.progress import stage_seconds
    from atomgen.eval.reference import load_reference

    molecules = _qm9_sample(data_dir, n)
    load_reference("qm9", root=data_dir).fcd_statistics()
    load_before = os.getloadavg()[0]  # the machine is shared: what else ran shows here
    cpu_before = _cpu_seconds()
    with stage_seconds() as stages:
        start = time.perf_counter()
        report = evaluate(molecules, "qm9", data_dir=data_dir)
        seconds = time.perf_counter() - start
    return {
        "n": n,
        "seconds": seconds,
        # CPU time of this process and its worker processes: what the run costs, whatever else shares the cores.
        "cpu_seconds": _cpu_seconds() - cpu_before,
        "seconds_by_stage": stages,
        "seconds_outside_stages": seconds - sum(stages.values()),
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
        "metrics": report.metrics,
        "posebusters_checks": report.details["posebusters_checks"],
        "posebusters_n": report.details["posebusters_n"],
        "strain": report.details["strain"],
    }


def html_report(data_dir: str | None, sizes: tuple[int, ...] = (10_000, 100_000)) -> dict:
    """The HTML report (`atomgen.report`) of n QM9 train molecules as if generated, for each n: seconds to build
    the page once the sample is evaluated (without FCD, PoseBusters and strain, which do not change the page's
    size), its size, and the seconds of the data row (1,000 QM9 test molecules, evaluated once, then cached)."""
    import tempfile

    from atomgen import evaluate
    from atomgen.data.qm9 import load_qm9
    from atomgen.report import write_report_html
    from atomgen.report.data_row import data_row

    switches = {"fcd": False, "posebusters": False, "strain": False}
    start = time.perf_counter()
    data_row("qm9", max(sizes), data_dir_root=data_dir, **switches)
    data_seconds = time.perf_counter() - start  # 0 when an earlier run cached it
    train = load_qm9("train", data_dir)
    out = {"data_row_seconds": data_seconds, "by_n": {}}
    for n in sizes:
        rows = np.random.default_rng(0).choice(len(train), size=n, replace=False)
        molecules = [train[int(k)] for k in rows]
        start = time.perf_counter()
        report = evaluate(molecules, "qm9", data_dir=data_dir, progress=False, **switches)
        evaluated = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            page = write_report_html(Path(folder) / "report.html", molecules, report, reference="qm9",
                                     data_dir=data_dir, **switches)
            out["by_n"][str(n)] = {"evaluate_seconds": evaluated, "page_seconds": time.perf_counter() - start,
                                   "megabytes": page.stat().st_size / 1e6}
    return out


def _cpu_seconds() -> float:
    """User and system CPU seconds of this process and of its ended child processes so far."""
    import resource

    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                   resource.getrusage(resource.RUSAGE_CHILDREN)))


def crystals(name: str) -> dict:
    """A crystal dataset's test split evaluated as if generated, against its val split (train is unreachable)."""
    from atomgen import evaluate
    from atomgen.data.crystals import load_crystal_split

    test, val = list(load_crystal_split(name, "test")), list(load_crystal_split(name, "val"))
    report = evaluate(test, val)
    report.reference["name"] = f"{name} val split"
    return report.to_dict()


def sdf_readback(limit: int | None, processes: int) -> dict:
    """Every QM9 molecule (or a seeded random `limit`) converted XYZ -> SDF by atomgen and read back by RDKit with
    sanitisation; the share with QM9's heavy-atom connectivity (see sdf_readback.py)."""
    from sdf_readback import measure_readback  # a sibling script

    return measure_readback(limit, processes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--readback-limit", type=int, default=None,
                        help="sdf-readback: a seeded random N of QM9 instead of all 130,831 (a quick check)")
    parser.add_argument("--processes", type=int, default=2, help="sdf-readback: worker processes")
    args = parser.parse_args()
    parts = {
        "qm9-train": lambda: qm9_train(args.data_dir),
        "qm9-subsets": lambda: qm9_subsets(args.data_dir),
        "speed": lambda: speed(args.data_dir),
        "default-run": lambda: default_run(args.data_dir),
        "perov_5": lambda: crystals("perov_5"),
        "carbon_24": lambda: crystals("carbon_24"),
        "sdf-readback": lambda: sdf_readback(args.readback_limit, args.processes),
        "xtb": lambda: xtb_data_row(args.data_dir),
        "report": lambda: html_report(args.data_dir),
    }
    run_parts(parts, args.parts.split(","), RESULTS)
    write_benchmarks_md()


if __name__ == "__main__":
    main()
