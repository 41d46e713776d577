"""HTML reports: a sample's page (metrics beside the data row, figures, gallery, inline 3D viewer), a run's page,
and their bad inputs. The page in a real browser: tests/test_report_browser.py."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from atomgen.cli import main
from atomgen.eval.distributions import GeometryStatistics
from atomgen.eval.evaluate import evaluate
from atomgen.io.formats import write
from atomgen.report import samples_page, write_samples_report
from atomgen.report.page import VIEWER_FILE, render, vendored
from atomgen.report.run import read_run_logs, write_run_report

FAST = {"fcd": False, "strain": False, "max_expensive": 3}


def _broken(system, seed: int):
    """A copy of a molecule with its atoms shaken by 0.25 Å: unstable, for the gallery's failure groups."""
    rng = np.random.default_rng(seed)
    return system.copy(positions=system.positions + rng.normal(0, 0.25, system.positions.shape))


@pytest.fixture
def sample_files(tmp_path, small_molecules):
    samples = small_molecules[:6] + [_broken(m, k) for k, m in enumerate(small_molecules[6:])]
    write(tmp_path / "samples.sdf", samples)
    write(tmp_path / "reference.sdf", small_molecules)
    return tmp_path / "samples.sdf", tmp_path / "reference.sdf"


def _external_links(html: str) -> list[str]:
    """Everything in the page's markup that would load from elsewhere (the inline 3Dmol.js itself holds URLs of
    download helpers the page never calls, so only the markup outside its script is searched)."""
    markup = html.replace(vendored(VIEWER_FILE), "")
    return (re.findall(r"""(?:src|href)\s*=\s*["'](?:https?:)?//[^"']*""", markup)
            + re.findall(r"""<link\b|<script\s+src|@import|url\(\s*["']?(?:https?:)?//""", markup))


def test_molecule_report_is_one_self_contained_page(tmp_path, sample_files, small_molecules):
    samples, reference = sample_files
    out = tmp_path / "report.html"
    report = write_samples_report(samples, out, reference=str(reference), progress=False, **FAST)
    html = out.read_text()
    assert _external_links(html) == []
    assert vendored(VIEWER_FILE) in html  # the viewer is inline, not fetched
    # metrics beside the data row: the reference's molecules are all stable, the shaken ones are not
    assert "reference.sdf data (12 drawn from the reference itself)" in html
    data = evaluate(small_molecules, small_molecules, progress=False, **FAST)  # the reference file's molecules
    for key in ("molecule_stability", "rdkit_validity", "bond_length_w1"):
        assert f"<td>{report.formatted(key)}</td><td>{data.formatted(key)}</td>" in html
    assert report["molecule_stability"] < data["molecule_stability"]
    # atom types, sizes, bond lengths, bond angles, instability causes
    assert html.count("<figure>") == 5
    assert html.count("<svg") >= 5 + report.n_samples  # every card has its drawing
    cards = re.findall(r'data-structure="s0-(\d+)"', html)
    stable = sum(record["stable"] for record in report.records)
    assert len(cards) == report.n_samples and stable < len(cards)
    assert f"Stable <span class=\"count\">({stable} shown)" in html
    assert "Provenance" in html and report.versions["rdkit"] in html


def test_a_card_carries_the_structure_and_its_unstable_atoms(sample_files, small_molecules):
    samples, reference = sample_files
    from atomgen.io.formats import read

    systems = read(samples)
    report = evaluate(systems, str(reference), progress=False, **FAST)
    page = samples_page(systems, report)
    cards = {card.index: card for _, group in page.sections[0].gallery.groups for card in group}
    shaken = next(k for k, record in enumerate(report.records) if not record["stable"])
    card = cards[shaken]
    assert card.structure_format == "sdf" and card.highlight
    assert ("unstable", "bad") in card.badges
    # The Mol block the viewer loads reads back with every atom in place.
    from rdkit import Chem

    mol = Chem.MolFromMolBlock(card.structure, sanitize=False, removeHs=False)
    assert mol.GetNumAtoms() == len(systems[shaken])
    assert np.allclose(mol.GetConformer().GetPositions(), systems[shaken].positions, atol=1e-3)


def test_records_agree_with_the_metrics(small_molecules):
    """The per-molecule records the report draws its badges from add up to the report's own numbers."""
    samples = small_molecules[:6] + [_broken(m, k) for k, m in enumerate(small_molecules[6:])]
    report = evaluate(samples, small_molecules, progress=False, fcd=False, strain=False, max_expensive=5)
    checked = [r["posebusters"] for r in report.records if r["posebusters"] is not None]
    assert len(checked) == report.details["posebusters_n"] == 5
    assert np.mean(checked) == pytest.approx(report["posebusters_pass"])
    assert np.mean([r["stable"] for r in report.records]) == pytest.approx(report["molecule_stability"])
    assert np.mean([r["rdkit_valid"] for r in report.records]) == pytest.approx(report["rdkit_validity"])
    assert "records" not in report.to_dict() and "statistics" not in report.to_dict()


def test_crystal_report_has_cells_and_space_groups(tmp_path, rock_salt):
    rng = np.random.default_rng(0)
    squashed = rock_salt.copy(positions=rock_salt.positions * 0.15)  # atoms 0.42 Å apart: structurally invalid
    shaken = rock_salt.copy(positions=rock_salt.positions + rng.normal(0, 0.05, rock_salt.positions.shape))
    squashed.lattice = rock_salt.lattice * 0.15
    write(tmp_path / "crystals.cif", [rock_salt, shaken, squashed])
    write(tmp_path / "reference.cif", [rock_salt, rock_salt.copy()])
    out = tmp_path / "crystals.html"
    report = write_samples_report(tmp_path / "crystals.cif", out, reference=str(tmp_path / "reference.cif"),
                                  progress=False)
    html = out.read_text()
    assert [record["structural"] for record in report.records] == [True, True, False]
    assert "Fm-3m" in html  # rock salt's space group, in the space-group figure
    assert html.count("<figure>") == 7  # density, lengths, angles, elements per crystal, elements, groups, validity
    assert html.count('"format":"cif"') == 3
    assert "Structurally invalid: overlapping atoms" in html


def test_page_size_is_bounded_whatever_the_sample_size(small_molecules):
    """The gallery is a fixed-size seeded sample and the figures are histograms, so 100,000 molecules give a page
    about as large as a dozen: at most about 20 MB is the promise."""
    report = evaluate(small_molecules, small_molecules, progress=False, **FAST)
    copies = 100_000 // len(small_molecules) + 1
    systems = (small_molecules * copies)[:100_000]
    stats = report.statistics
    report.records = (report.records * copies)[:100_000]
    report.statistics = GeometryStatistics(
        atom_types=Counter({z: n * copies for z, n in stats.atom_types.items()}),
        n_atoms=Counter({n: c * copies for n, c in stats.n_atoms.items()}),
        bond_lengths={k: np.tile(v, copies) for k, v in stats.bond_lengths.items()},
        bond_angles={k: np.tile(v, copies) for k, v in stats.bond_angles.items()})
    html = render(samples_page(systems, report))
    assert len(html.encode()) < 20e6
    assert "of 100,000 molecules, drawn at random (seed 0)" in html
    assert len(re.findall(r'class="card"', html)) <= 24 + 8 * 4


def test_names_cannot_break_out_of_the_page(tmp_path, rock_salt):
    """A system's name reaches the viewer's JSON (CIF block names, Mol block titles): whatever it holds, the
    page's scripts keep their ends."""
    from atomgen.report.page import Page, Section, render
    from atomgen.report.gallery import Gallery, crystal_card

    hostile = rock_salt.copy(name="<!--<script></script><b>x</b>&amp;")
    card = crystal_card(0, hostile, {"structural": True, "compositional": True, "failure": None})
    html = render(Page("t", "s", [Section(gallery=Gallery([("g", [card])], "n"))]))
    data = html[html.index('<script type="application/json" id="structures">'):]
    data = data[: data.index("</script>")]
    assert "<" not in data.split(">", 1)[1] and "&" not in data
    assert html.count("</script>") == 3  # the data, the viewer library and the page's own script
    import json

    structures = json.loads(data.split(">", 1)[1])
    assert hostile.name in structures["s0-0"]["text"]  # the name itself survives, escaped only for HTML


def test_a_crystal_that_is_not_finite_leaves_the_figures_drawn(rock_salt):
    from atomgen.report.plots import Panel, histograms

    svg = histograms([Panel("density", np.array([1.0, 2.0, np.nan]), np.array([1.5, 2.5]), "g/cm³")])
    assert "not finite, left out" in svg and "no values" not in svg


def test_vendored_viewer_is_the_npm_release_named_in_its_readme():
    readme = (Path(__import__("atomgen").__file__).parent / "report" / "vendor" / "README.md").read_text()
    digest = hashlib.sha256(vendored(VIEWER_FILE).encode()).hexdigest()
    assert f"`3Dmol-min.js` has sha256 {digest}" in readme.replace("\n", " ")


def test_report_bad_inputs_fail_in_one_line_without_output(tmp_path, sample_files, rock_salt, capsys):
    samples, reference = sample_files
    empty = tmp_path / "empty.sdf"
    empty.write_text("")
    out = tmp_path / "out.html"
    assert main(["report", str(empty), "--reference", str(reference), "-o", str(out), "--no-progress"]) == 2
    write(tmp_path / "crystal.cif", [rock_salt])
    assert main(["report", str(tmp_path / "crystal.cif"), "--reference", str(reference), "-o", str(out),
                 "--no-progress"]) == 2
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text('{"family": "quetzal"}')
    assert main(["report", str(run), "-o", str(out)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("atomgen: error: ") for line in errors)
    assert "has no lattice" in errors[1] or "periodic" in errors[1]
    assert "no training logs" in errors[2]
    assert not out.exists() and not list(tmp_path.glob(".out.html*"))


def test_evaluate_writes_html_beside_json(tmp_path, sample_files):
    samples, reference = sample_files
    code = main(["evaluate", str(samples), "--reference", str(reference), "--no-fcd", "--no-strain", "--no-progress",
                 "-o", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")])
    assert code == 0
    assert "<figure>" in (tmp_path / "r.html").read_text() and (tmp_path / "r.json").is_file()


def _run_folder(tmp_path: Path) -> Path:
    """A run folder as `atomgen train` leaves it after one resume: two CSV logs, the second overlapping."""
    run = tmp_path / "run"
    # version 0 ran to step 125, version 1 resumed from the checkpoint of step 100: step 125 was abandoned
    logs = {0: [(50, 0.9, ""), (100, 0.8, ""), (100, "", 0.25), (125, 0.85, "")], 1: [(100, 0.7, ""), (150, 0.6, 0.5)]}
    for version, rows in logs.items():
        folder = run / "logs" / f"version_{version}"
        folder.mkdir(parents=True)
        lines = ["epoch,step,train/loss,sample/molecule_stability"]
        lines += [f"0,{step},{loss},{stability}" for step, loss, stability in rows]
        (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    (run / "config.json").write_text('{"family": "quetzal", "trainer": {"max_steps": 150}}')
    return run


def test_run_report_merges_resumed_logs(tmp_path):
    run = _run_folder(tmp_path)
    rows = read_run_logs(run)
    assert rows == {50: {"train/loss": 0.9}, 100: {"train/loss": 0.7, "sample/molecule_stability": 0.25},
                    150: {"train/loss": 0.6, "sample/molecule_stability": 0.5}}  # no abandoned step 125
    assert main(["report", str(run), "-o", str(tmp_path / "run.html")]) == 0
    html = (tmp_path / "run.html").read_text()
    assert html.count("<figure>") == 2  # the loss and the sampled stability
    assert "<td>trainer.max_steps</td><td>150</td>" in html
    assert "<td>150</td><td>0.5</td>" in html  # the sample-and-evaluate row of step 150


def test_run_report_names_a_broken_log_row(tmp_path):
    run = _run_folder(tmp_path)
    with open(run / "logs" / "version_1" / "metrics.csv", "a") as handle:
        handle.write("0,two hundred,0.5,\n")
    from atomgen.errors import InputError

    with pytest.raises(InputError, match=r"version_1/metrics.csv: unreadable training log row at line 4"):
        write_run_report(run, tmp_path / "run.html")
    assert not (tmp_path / "run.html").exists()


def test_logger_is_csv_or_tensorboard_beside_it(tmp_path):
    from importlib.util import find_spec

    from atomgen.errors import InputError
    from atomgen.train.run import _loggers

    assert [type(logger).__name__ for logger in _loggers("csv", tmp_path)] == ["CSVLogger"]
    with pytest.raises(InputError, match="unknown trainer.logger 'wandb'"):
        _loggers("wandb", tmp_path)
    if find_spec("tensorboard") is None and find_spec("tensorboardX") is None:
        with pytest.raises(InputError, match="needs the tensorboard package"):
            _loggers("tensorboard", tmp_path)
    else:  # both write under logs/, into the same version folder, so the run report still finds its CSV
        csv_logger, board = _loggers("tensorboard", tmp_path)
        assert type(board).__name__ == "TensorBoardLogger" and board.version == csv_logger.version


def test_notebook_views(small_molecules, rock_salt):
    """Jupyter's views: a report as its metrics table and a pandas frame, a system as an inline 3D view, and the
    conversions a notebook user reaches for."""
    report = evaluate(small_molecules, small_molecules, progress=False, **FAST)
    frame = report.to_frame()
    assert list(frame["metric"]) == list(report.metrics)
    assert frame.set_index("metric").loc["molecule_stability", "value"] == report["molecule_stability"]
    html = report._repr_html_()
    assert f"<td>Molecule stability (EDM)</td><td>{report.formatted('molecule_stability')}</td>" in html
    molecule, crystal = small_molecules[2]._repr_html_(), rock_salt._repr_html_()
    assert "'sdf'" in molecule and "addUnitCell" in crystal and vendored(VIEWER_FILE) in molecule
    views = re.findall(r'id="(atomgen-view-\d+)"', molecule + crystal)
    assert len(views) == 2 and views[0] != views[1]  # two outputs in one notebook draw into their own elements
    system = small_molecules[0]
    assert system.to_rdkit().GetNumAtoms() == len(system) == len(system.to_ase()) == len(system.to_pymatgen())
    assert rock_salt.to_pymatgen().lattice.a == pytest.approx(5.64)
