"""The evaluation report: a typed result, its JSON form, a Markdown table, and the versions behind it."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any

from atomgen.io.atomic import atomic_write_text

_LIBRARIES = ("atomgen", "torch", "rdkit", "numpy", "scipy", "pymatgen", "pymatgen-core", "ase", "smact",
              "fcd_torch", "posebusters", "selfies", "openbabel-wheel", "tblite")  # fmt: skip

# metric key -> (label, how to print it); `_CRYSTAL_LABELS` overrides where crystals differ
_LABELS = {
    "atom_stability": ("Atom stability (EDM)", "pct"),
    "molecule_stability": ("Molecule stability (EDM)", "pct"),
    "edm_validity": ("Validity (EDM bonds, largest fragment)", "pct"),
    "edm_valid_unique": ("Valid x unique (EDM)", "pct"),
    "rdkit_validity": ("Validity (RDKit DetermineBonds)", "pct"),
    "connected_validity": ("Connected validity (RDKit, one fragment)", "pct"),
    # ADiT's lenient flavour: an under-bonded atom passes (RDKit fills it with implicit hydrogens).
    "openbabel_pdb_validity": ("Validity (ADiT: OpenBabel bonds, PDB, RDKit parse)", "pct"),
    "uniqueness": ("Uniqueness (among RDKit-valid)", "pct"),
    "novelty": ("Novelty (unique valid, not in train)", "pct"),
    "atom_type_tv": ("Atom-type TV", "num"),
    "n_atoms_tv": ("Number-of-atoms TV", "num"),
    "bond_length_w1": ("Bond-length W1 (Å)", "num"),
    "bond_angle_w1": ("Bond-angle W1 (degrees)", "num"),
    "fcd": ("FCD (fcd_torch)", "num"),
    "posebusters_pass": ("PoseBusters pass (all mol checks)", "pct"),
    "strain_median": ("Strain, median (kcal/mol, MMFF)", "num"),
    "xtb_energy_drop_median": ("GFN2-xTB relaxation energy drop, median (kcal/mol)", "num"),
    "xtb_rmsd_median": ("GFN2-xTB relaxation RMSD, median (Å)", "num"),
    "n_samples": ("Crystals evaluated", "int"),
    "n_structurally_valid": ("Structurally valid crystals", "int"),
    "n_valid": ("Valid crystals (structural and compositional)", "int"),
    "structural_validity": ("Structural validity", "pct"),
    "compositional_validity": ("Compositional validity (SMACT)", "pct"),
    "validity": ("Validity (structural and compositional)", "pct"),
    "density_w1": ("Density W1 (g/cm^3)", "num"),
    "n_elements_w1": ("Number-of-elements W1", "num"),
    "cov_recall": ("Coverage COV-R (CDVAE cut-offs)", "pct"),
    "cov_precision": ("Coverage COV-P (CDVAE cut-offs)", "pct"),
}
_CRYSTAL_LABELS = {
    "uniqueness": ("Uniqueness (among structurally valid)", "pct"),
    "novelty": ("Novelty (structurally valid, not in train)", "pct"),
}


_IN_MEMORY = ("records", "statistics")  # EvaluationReport fields that stay out of its JSON


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries the numbers depend on."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    """The commit of the atomgen checkout, when it runs from one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@dataclass
class EvaluationReport:
    """Everything `atomgen.evaluate` measured, with what is needed to reproduce it.

    Attributes:
        kind: "molecule" or "crystal".
        reference: the reference's name, and the sizes of its train and test sides.
        n_samples: systems evaluated.
        n_skipped: records skipped as unreadable before evaluation (`--skip-invalid`).
        metrics: headline numbers (fractions in [0, 1], distances in their units).
        details: per-type distances, per-check pass rates, counts.
        not_computed: metrics switched off or impossible here, with the reason.
        seed, versions, commit, elapsed_s: provenance.
        records: what was found about each system, in sample order (molecules: stable, rdkit_valid, cause of
            instability, smiles, posebusters (None when not checked); crystals: structural, compositional,
            failure); kept in memory for the HTML report (`atomgen.report`), not written to JSON.
        statistics: molecules: the samples' `GeometryStatistics` (types, sizes, bond lengths and angles), for the
            report's plots; in memory only.
    """

    kind: str
    reference: dict[str, Any]
    n_samples: int
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    not_computed: dict[str, str] = field(default_factory=dict)
    n_skipped: int = 0
    seed: int = 0
    versions: dict[str, str] = field(default_factory=library_versions)
    commit: str | None = field(default_factory=git_commit)
    elapsed_s: float = 0.0
    records: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    statistics: Any = field(default=None, repr=False, compare=False)

    def __getitem__(self, key: str) -> float:
        return self.metrics[key]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (NaN becomes null), without the in-memory records and statistics."""
        return _clean({f.name: getattr(self, f.name) for f in fields(self) if f.name not in _IN_MEMORY})

    def save_json(self, path: str | Path) -> None:
        """Write the report as JSON, atomically."""
        with atomic_write_text(path) as handle:
            json.dump(self.to_dict(), handle, indent=2)
            handle.write("\n")

    def to_markdown(self) -> str:
        """A Markdown report: headline table, then provenance."""
        ref = self.reference
        lines = [
            f"# atomgen evaluation: {self.n_samples} {self.kind}s against `{ref['name']}`",
            "",
            f"Reference: train side {ref['n_train']}, test side {ref['n_test']}. "
            f"Skipped unreadable records: {self.n_skipped}. Seed {self.seed}. {self.elapsed_s:.1f} s.",
            "",
            self.table(),
        ]
        causes = self.details.get("instability_causes")
        if causes:
            lines += ["", "Unstable molecules by cause (share of all samples; see `atomgen.eval.instability`):"]
            lines += [f"- {cause.replace('_', ' ')}: {_fmt(share, 'pct')}" for cause, share in causes.items()]
        failures = {cause: share for cause, share in self.details.get("structural_failures", {}).items() if share}
        if failures:
            lines += ["", "Structurally invalid crystals by cause (share of all samples; see "
                      "`atomgen.eval.crystals.structural_failure`):"]
            lines += [f"- {cause}: {_fmt(share, 'pct')}" for cause, share in failures.items()]
        if self.not_computed:
            lines += ["", "Not computed:"] + [f"- {k}: {v}" for k, v in self.not_computed.items()]
        lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in self.versions.items())]
        if self.commit:
            lines.append(f"Commit: {self.commit}")
        return "\n".join(lines) + "\n"

    def table(self) -> str:
        """The headline metrics as a Markdown table."""
        rows = ["| metric | value |", "|---|---|"]
        rows += [f"| {self.label(key)} | {self.formatted(key)} |" for key in self.metrics]
        return "\n".join(rows)

    def label(self, key: str) -> str:
        """What a metric is called in tables."""
        labels = {**_LABELS, **_CRYSTAL_LABELS} if self.kind == "crystal" else _LABELS
        return labels.get(key, (key, "num"))[0]

    def formatted(self, key: str) -> str:
        """A metric's value as tables print it ("n/a" when it is missing or NaN)."""
        labels = {**_LABELS, **_CRYSTAL_LABELS} if self.kind == "crystal" else _LABELS
        style = labels.get(key, (key, "num"))[1]
        return _fmt(self.metrics.get(key), style)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationReport:
        """Inverse of `to_dict` (null metrics read back as NaN)."""
        known = {f.name for f in fields(cls)} - set(_IN_MEMORY)
        report = cls(**{k: v for k, v in data.items() if k in known})
        report.metrics = {k: float("nan") if v is None else v for k, v in report.metrics.items()}
        return report

    def to_frame(self):
        """The headline metrics as a pandas DataFrame: one row per metric (key, label, value)."""
        import pandas as pd

        return pd.DataFrame({"metric": list(self.metrics), "label": [self.label(k) for k in self.metrics],
                             "value": list(self.metrics.values())})

    def _repr_html_(self) -> str:
        """Jupyter's view: the metrics table with its provenance line."""
        from html import escape

        rows = "".join(f"<tr><td>{escape(self.label(k))}</td><td>{escape(self.formatted(k))}</td></tr>"
                       for k in self.metrics)
        return (f"<div><b>{self.n_samples:,} {self.kind}s against {escape(self.reference['name'])}</b> "
                f"(seed {self.seed}{', commit ' + escape(self.commit) if self.commit else ''})"
                f"<table><thead><tr><th>metric</th><th>value</th></tr></thead><tbody>{rows}</tbody></table></div>")

    def save_markdown(self, path: str | Path) -> None:
        """Write the Markdown report, atomically."""
        with atomic_write_text(path) as handle:
            handle.write(self.to_markdown())


def _fmt(value: float | None, style: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if style == "int":
        return f"{int(value):,}"
    return f"{100 * value:.2f} %" if style == "pct" else f"{value:.4g}"


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value
