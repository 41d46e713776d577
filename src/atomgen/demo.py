"""The main job of `make demo`: sample from the shipped models on the CPU and evaluate what they make.

Molecules come from Quetzal and are evaluated against QM9; crystals come from the joint ADiT model and are
evaluated against the Perov-5 test split; NExT-Mol's conformer model gives conformers of a few small molecules,
chiral ones among them, whose stereocentres are checked against their SMILES. All three go into one HTML report
(`atomgen.report`) beside the JSON and Markdown ones.
"""

from __future__ import annotations

import time
from pathlib import Path

from atomgen.eval.evaluate import evaluate
from atomgen.io.atomic import atomic_write_text
from atomgen.io.formats import write, write_folder
from atomgen.report.page import Page, Section, Table, write_page
from atomgen.report.samples import reference_section

CRYSTAL_MODEL = "adit-joint-small"
CONFORMER_MODEL = "nextmol-qm9"
CONFORMER_SMILES = ("C[C@@H](O)C#N", "C[C@H]1CO[C@@H]1C", "OC[C@H]1CC1=O", "CC(=O)NC1=NC=CO1", "c1cc(O)ncn1")
"""Small molecules in QM9's chemistry, three of them with stereocentres."""
MOLECULE_SWITCHES = {"max_expensive": 200}
"""The demo's molecule evaluation (PoseBusters and strain on 200 valid molecules), and its data row's."""


def run_demo(output: str | Path = "demo_out", *, n: int = 1000, seed: int = 0, data_dir: str | Path | None = None,
             model: str = "quetzal-qm9-small", n_crystals: int = 20, n_conformers: int = 5) -> Path:
    """Sample `n` molecules and `n_crystals` crystals (seeded), write them, evaluate them, write the reports; then
    `n_conformers` conformers of each of `CONFORMER_SMILES`.

    Writes `<output>/samples.sdf`, `<output>/report.json` and `<output>/report.md` for the molecules,
    `<output>/crystals/` (one CIF per crystal) with `<output>/crystals_report.json` and `.md`,
    `<output>/conformers.sdf` with `<output>/conformers.md`, and all three in `<output>/report.html`; returns the
    folder.
    """
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    sections = [_molecules(out, model, n, seed, data_dir)]
    if n_crystals:
        sections.append(_crystals(out, n_crystals, seed, data_dir))
    if n_conformers:
        sections.append(_conformers(out, n_conformers, seed))
    page = Page("atomgen demo", f"The shipped models on this machine's CPU, seed {seed}: {n} molecules from {model}"
                + (f", {n_crystals} crystals from {CRYSTAL_MODEL}" if n_crystals else "")
                + (f", conformers from {CONFORMER_MODEL}" if n_conformers else "") + ".", sections)
    write_page(out / "report.html", page)
    print(f"wrote {out}/report.html (open it in a browser: it works offline)")
    return out


def _molecules(out: Path, model: str, n: int, seed: int, data_dir: str | Path | None) -> Section:
    from atomgen.models.registry import load_model

    generator = load_model(model)
    start = time.perf_counter()
    molecules = generator.sample(n, seed=seed, batch_size=250)  # the model's default sampler
    seconds = time.perf_counter() - start
    print(f"sampled {n} molecules from {model} in {seconds:.0f} s ({n / seconds:.1f} molecules/s)")
    write(out / "samples.sdf", molecules)
    report = evaluate(molecules, "qm9", seed=seed, data_dir=data_dir, **MOLECULE_SWITCHES)
    report.details["generator"] = {"model": model, "seed": seed, "sampler": "the model's defaults",
                                   "sampling_seconds": round(seconds, 1)}
    report.save_json(out / "report.json")
    report.save_markdown(out / "report.md")
    print(report.to_markdown())
    print(f"wrote {out}/samples.sdf, {out}/report.json, {out}/report.md")
    return reference_section(molecules, report, "qm9", data_dir=data_dir, heading=f"Molecules from {model}",
                             **MOLECULE_SWITCHES)


def _crystals(out: Path, n: int, seed: int, data_dir: str | Path | None) -> Section:
    import shutil

    from atomgen.models.registry import load_model

    generator = load_model(CRYSTAL_MODEL)
    start = time.perf_counter()
    crystals = generator.sample(n, seed=seed, condition="perov_5")
    seconds = time.perf_counter() - start
    print(f"sampled {n} Perov-5 crystals from {CRYSTAL_MODEL} in {seconds:.0f} s")
    if (out / "crystals").exists():
        shutil.rmtree(out / "crystals")  # the demo's own output from an earlier run
    write_folder(out / "crystals", crystals)
    report = evaluate(crystals, "perov_5", seed=seed, data_dir=data_dir)
    report.details["generator"] = {"model": CRYSTAL_MODEL, "seed": seed, "condition": "perov_5",
                                   "sampling_seconds": round(seconds, 1)}
    report.save_json(out / "crystals_report.json")
    report.save_markdown(out / "crystals_report.md")
    print(report.to_markdown())
    print(f"wrote {out}/crystals/ ({n} CIF files), {out}/crystals_report.json, {out}/crystals_report.md")
    return reference_section(crystals, report, "perov_5", data_dir=data_dir,
                             heading=f"Perov-5 crystals from {CRYSTAL_MODEL}")


def _conformers(out: Path, n: int, seed: int) -> Section:
    from atomgen.data.molecular_graphs import mol_from_smiles
    from atomgen.models.nextmol.alignment import chirality_agreement
    from atomgen.report.conformers import conformer_gallery
    from atomgen.models.registry import load_model

    generator = load_model(CONFORMER_MODEL)
    start = time.perf_counter()
    conformers = generator.conformers(list(CONFORMER_SMILES), n, seed=seed, progress=False)
    seconds = time.perf_counter() - start
    write(out / "conformers.sdf", conformers)
    lines = [f"# {n} conformers per molecule from {CONFORMER_MODEL} (seed {seed}, {seconds:.1f} s)", "",
             "| SMILES | stereocentres | conformers with every centre right |", "|---|---|---|"]
    rows, badges = [], []
    for k, smiles in enumerate(CONFORMER_SMILES):
        mol = mol_from_smiles(smiles)  # the conformers' own atom order, hydrogens included
        checks = [chirality_agreement(mol, system.positions) for system in conformers[k * n : (k + 1) * n]]
        centres = checks[0][1]
        right = sum(agree == total for agree, total in checks)
        lines.append(f"| `{smiles}` | {centres} | {f'{right} / {n}' if centres else 'n/a'} |")
        rows.append([smiles, str(centres), f"{right} / {n}" if centres else "n/a"])
        badges += [(f"{agree} of {total} stereocentres right", "good" if agree == total else "bad") if total
                   else ("no stereocentre", "neutral") for agree, total in checks]
    with atomic_write_text(out / "conformers.md") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out}/conformers.sdf ({len(conformers)} conformers), {out}/conformers.md")
    for k, system in enumerate(conformers):
        system.name = CONFORMER_SMILES[k // n]
    gallery = conformer_gallery(conformers, badges, f"All {len(conformers)} conformers, {n} per molecule, in "
                                "input order; each picture shows the hand its 3D geometry has. Click one for 3D.")
    table = Table("Stereocentres checked against the SMILES", ["SMILES", "stereocentres",
                                                                 "conformers with every centre right"], rows)
    return Section(f"Conformers from {CONFORMER_MODEL}", f"{n} conformers of each of {len(CONFORMER_SMILES)} "
                   f"SMILES in {seconds:.1f} s (seed {seed}).", [table], gallery=gallery)
