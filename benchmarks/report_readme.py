"""The summary tables of README.md, rendered from benchmarks/results/*.json, so that no number in them is typed in by
hand. Each table sits between `<!-- summary:NAME -->` and `<!-- /summary:NAME -->` in README.md; everything
between the markers is rewritten by `write_benchmarks_md.py` (edit the wording here, not there), and
tests/test_readme_numbers.py checks that README.md holds what these functions render."""

from __future__ import annotations

import re
from pathlib import Path

from report_adit import CRYSTAL_TARGETS
from report_format import pct
from report_quetzal import TARGETS as QUETZAL_TARGETS


KV_CACHE_TARGET = 5
DEFAULT_SAMPLER = ("dpm2m", 30, "bf16")
"""Quetzal's default sampler (atomgen.models.sampler_settings), whose rows the README quotes."""
"""Quetzal's issue: the KV cache should make batch-1 sampling this many times faster."""

ADIT_MOLECULE_TARGET = 85
"""ADiT's issue: RDKit validity (%) of its molecules."""

RELAXED_SUFFIX = ", MMFF-relaxed"
"""The NExT-Mol 'sampler' part scores the shipped model's default sampler a second time after the MMFF relaxation,
in a row named after it with this suffix: that is how the README finds the default's row."""

NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
"""Small counts as the README's prose writes them ("six seeds", "one thread")."""


def _p1(value: float) -> str:
    """A fraction as a percentage with one decimal."""
    return f"{100 * value:.1f}"


def _p1_trim(value: float) -> str:
    """A fraction as a percentage with one decimal, a whole 100 written "100"."""
    text = _p1(value)
    return "100" if text == "100.0" else text


def _words(count: int) -> str:
    """A small count in words, as prose writes it."""
    return NUMBER_WORDS[count] if count < len(NUMBER_WORDS) else f"{count:,}"


def _table(header: str, rows: list[tuple[str, str, str]]) -> list[str]:
    """A three-column markdown table under `header` (a whole markdown row); an empty cell is written "| |"."""
    return [header, "|---|---|---|"] + ["|" + "|".join(f" {cell} " if cell else " " for cell in row) + "|"
                                        for row in rows]


def quetzal_summary(results: dict) -> list[str]:
    """README's table of where the shipped Quetzal model stands, against its issue's targets."""
    m = results["samples"]["result"]["metrics"]
    # The six-seed mean of the default sampler, as the headline row itself is drawn with it.
    settings = results["sampler-settings"]["result"]
    default = next(s for s in settings["settings"] if (s["solver"], s["steps"], s["precision"]) == DEFAULT_SAMPLER)
    seeds_mean = default["mean"]["molecule_stability"]
    nll = results["likelihood"]["result"]
    decoration = results["decoration"]["result"]
    scaffold = results["scaffold"]["result"]
    kv = results["kv-cache"]["result"]["1"]
    sampling = results["throughput"]["result"]
    paper_sampler, default_sampler = (sampling["settings"][name] for name in ("heun 30 steps, fp32",
                                                                              "dpm2m 30 steps, bf16"))
    training = results["train-throughput"]["result"]
    rates = training["by_setting"]
    target = {key: f"{value:.0f} %" for key, value in QUETZAL_TARGETS.items()}
    kept = ("every valid one keeps its scaffold" if scaffold["scaffold_kept_among_valid"] == 1
            else f"{_p1(scaffold['scaffold_kept_among_valid'])} % of the valid ones keep their scaffold")
    rows = [
        ("atom stability", f"{_p1(m['atom_stability'])} %", target["atom_stability"]),
        ("molecule stability", f"{_p1(m['molecule_stability'])} % ({_words(len(settings['seeds']))} seeds: "
         f"{_p1(seeds_mean)} % mean, `--parts sampler-settings`)", target["molecule_stability"]),
        ("RDKit validity", f"{_p1(m['rdkit_validity'])} %", target["rdkit_validity"]),
        ("uniqueness / novelty", f"{_p1_trim(m['uniqueness'])} % / {_p1(m['novelty'])} %",
         f"{target['uniqueness']} uniqueness"),
        ("FCD / PoseBusters `mol` / bond-length W1",
         f"{m['fcd']:.2f} / {_p1(m['posebusters_pass'])} % / {m['bond_length_w1']:.4f} Å", ""),
        (f"exact NLL, {nll['n']:,} QM9 test molecules (`--parts likelihood`)",
         f"{nll['nll_per_molecule']:.1f}".replace("-", "−") + " nats per molecule (densities per Å³)", ""),
        (f"hydrogen decoration, {decoration['n']:,} QM9 test molecules (`--parts decoration`)",
         f"right H count {_p1(decoration['quetzal']['correct_hydrogen_count'])} %, within 0.5 Å "
         f"{_p1(decoration['quetzal']['fraction_below']['0.5'])} % (RDKit told the true bonds: "
         f"{_p1(decoration['rdkit']['correct_hydrogen_count'])} %, {_p1(decoration['rdkit']['fraction_below']['0.5'])} %)",
         ""),
        (f"scaffold completion, {scaffold['scaffolds'] * scaffold['per_scaffold']:,} (`--parts scaffold`)",
         f"{_p1(scaffold['validity'])} % valid, {kept}", ""),
        ("KV cache, batch 1, 29 atoms (`--parts kv-cache`)",
         f"{kv['speedup']:.2f}x ({'the same molecule' if kv['same_molecules'] else 'NOT the same molecule'})",
         f"{KV_CACHE_TARGET}x"),
        (f"sampling on {sampling['threads']} CPU threads (`--parts throughput`)",
         f"{_best_rate(default_sampler):.1f} molecules/s with the default sampler (DPM-Solver++ 30 steps, bf16; "
         f"{100 * default_sampler['utilisation']['mfu']:.0f} % of the bf16 peak), {_best_rate(paper_sampler):.1f} "
         "with the paper's (Heun 30 steps, fp32)", "200 molecules/s"),
        (f"training on {training['threads']} CPU threads, batch {training['batch_size']} "
         "(`--parts train-throughput`)",
         f"{rates['prefix geometry head, fp32']['atoms_per_second']:,.0f} atoms/s in fp32, "
         f"{rates['prefix geometry head, bf16-mixed']['atoms_per_second']:,.0f} in bf16 autocast"
         + _share_of_peak(rates['prefix geometry head, bf16-mixed']) + _compiled(rates), "3x fp32"),
    ]
    return _table("| what | shipped `quetzal-qm9-small` | issue's target |", rows)


def _compiled(rates: dict) -> str:
    """", N with its blocks compiled (M % ...)" where the train-throughput part timed a compiled arm."""
    row = rates.get("prefix geometry head, bf16-mixed, compiled blocks")
    return f", {row['atoms_per_second']:,.0f} with its blocks compiled" + _share_of_peak(row) if row else ""


def _share_of_peak(row: dict) -> str:
    """" (N % of the bf16 peak)" where a row was measured beside the machine's peak, else nothing."""
    return f" ({100 * row['utilisation']['mfu']:.0f} % of the bf16 peak)" if "utilisation" in row else ""


def _best_rate(setting: dict) -> float:
    """Molecules per second of a sampler setting at its best batch size."""
    return setting["by_batch_size"][str(setting["best_batch_size"])]["molecules_per_second"]


def _joint_verdict(rows: dict) -> str:
    """Whether joint training helped, from the joint-vs-single rows: better than both single-domain models on
    their headline metric (molecules: RDKit validity; Perov-5: structural validity), worse than both, or mixed."""
    joint = rows["joint"]
    better = [joint["molecule_rdkit_validity"] > rows["molecules only"]["molecule_rdkit_validity"],
              joint["perov_5_structural_validity"] > rows["crystals only"]["perov_5_structural_validity"]]
    if all(better):
        return "joint training helps at this scale"
    return "joint training does **not** help at this scale" if not any(better) else "joint training helps one domain"


def adit_summary(results: dict) -> list[str]:
    """README's table of where the shipped ADiT model stands, against its issue's targets."""
    reconstruction = results["reconstruction"]["result"]
    perov = results["crystals"]["result"]
    carbon = results["carbon"]["result"]
    molecules = results["molecules"]["result"]
    speed = results["throughput"]["result"]
    by_batch = speed["systems_per_second_by_batch_size"]
    low, high = sorted(by_batch, key=int)
    crystal_targets = " / ".join(f"{CRYSTAL_TARGETS[key]:.0f} %" for key in ("structural_validity",
                                                                            "compositional_validity", "uniqueness"))
    qm9 = reconstruction["qm9"]
    rows = [
        (f"autoencoder, {qm9['n']:,} held-out systems each (`--parts reconstruction`)",
         f"QM9 positions within {qm9['position_rmsd_mean']:.3f} Å RMSD, {_p1(qm9['match_rate'])} % match; Perov-5 "
         f"{_p1_trim(reconstruction['perov_5']['match_rate'])} %, Carbon-24 "
         f"{_p1_trim(reconstruction['carbon_24']['match_rate'])} % match", ""),
        (f"Perov-5, {perov['n']:,} samples against the test split (`--parts crystals`)",
         f"structural validity {_p1(perov['metrics']['structural_validity'])} %, compositional "
         f"{_p1(perov['metrics']['compositional_validity'])} %, uniqueness {_p1(perov['metrics']['uniqueness'])} %, "
         f"density W1 {perov['metrics']['density_w1']:.2f} g/cm³", crystal_targets),
        (f"Carbon-24, {carbon['n']:,} samples (`--parts carbon`)",
         f"structural validity {_p1(carbon['metrics']['structural_validity'])} %", ""),
        (f"molecules, {molecules['n']:,} against QM9 (`--parts molecules`)",
         f"atom stability {_p1(molecules['metrics']['atom_stability'])} %, molecule stability "
         f"{_p1(molecules['metrics']['molecule_stability'])} %, RDKit validity "
         f"{_p1(molecules['metrics']['rdkit_validity'])} %" + _lenient(molecules['metrics']),
         f"RDKit validity {ADIT_MOLECULE_TARGET} %"),
        ("joint against single-domain DiTs, equal steps (`--parts joint-vs-single`)",
         _joint_verdict(results["joint-vs-single"]["result"]["rows"]), "a table"),
        (f"speed, {speed['threads']} idle cores, 100 Euler steps with guidance, bf16 (`--parts throughput`)",
         f"batch {low}: {by_batch[low]['adit_molecule_bf16']:.1f} molecules/s, "
         f"{by_batch[low]['adit_crystal_bf16']:.1f} crystals/s; batch {high}: "
         f"{by_batch[high]['adit_molecule_bf16']:.1f} and {by_batch[high]['adit_crystal_bf16']:.1f} "
         f"(Quetzal in the same run, 30 Heun steps: {by_batch[low]['quetzal_molecule']:.1f} and "
         f"{by_batch[high]['quetzal_molecule']:.1f} molecules/s)", ""),
    ]
    return _table("| what | shipped `adit-joint-small` | issue's target |", rows)


def _lenient(metrics: dict) -> str:
    """ADiT's own, lenient validity beside atomgen's, where the run measured it."""
    if "openbabel_pdb_validity" not in metrics:
        return ""
    return f"; ADiT's own lenient validity (OpenBabel bonds, PDB, RDKit parse) {_p1(metrics['openbabel_pdb_validity'])} %"


def nextmol_summary(results: dict) -> list[str]:
    """README's table of where the shipped NExT-Mol model stands, each row beside what the same run measured."""
    denovo = results["denovo"]["result"]
    m = denovo["metrics"]
    conformers = results["conformers"]["result"]
    rmsd = conformers["rows"]
    sampler = results["sampler"]["result"]
    default = next(row for name, row in sampler["rows"].items() if f"{name}{RELAXED_SUFFIX}" in sampler["rows"])
    geom = results["geom-qm9"]["result"]
    coverage = geom["rows"]
    speed = results["speed"]["result"]
    per_second = speed["conformers_per_second"]

    def median_mean(row: dict) -> str:
        return f"{row['median']:.3f} / {row['mean']:.3f}"

    def recall(row: dict) -> str:
        return f"{_p1(row['COV-R']['mean'])} %, {row['AMR-R']['mean']:.3f} Å"

    rows = [
        (f"de novo, {denovo['n']:,} molecules against QM9 (`--parts denovo`)",
         f"atom stability {_p1(m['atom_stability'])} %, **molecule stability {_p1(m['molecule_stability'])} %**, "
         f"RDKit validity {_p1(m['rdkit_validity'])} %, uniqueness {_p1(m['uniqueness'])} %, novelty "
         f"{_p1(m['novelty'])} %, FCD {m['fcd']:.2f}, PoseBusters {_p1(m['posebusters_pass'])} %",
         f"with `--relax` (MMFF94): molecule stability {_p1(denovo['relaxed']['metrics']['molecule_stability'])} %"),
        (f"conformers of {conformers['n']:,} QM9 test molecules, best of {conformers['k']}, median / mean RMSD to DFT "
         f"(`--parts conformers -n {conformers['n']}`)", f"**{median_mean(rmsd['NExT-Mol'])} Å**",
         f"ETKDG {median_mean(rmsd['ETKDG'])} Å; ETKDG + MMFF {median_mean(rmsd['ETKDG+MMFF'])} Å"),
        ("stereocentres right, conformers of molecules with stereocentres (same run)",
         f"{_p1(conformers['stereo_right'])} % of {conformers['chiral_conformers']:,}", ""),
        (f"one conformer of each of {sampler['n']:,} test molecules from its true graph "
         f"(`--parts sampler -n {sampler['n']}`)",
         f"bond-length MAE {default['bond_length_mae']:.4f} Å, molecule stability {_p1(default['molecule_stability'])} %",
         f"the DFT geometries themselves: {_p1(sampler['rows']['DFT geometry (reference)']['molecule_stability'])} %"),
        (f"GEOM-QM9 test list, the {geom['n_molecules']} that are QM9 test molecules (`--parts geom-qm9 -n 100`)",
         f"COV-R {_p1(coverage['NExT-Mol']['COV-R']['mean'])} %, AMR-R {coverage['NExT-Mol']['AMR-R']['mean']:.3f} Å",
         f"ETKDG {recall(coverage['ETKDG'])}; ETKDG + MMFF {recall(coverage['ETKDG+MMFF'])}"),
        (f"speed, {_words(speed['threads'])} thread{'s' if speed['threads'] > 1 else ''} "
         f"(`--parts speed -n {speed['n']}`)", f"{per_second['NExT-Mol']:.1f} conformers/s",
         f"ETKDG {per_second['ETKDG']:.0f}, ETKDG + MMFF {per_second['ETKDG + MMFF']:.0f}"),
    ]
    return _table("| what | shipped `nextmol-qm9` | beside it, in the same run |", rows)


def evaluator_summary(results: dict, edm_data_row: dict[str, float]) -> list[str]:
    """README's table of the QM9 train split evaluated as if generated, beside EDM's published "Data" row
    (`edm_data_row`, percentages)."""
    m = results["qm9-train"]["result"]["metrics"]
    subsets = results["qm9-subsets"]["result"]
    by_seed = [metrics["edm_valid_unique"] for metrics in subsets["by_seed"].values()]
    subset_text = " and ".join(f"{pct(value)} %" for value in by_seed)
    posebusters_n = results["qm9-train"]["result"]["details"]["posebusters_n"]
    rows = [
        ("atom stability", f"{pct(m['atom_stability'])} %", f"{edm_data_row['atom_stability']} %"),
        ("molecule stability", f"{pct(m['molecule_stability'])} %", f"{edm_data_row['molecule_stability']} %"),
        ("validity (EDM bonds)", f"{pct(m['edm_validity'])} %", f"{edm_data_row['edm_validity']} %"),
        ("valid x unique (EDM)", f"{pct(m['edm_valid_unique'])} % ({subset_text} on {_words(len(by_seed))} "
         f"random {subsets['n']:,}-molecule subsets, `--parts qm9-subsets`)", f"{edm_data_row['edm_valid_unique']} %"),
        ("validity (RDKit DetermineBonds)", f"{pct(m['rdkit_validity'])} %", "not published for the data"),
        ("novelty against train", f"{pct(m['novelty'])} % (as it must be)", ""),
        ("FCD against the test split", f"{m['fcd']:.3f}", ""),
        (f"PoseBusters `mol`, all checks ({posebusters_n} molecules)", f"{_p1(m['posebusters_pass'])} %", ""),
    ]
    if "default-run" in results:
        run = results["default-run"]["result"]
        rows.append((f"time of the default `atomgen evaluate`, {run['n']:,} molecules, 2 cores (`--parts default-run`)",
                     f"{run['seconds']:.0f} s (FCD, PoseBusters and strain included)", ""))
    return _table('| metric | atomgen | EDM paper, "Data" row (Hoogeboom et al. 2022, Tables 1-2; GeoLDM repeats it) |',
                  rows)


def _block_pattern(name: str) -> re.Pattern:
    """The marker pair of one summary block and what lies between them."""
    return re.compile(rf"(<!-- summary:{re.escape(name)} -->\n)(.*?)(<!-- /summary:{re.escape(name)} -->)", re.S)


def read_blocks(text: str, names: list[str]) -> dict[str, str]:
    """What README text holds between each named block's markers; a block without its markers is an error."""
    blocks = {}
    for name in names:
        found = _block_pattern(name).search(text)
        if found is None:
            raise ValueError(f"README.md has no <!-- summary:{name} --> ... <!-- /summary:{name} --> block")
        blocks[name] = found.group(2)
    return blocks


def replace_blocks(text: str, tables: dict[str, list[str]]) -> str:
    """README text with each named block's content replaced by its rendered table."""
    read_blocks(text, list(tables))  # every block must be there: a lost marker would silently stop updates
    for name, lines in tables.items():
        text = _block_pattern(name).sub(lambda found: found.group(1) + "\n".join(lines) + "\n" + found.group(3), text)
    return text


def write_readme_summaries(path: Path, tables: dict[str, list[str]]) -> None:
    """Rewrite the summary blocks of the README at `path` (the rest of the file is left as it is)."""
    text = path.read_text()
    updated = replace_blocks(text, tables)
    if updated != text:
        path.write_text(updated)
