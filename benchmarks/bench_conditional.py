"""Property-conditional generation on QM9 by EDM's protocol, and by a physics judge.

    python benchmarks/bench_conditional.py
        [--parts calibration,classifiers,guidance,temperature,conditional,ranges,joint,geometry]
        [--judges qm9-judge-{property}] [--model nextmol-qm9-cond] [-n 1000] [--guidance 1.0|tuned]
        [--temperature 1.0|tuned] [--data-dir DIR]

* calibration: GFN2-xTB's HOMO, LUMO, gap and dipole of n QM9 test molecules against their DFT labels, fitted
  linearly (`atomgen.properties.xtb.Calibration`); its error is the floor of the xTB judge.
* classifiers: each property's EGNN judge (`--judges`, "{property}" standing for its name) on QM9's valid split,
  and the protocol's bounding rows on the second half of QM9 train: L-bound (the judge on the real molecules),
  #Atoms (the best predictor from the atom count alone: the median of the first half's values at that count,
  what an L1 fit on the count converges to) and Naive (the judge's predictions against shuffled labels).
* guidance: for each property of a conditional model that has a trained judge, the classifier's MAE at each
  classifier-free guidance scale of GUIDANCE_SWEEP, on n targets and with a seed that the conditional part does not
  use, so that the guidance the conditional part is run with is chosen without its own molecules.
* temperature: then, at each property's tuned guidance scale, the classifier's MAE and the share of distinct
  molecules at each sampling temperature of TEMPERATURE_SWEEP (NExT-Mol: its language model's tokens; Quetzal: its
  element types), on the guidance part's targets and seed.
* conditional: for each property of a conditional model, n targets drawn as EDM draws them (atom count, then the
  value from that count's histogram on the second half), one molecule per target conditioned on that property
  alone at `--guidance`, the model choosing the atom count itself; MAE of the judge's prediction against the
  target, and of the calibrated xTB value where xTB computes the property; then the same model unconditioned (same
  seed) against the same targets, the row conditioning must beat; and the share of distinct molecules among the
  RDKit-valid ones, conditioned and unconditioned (a guidance that bought its MAE by repeating a few molecules
  would show there). A Quetzal model is also sampled as EDM samples
  its generator, told the drawn atom count (classifier judge only), a row beside the headline.
  `--guidance tuned` samples each property at the scale of least classifier MAE in the model's guidance part (run
  first, on the same weights; its targets and seed are not the conditional part's, so the choice never sees the
  molecules it is scored on). `--temperature tuned` likewise samples each property at its temperature of least
  classifier MAE in the temperature part among those that keep DISTINCT_FLOOR of its molecules distinct; the
  unconditioned rows keep temperature 1, the model as trained.
* ranges: molecules asked for a range of a property (RANGES); the share whose judged property lands in it, beside
  the same model unconditioned and QM9's test molecules.
* joint: the gap range and the μ range of the ranges part asked for at once, each alone, and neither (temperature
  1, one `--guidance` scale for all): the share of the molecules whose judged gap, μ and both land in range, by
  the classifiers and by xTB, beside QM9's test molecules.
* geometry (a NExT-Mol model): what its conformer stage costs the classifiers. n QM9 test molecules, each judged on
  its DFT geometry, on the model's conformer of its own graph (seed 0) and on an RDKit ETKDG + MMFF94 conformer,
  against its DFT labels: the MAE a perfect language model would still score with this conformer stage.

Results go to benchmarks/results/conditional.json (calibration, classifiers) and, for the model parts, to
benchmarks/results/conditional-<model>.json, one file per model (parts not run keep their last numbers; the
conditional and ranges parts keep one result per `--temperature`, "conditional" at 1 and, say,
"conditional-temperature-tuned");
BENCHMARKS.md is rebuilt, with the model parts of each shipped conditional model (CONDITIONAL_MODELS in
report_conditional.py).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import run_parts, sha256_of, weights_name  # sibling scripts, run from anywhere
from conditional_judging import (JUDGES, Setting, finite_mae, judge_of, mae, model_and_baselines, setting_for,
                                 qm9_test_sample, trained_judge)
from conditional_ranges import joint, ranges
from report_conditional import DISTINCT_FLOOR
from write_benchmarks_md import write_benchmarks_md

RESULTS = Path(__file__).resolve().parent / "results" / "conditional.json"
MODEL_PARTS = ("guidance", "temperature", "conditional", "ranges", "joint", "geometry")
"""The parts that measure one model; each model's results have a file of their own."""
SAMPLED_PARTS = ("conditional", "ranges")
"""The parts sampled at `--temperature`: one stored result per temperature option (see `stored_key`), so that the
model's own distribution (temperature 1) keeps its table beside a colder one."""


def calibration(n: int, data_dir: str | None) -> dict:
    """xTB against DFT on a seeded n of QM9 test molecules, per property xTB computes (in the tables' units)."""
    from atomgen.properties.qm9_properties import get_property
    from atomgen.properties.xtb import JUDGED, Calibration, xtb_properties

    molecules = qm9_test_sample(n, data_dir)
    start = time.perf_counter()
    judged = xtb_properties(molecules)
    seconds = time.perf_counter() - start
    rows = {}
    for name in JUDGED:
        prop = get_property(name)
        fit = Calibration.fit(judged[name], prop.values(molecules))
        rows[name] = {"slope": fit.slope, "intercept": fit.intercept, "n": fit.n,
                      "mae": fit.mae * prop.table_scale, "unit": prop.table_unit}
    return {"n": n, "seconds": seconds, "rows": rows}


def classifiers(template: str, data_dir: str | None) -> dict:
    """Each judge's error on the valid split and the protocol's three bounding rows on the second half."""
    from atomgen.data.qm9 import load_qm9
    from atomgen.errors import InputError
    from atomgen.nn.compile import compile_blocks
    from atomgen.properties.qm9_properties import PROPERTIES

    valid = load_qm9("valid", data_dir)
    valid = [valid[k] for k in range(len(valid))]
    first, second = load_qm9("train-first-half", data_dir), load_qm9("train-second-half", data_dir)
    rows = {}
    for name, prop in PROPERTIES.items():
        try:
            judge = judge_of(template, name)
        except InputError as error:  # a judge not trained yet: say so in its row
            rows[name] = {"missing": str(error)}
            continue
        # Compiled, the judge predicts the same numbers (to 1e-5) twice as fast on a CPU: worth its warm-up here,
        # over about 68,000 molecules, not for the 1,000 of a conditional row.
        compile_blocks(judge)
        start = time.perf_counter()
        truth, predicted = prop.values(second), judge.predict(second)
        seconds = time.perf_counter() - start
        shuffled = truth[np.random.default_rng(0).permutation(len(truth))]
        rows[name] = {
            "unit": prop.table_unit,
            "valid": mae(judge.predict(valid), prop.values(valid)) * prop.table_scale,
            "l_bound": mae(predicted, truth) * prop.table_scale,
            "atoms": mae(_median_by_count(first, prop.values(first), second), truth) * prop.table_scale,
            "naive": mae(predicted, shuffled) * prop.table_scale,
            "molecules_per_second": len(second) / seconds,
        }
    return {"judges": template, "n_second_half": len(second), "rows": rows}


def _median_by_count(train: list, values: np.ndarray, systems: list) -> np.ndarray:
    """The #Atoms predictor: for each of `systems`, the median value among `train` molecules of its atom count
    (of the nearest count that has any)."""
    counts = np.array([len(s) for s in train])
    medians = {int(c): float(np.median(values[counts == c])) for c in np.unique(counts)}
    known = np.array(sorted(medians))
    return np.array([medians[int(known[np.abs(known - len(s)).argmin()])] for s in systems])


def _edm_targets(data_dir: str | None):
    """EDM's target sampler on the second half of QM9 train (the generators' half), per property: a function from a
    property's name to (the property, its PropertyTargets)."""
    from atomgen.data.qm9 import load_qm9
    from atomgen.properties.qm9_properties import get_property
    from atomgen.properties.targets import PropertyTargets

    second = load_qm9("train-second-half", data_dir)
    counts = np.array([len(s) for s in second])

    def targets(name: str) -> tuple:
        prop = get_property(name)
        return prop, PropertyTargets(counts, prop.values(second))
    return targets


GUIDANCE_SWEEP = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
"""The classifier-free guidance scales the 'guidance' part compares (1: the plain conditional model; 6 since the
dipole's best scale sat at the old sweep's top of 4)."""


def guidance(model_name: str, template: str, n: int, data_dir: str | None) -> dict:
    """The classifier's MAE at each scale of GUIDANCE_SWEEP, per property that has a trained judge (targets from
    generator 11 and sampling seed 7, neither used by the conditional part); `mean_ratio` is the mean over those
    properties of MAE at that scale over MAE at 1."""
    from atomgen.models.registry import load_model

    model = load_model(model_name)
    edm_targets = _edm_targets(data_dir)
    rows = {}
    for name in model.property_stats:
        judge = trained_judge(template, name)
        if judge is None:
            continue
        prop, targets = edm_targets(name)
        _, requested = targets.sample(n, np.random.default_rng(11))
        rows[name] = {"unit": prop.table_unit, "mae": [
            mae(judge.predict(model.sample(n, seed=7, condition={name: requested}, guidance=scale, progress=False)),
                 requested) * prop.table_scale for scale in GUIDANCE_SWEEP]}
    mean_ratio = [float(np.mean([row["mae"][k] / row["mae"][0] for row in rows.values()])) if rows else None
                  for k in range(len(GUIDANCE_SWEEP))]
    return {"model": model_name, "judges": template, "n": n, "scales": list(GUIDANCE_SWEEP), "rows": rows,
            "mean_ratio": mean_ratio}


def _stored_part(model: str, judges: str, part: str) -> dict:
    """`model`'s stored result of `part`, which must have measured the weights `model` names now with `judges`."""
    from atomgen.models.checkpoint import WEIGHTS
    from atomgen.zoo.registry import resolve

    stored = model_results(model)
    entry = json.loads(stored.read_text()).get(part) if stored.is_file() else None
    weights = resolve(model) / WEIGHTS
    if (entry is None or entry["weights"].get(weights_name(weights)) != sha256_of(weights)
            or entry["result"]["judges"] != judges):
        raise SystemExit(f"--{part} tuned: {stored.name} holds no {part} part of {model}'s present weights "
                         f"judged by {judges}; run --parts {part} --model {model} first")
    return entry["result"]


def _least_mae(result: dict, settings: str, qualifies=lambda row, k: True) -> dict[str, float]:
    """Each property's setting (of the swept `settings`) of least classifier MAE in a stored sweep, among the
    settings k for which `qualifies(row, k)`."""
    def best(row: dict) -> float:
        allowed = [k for k in range(len(row["mae"])) if qualifies(row, k)]
        return result[settings][min(allowed, key=lambda k: row["mae"][k])]

    return {name: best(row) for name, row in result["rows"].items()}


def tuned_guidance(model: str, judges: str) -> dict[str, float]:
    """Each property's scale of least classifier MAE in `model`'s stored guidance part."""
    return _least_mae(_stored_part(model, judges, "guidance"), "scales")


def tuned_temperature(model: str, judges: str) -> dict[str, float]:
    """Each property's temperature of least classifier MAE in `model`'s stored temperature part (1, or one whose
    distinct share is at least DISTINCT_FLOOR), which must have swept at the scales the guidance part tunes now."""
    result = _stored_part(model, judges, "temperature")
    if result["guidance"] != tuned_guidance(model, judges):
        raise SystemExit(f"--temperature tuned: {model}'s temperature part swept at other guidance scales than its "
                         f"guidance part tunes now; run --parts temperature --model {model} again")
    def distinct_enough(row: dict, k: int) -> bool:
        share = row["unique"][k]
        return result["temperatures"][k] == 1.0 or (share is not None and share >= DISTINCT_FLOOR)

    return _least_mae(result, "temperatures", distinct_enough)


TEMPERATURE_SWEEP = (0.2, 0.3, 0.4, 0.6, 0.8, 1.0)
"""The sampling temperatures the 'temperature' part compares (1: the model's own distribution). It reached down to
0.2 once 0.4, its old bottom, was the best of five properties: a sweep whose best sits at its edge has not found it."""


def temperature(model_name: str, template: str, n: int, data_dir: str | None) -> dict:
    """At each property's tuned guidance scale, the classifier's MAE and the distinct share of the RDKit-valid
    molecules at each temperature of TEMPERATURE_SWEEP (the guidance part's targets and seed: generator 11, seed
    7), so that a temperature is chosen without the conditional part's molecules."""
    from atomgen.models.registry import load_model

    scales = tuned_guidance(model_name, template)
    model = load_model(model_name)
    edm_targets = _edm_targets(data_dir)
    rows = {}
    for name, scale in scales.items():
        judge = trained_judge(template, name)
        prop, targets = edm_targets(name)
        _, requested = targets.sample(n, np.random.default_rng(11))
        samples = [model.sample(n, seed=7, condition={name: requested}, guidance=scale, temperature=t,
                                progress=False) for t in TEMPERATURE_SWEEP]
        rows[name] = {"unit": prop.table_unit,
                      "mae": [mae(judge.predict(s), requested) * prop.table_scale for s in samples],
                      "unique": [_unique_share(s) for s in samples]}
    return {"model": model_name, "judges": template, "n": n, "guidance": scales,
            "temperatures": list(TEMPERATURE_SWEEP), "rows": rows}


def conditional(model_name: str, template: str, n: int, guidance: Setting, temperature: Setting,
                data_dir: str | None) -> dict:
    """Conditioned on each property alone (at its `guidance` scale and `temperature`), then unconditioned, against
    EDM-drawn targets: both judges' MAE."""
    from atomgen.properties.xtb import JUDGED, Calibration, xtb_properties

    model, reference, reference_xtb, unconditioned, unconditioned_xtb = model_and_baselines(model_name, n, data_dir)
    edm_targets = _edm_targets(data_dir)
    rows = {}
    for name in model.property_stats:
        prop, targets = edm_targets(name)
        counts, requested = targets.sample(n, np.random.default_rng(1))
        scale, heat = setting_for(guidance, name), setting_for(temperature, name)
        start = time.perf_counter()
        generated = model.sample(n, seed=0, condition={name: requested}, guidance=scale, temperature=heat,
                                 progress=False)
        seconds = time.perf_counter() - start
        judge = trained_judge(template, name)
        row = {"unit": prop.table_unit, "seconds": seconds, "classifier": None, "classifier_unconditioned": None,
               "unique": _unique_share(generated)}
        if judge is not None:
            row.update(classifier=mae(judge.predict(generated), requested) * prop.table_scale,
                       classifier_unconditioned=mae(judge.predict(unconditioned), requested) * prop.table_scale)
            if model.family == "quetzal":
                told = _sample_at_counts(model, counts, name, requested, scale, heat)
                row.update(classifier_given_count=mae(judge.predict(told), requested) * prop.table_scale)
        if name in JUDGED:
            fit = Calibration.fit(reference_xtb[name], prop.values(reference))
            judged = fit(xtb_properties(generated)[name])
            free = fit(unconditioned_xtb[name])
            row.update(xtb=finite_mae(judged, requested) * prop.table_scale,
                       xtb_unconditioned=finite_mae(free, requested) * prop.table_scale,
                       xtb_judged=int(np.isfinite(judged).sum()), xtb_unconditioned_judged=int(np.isfinite(free).sum()),
                       xtb_floor=fit.mae * prop.table_scale)
        rows[name] = row
    return {"model": model_name, "judges": template, "n": n, "guidance": guidance, "temperature": temperature,
            "rows": rows, "unique_unconditioned": _unique_share(unconditioned)}


def _unique_share(systems: list) -> float | None:
    """The share of distinct molecules (SMILES of the bonds RDKit perceives in 3D) among the RDKit-valid ones: how
    far a condition, and guidance, narrow what the model writes (None when no molecule is valid)."""
    from atomgen.eval.molecules import analyse_molecules

    smiles = [a.rdkit_smiles for a in analyse_molecules(systems, workers=1) if a.rdkit_smiles is not None]
    return len(set(smiles)) / len(smiles) if smiles else None


def _sample_at_counts(model, counts: np.ndarray, name: str, requested: np.ndarray, scale: float,
                      temperature: float) -> list:
    """One molecule per target with exactly the target's atom count, as EDM's generator is given it (Quetzal fixes a
    count by masking STOP below it and forcing it there); sampled count by count, returned in the targets' order."""
    generated: list = [None] * len(counts)
    for count in np.unique(counts):
        rows = np.flatnonzero(counts == count)
        molecules = model.sample(len(rows), seed=int(count), condition={name: requested[rows]}, guidance=scale,
                                 temperature=temperature, min_atoms=int(count), max_atoms=int(count),
                                 progress=False)
        for row, molecule in zip(rows, molecules):
            generated[row] = molecule
    return generated


def geometry(model_name: str, template: str, n: int, data_dir: str | None) -> dict:
    """Each judge's MAE against the DFT labels of n QM9 test molecules on three geometries of the same graphs: the
    DFT one, the NExT-Mol model's conformer and RDKit's (ETKDG + MMFF94; `rdkit_without_mmff` counts those MMFF
    cannot type, left as embedded). Molecules whose bonds cannot be perceived, or that ETKDG cannot embed, are left
    out of all three (`n_molecules` says how many stay)."""
    from rdkit.Chem.rdForceFieldHelpers import MMFFHasAllMoleculeParams

    from atomgen.data.molecular_graphs import mol_from_coordinates
    from atomgen.errors import InputError
    from atomgen.eval.conformers import etkdg_conformers
    from atomgen.io.convert import from_rdkit
    from atomgen.models.registry import load_model
    from atomgen.properties.qm9_properties import get_property

    model = load_model(model_name)
    if model.family != "nextmol":
        raise InputError(f"the geometry part needs a model with a conformer stage (NExT-Mol), not {model_name}")
    molecules, graphs, rdkit, untyped = [], [], [], 0
    for system in qm9_test_sample(n, data_dir):
        mol = mol_from_coordinates(system.numbers, system.positions)
        embedded = [] if mol is None else etkdg_conformers(mol, 1, seed=0, mmff=True)
        if embedded:
            molecules.append(system)
            graphs.append(mol)
            rdkit.append(from_rdkit(embedded[0]))
            untyped += not MMFFHasAllMoleculeParams(embedded[0])
    start = time.perf_counter()
    conformers = model.conformers(graphs, 1, seed=0, progress=False)
    seconds = time.perf_counter() - start
    rows = {}
    for name in model.property_stats:
        judge = trained_judge(template, name)
        if judge is None:
            continue
        prop = get_property(name)
        truth = prop.values(molecules)
        rows[name] = {"unit": prop.table_unit, **{
            key: mae(judge.predict(systems), truth) * prop.table_scale
            for key, systems in (("dft", molecules), ("model", conformers), ("rdkit", rdkit))}}
    return {"model": model_name, "judges": template, "n": n, "n_molecules": len(molecules),
            "rdkit_without_mmff": untyped, "conformer_seconds": seconds, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="calibration,classifiers,conditional")
    parser.add_argument("--judges", default=JUDGES, help="model folder or zoo name of each property's judge, "
                                                         "'{property}' standing for the property's name")
    parser.add_argument("--model", default="nextmol-qm9-cond")
    parser.add_argument("-n", type=int, default=1000, help="molecules (calibration: test molecules)")
    parser.add_argument("--guidance", default="1", help="classifier-free guidance scale of the conditional, "
                                                        "ranges and joint parts, or 'tuned' (not joint): each "
                                                        "property's best scale in the model's guidance part")
    parser.add_argument("--temperature", default="1", help="sampling temperature of the conditional and ranges "
                                                           "parts, or 'tuned': each property's best in the model's "
                                                           "temperature part")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    def scales() -> Setting:  # read when a part needs it, so that a guidance part run just before is the one read
        return tuned_guidance(args.model, args.judges) if args.guidance == "tuned" else float(args.guidance)

    def temperatures() -> Setting:
        return (tuned_temperature(args.model, args.judges) if args.temperature == "tuned"
                else float(args.temperature))

    parts = {
        "calibration": lambda: calibration(args.n, args.data_dir),
        "classifiers": lambda: classifiers(args.judges, args.data_dir),
        "guidance": lambda: guidance(args.model, args.judges, args.n, args.data_dir),
        "temperature": lambda: temperature(args.model, args.judges, args.n, args.data_dir),
        "conditional": lambda: conditional(args.model, args.judges, args.n, scales(), temperatures(), args.data_dir),
        "ranges": lambda: ranges(args.model, args.judges, args.n, scales(), temperatures(), args.data_dir),
        "joint": lambda: joint(args.model, args.judges, args.n, scales(), args.data_dir),
        "geometry": lambda: geometry(args.model, args.judges, args.n, args.data_dir),
    }
    selected = args.parts.split(",")
    if "joint" in selected and args.guidance == "tuned":  # refused before any part runs, not after some have
        parser.error("the joint part samples both properties at one guidance scale: give --guidance a number")
    run_parts(parts, [p for p in selected if p not in MODEL_PARTS], RESULTS)
    run_parts(parts, [p for p in selected if p in MODEL_PARTS], model_results(args.model),
              stored_as=lambda part: stored_key(part, args.temperature))
    write_benchmarks_md()


def stored_key(part: str, temperature: str) -> str:
    """The key a part's result is stored under: its name, and for a part of SAMPLED_PARTS sampled at another
    temperature than 1 (`--temperature` 'tuned' or a number), its name and that option ("conditional-temperature-
    tuned")."""
    model_as_trained = temperature != "tuned" and float(temperature) == 1.0
    return part if part not in SAMPLED_PARTS or model_as_trained else f"{part}-temperature-{temperature}"


def model_results(model: str) -> Path:
    """The results file of one model's parts: conditional-<zoo name>.json, or the folder's path with '/' as '_'."""
    return RESULTS.with_name(f"conditional-{model.strip('/').replace('/', '_')}.json")


if __name__ == "__main__":
    main()
