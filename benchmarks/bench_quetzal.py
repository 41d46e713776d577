"""Quetzal benchmark: samples, temperatures, Heun steps, KV cache, throughput (CPU, GPU), training, decoration,
completion, NLL.

    python benchmarks/bench_quetzal.py [--parts samples,kv-cache,...] [--model quetzal-qm9-small] [--data-dir DIR]
    python benchmarks/bench_quetzal.py --parts seeds --against runs/NEW/model   # retrained weights beside the zoo's

Results go to benchmarks/results/quetzal.json (parts not run keep their last numbers); BENCHMARKS.md is rebuilt.
Run it on an otherwise idle machine: the timings use every core.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from common import run_parts, share_difference  # a sibling script, run from anywhere
from machine import counted_flops, peaks, utilisation
from quetzal_solvers import solver_error
from quetzal_training import train_precision, train_precision_samples, train_throughput
from write_benchmarks_md import write_benchmarks_md

from atomgen.models.sampler_settings import QUETZAL_PRECISION, QUETZAL_SOLVER, QUETZAL_STEPS

RESULTS = Path(__file__).resolve().parent / "results" / "quetzal.json"


PAPER_SAMPLER = {"solver": "heun", "steps": 30, "precision": "fp32"}
DEFAULT_SAMPLER = {"solver": QUETZAL_SOLVER, "steps": QUETZAL_STEPS, "precision": QUETZAL_PRECISION}
"""The paper's sampler (30 Heun steps) in fp32: the parts that study one other knob at a time keep it, so that
their rows stay comparable with the results recorded before the default sampler changed. The parts that
measure what a user gets (samples, decoration, scaffold) use the default sampler."""


def _model(name: str):
    from atomgen.models.quetzal import QuetzalModel

    return QuetzalModel.from_pretrained(name)


def _test_molecules(n: int, seed: int, data_dir: str | None):
    from atomgen.data.qm9 import load_qm9

    test = load_qm9("test", data_dir)
    rows = np.sort(np.random.default_rng(seed).choice(len(test), size=n, replace=False))
    return [test[int(k)] for k in rows]


def samples(model_name: str, n: int, data_dir: str | None) -> dict:
    """n molecules (seed 0, the default sampler) through the full evaluator against QM9."""
    from atomgen import evaluate

    model = _model(model_name)
    start = time.perf_counter()
    generated = model.sample(n, seed=0, batch_size=250)
    seconds = time.perf_counter() - start
    report = evaluate(generated, "qm9", seed=0, data_dir=data_dir, max_expensive=500)
    return {"model": model_name, "n": n, **DEFAULT_SAMPLER, "sampling_seconds": seconds, "metrics": report.metrics,
            "details": report.details, "not_computed": report.not_computed}


TEMPERATURE_GRID = ((1.0, 1.0), (1.0, 0.7), (1.0, 0.5), (1.0, 0.3), (0.5, 1.0), (0.5, 0.5))
"""(type temperature, position temperature) pairs of the 'temperatures' part; (1, 1) is the model's own."""


SETTING_METRICS = ("atom_stability", "molecule_stability", "rdkit_validity", "uniqueness", "novelty", "fcd",
                   "atom_type_tv", "bond_length_w1")
"""What the sampler-setting parts record of each setting."""


def _sample_and_evaluate(model, n: int, data_dir: str | None, **options):
    """n molecules (seed 0, 30 Heun steps) with the given sampling options, evaluated against QM9 without
    PoseBusters and strain (the slow parts)."""
    from atomgen import evaluate

    generated = model.sample(n, seed=0, batch_size=250, progress=False, **PAPER_SAMPLER, **options)
    return evaluate(generated, "qm9", seed=0, data_dir=data_dir, posebusters=False, strain=False)


def temperatures(model_name: str, n: int, data_dir: str | None) -> dict:
    """n molecules (seed 0, 30 Heun steps) at each pair of sampling temperatures, against QM9: what sharper
    sampling buys in stability and costs in diversity and faithfulness (FCD; PoseBusters and strain left out)."""
    model = _model(model_name)
    rows = []
    for type_temperature, position_temperature in TEMPERATURE_GRID:
        report = _sample_and_evaluate(model, n, data_dir, temperature=type_temperature,
                                      position_temperature=position_temperature)
        rows.append({"temperature": type_temperature, "position_temperature": position_temperature,
                     **{key: report.metrics.get(key) for key in SETTING_METRICS}})
    return {"model": model_name, "n": n, "steps": 30, "rows": rows}


def closed_shell(model_name: str, n: int, data_dir: str | None) -> dict:
    """n molecules (seed 0, 30 Heun steps) with and without `closed_shell` (STOP only at an even valence sum),
    against QM9, with the causes of instability: what forbidding an odd count of odd-valence atoms changes."""
    model = _model(model_name)
    rows = []
    for closed in (False, True):
        report = _sample_and_evaluate(model, n, data_dir, closed_shell=closed)
        rows.append({"closed_shell": closed, **{key: report.metrics.get(key) for key in SETTING_METRICS},
                     "n_atoms_tv": report.metrics.get("n_atoms_tv"),
                     "instability_causes": report.details["instability_causes"]})
    return {"model": model_name, "n": n, "steps": 30, "rows": rows}


SEEDS = tuple(range(6))
"""Seeds of the 'seeds' part; each draws its own n molecules."""

SEED_METRICS = ("atom_stability", "molecule_stability", "rdkit_validity", "uniqueness")
"""What the 'seeds' part records of each seed."""


def seeds(model_name: str, against: str | None, n: int, data_dir: str | None) -> dict:
    """n molecules per seed (seeds 0-5, 30 Heun steps, batch 256 as `atomgen sample` draws them) against QM9,
    for one model or for two side by side: how much of a difference between two sets of weights is sampling noise.

    The standard error of a difference of means is the binomial one of all molecules of each model together (the
    two models' draws are independent even at the same seed, since their types diverge at the first atom); it is
    given for the per-molecule shares only, not for atom stability, whose atoms are not independent draws."""
    from atomgen import evaluate

    models = {}
    for name in [model_name] + ([against] if against else []):
        model = _model(name)
        rows = []
        for seed in SEEDS:
            generated = model.sample(n, seed=seed, batch_size=256, progress=False, **PAPER_SAMPLER)
            report = evaluate(generated, "qm9", seed=0, data_dir=data_dir, fcd=False, posebusters=False,
                              strain=False)
            rows.append({"seed": seed, **{key: report.metrics.get(key) for key in SEED_METRICS},
                         "instability_causes": report.details["instability_causes"]})
        causes = rows[0]["instability_causes"]
        models[name] = {"rows": rows, "mean": {key: float(np.mean([row[key] for row in rows]))
                                               for key in SEED_METRICS},
                        # why molecules are unstable, as shares of all samples: what a design change aims at
                        "instability_causes": {cause: float(np.mean([row["instability_causes"][cause]
                                                                     for row in rows])) for cause in causes}}
    result = {"n": n, "steps": 30, "seeds": list(SEEDS), "models": models}
    if against:
        total = n * len(SEEDS)
        first, second = models[model_name]["mean"], models[against]["mean"]
        result["difference"] = {key: share_difference(second[key], first[key], total)
                                for key in ("molecule_stability", "rdkit_validity")}
    return result


SAMPLER_SETTINGS = (("heun", 30, "fp32"), ("dpm2m", 20, "fp32"), ("dpm2m", 20, "bf16"), ("dpm2m", 30, "bf16"))
"""(solver, steps, precision) of the 'sampler-settings' part: the paper's sampler, the new solver at two step
counts, and bf16."""


def sampler_settings(model_name: str, n: int, data_dir: str | None) -> dict:
    """Each sampler setting on the same six seeds of n molecules (batch 256, as `atomgen sample` draws them):
    sampling speed and the molecules' quality, FCD included, with the standard error of each setting's mean
    stability against the paper's sampler (binomial, all molecules of both together)."""
    from atomgen import evaluate

    model = _model(model_name)
    model.sample(64, seed=0, steps=2, batch_size=64, progress=False)  # warm-up: kernels, caches
    settings = []
    for solver, steps, precision in SAMPLER_SETTINGS:
        rows = []
        for seed in SEEDS:
            start = time.perf_counter()
            generated = model.sample(n, seed=seed, steps=steps, batch_size=256, progress=False, solver=solver,
                                     precision=precision)
            seconds = time.perf_counter() - start
            report = evaluate(generated, "qm9", seed=0, data_dir=data_dir, posebusters=False, strain=False,
                              progress=False)
            rows.append({"seed": seed, "molecules_per_second": n / seconds,
                         **{key: report.metrics.get(key) for key in SETTING_METRICS}})
        mean = {key: float(np.mean([row[key] for row in rows])) for key in ("molecules_per_second", *SETTING_METRICS)}
        settings.append({"solver": solver, "steps": steps, "precision": precision, "mean": mean, "rows": rows})
    paper = settings[0]["mean"]["molecule_stability"]
    total = n * len(SEEDS)
    for setting in settings:
        ours = setting["mean"]["molecule_stability"]
        setting["stability_difference"] = share_difference(ours, paper, total)
    return {"model": model_name, "n": n, "seeds": list(SEEDS), "batch_size": 256, "threads": torch.get_num_threads(),
            "settings": settings}


HEUN_STEP_GRID = (10, 20, 30, 60, 100)
"""Numbers of Heun steps of the 'heun-steps' part; 30 is the default."""


def heun_steps(model_name: str, n: int, data_dir: str | None) -> dict:
    """n molecules (seed 0, one thread) at each number of Heun steps of the position ODE, against QM9: what a
    finer integration of each atom's position buys in stability, and what it costs in time."""
    from atomgen import evaluate

    model = _model(model_name)
    rows = []
    for steps in HEUN_STEP_GRID:
        start = time.perf_counter()
        generated = model.sample(n, seed=0, steps=steps, batch_size=250, progress=False)
        seconds = time.perf_counter() - start
        metrics = evaluate(generated, "qm9", seed=0, data_dir=data_dir, posebusters=False, strain=False).metrics
        rows.append({"steps": steps, "sampling_seconds": seconds,
                     **{key: metrics.get(key) for key in ("atom_stability", "molecule_stability", "rdkit_validity",
                                                           "uniqueness", "fcd", "bond_length_w1")}})
    return {"model": model_name, "n": n, "threads": torch.get_num_threads(), "rows": rows}


SAME_POSITION_TOLERANCE = 0.01
"""Å: outputs of the cached and uncached paths closer than this everywhere count as the same molecule."""


def _fixed_size_batch(model, rows: int, seed: int, steps: int, cached: bool) -> list:
    """`rows` molecules of exactly 29 atoms, generated with the KV cache or with the reference trunk that recomputes
    the prefix at every atom (it lives in tests/, beside the test that checks both agree)."""
    import sys

    from atomgen.models.quetzal.sampler import CachedTrunk, generate_batch
    from atomgen.models.streams import SampleStreams

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from quetzal_reference import UncachedTrunk

    options = model._options(steps, 1.0, None, min_atoms=29, max_atoms=29)
    streams = SampleStreams.for_samples(seed, list(range(rows)))
    empty_types, empty_positions = torch.zeros(rows, 0, dtype=torch.long), torch.zeros(rows, 0, 3)
    with torch.no_grad():
        return generate_batch(model.network, empty_types, empty_positions, options, streams,
                              CachedTrunk if cached else UncachedTrunk)


def kv_cache(model_name: str) -> dict:
    """A 29-atom molecule at batch 1 (and 64 of them at once), with and without the KV cache, same seed."""
    model = _model(model_name).eval()
    rows = {}
    for batch in (1, 64):
        timings = {True: [], False: []}
        outputs = {}
        for repeat in range(3):  # interleaved, best of three, so both see the same machine state
            for cache in (True, False):
                start = time.perf_counter()
                outputs[cache] = _fixed_size_batch(model, batch, repeat, 30, cache)
                timings[cache].append(time.perf_counter() - start)
        pairs = list(zip(outputs[True], outputs[False]))
        same_types = all(np.array_equal(a[0], b[0]) for a, b in pairs)
        # The two paths sum in different orders, and float-level differences grow along the chain of atoms: the
        # largest position difference is reported, and "the same molecule" allows 0.01 Å, far below chemistry.
        shift = max(float(np.abs(a[1] - b[1]).max()) for a, b in pairs) if same_types else None
        rows[str(batch)] = {"seconds_with_cache": min(timings[True]), "seconds_without_cache": min(timings[False]),
                            "speedup": min(timings[False]) / min(timings[True]),
                            "same_molecules": same_types and shift < SAME_POSITION_TOLERANCE,
                            "max_position_difference": shift}
    # Where the time goes at batch 1: the same molecule with a single Heun step isolates the transformer.
    times = {}
    for cache in (True, False):
        start = time.perf_counter()
        _fixed_size_batch(model, 1, 0, 1, cache)
        times[cache] = time.perf_counter() - start
    rows["steps_1_batch_1"] = {"seconds_with_cache": times[True], "seconds_without_cache": times[False],
                               "speedup": times[False] / times[True]}
    return rows


THROUGHPUT_SETTINGS = (("heun", 30, "fp32"), ("dpm2m", 30, "bf16"))
"""(solver, steps, precision) the 'throughput' part times: the paper's sampler and atomgen's default."""

QUETZAL_SHAPES = {"head block, 1,024 rows": (1024, 384, 384), "trunk MLP, 1,024 rows": (1024, 256, 1024),
                  "trunk MLP, training batch": (2432, 256, 1024)}
"""(rows, inner, cols) of the small preset's typical matrix products: the machine's peak is read at these."""


def throughput(model_name: str, device: str = "cpu") -> dict:
    """Molecules per second of the paper's sampler and the default for several batch sizes (1,024 molecules each on
    a CPU, 4,096 on a GPU, whose batches are larger), and on a CPU the share of the machine's matrix-product peak
    (measured in this run) that the largest batch reaches."""
    model = _model(model_name).to(device)
    count, batches = (1024, (64, 256, 1024)) if device == "cpu" else (4096, (256, 1024, 4096))
    model.sample(min(batches), seed=0, steps=2, batch_size=min(batches), progress=False)  # warm-up: kernels, caches
    settings = {}
    for solver, steps, precision in THROUGHPUT_SETTINGS:
        rows = {}
        for batch in batches:
            start = time.perf_counter()
            generated = model.sample(count, seed=1, steps=steps, batch_size=batch, progress=False, solver=solver,
                                     precision=precision)
            seconds = time.perf_counter() - start
            rows[str(batch)] = {"molecules_per_second": count / seconds,
                                "atoms_per_molecule": float(np.mean([len(m) for m in generated]))}
        best = max(rows, key=lambda b: rows[b]["molecules_per_second"])
        setting = {"solver": solver, "steps": steps, "precision": precision, "by_batch_size": rows,
                   "best_batch_size": int(best)}
        if device == "cpu":
            _, flops = counted_flops(lambda: model.sample(count, seed=1, steps=steps, batch_size=int(best),
                                                          progress=False, solver=solver, precision=precision))
            setting["flops_per_molecule"] = flops / count
            setting["best_batch_seconds"] = count / rows[best]["molecules_per_second"]
        settings[f"{solver} {steps} steps, {precision}"] = setting
    result = {"settings": settings, "molecules": count, "device": _device_name(device),
              "threads": torch.get_num_threads()}
    if device == "cpu":
        result["machine_peak"] = peak = peaks(QUETZAL_SHAPES)
        for setting in settings.values():
            setting["utilisation"] = utilisation(setting["flops_per_molecule"] * count,
                                                 setting.pop("best_batch_seconds"),
                                                 peak["best"][setting["precision"]])
    return result


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name(device) if device.startswith("cuda") else "CPU"


def decoration(model_name: str, n: int, data_dir: str | None) -> dict:
    """Hydrogens of n QM9 test molecules: the model at its default sampler (free, and stopping only at an even
    valence sum) vs RDKit (AddHs + MMFF on H), RMSD after optimal matching."""
    from atomgen.tasks.decorate import decorate, hydrogen_rmsd, rdkit_decorate

    model = _model(model_name)
    molecules = _test_molecules(n, seed=0, data_dir=data_dir)
    runs = []
    for name, method in (("quetzal", lambda: decorate(model, molecules, seed=0)),
                         ("quetzal_closed_shell", lambda: decorate(model, molecules, seed=0, closed_shell=True)),
                         ("rdkit", lambda: [rdkit_decorate(m) for m in molecules])):
        start = time.perf_counter()
        predictions = method()
        runs.append((name, predictions, time.perf_counter() - start))
    result = {"n": n, "thresholds": [0.05, 0.1, 0.5], **DEFAULT_SAMPLER}
    for name, predictions, seconds in runs:
        rmsd = np.array([hydrogen_rmsd(p, t) if p is not None else np.inf for p, t in zip(predictions, molecules)])
        result[name] = {
            "fraction_below": {str(t): float(np.mean(rmsd < t)) for t in result["thresholds"]},
            "correct_hydrogen_count": float(np.mean(np.isfinite(rmsd))),
            "median_rmsd": float(np.median(rmsd)),
            "seconds": seconds,
        }
    return result


def scaffold(model_name: str, n_scaffolds: int, per_scaffold: int, data_dir: str | None) -> dict:
    """Completions of QM9 test molecules cut to their Murcko scaffold, at the default sampler: validity,
    uniqueness, scaffold kept."""
    from atomgen.eval.molecules import analyse_molecules
    from atomgen.tasks.complete import complete, contains_fragment, murcko_scaffold

    model = _model(model_name)
    pool = _test_molecules(3000, seed=1, data_dir=data_dir)
    cases = []
    for molecule in pool:
        found = murcko_scaffold(molecule)
        if found is not None and len(found[0]) < int((molecule.numbers != 1).sum()):
            cases.append(found)
        if len(cases) == n_scaffolds:
            break
    valid = unique = kept = total = 0
    for index, (fragment, smiles) in enumerate(cases):
        completions = complete(model, [fragment], per_scaffold, seed=index, progress=False)
        analyses = analyse_molecules(completions, workers=1)
        smiles_valid = [a.rdkit_smiles for a in analyses if a.rdkit_smiles is not None]
        valid += len(smiles_valid)
        unique += len(set(smiles_valid))
        kept += sum(contains_fragment(c, smiles) for c, a in zip(completions, analyses) if a.rdkit_smiles)
        total += len(completions)
    return {"scaffolds": len(cases), "per_scaffold": per_scaffold, **DEFAULT_SAMPLER, "validity": valid / total,
            "uniqueness_per_scaffold": unique / max(valid, 1), "scaffold_kept_among_valid": kept / max(valid, 1),
            "scaffold_kept_overall": kept / total}


def likelihood(model_name: str, data_dir: str | None) -> dict:
    """Exact NLL of 200 QM9 test molecules (canonical frame), and how much it moves when molecules are rotated
    in the given frame (the model learned rotation invariance only approximately)."""
    from atomgen.data.augment import random_rotations

    model = _model(model_name)
    molecules = _test_molecules(200, seed=2, data_dir=data_dir)
    start = time.perf_counter()
    values = model.log_likelihood(molecules)
    seconds = time.perf_counter() - start
    subset = molecules[:50]
    rotated = []
    for rotation in random_rotations(4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).numpy():
        copies = [m.copy() for m in subset]
        for c in copies:
            c.positions = c.positions @ rotation.T
        rotated.append(model.log_likelihood(copies, frame="given"))
    spread = np.std(np.stack(rotated), axis=0)
    atoms = np.array([len(m) for m in molecules])
    return {"n": len(molecules), "nll_per_molecule": float(-values.mean()), "nll_per_atom": float(-(values / atoms).mean()),
            "seconds": seconds, "given_frame_std_over_rotations_median": float(np.median(spread)),
            "given_frame_std_over_rotations_max": float(spread.max())}


PROBE_SIGMAS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def precision(model_name: str, data_dir: str | None) -> dict:
    """How finely the position head resolves the next atom: its denoising error at fixed noise levels on 256
    teacher-forced QM9 test molecules (seeded), beside the error of doing nothing (σ·√3)."""
    from atomgen.data.sequences import AtomSequenceDataset, collate_sequences

    model = _model(model_name)
    molecules = _test_molecules(256, seed=3, data_dir=data_dir)
    dataset = AtomSequenceDataset(molecules, model.config.elements, max_atoms=model.config.max_atoms)
    batch = collate_sequences([dataset[k] for k in range(len(dataset))])
    errors = model.denoising_error(batch, PROBE_SIGMAS, torch.Generator().manual_seed(0))
    return {"n": len(molecules), "model": model_name,
            "rows": [{"sigma": s, "identity": s * 3**0.5, **errors[s]} for s in PROBE_SIGMAS]}


def _cuda() -> str:
    if not torch.cuda.is_available():
        raise SystemExit("the gpu-* parts need a CUDA GPU; none is visible")
    return "cuda"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="samples,temperatures,heun-steps,closed-shell,kv-cache,throughput,"
                                           "train-throughput,decoration,scaffold,likelihood,precision")
    parser.add_argument("--model", default="quetzal-qm9-small")
    parser.add_argument("--against", default=None,
                        help="a second model (zoo name or folder) that the 'seeds' part measures beside --model")
    parser.add_argument("-n", type=int, default=1000,
                        help="molecules for 'samples', 'decoration', and each setting of 'temperatures', "
                             "'heun-steps', 'closed-shell' and 'seeds'")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    parts = {
        "samples": lambda: samples(args.model, args.n, args.data_dir),
        "temperatures": lambda: temperatures(args.model, args.n, args.data_dir),
        "heun-steps": lambda: heun_steps(args.model, args.n, args.data_dir),
        "closed-shell": lambda: closed_shell(args.model, args.n, args.data_dir),
        "seeds": lambda: seeds(args.model, args.against, args.n, args.data_dir),
        "sampler-settings": lambda: sampler_settings(args.model, args.n, args.data_dir),
        "solver-error": lambda: solver_error(_model(args.model), _test_molecules(128, 0, args.data_dir)),
        "kv-cache": lambda: kv_cache(args.model),
        "throughput": lambda: throughput(args.model),
        "train-throughput": lambda: train_throughput(args.data_dir),
        "train-precision": lambda: train_precision(args.model, args.data_dir),
        "train-precision-samples": lambda: train_precision_samples(SEEDS, args.n, args.data_dir),
        "gpu-throughput": lambda: throughput(args.model, _cuda()),
        "gpu-train-throughput": lambda: train_throughput(args.data_dir, _cuda(), _device_name(_cuda())),
        "decoration": lambda: decoration(args.model, args.n, args.data_dir),
        "scaffold": lambda: scaffold(args.model, 100, 10, args.data_dir),
        "likelihood": lambda: likelihood(args.model, args.data_dir),
        "precision": lambda: precision(args.model, args.data_dir),
    }
    run_parts(parts, args.parts.split(","), RESULTS)
    write_benchmarks_md()


if __name__ == "__main__":
    main()
