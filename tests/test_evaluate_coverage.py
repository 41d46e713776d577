"""Crystal coverage (COV-R / COV-P) through `atomgen.evaluate` and `atomgen evaluate --coverage`, and the
evaluator's progress bars (stderr, one per stage, off with progress=False / --no-progress)."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from atomgen.cli import main
from atomgen.data.crystals import load_crystal_split
from atomgen.eval.evaluate import evaluate
from atomgen.io.formats import write

from .conftest import needs_shared_data

N_VAL, N_TEST = 10, 8


@pytest.fixture
def small_perov(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shared-data folder (made the current one) whose perov_5 splits are the first rows of the real ones."""
    source = needs_shared_data("crystals")
    folder = tmp_path / "shared" / "crystals"
    folder.mkdir(parents=True)
    for split, n in (("val", N_VAL), ("test", N_TEST)):
        # The csv module, not lines: every CIF spans many lines inside one quoted cell.
        with open(source / f"perov_5_{split}.csv", newline="") as handle:
            rows = list(csv.reader(handle))[: n + 1]
        with open(folder / f"perov_5_{split}.csv", "w", newline="") as handle:
            csv.writer(handle).writerows(rows)
    monkeypatch.setenv("ATOMGEN_SHARED_DATA", str(folder.parent))
    return folder.parent


def _finished(stage: str, err: str) -> bool:
    """Whether `err` shows the bar of `stage` at 100 % (a bar redraws itself after a carriage return)."""
    return re.search(rf"(^|[\r\n]){re.escape(stage)}: 100%", err) is not None


def _samples() -> list:
    """Four Perov-5 test crystals, evaluated as if generated: each one is in the reference's test side."""
    return load_crystal_split("perov_5", "test").systems[:4]


def test_evaluate_computes_coverage_of_crystals_against_the_test_side(small_perov):
    report = evaluate(_samples(), "perov_5", coverage=True, progress=False)
    valid = report["validity"]
    # Every valid sample is a reference crystal itself (matminer's real fingerprints), so it is covered; it covers
    # at least itself, and four samples of one composition family cannot cover all eight references.
    assert report["cov_precision"] == pytest.approx(valid)
    assert valid * 4 / N_TEST <= report["cov_recall"] < 1.0
    assert "coverage" not in report.not_computed
    assert "| Coverage COV-R (CDVAE cut-offs) |" in report.table()


def test_coverage_is_off_by_default_and_says_why_when_it_cannot_run(small_perov, monkeypatch):
    report = evaluate(_samples(), "perov_5", progress=False)
    assert report.not_computed["coverage"].startswith("switched off") and "cov_recall" not in report.metrics
    for name in [name for name in sys.modules if name.startswith("matminer")] + ["matminer"]:
        monkeypatch.setitem(sys.modules, name, None)  # an import of it fails, installed and imported or not
    report = evaluate(_samples(), "perov_5", coverage=True, progress=False)
    assert "matminer" in report.not_computed["coverage"] and "cov_recall" not in report.metrics
    # A file reference has no CDVAE cut-offs.
    report = evaluate(_samples(), _samples(), coverage=True, progress=False)
    assert "no coverage cut-offs" in report.not_computed["coverage"]


def test_cli_coverage_and_no_progress(tmp_path, small_perov, capsys):
    samples = write(tmp_path / "crystals.cif", _samples())
    out = tmp_path / "report.json"
    assert main(["evaluate", str(samples), "--reference", "perov_5", "--coverage", "-o", str(out),
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "| Coverage COV-P (CDVAE cut-offs) |" in captured.out
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["cov_precision"] == pytest.approx(metrics["validity"]) and 0 < metrics["cov_recall"] <= 1


def test_every_crystal_stage_reports_progress_on_stderr(tmp_path, small_perov, capsys):
    samples = write(tmp_path / "crystals.cif", _samples())
    assert main(["evaluate", str(samples), "--reference", "perov_5", "--coverage"]) == 0
    captured = capsys.readouterr()
    for stage in ("reading perov_5", "structural validity", "compositional validity", "uniqueness", "novelty",
                  "distributions", "coverage: samples", "coverage: reference crystals"):
        assert _finished(stage, captured.err), stage
    assert "100%" not in captured.out  # stdout carries the report only


def test_every_molecule_stage_reports_progress_unless_switched_off(small_molecules, capsys):
    kwargs = {"fcd": False, "posebusters": False, "strain": True, "workers": 1}
    quiet = evaluate(small_molecules[:4], small_molecules, progress=False, **kwargs)
    assert capsys.readouterr().err == ""
    loud = evaluate(small_molecules[:4], small_molecules, progress=True, **kwargs)
    err = capsys.readouterr().err
    for stage in ("validity and stability", "uniqueness and novelty", "distributions",
                  "bonds for PoseBusters and strain", "strain"):
        assert _finished(stage, err), stage
    # Bars change nothing measured.
    assert {k: v for k, v in loud.metrics.items() if not np.isnan(v)} == pytest.approx(
        {k: v for k, v in quiet.metrics.items() if not np.isnan(v)})


def test_stage_seconds_times_every_molecule_stage_shown_or_not(small_molecules):
    from atomgen.eval.progress import stage_seconds

    kwargs = {"fcd": False, "posebusters": False, "strain": True, "workers": 1}
    for progress in (False, True):
        with stage_seconds() as seconds:
            report = evaluate(small_molecules[:4], small_molecules, progress=progress, **kwargs)
        assert set(seconds) == {"validity and stability", "uniqueness and novelty", "distributions",
                                "bonds for PoseBusters and strain", "strain"}
        assert 0 < sum(seconds.values()) <= report.elapsed_s  # the stages run one after the other
