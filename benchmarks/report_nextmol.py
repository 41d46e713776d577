"""The NExT-Mol sections of BENCHMARKS.md, rendered from benchmarks/results/nextmol.json."""

from __future__ import annotations

from report_format import cause_shares, peak_sentence, provenance, seed_difference, seed_rows
from report_format import num as _num
from report_format import pct as _pct

COMMAND = "python benchmarks/bench_nextmol.py --parts"


def _where(entry: dict, part: str) -> str:
    return provenance(entry, COMMAND, part)


def _conformers(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## NExT-Mol: conformers of held-out QM9 molecules against their DFT geometry", "",
             f"{r['n']:,} QM9 test molecules (seeded draw), k = {r['k']} conformers each from the molecular graph; "
             "per molecule the best heavy-atom, symmetry-aware RMSD of its k conformers to the DFT geometry. The RDKit "
             "rows embed the same molecules in the same run (ETKDGv3; ETKDG+MMFF optimises those same embeddings with "
             "MMFF94). " + _where(entry, "conformers"), "",
             "| method | median best RMSD (Å) | mean best RMSD (Å) | molecules without any conformer |",
             "|---|---|---|---|"]
    lines += [f"| {name} | {row['median']:.3f} | {row['mean']:.3f} | {row.get('n_failed', 0)} |"
              for name, row in r["rows"].items()]
    lines += ["", f"Stereochemistry: {_pct(r['stereo_right'])} % of the {r['chiral_conformers']:,} generated "
              "conformers of molecules with stereocentres have every centre as in the input graph (RDKit's "
              "assignment from 3D)"
              + (f", with up to {r['stereo_retries']} new draws of a conformer whose centres disagree in a way no "
                 "reflection mends" if "stereo_retries" in r else ", first draws only (no retries)") + ".", ""]
    return lines


def _speed(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## NExT-Mol: conformer speed against RDKit", "",
             f"{r['n']} QM9 test molecules, k = {r['k']} conformers each, generation only (no scoring), "
             f"{r['threads']} threads, one run; NExT-Mol at its default sampler with stereo retries, ETKDG + MMFF "
             "counting embedding and optimisation. " + _where(entry, "speed"), "",
             "| method | conformers / s |", "|---|---|"]
    lines += [f"| {name} | {value:.1f} |" for name, value in r["conformers_per_second"].items()]
    if "utilisation" in r:
        use = r["utilisation"]
        lines += ["", f"NExT-Mol ({r['precision']}) reaches {100 * use['mfu']:.1f} % of the {r['precision']} peak "
                  f"({use['gflops']:.0f} GFLOP/s; {r['flops_per_conformer'] / 1e9:.1f} GFLOP of matrix products per "
                  "conformer, counted on the same conformers). " + peak_sentence(r["machine_peak"])]
    return lines + [""]


def _stereo(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## NExT-Mol: what keeps stereocentres right", "",
             f"{r['n']} QM9 test molecules with stereocentres ({r['n_several_centres']} with several), k = {r['k']} "
             f"conformers each from `{r['model']}`, seed 0: the share of conformers whose every centre matches the "
             "graph (RDKit's assignment from 3D). Every setting keeps a conformer's mirror image when that gets more "
             "centres right. \"Chiral order removed\" is the same network with its neighbour numbering made "
             "uninformative (every number embeds as \"none\"); \"steered\" moves every centre to its hand early in "
             "the sampling chain (`atomgen.models.nextmol.chirality`); retries draw a conformer again when no "
             "reflection mends its centres. The last two columns score the bonds against each molecule's DFT "
             "geometry. " + _where(entry, "stereo"), "",
             "| setting | all % | one centre % | several centres % | bond MAE (Å) | molecule stability % |",
             "|---|---|---|---|---|---|"]
    for name, row in r["rows"].items():
        mae = f"{row['bond_length_mae']:.4f}" if "bond_length_mae" in row else "-"
        lines.append(f"| {name} | {_pct(row['all'])} | {_pct(row['one centre'])} | {_pct(row['several centres'])} | "
                     f"{mae} | {_pct(row.get('molecule_stability'))} |")
    return lines + [""]


def _sampler(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## NExT-Mol: how precise the conformers' bonds are, by sampler", "",
             f"{r['n']} QM9 test molecules (seeded draw), one conformer each from `{r['model']}` per setting (seed 0, "
             "no stereo retries), against each molecule's DFT geometry: the mean absolute error of the bond lengths "
             "of the molecular graph, the share of bonds within 0.02 Å, EDM's atom and molecule stability of the "
             "geometry (the bond orders it perceives from distances must give every atom a right valence), and the "
             "heavy-atom RMSD to the DFT geometry; conformers per second as timed in this run (generation only). "
             "The first row scores the DFT geometries themselves. Refine "
             "steps are denoising iterations at one small noise level after the chain (`vp.refine`, `--refine-steps`). "
             + _where(entry, "sampler"), "",
             "| setting | bond MAE (Å) | bonds within 0.02 Å % | atom stability % | molecule stability % "
             "| median RMSD (Å) | conformers / s |", "|---|---|---|---|---|---|---|"]
    for name, row in r["rows"].items():
        rmsd = f"{row['rmsd_median']:.3f}" if "rmsd_median" in row else "-"
        speed = f"{row['conformers_per_second']:.1f}" if "conformers_per_second" in row else "-"
        lines.append(f"| {name} | {row['bond_length_mae']:.4f} | {_pct(row['bonds_within_0.02'])} | "
                     f"{_pct(row['atom_stability'])} | {_pct(row['molecule_stability'])} | {rmsd} | {speed} |")
    relaxed = [(name, row) for name, row in r["rows"].items() if "left_unrelaxed" in row]
    lines += ["", *(f"\"{name}\": the conformers of the row above it after the opt-in MMFF94 relaxation (`--relax`); "
                    f"{row['left_unrelaxed']} of {r['n']} were left as generated (MMFF could not type them, or the "
                    "minimisation would have changed their stereochemistry)." for name, row in relaxed)]
    return lines + [""]


def _solvers(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## NExT-Mol: the default conformer sampler against the one before it", "",
             f"The same {r['n']} QM9 test molecules and seeds for both samplers (bf16): one conformer of each at seeds "
             f"0 and 1, scored as in the table above; then the best of {r['k']} conformers (stereo retries on) of "
             f"the first {r['n'] // 2}, the difference of each molecule's best RMSD paired. "
             + _where(entry, "solvers"), "",
             "| sampler, seed | bond MAE (Å) | atom stability % | molecule stability % | median / mean RMSD (Å) |",
             "|---|---|---|---|---|"]
    for name, row in r["single_conformer"].items():
        lines.append(f"| {name} | {row['bond_length_mae']:.4f} | {_pct(row['atom_stability'])} | "
                     f"{_pct(row['molecule_stability'])} | {row['rmsd_median']:.3f} / {row['rmsd_mean']:.3f} |")
    lines += ["", f"| sampler | best of {r['k']}: median / mean RMSD (Å) | seconds ({r['threads']} thread(s)) |",
              "|---|---|---|"]
    for name, row in r["best_of_k"].items():
        lines.append(f"| {name} | {row['median']:.3f} / {row['mean']:.3f} | {row['seconds']:.0f} |")
    diff = r["best_of_k_difference"]
    lines += ["", f"Best-of-{r['k']} RMSD, default minus before, per molecule: {diff['mean']:+.4f} ± "
              f"{diff['standard_error']:.4f} Å (one standard error)."]
    return lines + [""]


def _denovo(entry: dict) -> list[str]:
    r = entry["result"]
    m = r["metrics"]
    relaxed = r.get("relaxed")
    lines = ["## NExT-Mol: de novo 3D molecules against QM9", "",
             f"{r['n']:,} molecules from `{r['model']}` (seed 0; SELFIES from the language model, then one conformer "
             f"each; sampled in {r['sampling_seconds']:.0f} s), full evaluator against `qm9`"
             + (f"; then the same molecules after the opt-in MMFF94 relaxation (`--relax`, "
                f"{relaxed['seconds']:.0f} s; {relaxed['left_unrelaxed']} left as generated because MMFF could not "
                "type them or would have changed their stereochemistry), evaluated again" if relaxed else "")
             + ". " + _where(entry, "denovo"), "",
             "| metric | model | model + MMFF relax | target |" if relaxed else "| metric | measured | target |",
             "|---|---|---|---|" if relaxed else "|---|---|---|"]
    rows = [("atom_stability", "Atom stability %", ""), ("molecule_stability", "Molecule stability %", "≥ 85"),
            ("rdkit_validity", "Validity (RDKit DetermineBonds on the 3D structure) %", ""),
            ("uniqueness", "Uniqueness among valid %", "reported"), ("novelty", "Novelty vs train %", "reported")]
    second = relaxed["metrics"] if relaxed else None
    for key, label, target in rows:
        lines.append(f"| {label} | {_pct(m.get(key))} | " + (f"{_pct(second.get(key))} | " if second else "")
                     + f"{target} |")
    lines.append(f"| FCD vs test | {_num(m.get('fcd'))} | " + (f"{_num(second.get('fcd'))} | " if second else "")
                 + "reported |")
    lines += ["", "Why the unstable molecules fail, as shares of all samples (`atomgen.eval.instability`): "
              + cause_shares(r["details"]["instability_causes"])
              + (" (model); " + cause_shares(relaxed["details"]["instability_causes"])
                 + " (model + MMFF relax)" if relaxed else "") + "."]
    lines += ["", "The language model's own validity (every SELFIES decodes to a molecule) is 100 % by construction "
              "and tested on thousands of samples (`tests/test_nextmol.py`)."]
    return lines + [""]


def _geom_qm9(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## NExT-Mol: COV / AMR on the GEOM-QM9 test list, against the DFT geometry", "",
             "GEOM's CREST conformer ensembles are not reachable here, so this is not the published GEOM-QM9 "
             "protocol. Molecules of `geom_qm9/conformer_test_smiles.csv` that are also QM9 test molecules (same graph; "
             "QM9 train molecules are left out because the model has seen their geometry) get their QM9 DFT geometry "
             "as the one reference conformer"
             + (f" ({r['listed_in_qm9_test']} of the list; RDKit cannot parse {r['listed_unparsable']} of its SMILES)"
                if "listed_in_qm9_test" in r else "")
             + f"; the first {r['n_molecules'] + r.get('left_out', 0)} of them (QM9 test order) are taken"
             + (f", and {r['left_out']} that some method made no conformer of are left out" if r.get("left_out")
                else "")
             + ". "
             f"Every method makes 2K conformers per molecule (K = GEOM's ensemble size; median 2K = "
             f"{r['conformers_per_molecule_median']:.0f}); threshold 0.5 Å; mean (median) over molecules. "
             + _where(entry, "geom-qm9"), "",
             "| method | COV-R % | AMR-R (Å) | COV-P % | AMR-P (Å) |", "|---|---|---|---|---|"]
    for name, row in r["rows"].items():
        cells = [f"{_pct(row['COV-R']['mean'])} ({_pct(row['COV-R']['median'])})",
                 f"{row['AMR-R']['mean']:.3f} ({row['AMR-R']['median']:.3f})",
                 f"{_pct(row['COV-P']['mean'])} ({_pct(row['COV-P']['median'])})",
                 f"{row['AMR-P']['mean']:.3f} ({row['AMR-P']['median']:.3f})"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def _transfer(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## NExT-Mol: does the 1D-to-3D transfer help?", "",
             f"Two conformer models of the same size and training budget, without and with the language model's "
             f"token states fed through the adapter; {r['n']} QM9 test molecules, k = {r['k']}. "
             + _where(entry, "transfer"), "",
             "| conformer model | median best RMSD (Å) | mean best RMSD (Å) |", "|---|---|---|"]
    lines += [f"| {name} | {row['median']:.3f} | {row['mean']:.3f} |" for name, row in r["rows"].items()]
    return lines + [""]


def _language(entry: dict) -> list[str]:
    r = entry["result"]
    lines = [f"## NExT-Mol: the language model alone on `{r['corpus']}` SMILES", "",
             f"{r['n']:,} SMILES from the language model `{r['model']}` (`--language-model`; {r['vocabulary']} SELFIES symbols, at most "
             f"{r['max_length']} with begin and end; seed 0, temperature 1, no top-k; sampled in "
             f"{r['sampling_seconds']:.0f} s), beside {r['n']:,} random SMILES of the corpus's val split, which show "
             f"what the data itself scores at this n. Canonical RDKit SMILES; novelty among the unique against the "
             f"{r['n_train']:,} train molecules; FCD against the {r['n_test']:,} test molecules. "
             + _where(entry, "language"), "",
             "| SMILES | validity % | uniqueness % | novelty % | FCD vs test | heavy atoms (mean) |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {name} | {_pct(row['validity'])} | {_pct(row['uniqueness'])} | {_pct(row['novelty'])} | "
              f"{_num(row['fcd'])} | {row['heavy_atoms_mean']:.1f} |" for name, row in r["rows"].items()]
    return lines + [""]


def _seeds(entry: dict) -> list[str]:
    r = entry["result"]
    names = list(r["models"])
    lines = ["## NExT-Mol: de novo molecules across seeds", "",
             f"{r['n']:,} de novo molecules per seed and model (seeds {r['seeds'][0]}-{r['seeds'][-1]}, the default "
             "sampler, no relaxation): how much of a difference between two sets of weights is sampling noise. "
             + _where(entry, "seeds" + (f" --against {names[1]}" if len(names) > 1 else "")), ""]
    lines += seed_rows(r, ("atom_stability", "molecule_stability", "rdkit_validity"))
    how = (", paired molecule by molecule: both share the language model, so each seed gives both the same "
           "molecular graphs" if r.get("paired") else ", the two samples independent")
    return lines + seed_difference(r, how) + [""]


def nextmol_sections(results: dict) -> list[str]:
    """Markdown lines for every NExT-Mol part that has results, in a fixed order."""
    renderers = [("conformers", _conformers), ("stereo", _stereo), ("sampler", _sampler), ("solvers", _solvers),
                 ("denovo", _denovo), ("seeds", _seeds),
                 ("speed", _speed), ("geom-qm9", _geom_qm9), ("transfer", _transfer),
                 ("language", _language)]
    return [line for part, render in renderers if part in results for line in render(results[part])]
