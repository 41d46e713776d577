"""Render BENCHMARKS.md from benchmarks/results/*.json (numbers are never typed in by hand)."""

from __future__ import annotations

import json
from pathlib import Path

from report_adit import adit_sections
from report_conditional import CONDITIONAL_MODELS, conditional_sections
from report_format import cause_shares, command_of
from report_nextmol import nextmol_sections
from report_quetzal import quetzal_sections
from report_readme import adit_summary, evaluator_summary, nextmol_summary, quetzal_summary, write_readme_summaries
from report_training import training_sections

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "python benchmarks/bench_evaluator.py --parts"

# Published rows for the datasets themselves, for comparison (percentages).
# EDM: Hoogeboom et al. 2022, "Equivariant Diffusion for Molecule Generation in 3D", Tables 1-2, row "Data"
# (QM9 with hydrogens; GeoLDM, Xu et al. 2023, repeats the same row).
EDM_DATA_ROW = {"atom_stability": 99.0, "molecule_stability": 95.2, "edm_validity": 97.7, "edm_valid_unique": 97.7}


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def _num(value, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _qm9_section(entry: dict) -> list[str]:
    r = entry["result"]
    m = r["metrics"]
    lines = [
        "## QM9 training split evaluated as if generated",
        "",
        f"All {r['n_samples']:,} molecules of EDM's QM9 train split, against the `qm9` reference (novelty: train "
        f"split; distributions and FCD: test split, {r['reference']['n_test']:,} RDKit-valid SMILES). "
        f"Command: `{command_of(entry, f'{COMMAND} qm9-train')}` ({entry['machine']}, commit "
        f"{entry['commit']}, {entry['wall_s']:.0f} s including one-off preparation).",
        "",
        "| metric | atomgen | EDM paper, Data row |",
        "|---|---|---|",
    ]
    labels = {
        "atom_stability": "Atom stability (EDM bonds) %",
        "molecule_stability": "Molecule stability (EDM bonds) %",
        "edm_validity": "Validity (EDM bonds, largest fragment) %",
        "edm_valid_unique": "Valid x unique (EDM) %",
        "rdkit_validity": "Validity (RDKit DetermineBonds, charge 0) %",
        "connected_validity": "Connected validity %",
        "uniqueness": "Uniqueness among RDKit-valid %",
        "novelty": "Novelty vs train %",
        "posebusters_pass": "PoseBusters mol, all checks %",
    }
    for key, label in labels.items():
        lit = EDM_DATA_ROW.get(key)
        lines.append(f"| {label} | {_pct(m.get(key))} | {'' if lit is None else lit} |")
    for key, label in [("atom_type_tv", "Atom-type TV"), ("n_atoms_tv", "Number-of-atoms TV"),
                       ("bond_length_w1", "Bond-length W1 (Å)"), ("bond_angle_w1", "Bond-angle W1 (°)"),
                       ("fcd", "FCD vs test (fcd_torch)"), ("strain_median", "Strain median (kcal/mol)")]:
        lines.append(f"| {label} | {_num(m.get(key))} | |")
    versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items() if k in ("rdkit", "fcd_torch", "posebusters"))
    lines += ["", f"Library versions: {versions}. PoseBusters and strain on a seeded random 500 of the valid "
              "molecules.", ""]
    return lines


def _subsets_section(entry: dict) -> list[str]:
    r = entry["result"]
    keys = ["atom_stability", "molecule_stability", "edm_validity", "edm_valid_unique", "rdkit_validity", "uniqueness"]
    lines = [
        f"### QM9 train, seeded random subsets of {r['n']:,}",
        "",
        "The size at which generated sets are usually evaluated. Command: "
        f"`{command_of(entry, f'{COMMAND} qm9-subsets')}` ({entry['machine']}, commit {entry['commit']}).",
        "",
        "| seed | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 1) + "|",
    ]
    for seed, metrics in r["by_seed"].items():
        lines.append(f"| {seed} | " + " | ".join(_pct(metrics.get(k)) for k in keys) + " |")
    if "instability_causes_by_seed" in r:
        lines += ["", ("Why the dataset's own unstable molecules fail, as shares of all molecules "
                       "(`atomgen.eval.instability`):"), ""]
        for seed, causes in r["instability_causes_by_seed"].items():
            lines.append(f"- seed {seed}: {cause_shares(causes)}")
    return lines + [""]


def _speed_section(entry: dict) -> list[str]:
    r = entry["result"]
    return [
        "## Evaluator speed",
        "",
        f"{r['n']:,} QM9 molecules (a seeded random subset of the train split), reference statistics already cached. "
        f"Command: `{command_of(entry, f'{COMMAND} speed')}` ({entry['machine']}, commit {entry['commit']}).",
        "",
        "| what | seconds | budget |",
        "|---|---|---|",
        f"| everything but FCD, PoseBusters and strain | {r['seconds_without_fcd_posebusters_strain']:.1f} | 60 |",
        f"| FCD of the {r['n_valid_for_fcd']:,} valid molecules (reference statistics cached) | "
        f"{r['seconds_fcd']:.1f} | 60 |",
        "",
    ]


def _default_run_section(entry: dict) -> list[str]:
    r = entry["result"]
    stages = "; ".join(f"{name} {seconds:.1f}" for name, seconds in r["seconds_by_stage"].items())
    return [
        "## Evaluator: the default run",
        "",
        f"`evaluate` of {r['n']:,} QM9 molecules (a seeded random subset of the train split) with its default metrics, "
        f"as `atomgen evaluate` runs it: FCD, and PoseBusters and strain on its seeded {r['posebusters_n']:,}; "
        "reference statistics already cached (the first evaluation against a reference builds them once). "
        f"Command: `{command_of(entry, f'{COMMAND} default-run')}` ({entry['machine']}, commit {entry['commit']}; "
        f"load average {r['load_average_1min_before']:.1f} before the run).",
        "",
        "| what | value |",
        "|---|---|",
        f"| wall time | {r['seconds']:.0f} s |",
        f"| CPU time, worker processes included | {r['cpu_seconds']:.0f} s |",
        f"| seconds by stage | {stages} |",
        f"| PoseBusters `mol`, all checks / strain median (kcal/mol) | {_pct(r['metrics']['posebusters_pass'])} % / "
        f"{r['metrics']['strain_median']:.2f} |",
        "",
        "PoseBusters' workers start before the distributions are computed; its stage is the wait for them after "
        "FCD and strain, which ran beside them.",
        "",
    ]


def _crystal_section(name: str, entry: dict) -> list[str]:
    r = entry["result"]
    m = r["metrics"]
    d = r.get("details", {})
    rows = [("structural_validity", "Structural validity %", _pct), ("compositional_validity",
             "Compositional validity (SMACT) %", _pct), ("validity", "Validity (both) %", _pct),
            ("uniqueness", "Uniqueness %", _pct), ("novelty", "Novelty vs val %", _pct),
            ("density_w1", "Density W1 (g/cm³)", _num), ("n_elements_w1", "Number-of-elements W1", _num)]
    lines = [
        f"## {name} test split evaluated as if generated (against its val split)",
        "",
        f"{r['n_samples']:,} test structures against the {r['reference']['n_test']:,} of the val split (the train "
        f"split is not reachable here). Command: `{command_of(entry, f'{COMMAND} {name}')}` "
        f"({entry['machine']}, commit {entry['commit']}, {entry['wall_s']:.0f} s).",
        "",
        "| metric | atomgen |",
        "|---|---|",
    ]
    lines += [f"| {label} | {fmt(m.get(key))} |" for key, label, fmt in rows]
    coverage = {k: v for k, v in d.items() if k.startswith("cov")}
    if coverage:
        lines += ["", "Coverage: " + "; ".join(f"{k}: {v}" for k, v in coverage.items())]
    return lines + [""]


def _readback_section(entry: dict) -> list[str]:
    r = entry["result"]
    lines = [
        "## SDF files written by atomgen, read back by RDKit",
        "",
        f"{r['n']:,} QM9 molecules ({r['source']}) converted XYZ -> SDF as `atomgen convert` does, each record read "
        "back by RDKit's SDMolSupplier with sanitisation (hydrogens kept). Connectivity compares the element-labelled "
        "heavy-atom graph with QM9's own SMILES (bond orders, charges and hydrogens ignored). Command: "
        f"`{command_of(entry, f'{COMMAND} sdf-readback')}` ({entry['machine']}, commit {entry['commit']}, "
        f"{entry['wall_s']:.0f} s in all, RDKit {r['rdkit']}).",
        "",
        "| what | value |",
        "|---|---|",
        f"| read back with sanitisation | {r['read_back_sanitized']:,} ({_pct(r['share_read_back_sanitized'])} %) |",
        f"| same heavy-atom connectivity as QM9 | {r['same_heavy_atom_connectivity']:,} "
        f"({_pct(r['share_same_heavy_atom_connectivity'])} %) |",
        f"| same canonical SMILES, stereo ignored | {_pct(r['share_same_canonical_smiles'])} % |",
        f"| written without bonds | {r['written_without_bonds']:,} |",
        f"| seconds to convert and read back ({r['processes']} processes) | {r['seconds_convert_and_read']:.0f} |",
        "",
    ]
    if r["failures"]:
        listed = "; ".join(f"`{f['name']}` `{f['smiles']}` ({f['why']})" for f in r["failures"])
        lines += [f"Failures ({len(r['failures'])} of {r['n_failures']} listed): {listed}.", ""]
    return lines


def _xtb_section(entry: dict) -> list[str]:
    r = entry["result"]
    d = r["details"]
    return ["## The opt-in GFN2-xTB check: QM9's own row", "",
            f"{r['n']:,} QM9 test molecules (seeded draw; their B3LYP geometries) relaxed with GFN2-xTB as "
            f"`atomgen evaluate --xtb` relaxes generated ones, in {r['seconds']:.0f} s: the row a generator's "
            f"numbers are read against. Command: `{command_of(entry, f'{COMMAND} xtb')}` ({entry['machine']}, "
            f"commit {entry['commit']}).", "",
            "| energy released, median / mean (kcal/mol) | RMSD to the xTB minimum, median / mean (Å) | relaxed | "
            "converged |", "|---|---|---|---|",
            f"| {r['metrics']['xtb_energy_drop_median']:.2f} / {d['xtb_energy_drop_mean']:.2f} | "
            f"{r['metrics']['xtb_rmsd_median']:.3f} / {d['xtb_rmsd_mean']:.3f} | {d['xtb_n']:,} | "
            f"{_pct(d['xtb_converged'])} % |", ""]


def _report_section(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## The HTML report: time and size", "",
             "QM9 train molecules (a seeded draw) evaluated as if generated (without FCD, PoseBusters and strain, "
             "which leave the page's size alone), then rendered as one offline HTML page with `atomgen.report` "
             "(figures, a gallery of at most 56 cards, 3Dmol.js inline): the page's size stays flat however many "
             f"molecules it covers. Command: `{command_of(entry, f'{COMMAND} report')}` ({entry['machine']}, "
             f"commit {entry['commit']}).", "",
             "| molecules | evaluate (s) | page (s) | page size (MB) |", "|---|---|---|---|"]
    lines += [f"| {int(n):,} | {row['evaluate_seconds']:.0f} | {row['page_seconds']:.1f} | {row['megabytes']:.2f} |"
              for n, row in r["by_n"].items()]
    return lines + ["", f"The data row beside the sample's metrics (1,000 QM9 test molecules, the same switches) took "
                        f"{r['data_row_seconds']:.0f} s to evaluate when this ran, and is read from the data cache "
                        "after its first time.", ""]


def write_benchmarks_md(path: Path = ROOT / "BENCHMARKS.md") -> None:
    """Write BENCHMARKS.md from every results file in benchmarks/results/, and README.md's summary tables."""
    evaluator = _load("evaluator.json")
    quetzal = _load("quetzal.json")
    lines = [
        "# Benchmarks",
        "",
        "Generated from `benchmarks/results/*.json` by the benchmark scripts; every number below was measured by "
        "the script named beside it, on the machine named beside it.",
        "",
    ]
    lines += quetzal_sections(quetzal)
    lines += adit_sections(_load("adit.json"))
    lines += nextmol_sections(_load("nextmol.json"))
    lines += conditional_sections(_load("conditional.json"),
                                  [_load(f"conditional-{name}.json") for name in CONDITIONAL_MODELS])
    lines += training_sections(_load("training.json"))
    renderers = [("qm9-train", _qm9_section), ("qm9-subsets", _subsets_section), ("speed", _speed_section),
                 ("default-run", _default_run_section),
                 ("perov_5", lambda entry: _crystal_section("perov_5", entry)),
                 ("carbon_24", lambda entry: _crystal_section("carbon_24", entry)),
                 ("sdf-readback", _readback_section), ("xtb", _xtb_section), ("report", _report_section)]
    lines += [line for part, render in renderers if part in evaluator for line in render(evaluator[part])]
    path.write_text("\n".join(lines))
    write_readme_summaries(ROOT / "README.md", readme_summaries())


def readme_summaries() -> dict[str, list[str]]:
    """README.md's summary tables, by block name, rendered from the results files."""
    return {"quetzal": quetzal_summary(_load("quetzal.json")), "adit": adit_summary(_load("adit.json")),
            "nextmol": nextmol_summary(_load("nextmol.json")),
            "evaluator": evaluator_summary(_load("evaluator.json"), EDM_DATA_ROW)}


def _load(name: str) -> dict:
    file = ROOT / "benchmarks" / "results" / name
    return json.loads(file.read_text()) if file.is_file() else {}


if __name__ == "__main__":
    write_benchmarks_md()
