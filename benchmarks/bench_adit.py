"""ADiT benchmark: autoencoder reconstruction, crystals and molecules from one joint model, joint vs single-domain,
and sampling throughput beside Quetzal's.

    python benchmarks/bench_adit.py [--parts reconstruction,crystals,carbon,molecules,latent-noise,denoising,
        partial-sampling,latent-geometry,throughput,settings,molecule-settings,sampler-precision,
        joint-vs-single]
        [--model adit-joint-small] [--against DIR] [--single-molecule DIR --single-crystal DIR --budget-joint DIR] [--data-dir DIR]

Results go to benchmarks/results/adit.json (parts not run keep their last numbers); BENCHMARKS.md is rebuilt.
Run it on an otherwise idle machine: the timings use every core.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from common import run_parts, share_difference  # sibling scripts, run from anywhere
from machine import counted_flops, peaks, utilisation
from write_benchmarks_md import write_benchmarks_md

from atomgen.models.sampler_settings import ADIT_PRECISION

RESULTS = Path(__file__).resolve().parent / "results" / "adit.json"


def _model(name: str):
    from atomgen.models.adit import ADiTModel

    return ADiTModel.from_pretrained(name)


def _test_systems(name: str, n: int, data_dir: str | None) -> list:
    """A seeded random n of a dataset's test split (QM9: EDM's test split; crystals: the CDVAE test CSV)."""
    if name == "qm9":
        from atomgen.data.qm9 import load_qm9

        test = load_qm9("test", data_dir)
    else:
        from atomgen.data.crystals import load_crystal_split

        test = load_crystal_split(name, "test").systems
    rows = np.sort(np.random.default_rng(0).choice(len(test), size=min(n, len(test)), replace=False))
    return [test[int(k)] for k in rows]


def reconstruction(model_name: str, n: int, data_dir: str | None) -> dict:
    """Encode and decode held-out test systems of every dataset the model knows (latent means, no noise)."""
    from atomgen.data.systems import LabelledSystemDataset, collate_systems
    from atomgen.eval.reconstruction import crystal_reconstruction, molecule_reconstruction

    model = _model(model_name)
    out = {}
    for label, name in enumerate(model.config.labels):
        originals = _test_systems(name, n, data_dir)
        if not model.config.periodic[label]:  # molecules are centred in training (crystals keep their cell)
            originals = [s.copy(positions=s.positions - s.positions.mean(0)) for s in originals]
        dataset = LabelledSystemDataset([(label, originals)], model.config.max_atoms, model.config.max_z)
        items = [dataset[k] for k in range(len(dataset))]
        decoded = []
        for start in range(0, len(items), 256):
            decoded += model.reconstruct(collate_systems(items[start : start + 256]))
        score = crystal_reconstruction if model.config.periodic[label] else molecule_reconstruction
        out[name] = score(originals, decoded)
    return out


def _encoded_test_batch(model, name: str, n: int, data_dir: str | None) -> dict:
    """n test systems of one dataset, as one collated batch under that dataset's class label."""
    from atomgen.data.systems import LabelledSystemDataset, collate_systems

    systems = _test_systems(name, n, data_dir)
    if name == "qm9":  # molecules are centred in training
        systems = [s.copy(positions=s.positions - s.positions.mean(0)) for s in systems]
    dataset = LabelledSystemDataset([(model.config.label_index(name), systems)], model.config.max_atoms,
                                    model.config.max_z)
    return collate_systems([dataset[k] for k in range(len(dataset))])


LATENT_NOISE_LEVELS = (0.0, 0.02, 0.05, 0.1, 0.2)


def latent_noise(model_name: str, n: int, data_dir: str | None) -> dict:
    """How imprecise a latent the decoder tolerates: n QM9 test molecules encoded (latent means), Gaussian noise
    of each level (in units of the latent scale, seed 0) added, decoded, and scored for stability and validity."""
    from atomgen.eval.evaluate import molecule_metrics
    from atomgen.eval.molecules import analyse_molecules

    model = _model(model_name).eval()
    batch = _encoded_test_batch(model, "qm9", n, data_dir)
    mask = batch["numbers"] > 0
    if model.config.latent_scale is None:
        # An autoencoder-only checkpoint: measure the scale on these molecules. The DiT stage measures it on
        # random training systems, about 95 % of whose atoms are QM9's, so the two units agree closely.
        model = model.with_latent_scale([batch])
    scale = model.config.latent_scale
    generator = torch.Generator().manual_seed(0)
    rows = {}
    with torch.no_grad():
        mean, log_var = model.autoencoder.encode(batch["numbers"], batch["positions"], batch["frac"],
                                                 batch["lattice_features"], batch["periodic"], mask)
        for level in LATENT_NOISE_LEVELS:
            noisy = mean + level * scale * torch.randn(mean.shape, generator=generator)
            decoded = model.autoencoder.decode(noisy, batch["periodic"], mask)
            systems = model.to_systems(decoded, batch["periodic"], batch["n_atoms"])
            metrics = molecule_metrics(analyse_molecules(systems, workers=1), set())
            rows[str(level)] = {key: metrics[key] for key in ("atom_stability", "molecule_stability",
                                                              "rdkit_validity")}
    posterior_std = float((0.5 * log_var[mask]).exp().median()) / scale
    # Per latent number: a median hides numbers the decoder ignores (posterior = prior) beside precise ones.
    by_number = {"posterior_std": ((0.5 * log_var[mask]).exp().median(0).values / scale).tolist(),
                 "spread_of_means": (mean[mask].std(0) / scale).tolist()}
    return {"model": model_name, "n": len(batch["numbers"]), "posterior_std_in_scales": posterior_std,
            "by_latent_number_in_scales": by_number, "rows": rows}


def latent_geometry(model_name: str, n: int, data_dir: str | None) -> dict:
    """How plainly the latents carry positions: n QM9 test molecules, each rotated at random (seed 0) and encoded
    (latent means, in units of the latent scale); an affine map from an atom's latent to its coordinates is fitted
    by least squares on the atoms of the first half of the molecules and scored on the second half (R², RMSD in Å)."""
    from latent_readout import least_squares_readout, r_squared

    from atomgen.data.augment import augment_systems

    model = _model(model_name).eval()
    batch = _encoded_test_batch(model, "qm9", n, data_dir)
    mask = batch["numbers"] > 0
    positions, frac, lattice = augment_systems(batch["positions"], batch["frac"], batch["lattice"], batch["periodic"],
                                               mask, torch.Generator().manual_seed(0))
    latents = model.latents({**batch, "positions": positions, "frac": frac, "lattice": lattice})
    half = len(mask) // 2
    fit, held_out = mask.clone(), mask.clone()
    fit[half:], held_out[:half] = False, False
    weight, offset, _ = least_squares_readout(latents[fit].double(), positions[fit].double())
    truth = positions[held_out].double()
    predicted = latents[held_out].double() @ weight.T + offset
    return {"model": model_name, "n": len(mask), "fit_molecules": half, "held_out_r2": r_squared(predicted, truth),
            "held_out_rmsd_angstrom": float((predicted - truth).pow(2).sum(-1).mean().sqrt())}


DENOISING_TIMES = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99)


def denoising(model_names: list[str], n: int, data_dir: str | None) -> dict:
    """How precisely each model's DiT predicts the clean latent from a noisy one, by time, on n test systems of QM9
    and of Perov-5 (latent means, in latent scales), beside doing nothing (x_t / t). Self-conditioning as in
    sampling: the second pass sees the first's estimate. "precise" are the five latent numbers whose means spread
    most across atoms, which carry the positions (`--parts latent-noise`)."""
    from atomgen.diffusion.flow import interpolate

    out: dict = {"n": n, "times": list(DENOISING_TIMES), "models": {}}
    for name in model_names:
        model = _model(name).eval()
        rows = {}
        for dataset in ("qm9", "perov_5"):
            batch = _encoded_test_batch(model, dataset, n, data_dir)
            mask = batch["numbers"] > 0
            generator = torch.Generator().manual_seed(0)
            with torch.no_grad():
                clean = model.latents(batch).float()
                precise = clean[mask].std(0).argsort(descending=True)[:5]
                per_time = {}
                for t0 in DENOISING_TIMES:
                    t = torch.full((clean.shape[0],), t0)
                    noisy = interpolate(clean, torch.randn(clean.shape, generator=generator), t)
                    first = model.denoiser(noisy, t, batch["label"], torch.zeros_like(clean), mask).float()
                    error = (model.denoiser(noisy, t, batch["label"], first, mask).float() - clean)[mask]
                    per_time[str(t0)] = {"rms": float(error.pow(2).mean().sqrt()),
                                         "rms_precise": float(error[:, precise].pow(2).mean().sqrt()),
                                         "rms_identity": float((noisy / t0 - clean)[mask].pow(2).mean().sqrt())}
            rows[dataset] = per_time
        out["models"][name] = rows
    return out


PARTIAL_START_TIMES = (0.9, 0.7, 0.5, 0.3)


def partial_sampling(model_names: list[str], n: int, data_dir: str | None) -> dict:
    """Where along the path samples go wrong: n test systems of QM9 and of Perov-5, encoded (latent means), moved
    to x_t at a start time t (noise seed 0), carried to t = 1 by the model's sampler (Euler at the default step size,
    0.01, guidance 2), decoded and scored. A model that finished paths well would give back its test data from late
    starts; early starts are close to sampling from scratch."""
    from atomgen.diffusion.flow import integrate, interpolate
    from atomgen.eval.crystals import structurally_valid
    from atomgen.eval.evaluate import molecule_metrics
    from atomgen.eval.molecules import analyse_molecules

    out: dict = {"n": n, "start_times": list(PARTIAL_START_TIMES), "models": {}}
    for name in model_names:
        model = _model(name).eval()
        rows: dict = {}
        for dataset in ("qm9", "perov_5"):
            batch = _encoded_test_batch(model, dataset, n, data_dir)
            mask, labels = batch["numbers"] > 0, batch["label"]
            with torch.no_grad():
                clean = model.latents(batch).float()
                noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
                for t0 in PARTIAL_START_TIMES:
                    start = interpolate(clean, noise, torch.full((len(clean),), t0))
                    latents = integrate(model.guided_predictor(labels, mask, 2.0), start, round(100 * (1 - t0)),
                                        "euler", start=t0)
                    systems = model.decode_latents(latents, labels, mask)
                    row = {"latent_rms_error": float((latents - clean)[mask].pow(2).mean().sqrt())}
                    if dataset == "qm9":
                        metrics = molecule_metrics(analyse_molecules(systems, workers=1), set())
                        row.update({key: metrics[key] for key in ("atom_stability", "molecule_stability",
                                                                  "rdkit_validity")})
                    else:
                        row["structural_validity"] = float(np.mean([structurally_valid(c) for c in systems]))
                    rows.setdefault(dataset, {})[str(t0)] = row
        out["models"][name] = rows
    return out


def crystals(model_name: str, label: str, n: int) -> dict:
    """n crystals of one class (seed 0, default steps and guidance) against that dataset's test split."""
    from atomgen import evaluate

    model = _model(model_name)
    start = time.perf_counter()
    generated = model.sample(n, seed=0, condition=label, batch_size=500)
    seconds = time.perf_counter() - start
    report = evaluate(generated, label, seed=0)
    return {"model": model_name, "label": label, "n": n, "steps": 100, "guidance": 2.0, "precision": ADIT_PRECISION,
            "sampling_seconds": seconds, "metrics": report.metrics, "details": report.details}


SAMPLER_SETTINGS = [("euler", 100, 2.0), ("euler", 100, 1.0), ("euler", 100, 3.0), ("euler", 200, 2.0),
                    ("heun", 50, 2.0), ("heun", 100, 2.0)]


def _per_sampler_setting(model_name: str, condition: str, n: int, score) -> list[dict]:
    """n systems of one condition (seed 1) per sampler setting, each row the setting, its sampling time and
    `score(samples)`, a dict of metrics."""
    model = _model(model_name)
    rows = []
    for sampler, steps, guidance in SAMPLER_SETTINGS:
        start = time.perf_counter()
        generated = model.sample(n, seed=1, condition=condition, batch_size=500, steps=steps, guidance=guidance,
                                 sampler=sampler, progress=False)
        seconds = time.perf_counter() - start
        rows.append({"sampler": sampler, "steps": steps, "guidance": guidance, "seconds": seconds,
                     **score(generated)})
    return rows


def settings(model_name: str, label: str, n: int) -> dict:
    """Structural and compositional validity of n crystals of one class per sampler setting (sampler, steps,
    guidance), seed 1. Both are properties of the samples alone: choosing a setting this way reads no test data."""
    from atomgen.eval.crystals import compositionally_valid, structurally_valid

    def score(generated) -> dict:
        return {"structural_validity": float(np.mean([structurally_valid(s) for s in generated])),
                "compositional_validity": float(np.mean([compositionally_valid(s) for s in generated]))}

    return {"model": model_name, "label": label, "n": n, "rows": _per_sampler_setting(model_name, label, n, score),
            "threads": torch.get_num_threads()}


def molecule_settings(model_name: str, n: int) -> dict:
    """Atom and molecule stability and RDKit validity of n molecules per sampler setting (as for crystals), seed 1.
    All three are properties of the samples alone, so choosing a setting this way reads no test data."""
    from atomgen.eval.evaluate import molecule_metrics
    from atomgen.eval.molecules import analyse_molecules

    def score(generated) -> dict:
        metrics = molecule_metrics(analyse_molecules(generated, workers=1), set())
        return {key: metrics[key] for key in ("atom_stability", "molecule_stability", "rdkit_validity")}

    return {"model": model_name, "n": n, "rows": _per_sampler_setting(model_name, "molecule", n, score),
            "threads": torch.get_num_threads()}


PRECISION_SETTINGS = (("euler", 100, "fp32"), ("euler", 100, "bf16"), ("euler", 50, "fp32"), ("euler", 50, "bf16"))
"""(sampler, steps, precision) of the 'sampler-precision' part; the first is the default (ADiT's own)."""

PRECISION_SEEDS = (0, 1, 2, 3)


def sampler_precision(model_name: str, n: int) -> dict:
    """Each of PRECISION_SETTINGS (guidance 2) on the same seeds: n Perov-5 crystals per seed (structural and
    compositional validity) and n // 2 molecules (atom and molecule stability, RDKit validity), with the seconds
    each took and the standard error of each setting's structural validity against the first (binomial, all
    crystals of both). All are properties of the samples alone: no test data is read in choosing a setting."""
    from atomgen.eval.crystals import compositionally_valid, structurally_valid
    from atomgen.eval.evaluate import molecule_metrics
    from atomgen.eval.molecules import analyse_molecules

    model = _model(model_name)
    model.sample(16, seed=0, condition="perov_5", steps=2, progress=False)  # warm-up: kernels, caches
    settings = []
    for sampler, steps, precision in PRECISION_SETTINGS:
        rows = []
        for seed in PRECISION_SEEDS:
            options = {"seed": seed, "batch_size": 500, "steps": steps, "sampler": sampler, "precision": precision,
                       "progress": False}
            start = time.perf_counter()
            crystals = model.sample(n, condition="perov_5", **options)
            crystal_seconds = time.perf_counter() - start
            start = time.perf_counter()
            molecules = model.sample(n // 2, condition="molecule", **options)
            molecule_seconds = time.perf_counter() - start
            metrics = molecule_metrics(analyse_molecules(molecules, workers=1), set())
            rows.append({"seed": seed, "crystals_per_second": n / crystal_seconds,
                         "molecules_per_second": (n // 2) / molecule_seconds,
                         "structural_validity": float(np.mean([structurally_valid(c) for c in crystals])),
                         "compositional_validity": float(np.mean([compositionally_valid(c) for c in crystals])),
                         **{key: metrics[key] for key in ("atom_stability", "molecule_stability", "rdkit_validity")}})
        mean = {key: float(np.mean([row[key] for row in rows])) for key in rows[0] if key != "seed"}
        settings.append({"sampler": sampler, "steps": steps, "precision": precision, "mean": mean, "rows": rows})
    default = settings[0]["mean"]["structural_validity"]
    total = n * len(PRECISION_SEEDS)
    for setting in settings:
        ours = setting["mean"]["structural_validity"]
        setting["structural_difference"] = share_difference(ours, default, total)
    return {"model": model_name, "n_crystals": n, "n_molecules": n // 2, "seeds": list(PRECISION_SEEDS),
            "guidance": 2.0, "batch_size": 500, "threads": torch.get_num_threads(), "settings": settings}


def molecules(model_name: str, n: int, data_dir: str | None) -> dict:
    """n molecules (seed 0, default steps and guidance) through the full evaluator against QM9."""
    from atomgen import evaluate

    model = _model(model_name)
    start = time.perf_counter()
    generated = model.sample(n, seed=0, condition="molecule", batch_size=500)
    seconds = time.perf_counter() - start
    report = evaluate(generated, "qm9", seed=0, data_dir=data_dir, max_expensive=500)
    return {"model": model_name, "n": n, "steps": 100, "guidance": 2.0, "precision": ADIT_PRECISION,
            "sampling_seconds": seconds,
            "metrics": report.metrics, "details": report.details, "not_computed": report.not_computed}


THROUGHPUT_COUNT = 256
THROUGHPUT_BATCH_SIZES = (128, 512)
ADIT_SHAPES = {"DiT attention in, 2,048 tokens": (2048, 256, 768), "DiT MLP up, 2,048 tokens": (2048, 256, 1024),
               "DiT MLP down, 2,048 tokens": (2048, 1024, 256)}
"""(rows, inner, cols) of the small DiT's matrix products at batch 128 with guidance (two passes of 8-atom
systems): the machine's peak is read at these."""


def throughput(model_name: str, quetzal_name: str) -> dict:
    """Systems per second: ADiT molecules and crystals (100 Euler steps, guidance 2; fp32 and bf16) and Quetzal
    molecules (30 Heun steps, fp32), 256 of each at each of THROUGHPUT_BATCH_SIZES, in one run; each row's share of
    the machine's peak in its precision, from the FLOPs counted on the same samples (a batch holds one padded size,
    so the count does not depend on the batch size)."""
    from atomgen.models.quetzal import QuetzalModel

    model = _model(model_name)
    quetzal = QuetzalModel.from_pretrained(quetzal_name)
    for condition in ("molecule", "crystal"):
        model.sample(16, seed=0, condition=condition, progress=False)  # warm-up
    quetzal.sample(16, seed=0, progress=False)
    samplers = {f"adit_{kind}{suffix}": (precision, lambda batch, kind=kind, precision=precision: model.sample(
                    THROUGHPUT_COUNT, seed=1, condition=kind, batch_size=batch, progress=False, precision=precision))
                for kind in ("molecule", "crystal") for suffix, precision in (("", "fp32"), ("_bf16", "bf16"))}
    samplers["quetzal_molecule"] = ("fp32", lambda batch: quetzal.sample(
        THROUGHPUT_COUNT, seed=1, batch_size=batch, progress=False, solver="heun", steps=30, precision="fp32"))
    by_batch = {}
    for batch in THROUGHPUT_BATCH_SIZES:
        rows = {}
        for name, (_, sample) in samplers.items():
            start = time.perf_counter()
            sample(batch)
            rows[name] = THROUGHPUT_COUNT / (time.perf_counter() - start)
        by_batch[str(batch)] = rows
    flops = {name: counted_flops(lambda sample=sample: sample(THROUGHPUT_BATCH_SIZES[0]))[1] / THROUGHPUT_COUNT
             for name, (_, sample) in samplers.items()}
    peak = peaks(ADIT_SHAPES)
    use = {batch: {name: utilisation(flops[name] * rate, 1.0, peak["best"][samplers[name][0]])
                   for name, rate in rows.items()} for batch, rows in by_batch.items()}
    return {"count": THROUGHPUT_COUNT, "systems_per_second_by_batch_size": by_batch, "threads": torch.get_num_threads(),
            "models": [model_name, quetzal_name], "flops_per_system": flops, "utilisation_by_batch_size": use,
            "precisions": {name: precision for name, (precision, _) in samplers.items()}, "machine_peak": peak}


def joint_vs_single(joint: str, single_molecule: str, single_crystal: str, n: int, data_dir: str | None) -> dict:
    """The same-size, same-budget joint model against a molecule-only and a crystal-only one: molecules against
    QM9 and Perov-5 crystals against their test split, n of each, seed 0."""
    from atomgen import evaluate

    rows = {}
    for role, name, kinds in (("joint", joint, ("molecule", "perov_5")), ("molecules only", single_molecule,
                              ("molecule",)), ("crystals only", single_crystal, ("perov_5",))):
        model = _model(name)
        row = {"model": name, "training_steps": json.loads((Path(name) / "config.json").read_text())["global_step"]}
        if "molecule" in kinds:
            generated = model.sample(n, seed=0, condition="molecule", batch_size=500, progress=False)
            metrics = evaluate(generated, "qm9", seed=0, data_dir=data_dir, fcd=False, posebusters=False,
                               strain=False).metrics
            row.update({f"molecule_{k}": metrics[k] for k in ("atom_stability", "molecule_stability",
                                                              "rdkit_validity", "uniqueness")})
        if "perov_5" in kinds:
            generated = model.sample(n, seed=0, condition="perov_5", batch_size=500, progress=False)
            metrics = evaluate(generated, "perov_5", seed=0).metrics
            row.update({f"perov_5_{k}": metrics[k] for k in ("structural_validity", "compositional_validity",
                                                             "uniqueness", "density_w1")})
        rows[role] = row
    return {"n": n, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="reconstruction,crystals,carbon,molecules,throughput")
    parser.add_argument("--model", default="adit-joint-small")
    parser.add_argument("--against", help="a second model (name or folder) to measure beside --model "
                        "(denoising, partial-sampling)")
    parser.add_argument("--quetzal", default="quetzal-qm9-small")
    parser.add_argument("-n", type=int, default=1000, help="samples per evaluation")
    parser.add_argument("--single-molecule", help="model folder of the molecule-only run (joint-vs-single)")
    parser.add_argument("--single-crystal", help="model folder of the crystal-only run (joint-vs-single)")
    parser.add_argument("--budget-joint", help="model folder of the joint run with the same budget as both")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    compared = [args.model] + ([args.against] if args.against else [])  # the parts that measure two models side by side
    parts = {
        "reconstruction": lambda: reconstruction(args.model, args.n, args.data_dir),
        "crystals": lambda: crystals(args.model, "perov_5", args.n),
        "carbon": lambda: crystals(args.model, "carbon_24", args.n // 2),
        "settings": lambda: settings(args.model, "perov_5", args.n // 2),
        "molecule-settings": lambda: molecule_settings(args.model, args.n // 5),
        "sampler-precision": lambda: sampler_precision(args.model, args.n // 2),
        "molecules": lambda: molecules(args.model, args.n, args.data_dir),
        "latent-noise": lambda: latent_noise(args.model, args.n // 3, args.data_dir),
        "latent-geometry": lambda: latent_geometry(args.model, args.n // 3, args.data_dir),
        "partial-sampling": lambda: partial_sampling(compared, args.n // 5, args.data_dir),
        "denoising": lambda: denoising(compared, args.n // 3, args.data_dir),
        "throughput": lambda: throughput(args.model, args.quetzal),
        "joint-vs-single": lambda: joint_vs_single(args.budget_joint, args.single_molecule, args.single_crystal,
                                                   args.n // 2, args.data_dir),
    }
    run_parts(parts, args.parts.split(","), RESULTS)
    write_benchmarks_md()


if __name__ == "__main__":
    main()
