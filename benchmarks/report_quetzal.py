"""The Quetzal sections of BENCHMARKS.md, rendered from benchmarks/results/quetzal.json."""

from __future__ import annotations

from report_format import cause_shares, peak_sentence, provenance, seed_difference, seed_rows

# Published Quetzal QM9 rows (Cheng, Sun et al., 2025; 10k samples, 60 steps), percentages.
PAPER_165M = {"atom_stability": 98.3, "molecule_stability": 87.6, "edm_validity": 94.7, "edm_valid_unique": 90.1,
              "rdkit_validity": 99.1}
TARGETS = {"atom_stability": 97.0, "molecule_stability": 80.0, "rdkit_validity": 90.0, "uniqueness": 90.0}
COMMAND = "python benchmarks/bench_quetzal.py --parts"


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def _where(entry: dict, part: str) -> str:
    return provenance(entry, COMMAND, part)


def _sampler_name(r: dict) -> str:
    """The sampler a result was drawn with; results stored before the solver could be chosen used Heun in fp32."""
    solver = {"heun": "Heun", "dpm2m": "DPM-Solver++(2M)"}[r.get("solver", "heun")]
    return f"{r.get('steps', 30)} {solver} steps, {r.get('precision', 'fp32')}"


def _samples(entry: dict) -> list[str]:
    r = entry["result"]
    m = r["metrics"]
    lines = ["## Quetzal: samples from the shipped model against QM9", "",
             f"{r['n']:,} molecules from `{r['model']}` (seed 0, {_sampler_name(r)}, sampled in "
             f"{r['sampling_seconds']:.0f} s), through the full evaluator against the `qm9` reference. "
             + _where(entry, "samples"), "",
             "| metric | atomgen quetzal-qm9-small | target | Quetzal paper, 165M params |", "|---|---|---|---|"]
    labels = [("atom_stability", "Atom stability %"), ("molecule_stability", "Molecule stability %"),
              ("edm_validity", "Validity (EDM bonds) %"), ("edm_valid_unique", "Valid x unique (EDM) %"),
              ("rdkit_validity", "Validity (RDKit DetermineBonds) %"), ("uniqueness", "Uniqueness among valid %"),
              ("novelty", "Novelty vs train %"), ("posebusters_pass", "PoseBusters, all checks %")]
    for key, label in labels:
        target = f"≥ {TARGETS[key]:.0f}" if key in TARGETS else ""
        lines.append(f"| {label} | {_pct(m.get(key))} | {target} | {PAPER_165M.get(key, '')} |")
    for key, label in [("fcd", "FCD vs test"), ("atom_type_tv", "Atom-type TV"), ("n_atoms_tv", "Number-of-atoms TV"),
                       ("bond_length_w1", "Bond-length W1 (Å)"), ("strain_median", "Strain median (kcal/mol)")]:
        value = m.get(key)
        lines.append(f"| {label} | {'n/a' if value is None else f'{value:.4g}'} | | |")
    lines += ["", "Why the unstable molecules fail, as shares of all samples (`atomgen.eval.instability`): "
              + cause_shares(r["details"]["instability_causes"])
              + ". Odd valence means a wrong number of hydrogens (no closed-shell bonding exists); bond orders, "
              "that the atoms and their neighbours are right but some bond length sets the wrong EDM order."]
    return lines + [""]


def _temperatures(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## Quetzal: sampling temperatures", "",
             f"{r['n']:,} molecules from `{r['model']}` per setting (seed 0, {r['steps']} Heun steps) against QM9. "
             "The type temperature divides the atom-type logits; the position temperature scales the starting noise "
             "of each atom's position ODE (`--position-temperature`). Both at 1 sample the model's own distribution, "
             "the default. " + _where(entry, "temperatures"), "",
             "| type T | position T | atom stability % | molecule stability % | RDKit validity % | uniqueness % | "
             "novelty % | FCD | atom-type TV | bond-length W1 (Å) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        fcd, tv, w1 = row.get("fcd"), row.get("atom_type_tv"), row.get("bond_length_w1")
        cells = [f"{row['temperature']:g}", f"{row['position_temperature']:g}"]
        cells += [_pct(row[key]) for key in ("atom_stability", "molecule_stability", "rdkit_validity", "uniqueness",
                                              "novelty")]
        cells += ["n/a" if fcd is None else f"{fcd:.2f}", "n/a" if tv is None else f"{tv:.3f}",
                  "n/a" if w1 is None else f"{w1:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def _closed_shell(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## Quetzal: closed-shell stopping", "",
             f"{r['n']:,} molecules from `{r['model']}` per setting (seed 0, {r['steps']} Heun steps, temperatures 1) "
             "against QM9. With `closed_shell` (`--closed-shell`) STOP is allowed only while the atoms' valences sum "
             "to an even number, so that a closed-shell molecule of them can exist. " + _where(entry, "closed-shell"),
             "", "| closed shell | atom stability % | molecule stability % | RDKit validity % | uniqueness % | "
             "novelty % | FCD | atom-type TV | atoms-per-molecule TV | causes of instability (% of samples) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        cells = ["yes" if row["closed_shell"] else "no"]
        cells += [_pct(row[key]) for key in ("atom_stability", "molecule_stability", "rdkit_validity", "uniqueness",
                                              "novelty")]
        cells += [f"{row['fcd']:.2f}", f"{row['atom_type_tv']:.3f}", f"{row['n_atoms_tv']:.3f}",
                  cause_shares(row["instability_causes"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def _seeds(entry: dict) -> list[str]:
    r = entry["result"]
    names = list(r["models"])
    lines = ["## Quetzal: sampling noise across seeds", "",
             f"{r['n']:,} molecules per seed and model (seeds {r['seeds'][0]}-{r['seeds'][-1]}, {r['steps']} Heun "
             "steps, batch 256 as `atomgen sample` draws them) against QM9, PoseBusters, strain and FCD left out. "
             "The spread over seeds is what one run of 1,000 samples can say; a retrained model replaces the "
             "shipped one only when it is better by clearly more than the standard error. "
             + _where(entry, "seeds" + (f" --against {names[1]}" if len(names) > 1 else "")), ""]
    lines += seed_rows(r, ("atom_stability", "molecule_stability", "rdkit_validity", "uniqueness"))
    return lines + seed_difference(r, " over seeds") + [""]


def _heun_steps(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## Quetzal: Heun steps of the position ODE", "",
             f"{r['n']:,} molecules from `{r['model']}` per setting (seed 0, {r['threads']} threads) against QM9; "
             "each atom's position is integrated from the same starting noise, more or less finely (`--steps`, "
             "30 by default). " + _where(entry, "heun-steps"), "",
             "| Heun steps | atom stability % | molecule stability % | RDKit validity % | uniqueness % | FCD | "
             "bond-length W1 (Å) | seconds |", "|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        fcd, w1 = row.get("fcd"), row.get("bond_length_w1")
        cells = [str(row["steps"])]
        cells += [_pct(row[key]) for key in ("atom_stability", "molecule_stability", "rdkit_validity", "uniqueness")]
        cells += ["n/a" if fcd is None else f"{fcd:.2f}", "n/a" if w1 is None else f"{w1:.4f}",
                  f"{row['sampling_seconds']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def _kv_cache(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## Quetzal: what the KV cache saves", "",
             "29-atom molecules (min_atoms = max_atoms = 29), 30 Heun steps, same seed with and without the cache, "
             "best of three interleaved runs. " + _where(entry, "kv-cache"), "",
             "| batch | Heun steps | with cache (s) | without (s) | speed-up | same molecules | largest position "
             "difference (Å) |", "|---|---|---|---|---|---|---|"]
    for key, label, steps in (("1", "1", 30), ("64", "64", 30), ("steps_1_batch_1", "1", 1)):
        if key in r:
            row = r[key]
            same = {True: "yes", False: "NO"}.get(row.get("same_molecules"), "")
            shift = row.get("max_position_difference")
            shift = "" if shift is None else f"{shift:.1e}"
            lines.append(f"| {label} | {steps} | {row['seconds_with_cache']:.2f} | {row['seconds_without_cache']:.2f} | "
                         f"{row['speedup']:.2f}x | {same} | {shift} |")
    lines += ["", "The 1-step row isolates the transformer (the position head runs once per atom instead of 59 times). "
              "In a batch, all rows share one random stream, so a float-level difference between the two paths that "
              "flips one near-tie draw shifts every later draw: batched outputs can differ, batch 1 does not. "
              "\"Same\" means the same atom types and every position within 0.01 Å: the two paths sum in different "
              "orders, and float-level differences grow along the chain of atoms."]
    return lines + [""]


def _throughput(entry: dict, train: dict | None, gpu: bool = False) -> list[str]:
    r = entry["result"]
    part, train_part = ("gpu-throughput", "gpu-train-throughput") if gpu else ("throughput", "train-throughput")
    where = "one GPU (" + r["device"] + ")" if gpu else f"this CPU ({r['threads']} threads)"
    lines = [f"## Quetzal: throughput on {where}", "",
             f"Sampling {r.get('molecules', 1024):,} molecules. " + _where(entry, part)]
    # A GPU run recorded before the sampler settings existed timed the paper's sampler alone.
    settings = r.get("settings") or {"heun 30 steps, fp32": r}
    peak = r.get("machine_peak")
    if peak:
        lines += ["", peak_sentence(peak)]
    lines += ["", "| sampler | batch size | molecules / s | atoms / molecule | share of the peak (MFU) |",
              "|---|---|---|---|---|"]
    for name, setting in settings.items():
        for batch, row in setting["by_batch_size"].items():
            mfu = ""
            if "utilisation" in setting and int(batch) == setting["best_batch_size"]:
                use = setting["utilisation"]
                mfu = f"{100 * use['mfu']:.1f} % ({use['gflops']:.0f} GFLOP/s)"
            lines.append(f"| {name} | {batch} | {row['molecules_per_second']:.1f} | {row['atoms_per_molecule']:.1f} | "
                         f"{mfu} |")
    if train:
        lines += _training(train, train_part)
    return lines + [""]


def _training(train: dict, part: str) -> list[str]:
    t = train["result"]
    lines = ["", f"Training, small preset, batches of QM9 molecules (128 unless named), {t['threads']} threads "
             "(AdamW steps after two warm-up steps). " + _where(train, part)]
    if t.get("machine_peak"):
        lines += ["", peak_sentence(t["machine_peak"])]
    lines += ["", "| setting | atoms / s | share of the peak (MFU) |", "|---|---|---|"]
    for name, row in t["by_setting"].items():
        use = row.get("utilisation")
        mfu = f"{100 * use['mfu']:.1f} % ({use['gflops']:.0f} GFLOP/s)" if use else ""
        lines.append(f"| {name} | {row['atoms_per_second']:.0f} | {mfu} |")
    return lines


def _sampler_settings(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## Quetzal: ODE solver and precision of the sampler", "",
             f"{r['n']:,} molecules per seed from `{r['model']}`, seeds {r['seeds'][0]}-{r['seeds'][-1]}, batch "
             f"{r['batch_size']}, {r['threads']} thread(s), evaluated against QM9 without PoseBusters and strain; "
             "means over the seeds (molecules per second as timed in this run, beside other work: the throughput "
             "part times them on the idle machine). The difference in "
             "molecule stability is against the first row, the paper's sampler, ± one standard error. "
             + _where(entry, "sampler-settings"), "",
             "| solver | steps | network calls per atom | precision | molecules / s | atom stab. % | mol. stab. % "
             "| difference (points) | RDKit valid % | FCD | bond-length W1 (Å) |", "|---" * 11 + "|"]
    for setting in r["settings"]:
        m, diff = setting["mean"], setting["stability_difference"]
        calls = setting["steps"] if setting["solver"] == "dpm2m" else 2 * setting["steps"] - 1
        lines.append(f"| {setting['solver']} | {setting['steps']} | {calls} | {setting['precision']} | "
                     f"{m['molecules_per_second']:.1f} | {_pct(m['atom_stability'])} | "
                     f"{_pct(m['molecule_stability'])} | "
                     f"{100 * diff['value']:+.1f} ± {100 * diff['standard_error']:.1f} | {_pct(m['rdkit_validity'])} | "
                     f"{m['fcd']:.3f} | {m['bond_length_w1']:.4f} |")
    return lines + [""]


def _solver_error(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## Quetzal: how finely each ODE solver integrates the position head", "",
             f"Teacher-forced on {r['molecules']} QM9 test molecules ({r['atoms']:,} atoms, seeded): the same noise "
             f"integrated by each solver and by a reference ({r['reference']}); the distance (Å) between their end "
             "points is the solver's error alone. " + _where(entry, "solver-error"), "",
             "| solver | steps | network calls | precision | RMS (Å) | median (Å) | above 0.1 Å % |", "|---" * 7 + "|"]
    lines += [f"| {row['solver']} | {row['steps']} | {row['calls']} | {row['precision']} | {row['rms']:.4f} | "
              f"{row['median']:.4f} | {_pct(row['above_0.1'])} |" for row in r["rows"]]
    return lines + [""]


def _train_precision(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## Quetzal: does bf16 training learn as well as fp32?", "",
             f"From `{r['model']}`, {r['steps']} AdamW steps (lr {r['lr']:g} after {r['warmup_steps']} warm-up steps, "
             f"batch {r['batch_size']}, gradients clipped at {r['grad_clip']:g}) on QM9 train, in fp32 and under bf16 "
             "autocast, each with two seeds (a seed orders the batches and draws the noise; arms of one seed see the "
             "same ones); then the loss of each on the same 8 batches of QM9 valid, in fp32 with the same rotations "
             "and noise. The two seeds of one precision show the spread chance alone makes. "
             + _where(entry, "train-precision"),
             "", "| model | valid loss | type loss | position loss | train loss, last 50 steps | seconds |",
             "|---|---|---|---|---|---|"]
    for name, arm in r["arms"].items():
        extra = f"{arm['train_loss_last_50']:.4f} | {arm['seconds']:.0f}" if "seconds" in arm else " | "
        lines.append(f"| {name} | {arm['loss']:.4f} | {arm['type_loss']:.4f} | {arm['position_loss']:.4f} | {extra} |")
    return lines + [""]


def _train_precision_samples(entry: dict) -> list[str]:
    r = entry["result"]
    diff = r["stability_difference"]
    lines = ["## Quetzal: samples of the fp32- and bf16-trained models", "",
             f"The seed-0 models of the part above, {r['n']:,} molecules per seed (seeds {r['seeds'][0]}-"
             f"{r['seeds'][-1]}, the default sampler) each, evaluated against QM9 without PoseBusters and strain; "
             f"means over the seeds. bf16 minus fp32 in molecule stability: {100 * diff['value']:+.1f} ± "
             f"{100 * diff['standard_error']:.1f} points. " + _where(entry, "train-precision-samples"), "",
             "| trained in | atom stab. % | mol. stab. % | RDKit valid % | FCD |", "|---|---|---|---|---|"]
    for name, arm in r["arms"].items():
        m = arm["mean"]
        lines.append(f"| {name} | {_pct(m['atom_stability'])} | {_pct(m['molecule_stability'])} | "
                     f"{_pct(m['rdkit_validity'])} | {m['fcd']:.3f} |")
    return lines + [""]


def _decoration(entry: dict) -> list[str]:
    r = entry["result"]
    thresholds = r["thresholds"]
    lines = ["## Quetzal: hydrogen decoration", "",
             f"{r['n']:,} random QM9 test molecules with their hydrogens removed; the fraction whose predicted "
             "hydrogens lie within each RMSD of the true ones (optimal assignment; a wrong hydrogen count fails). "
             "RDKit: the true bonding, AddHs(addCoords=True), then MMFF on the hydrogens with heavy atoms fixed. "
             f"Quetzal's sampler: {_sampler_name(r)}. " + _where(entry, "decoration"), "",
             "| method | " + " | ".join(f"< {t} Å %" for t in thresholds) + " | right H count % | median RMSD (Å) | s |",
             "|---" * (len(thresholds) + 4) + "|"]
    labels = {"quetzal": "quetzal", "quetzal_closed_shell": "quetzal, closed shell", "rdkit": "rdkit"}
    for name, label in labels.items():
        row = r[name]
        cells = " | ".join(_pct(row["fraction_below"][str(t)]) for t in thresholds)
        lines.append(f"| {label} | {cells} | {_pct(row['correct_hydrogen_count'])} | {row['median_rmsd']:.3f} | "
                     f"{row['seconds']:.0f} |")
    return lines + [""]


def _scaffold(entry: dict) -> list[str]:
    r = entry["result"]
    return ["## Quetzal: scaffold completion", "",
            f"{r['scaffolds']} QM9 test molecules cut to their Murcko scaffold (heavy atoms, coordinates kept), "
            f"{r['per_scaffold']} completions each ({_sampler_name(r)}). " + _where(entry, "scaffold"), "",
            "| validity (RDKit) % | uniqueness per scaffold % | scaffold kept (valid) % | scaffold kept (all) % |",
            "|---|---|---|---|",
            f"| {_pct(r['validity'])} | {_pct(r['uniqueness_per_scaffold'])} | "
            f"{_pct(r['scaffold_kept_among_valid'])} | {_pct(r['scaffold_kept_overall'])} |", ""]


def _likelihood(entry: dict) -> list[str]:
    r = entry["result"]
    return ["## Quetzal: exact likelihood", "",
            f"{r['n']} random QM9 test molecules, canonical frame, 128 ODE steps ({r['seconds']:.0f} s). "
            + _where(entry, "likelihood"), "",
            f"- NLL: {r['nll_per_molecule']:.2f} nats per molecule, {r['nll_per_atom']:.3f} nats per atom "
            "(positions in Å, so densities per Å³).",
            f"- In the given frame, the NLL of a molecule over 4 random rotations varies with a standard deviation "
            f"of {r['given_frame_std_over_rotations_median']:.2f} nats (median over 50 molecules; max "
            f"{r['given_frame_std_over_rotations_max']:.2f}): the invariance the model learned from augmentation. "
            "The canonical frame makes the reported likelihood exactly invariant.", ""]


def _precision(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## Quetzal: how finely the position head resolves the next atom", "",
             f"Teacher-forced on {r['n']} QM9 test molecules (seeded): each true next atom is noised at a fixed σ and "
             "denoised by the head; the RMS error (Å) is compared with returning the noisy point unchanged (σ·√3). "
             "Where the two agree, the head adds no precision, and sampled positions keep about that much noise. "
             + _where(entry, "precision"), "",
             "| σ (Å) | doing nothing | hydrogens | heavy atoms |", "|---|---|---|---|"]
    lines += [f"| {row['sigma']:g} | {row['identity']:.4f} | {row['hydrogen']:.4f} | {row['heavy']:.4f} |"
              for row in r["rows"]]
    return lines + [""]


def quetzal_sections(results: dict) -> list[str]:
    """Markdown lines for every Quetzal part that has results, in a fixed order."""
    renderers = [("samples", _samples), ("temperatures", _temperatures), ("heun-steps", _heun_steps),
                 ("closed-shell", _closed_shell), ("seeds", _seeds), ("sampler-settings", _sampler_settings),
                 ("solver-error", _solver_error),
                 ("kv-cache", _kv_cache),
                 ("throughput", lambda entry: _throughput(entry, results.get("train-throughput"))),
                 ("gpu-throughput", lambda entry: _throughput(entry, results.get("gpu-train-throughput"), gpu=True)),
                 ("decoration", _decoration), ("scaffold", _scaffold), ("likelihood", _likelihood),
                 ("precision", _precision), ("train-precision", _train_precision),
                 ("train-precision-samples", _train_precision_samples)]
    return [line for part, render in renderers if part in results for line in render(results[part])]
