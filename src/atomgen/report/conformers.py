"""Report sections for conformers: the best-RMSD distributions of `atomgen evaluate-conformers` beside RDKit's
baselines, and a gallery of generated conformers with a check of each (for example its stereocentres)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from atomgen.report.gallery import Card, Gallery
from atomgen.report.page import Page, Section, Table, write_page
from atomgen.report.plots import overlaid
from atomgen.system import AtomSystem


def rmsd_section(result: dict, heading: str | None = None) -> Section:
    """The section of an `evaluate_conformer_files` result: per-method table and RMSD distributions (single
    reference), or the coverage table and the per-molecule COV-R and AMR-R distributions (ensembles)."""
    if result["mode"] == "single-reference":
        methods = result["methods"]
        rows = [[name, f"{r['mean']:.3f}", f"{r['median']:.3f}", str(r["n_molecules"]), str(r.get("n_failed", 0))]
                for name, r in methods.items()]
        table = Table("Best RMSD to the reference conformer (Å)", ["method", "mean", "median", "molecules",
                                                                   "no conformer"], rows)
        series = {name: np.array(list(r["per_molecule"].values())) for name, r in methods.items()}
        figure = overlaid(series, title="Best RMSD per molecule", xlabel="Å")
        counts = ", ".join(f"{name} {r['k']}" for name, r in methods.items())
        caption = ("Each molecule's best RMSD (heavy atoms, symmetry-aware, after alignment) over its conformers, "
                   f"for each method (conformers per molecule: {counts}).")
        return Section(heading, "", [table], [(caption, figure)], figures_heading="RMSD distributions")
    coverage = result["coverage"]
    rows = [[metric, f"{coverage[metric]['mean']:.3f}", f"{coverage[metric]['median']:.3f}"]
            for metric in ("COV-R", "AMR-R", "COV-P", "AMR-P")]
    table = Table(f"Ensemble coverage (δ = {coverage['delta']} Å, {coverage['n_molecules']} molecules)",
                  ["metric", "mean", "median"], rows)
    per_molecule = coverage["per_molecule"].values()
    figures = [(f"Per-molecule {metric} over the {coverage['n_molecules']} molecules.",
                overlaid({metric: np.array([m[metric] for m in per_molecule])}, title=metric,
                         xlabel="Å" if metric.startswith("AMR") else "share"))
               for metric in ("COV-R", "AMR-R")]
    return Section(heading, "", [table], figures, figures_heading="Coverage distributions")


def conformer_gallery(conformers: Sequence[AtomSystem], checks: Sequence[tuple[str, str]], note: str,
                      group: str = "Conformers") -> Gallery:
    """Conformers as cards (RDKit depiction of each molecule's own bonds, its check as a badge) in one group."""
    from rdkit import Chem

    from atomgen.io.convert import to_rdkit
    from atomgen.report.gallery import depiction

    cards = []
    for index, (system, badge) in enumerate(zip(conformers, checks, strict=True)):
        mol = to_rdkit(system)
        Chem.AssignStereochemistryFrom3D(mol)  # the picture shows the hand the conformer has
        title = f"#{index} {system.name or system.formula}"
        cards.append(Card(index, title, depiction(mol, [], keep_hydrogens=False), [badge],
                          Chem.MolToMolBlock(mol, kekulize=False), "sdf"))
    return Gallery([(group, cards)], note)


def write_conformer_report(output: str | Path, result: dict, *, title: str) -> Path:
    """An `evaluate_conformer_files` result as one HTML page at `output`, atomically."""
    mode = "one reference conformer per molecule" if result["mode"] == "single-reference" else "reference ensembles"
    return write_page(output, Page(title, f"{mode}; seed {result['seed']}", [rmsd_section(result)]))
