"""Conformer evaluation of two files: generated conformers against reference conformers, matched by molecule.

Records are grouped by their molecular graph (canonical SMILES without stereo or hydrogens, from the record's
bonds or, when it has none, bonds perceived from its coordinates). A molecule with one reference geometry is
scored in single-reference mode (best RMSD of its k generated conformers); otherwise COV/AMR are computed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from atomgen.errors import InputError
from atomgen.eval.conformers import coverage_metrics, format_rows, rdkit_baselines, single_reference_rmsd
from atomgen.io.atomic import atomic_write_text
from atomgen.io.formats import read
from atomgen.system import AtomSystem


def graph_key(system: AtomSystem) -> str:
    """Canonical heavy-atom SMILES (no stereo) of a record's graph: the key that pairs conformers."""
    from rdkit import Chem

    from atomgen.io.convert import to_rdkit

    mol = Chem.RemoveHs(to_rdkit(system), sanitize=False)
    return Chem.MolToSmiles(mol, isomericSmiles=False)


def group_by_graph(systems: list[AtomSystem]) -> dict[str, list[AtomSystem]]:
    """Records grouped by `graph_key`, in first-seen order."""
    groups: dict[str, list[AtomSystem]] = defaultdict(list)
    for system in systems:
        groups[graph_key(system)].append(system)
    return dict(groups)


def evaluate_conformer_files(
    generated: str | Path, reference: str | Path, *, delta: float = 0.5, baseline_k: int = 0, seed: int = 0,
    output: str | Path | None = None,
) -> tuple[str, dict]:
    """Score a file of generated conformers against a file of references.

    Args:
        delta: coverage threshold (Å).
        baseline_k: when > 0, also score RDKit ETKDG and ETKDG + MMFF with this many conformers per molecule
            (single-reference mode only).
        output: write the full result (per molecule too) as JSON here.

    Returns:
        A printable summary, and the full result: {"mode": "single-reference", "methods": {method:
        `single_reference_rmsd` result}} or {"mode": "ensemble", "coverage": `coverage_metrics` result}, with the
        seed.
    """
    gen = group_by_graph(read(generated))
    ref = group_by_graph(read(reference))
    missing = [key for key in ref if key not in gen]
    if missing:
        raise InputError(f"no generated conformers for {len(missing)} reference molecule(s), e.g. {missing[0]}",
                         generated)
    single = all(len(v) == 1 for v in ref.values())
    result: dict = {"mode": "single-reference" if single else "ensemble", "seed": seed}
    if single:
        refs = {key: group[0] for key, group in ref.items()}
        rows = {"generated": single_reference_rmsd(gen, refs)}
        if baseline_k > 0:
            rows.update(rdkit_baselines(refs, baseline_k, seed))
        result["methods"] = rows
        text = format_rows(rows)
    else:
        metrics = coverage_metrics(gen, ref, delta)
        result["coverage"] = metrics
        text = "\n".join(
            f"{name}: mean {metrics[name]['mean']:.3f}, median {metrics[name]['median']:.3f}"
            for name in ("COV-R", "AMR-R", "COV-P", "AMR-P")
        )
    if output:
        with atomic_write_text(output) as handle:
            json.dump(result, handle, indent=2, default=float)
    return text, result
