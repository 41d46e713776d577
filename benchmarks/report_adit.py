"""The ADiT sections of BENCHMARKS.md, rendered from benchmarks/results/adit.json."""

from __future__ import annotations

from report_format import cause_shares, peak_sentence, provenance
from report_format import num as _num
from report_format import pct as _pct

CRYSTAL_TARGETS = {"structural_validity": 99.0, "compositional_validity": 95.0, "uniqueness": 90.0}
COMMAND = "python benchmarks/bench_adit.py --parts"


def _where(entry: dict, part: str) -> str:
    return provenance(entry, COMMAND, part)


def _reconstruction(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## ADiT: autoencoder reconstruction of held-out systems", "",
             "Test systems encoded to their latent means and decoded again; atom i compared with atom i. A molecule "
             "matches when all types are right and the positions are within 0.1 Å RMSD; a crystal when pymatgen's "
             "StructureMatcher (stol 0.5, angle_tol 10, ltol 0.3) finds it equal. " + _where(entry, "reconstruction"),
             ""]
    molecules = {k: v for k, v in r.items() if "position_rmsd_mean" in v}
    crystals = {k: v for k, v in r.items() if "frac_rmsd_mean" in v}
    if molecules:
        lines += ["| molecules | n | type accuracy % | position RMSD mean / median (Å) | match % | same molecule % |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {k} | {v['n']} | {_pct(v['type_accuracy'])} | {v['position_rmsd_mean']:.3f} / "
                  f"{v['position_rmsd_median']:.3f} | {_pct(v['match_rate'])} | {_pct(v['same_molecule_rate'])} |"
                  for k, v in molecules.items()]
        lines.append("")
    if crystals:
        lines += ["| crystals | n | type accuracy % | frac RMSD | lattice length MAE (Å) | angle MAE (°) | match % |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {k} | {v['n']} | {_pct(v['type_accuracy'])} | {v['frac_rmsd_mean']:.4f} | "
                  f"{v['lattice_length_mae']:.3f} | {v['lattice_angle_mae']:.2f} | {_pct(v['match_rate'])} |"
                  for k, v in crystals.items()]
    return lines + [""]


def _crystals(entry: dict, part: str) -> list[str]:
    r = entry["result"]
    m = r["metrics"]
    lines = [f"## ADiT: {r['label']} crystals from the joint model", "",
             f"{r['n']:,} crystals of class `{r['label']}` from `{r['model']}` (seed 0, {r['steps']} Euler steps, "
             f"guidance {r['guidance']}, {r.get('precision', 'fp32')}, sampled in {r['sampling_seconds']:.0f} s), against the {r['label']} test "
             "split (novelty: against its val split, the training data). " + _where(entry, part), "",
             "| metric | atomgen adit-joint-small | target |", "|---|---|---|"]
    rows = [("structural_validity", "Structural validity %", _pct), ("compositional_validity",
            "Compositional validity (SMACT) %", _pct), ("uniqueness", "Uniqueness %", _pct),
            ("novelty", "Novelty vs val %", _pct), ("density_w1", "Density W1 (g/cm³)", _num),
            ("n_elements_w1", "Number-of-elements W1", _num)]
    for key, label, fmt in rows:
        target = f"≥ {CRYSTAL_TARGETS[key]:.0f}" if key in CRYSTAL_TARGETS and r["label"] == "perov_5" else ""
        lines.append(f"| {label} | {fmt(m.get(key))} | {target} |")
    failures = r.get("details", {}).get("structural_failures")
    if failures:
        lines += ["", "Why the structurally invalid crystals fail, as shares of all samples "
                  "(`atomgen.eval.crystals.structural_failure`): " + cause_shares(failures)
                  + ". Overlapping atoms are two atoms on one site; a short lattice vector puts an atom on its own "
                  "periodic image."]
    return lines + [""]


def _molecules(entry: dict) -> list[str]:
    r = entry["result"]
    m = r["metrics"]
    lines = ["## ADiT: molecules from the joint model against QM9", "",
             f"{r['n']:,} molecules from `{r['model']}` (seed 0, {r['steps']} Euler steps, guidance {r['guidance']}, "
             f"{r.get('precision', 'fp32')}, "
             f"sampled in {r['sampling_seconds']:.0f} s), full evaluator against `qm9`. " + _where(entry, "molecules"),
             "", "| metric | atomgen adit-joint-small | target |", "|---|---|---|"]
    rows = [("atom_stability", "Atom stability %"), ("molecule_stability", "Molecule stability %"),
            ("rdkit_validity", "Validity (RDKit DetermineBonds) %"), ("uniqueness", "Uniqueness among valid %"),
            ("novelty", "Novelty vs train %")]
    for key, label in rows:
        lines.append(f"| {label} | {_pct(m.get(key))} | {'≥ 85' if key == 'rdkit_validity' else ''} |")
    lines.append(f"| FCD vs test | {_num(m.get('fcd'))} | |")
    lines += ["", "Why the unstable molecules fail, as shares of all samples (`atomgen.eval.instability`): "
              + cause_shares(r["details"]["instability_causes"]) + "."]
    return lines + [""]


def _settings(entry: dict) -> list[str]:
    r = entry["result"]
    lines = [f"## ADiT: sampler settings for {r['label']} crystals", "",
             f"{r['n']} crystals of class `{r['label']}` from `{r['model']}` per setting (seed 1, batch 500, "
             f"{r['threads']} threads). Both validities are properties of the samples alone, so no test data is read "
             "in choosing a setting. " + _where(entry, "settings"), "",
             "| sampler | steps | guidance | struct. validity % | comp. validity % | seconds |", "|---|---|---|---|---|---|"]
    lines += [f"| {row['sampler']} | {row['steps']} | {row['guidance']:g} | {_pct(row['structural_validity'])} | "
              f"{_pct(row['compositional_validity'])} | {row['seconds']:.0f} |" for row in r["rows"]]
    return lines + [""]


def _molecule_settings(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## ADiT: sampler settings for molecules", "",
             f"{r['n']} molecules from `{r['model']}` per setting (seed 1, batch 500, {r['threads']} threads). "
             "Stability and validity are properties of the samples alone, so no test data is read in choosing a "
             "setting. " + _where(entry, "molecule-settings"), "",
             "| sampler | steps | guidance | atom stability % | molecule stability % | RDKit validity % | seconds |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {row['sampler']} | {row['steps']} | {row['guidance']:g} | {_pct(row['atom_stability'])} | "
              f"{_pct(row['molecule_stability'])} | {_pct(row['rdkit_validity'])} | {row['seconds']:.0f} |"
              for row in r["rows"]]
    return lines + [""]


def _sampler_precision(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## ADiT: sampler steps and precision", "",
             f"Per seed {r['n_crystals']} Perov-5 crystals and {r['n_molecules']} molecules from `{r['model']}` (seeds "
             f"{r['seeds'][0]}-{r['seeds'][-1]}, guidance {r['guidance']:g}, batch {r['batch_size']}, {r['threads']} "
             "thread(s)); means over the seeds. The difference in structural validity is against the first row, the "
             "default, ± one standard error. Systems per second as timed in this run, crystals and molecules "
             "separately. " + _where(entry, "sampler-precision"), "",
             "| sampler | steps | precision | crystals / s | struct. validity % | difference (points) | "
             "comp. validity % | molecules / s | atom stab. % | mol. stab. % | RDKit valid % |", "|---" * 11 + "|"]
    for setting in r["settings"]:
        m, diff = setting["mean"], setting["structural_difference"]
        lines.append(f"| {setting['sampler']} | {setting['steps']} | {setting['precision']} | "
                     f"{m['crystals_per_second']:.1f} | {_pct(m['structural_validity'])} | "
                     f"{100 * diff['value']:+.1f} ± {100 * diff['standard_error']:.1f} | "
                     f"{_pct(m['compositional_validity'])} | {m['molecules_per_second']:.1f} | "
                     f"{_pct(m['atom_stability'])} | {_pct(m['molecule_stability'])} | {_pct(m['rdkit_validity'])} |")
    return lines + [""]


def _throughput(entry: dict) -> list[str]:
    r = entry["result"]
    names = {"adit_molecule": "ADiT, molecules (100 Euler steps, guidance 2)",
             "adit_molecule_bf16": "ADiT, molecules (the same in bf16)",
             "adit_crystal": "ADiT, crystals (100 Euler steps, guidance 2)",
             "adit_crystal_bf16": "ADiT, crystals (the same in bf16)",
             "quetzal_molecule": "Quetzal, molecules (30 Heun steps)"}
    by_batch = r["systems_per_second_by_batch_size"]
    batches = list(by_batch)
    lines = ["## ADiT: sampling throughput beside Quetzal", "",
             f"{r['count']} systems of each at each batch size, {r['threads']} threads, one run. "
             + _where(entry, "throughput"), "",
             "| model | " + " | ".join(f"systems / s at batch {b}" for b in batches) + " |",
             "|---|" + "---|" * len(batches)]
    use = r.get("utilisation_by_batch_size")

    def cell(batch: str, key: str) -> str:
        share = f" ({100 * use[batch][key]['mfu']:.0f} % of {r['precisions'][key]} peak)" if use else ""
        return f"{by_batch[batch][key]:.1f}{share}"

    lines += [f"| {label} | " + " | ".join(cell(b, key) for b in batches) + " |"
              for key, label in names.items() if key in by_batch[batches[0]]]
    if use:
        flops = ", ".join(f"{names[key].split(' (')[0]}{' bf16' if key.endswith('bf16') else ''} "
                          f"{value / 1e9:.1f}" for key, value in r["flops_per_system"].items())
        lines += ["", f"Matrix-product GFLOP per system, counted on the same 256: {flops}. "
                  + peak_sentence(r["machine_peak"])]
    return lines + [""]


def _joint_vs_single(entry: dict) -> list[str]:
    r = entry["result"]
    keys = [("training_steps", "DiT steps", str),
            ("molecule_atom_stability", "QM9 atom stability %", _pct),
            ("molecule_molecule_stability", "QM9 mol. stability %", _pct),
            ("molecule_rdkit_validity", "QM9 RDKit validity %", _pct),
            ("perov_5_structural_validity", "Perov-5 struct. validity %", _pct),
            ("perov_5_compositional_validity", "Perov-5 comp. validity %", _pct),
            ("perov_5_uniqueness", "Perov-5 uniqueness %", _pct),
            ("perov_5_density_w1", "Perov-5 density W1", _num)]
    lines = ["## ADiT: does joint training help here?", "",
             f"Three latent DiTs of the same size, trained for the same number of steps at the same batch size "
             "(`bash benchmarks/train_adit_joint_vs_single.sh STEPS`): on the joint mixture, on QM9 only and on "
             "Perov-5 + Carbon-24 only. All three diffuse in the latent space of the same frozen joint "
             "autoencoder (the shipped model's), so this compares the diffusion stage alone. "
             f"{r['n']} samples per kind, seed 0. " + _where(entry, "joint-vs-single"), "",
             "| model | " + " | ".join(label for _, label, _ in keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for role, row in r["rows"].items():
        lines.append(f"| {role} | " + " | ".join(fmt(row[k]) if k in row else "" for k, _, fmt in keys) + " |")
    return lines + [""]


def _latent_noise(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## ADiT: how imprecise a latent the decoder tolerates", "",
             f"{r['n']} QM9 test molecules encoded with `{r['model']}` (latent means), Gaussian noise added in units "
             "of the latent scale (the DiT's data have unit scale), then decoded. The encoder's own posterior "
             f"standard deviation is {r['posterior_std_in_scales']:.4f} scales (median). "
             + provenance(entry, COMMAND, "latent-noise"), "",
             "| noise (latent scales) | atom stability % | molecule stability % | RDKit validity % |",
             "|---|---|---|---|"]
    lines += [f"| {level} | {_pct(row['atom_stability'])} | {_pct(row['molecule_stability'])} | "
              f"{_pct(row['rdkit_validity'])} |" for level, row in r["rows"].items()]
    by_number = r.get("by_latent_number_in_scales")
    if by_number:
        spread, std = by_number["spread_of_means"], by_number["posterior_std"]
        lines += ["", "Per latent number (in latent scales): the spread of the encoder's means across atoms, and the "
                  "median posterior standard deviation.", "",
                  "| latent number | " + " | ".join(str(k) for k in range(len(std))) + " |",
                  "|---" * (len(std) + 1) + "|",
                  "| spread of means | " + " | ".join(f"{x:.2f}" for x in spread) + " |",
                  "| posterior std | " + " | ".join(f"{x:.3f}" for x in std) + " |"]
    return lines + [""]


def _latent_geometry(entry: dict) -> list[str]:
    r = entry["result"]
    return ["## ADiT: do the latents carry positions plainly?", "",
            f"{r['n']} QM9 test molecules, each rotated at random, encoded with `{r['model']}` (latent means). An "
            f"affine map from an atom's latent numbers to its coordinates, fitted by least squares on the atoms of "
            f"{r['fit_molecules']} of them, predicts the coordinates of the others with R² = {r['held_out_r2']:.4f} "
            f"and an RMSD of {r['held_out_rmsd_angstrom']:.3f} Å: the encoder writes each atom's position into its "
            "latent almost linearly, which is what `model.dit_distance_bias` builds on. "
            + provenance(entry, COMMAND, "latent-geometry"), ""]


def _denoising(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## ADiT: how precisely the DiT denoises, by time", "",
             f"{r['n']} test systems of each dataset encoded to their latent means; at each time t, noise drawn "
             "(seed 0), x_t = t·x + (1 - t)·ε, and the DiT's clean-latent prediction (two passes, the second "
             "self-conditioned on the first, as in sampling) compared with x. RMS errors in latent scales, over all "
             "latent numbers and over the five that spread most across atoms (\"precise\", the ones that carry "
             "positions), beside doing nothing (x_t / t). Sampling ends with the prediction at t = 0.99, so the last "
             "columns bound how precise a sample's latents can be. " + provenance(entry, COMMAND, "denoising"), "",
             "| model | data | " + " | ".join(f"t = {t:g}" for t in r["times"]) + " |",
             "|---|---" + "|---" * len(r["times"]) + "|"]
    for name, by_data in r["models"].items():
        for data, per_time in by_data.items():
            cells = [per_time[str(t)] for t in r["times"]]
            lines.append(f"| `{name}` | {data} | " + " | ".join(
                f"{c['rms']:.3f} / {c['rms_precise']:.3f} ({c['rms_identity']:.3f})" for c in cells) + " |")
    return lines + ["", "Each cell: all numbers / precise numbers (doing nothing).", ""]


def _partial_sampling(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## ADiT: where along the path samples go wrong", "",
             f"{r['n']} test systems of each dataset encoded to their latent means, moved to x_t at a start time t "
             "(noise seed 0), carried to t = 1 by the sampler (Euler, step 0.01, guidance 2), decoded and scored: "
             "a model that finishes paths well gives its test data back from late starts. RMS error of the final "
             "latents against the encoded ones in latent scales. " + provenance(entry, COMMAND, "partial-sampling"),
             "", "| model | start t | latent RMS error (QM9) | atom stab. % | mol. stab. % | RDKit valid % | "
             "latent RMS error (Perov-5) | Perov-5 struct. validity % |", "|---|---|---|---|---|---|---|---|"]
    for name, by_data in r["models"].items():
        for t0 in r["start_times"]:
            mol, cry = by_data["qm9"][str(t0)], by_data["perov_5"][str(t0)]
            lines.append(f"| `{name}` | {t0:g} | {mol['latent_rms_error']:.3f} | {_pct(mol['atom_stability'])} | "
                         f"{_pct(mol['molecule_stability'])} | {_pct(mol['rdkit_validity'])} | "
                         f"{cry['latent_rms_error']:.3f} | {_pct(cry['structural_validity'])} |")
    return lines + [""]


def adit_sections(results: dict) -> list[str]:
    """Markdown lines for every ADiT part that has results, in a fixed order."""
    renderers = [("reconstruction", _reconstruction), ("crystals", lambda e: _crystals(e, "crystals")),
                 ("carbon", lambda e: _crystals(e, "carbon")), ("settings", _settings),
                 ("molecules", _molecules), ("molecule-settings", _molecule_settings),
                 ("sampler-precision", _sampler_precision),
                 ("latent-noise", _latent_noise), ("latent-geometry", _latent_geometry), ("denoising", _denoising),
                 ("partial-sampling", _partial_sampling), ("joint-vs-single", _joint_vs_single),
                 ("throughput", _throughput)]
    return [line for part, render in renderers if part in results for line in render(results[part])]
