"""The command line: evaluate, evaluate-conformers and data, end to end on small files."""

from __future__ import annotations

import json

import pytest

from atomgen.cli import main
from atomgen.io.formats import write

from .conftest import embedded, needs_shared_data


def test_evaluate_writes_json_and_markdown(tmp_path, small_molecules, capsys):
    samples = write(tmp_path / "samples.sdf", small_molecules[:5])
    reference = write(tmp_path / "ref.xyz", small_molecules)
    code = main(["evaluate", str(samples), "--reference", str(reference), "-o", str(tmp_path / "r.json"),
                 "--markdown", str(tmp_path / "r.md"), "--no-fcd", "--no-posebusters", "--no-strain", "--seed", "3"])
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_samples"] == 5 and report["seed"] == 3
    assert report["metrics"]["rdkit_validity"] == 1.0
    assert report["not_computed"]["fcd"] == "switched off"
    assert "Validity (RDKit DetermineBonds)" in (tmp_path / "r.md").read_text()
    assert "| Molecule stability (EDM) |" in capsys.readouterr().out


def test_evaluate_skip_invalid_counts_in_report(tmp_path, small_molecules):
    samples = tmp_path / "s.xyz"
    text = write(tmp_path / "ok.xyz", small_molecules[:3]).read_text()
    samples.write_text(text + "2\nbroken\nC 0 0 0\nXx 1 0 0\n")
    reference = write(tmp_path / "ref.sdf", small_molecules)
    args = ["evaluate", str(samples), "--reference", str(reference), "--no-fcd", "--no-posebusters", "--no-strain"]
    assert main(args) == 2  # the broken frame stops the run
    with pytest.warns(UserWarning):
        assert main(args + ["--skip-invalid", "-o", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_skipped"] == 1 and report["n_samples"] == 3


def test_evaluate_unknown_reference_fails_cleanly(tmp_path, small_molecules, capsys):
    samples = write(tmp_path / "s.sdf", small_molecules[:2])
    out = tmp_path / "r.json"
    assert main(["evaluate", str(samples), "--reference", "zinc", "-o", str(out)]) == 2
    assert "unknown reference 'zinc'" in capsys.readouterr().err
    assert not out.exists()


def test_evaluate_conformers_single_reference_with_baselines(tmp_path):
    reference = [embedded("CCCO", seed=1), embedded("CC(C)C=O", seed=1)]
    generated = [embedded(s, seed=k) for s in ("CCCO", "CC(C)C=O") for k in (2, 3, 4)]
    ref = write(tmp_path / "ref.sdf", reference)
    gen = write(tmp_path / "gen.sdf", generated)
    code = main(["evaluate-conformers", str(gen), str(ref), "--baselines", "3", "-o", str(tmp_path / "c.json"),
                 "--html", str(tmp_path / "c.html")])
    assert code == 0
    result = json.loads((tmp_path / "c.json").read_text())
    html = (tmp_path / "c.html").read_text()  # the table and one figure with the three methods' distributions
    assert html.count("<figure>") == 1 and all(f"{name} (2)" in html for name in ("generated", "ETKDG", "ETKDG+MMFF"))
    assert f"<td>generated</td><td>{result['methods']['generated']['mean']:.3f}</td>" in html
    assert result["mode"] == "single-reference"
    assert set(result["methods"]) == {"generated", "ETKDG", "ETKDG+MMFF"}
    assert result["methods"]["generated"]["n_molecules"] == 2 and result["methods"]["generated"]["k"] == 3
    assert 0.0 <= result["methods"]["generated"]["mean"] < 1.0


def test_evaluate_conformers_missing_molecule(tmp_path, capsys):
    ref = write(tmp_path / "ref.sdf", [embedded("CCCO"), embedded("CCN")])
    gen = write(tmp_path / "gen.sdf", [embedded("CCCO", seed=3)])
    assert main(["evaluate-conformers", str(gen), str(ref)]) == 2
    assert "no generated conformers for 1" in capsys.readouterr().err


def test_data_exports_a_crystal_split(tmp_path):
    needs_shared_data("crystals", "mp_20_format_sample.csv")
    out = tmp_path / "mp.cif"
    assert main(["data", "mp_20", "--split", "format_sample", "-o", str(out)]) == 2  # not a split name
    assert main(["data", "perov_5", "--split", "val", "-o", str(tmp_path / "p.extxyz")]) == 0
    from atomgen.io.formats import read

    crystals = read(tmp_path / "p.extxyz")
    assert len(crystals) == 3787 and all(c.is_periodic and len(c) == 5 for c in crystals[:50])


def test_drugs_reference_must_be_built_first(tmp_path, small_molecules, capsys):
    samples = write(tmp_path / "s.sdf", small_molecules[:2])
    code = main(["evaluate", str(samples), "--reference", "drugs-etkdg", "--data-dir", str(tmp_path / "cache")])
    assert code == 2
    assert "atomgen data drugs-etkdg --split test" in capsys.readouterr().err
