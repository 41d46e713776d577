"""Every stored benchmark result names the weights it measured (sha256) and the command that measures it alone."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from atomgen.models import checkpoint
from atomgen.models.quetzal import QuetzalModel, preset
from atomgen.zoo.registry import WEIGHTS_DIR

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def common():
    """benchmarks/common.py, which the benchmark scripts import as a sibling."""
    sys.path.append(str(ROOT / "benchmarks"))
    import common

    return common


def test_run_parts_records_the_weights_each_part_loaded_and_its_command(common, tmp_path, monkeypatch):
    folder = QuetzalModel(preset("tiny")).save(tmp_path / "tiny")
    digest = hashlib.sha256((folder / checkpoint.WEIGHTS).read_bytes()).hexdigest()
    parts = {"load": lambda: {"parameters": sum(p.numel() for p in QuetzalModel.from_pretrained(folder).parameters())},
             "none": lambda: {"n": 0}}
    monkeypatch.setattr(sys, "argv", [str(ROOT / "benchmarks" / "bench_x.py"), "--parts", "load,none", "-n", "5"])
    results_file = tmp_path / "results" / "x.json"

    common.run_parts(parts, ["load", "none"], results_file)

    stored = json.loads(results_file.read_text())
    assert stored["load"]["weights"] == {str(folder): digest}
    assert stored["load"]["command"] == "python benchmarks/bench_x.py --parts load -n 5"
    assert stored["none"]["weights"] == {}
    assert stored["none"]["command"] == "python benchmarks/bench_x.py --parts none -n 5"
    assert checkpoint.LOAD_OBSERVERS == []  # recording stops with the part


def test_a_part_that_fails_stops_recording(common, tmp_path):
    def failing() -> dict:
        raise RuntimeError("part failed")

    with pytest.raises(RuntimeError):
        common.run_parts({"fails": failing}, ["fails"], tmp_path / "x.json")
    assert checkpoint.LOAD_OBSERVERS == []


def test_shipped_weights_are_named_by_their_zoo_name_and_commands_keep_quoted_options(common):
    assert common.weights_name(WEIGHTS_DIR / "quetzal-qm9-small" / checkpoint.WEIGHTS) == "quetzal-qm9-small"
    assert common.weights_name(Path("runs/new/model") / checkpoint.WEIGHTS) == "runs/new/model"
    argv = [str(ROOT / "benchmarks" / "bench_nextmol.py"), "--parts=sampler,speed", "--sampler-settings",
            "DDPM, 50 steps"]
    assert common.part_command("sampler", argv) == ("python benchmarks/bench_nextmol.py --parts sampler "
                                                    "--sampler-settings 'DDPM, 50 steps'")


def test_paired_differences_are_tighter_than_independent_ones(common):
    import numpy as np

    rng = np.random.default_rng(0)
    base = (rng.random(6000) < 0.88).astype(float)
    new = base.copy()
    new[rng.choice(6000, 150, replace=False)] = 1.0  # the same items, a few more of them right
    paired = common.paired_difference(new, base)
    independent = common.share_difference(new.mean(), base.mean(), 6000)
    assert paired["value"] == pytest.approx(new.mean() - base.mean())
    assert paired["standard_error"] < 0.5 * independent["standard_error"]


def test_the_atom_count_predictor_is_the_median_at_each_count(common):
    import bench_conditional
    import numpy as np

    from atomgen.system import AtomSystem

    def molecule(n: int) -> AtomSystem:
        return AtomSystem(numbers=np.ones(n, dtype=int), positions=np.zeros((n, 3)))

    train = [molecule(3), molecule(3), molecule(3), molecule(5)]
    values = np.array([1.0, 2.0, 10.0, 7.0])
    predicted = bench_conditional._median_by_count(train, values, [molecule(3), molecule(5), molecule(9)])
    assert predicted.tolist() == [2.0, 7.0, 7.0]  # a count no training molecule has takes the nearest one's


def test_a_judge_not_trained_yet_leaves_its_cells_empty(common, tmp_path):
    """The conditional benchmark measures the xTB judge before every classifier exists: a missing judge is None,
    and the table says which ones are missing instead of printing a number."""
    import conditional_judging
    from report_conditional import conditional_sections

    assert conditional_judging.trained_judge(str(tmp_path / "judge-{property}"), "gap") is None
    row = {"unit": "meV", "seconds": 1.0, "classifier": None, "classifier_unconditioned": None, "xtb": 500.0,
           "xtb_unconditioned": 900.0, "xtb_judged": 9, "xtb_unconditioned_judged": 10, "xtb_floor": 459.0}
    entry = {"result": {"model": "m", "judges": "j", "n": 10, "rows": {"gap": row}}, "commit": "c", "machine": "x",
             "command": "python benchmarks/bench_conditional.py --parts conditional", "date": "d", "weights": {}}
    text = "\n".join(conditional_sections({}, [{"conditional": entry}]))
    assert "## Conditional generation, `m`: MAE" in text
    assert "| conditioned, classifier |  |" in text and "| conditioned, xTB | 500 |" in text
    assert "| molecules xTB judged, conditioned / unconditioned | 9 / 10 |" in text
    assert "Classifier judges not trained yet (their cells are empty): gap." in text


def test_each_conditional_model_keeps_its_results_in_a_file_of_its_own(common):
    """Measuring one conditional model (or a run folder) must not overwrite another model's rows."""
    import bench_conditional

    assert bench_conditional.model_results("nextmol-qm9-cond").name == "conditional-nextmol-qm9-cond.json"
    assert bench_conditional.model_results("runs/quetzal-qm9-cond/model/").name == (
        "conditional-runs_quetzal-qm9-cond_model.json")
    assert bench_conditional.model_results("quetzal-qm9-cond") != bench_conditional.RESULTS


def test_the_guidance_sweep_renders_one_row_per_scale_with_its_mean_ratio(common):
    from report_conditional import conditional_sections

    result = {"model": "m", "judges": "j", "n": 200, "scales": [1.0, 2.0],
              "rows": {"gap": {"unit": "meV", "mae": [538.0, 450.0]}, "mu": {"unit": "D", "mae": [1.13, 0.94]}},
              "mean_ratio": [1.0, 0.834]}
    entry = {"result": result, "commit": "c", "machine": "x", "date": "d", "weights": {},
             "command": "python benchmarks/bench_conditional.py --parts guidance -n 200"}
    text = "\n".join(conditional_sections({}, [{"guidance": entry}]))
    assert "| guidance | μ (D) | gap (meV) | mean ratio to 1 |" in text
    assert "| 1 | 1.13 | 538 | 1.000 |" in text and "| 2 | 0.94 | 450 | 0.834 |" in text


def test_the_geometry_part_renders_one_row_per_geometry(common):
    from report_conditional import conditional_sections

    rows = {"mu": {"unit": "D", "dft": 0.05, "model": 0.41, "rdkit": 0.52}}
    result = {"model": "m", "judges": "j", "n": 10, "n_molecules": 9, "conformer_seconds": 3.0, "rows": rows,
              "rdkit_without_mmff": 2}
    entry = {"result": result, "commit": "c", "machine": "x", "date": "d", "weights": {},
             "command": "python benchmarks/bench_conditional.py --parts geometry -n 10"}
    text = "\n".join(conditional_sections({}, [{"geometry": entry}]))
    assert "9 QM9 test molecules (a seeded 10" in text
    assert "conformer (2 of them left as embedded: MMFF94 cannot type them)" in text
    assert "| DFT (QM9) | 0.05 |" in text and "| `m`'s conformer stage | 0.41 |" in text
    assert "| RDKit ETKDG + MMFF94 | 0.52 |" in text


def test_tuned_guidance_takes_each_propertys_best_scale_of_the_same_weights(common, tmp_path, monkeypatch):
    """`--guidance tuned` reads the model's own guidance part, and refuses one measured on other weights."""
    import bench_conditional
    import conditional_judging
    from report_conditional import conditional_sections

    folder = QuetzalModel(preset("tiny")).save(tmp_path / "tiny")
    digest = hashlib.sha256((folder / checkpoint.WEIGHTS).read_bytes()).hexdigest()
    monkeypatch.setattr(bench_conditional, "RESULTS", tmp_path / "conditional.json")
    result = {"scales": [1.0, 2.0, 3.0], "rows": {"mu": {"mae": [1.1, 0.9, 0.8]}, "gap": {"mae": [450, 350, 390]}},
              "judges": "judge-{property}"}
    stored = bench_conditional.model_results(str(folder))
    stored.write_text(json.dumps({"guidance": {"result": result, "weights": {str(folder): digest}}}))
    tuned = bench_conditional.tuned_guidance(str(folder), "judge-{property}")
    assert tuned == {"mu": 3.0, "gap": 2.0}
    assert conditional_judging.setting_for(tuned, "homo") == 1.0 and conditional_judging.setting_for(2.0, "mu") == 2.0
    entry = {"result": {"model": "m", "judges": "j", "n": 10, "guidance": tuned, "rows": {}}, "commit": "c",
             "machine": "x", "date": "d", "weights": {}, "command": "python benchmarks/bench_conditional.py"}
    assert "best scale in the guidance part: μ 3, gap 2" in "\n".join(conditional_sections({}, [{"ranges": entry}]))
    with pytest.raises(SystemExit, match="no guidance part of"):  # a sweep judged by other judges
        bench_conditional.tuned_guidance(str(folder), "other-judge-{property}")
    stored.write_text(json.dumps({"guidance": {"result": result, "weights": {str(folder): "0" * 64}}}))
    with pytest.raises(SystemExit, match="no guidance part of"):  # a sweep of other weights
        bench_conditional.tuned_guidance(str(folder), "judge-{property}")


def test_tuned_temperature_takes_each_propertys_best_at_the_scales_tuned_now(common, tmp_path, monkeypatch):
    """`--temperature tuned` reads the temperature part of the same weights, takes no temperature that leaves fewer
    than DISTINCT_FLOOR of the molecules distinct, and refuses a part swept at guidance scales the guidance part no
    longer tunes."""
    import bench_conditional
    from report_conditional import conditional_sections

    folder = QuetzalModel(preset("tiny")).save(tmp_path / "tiny")
    digest = hashlib.sha256((folder / checkpoint.WEIGHTS).read_bytes()).hexdigest()
    monkeypatch.setattr(bench_conditional, "RESULTS", tmp_path / "conditional.json")
    judges = "judge-{property}"
    sweep = {"scales": [1.0, 2.0], "rows": {"mu": {"mae": [1.1, 0.9]}, "gap": {"mae": [350, 390]}}, "judges": judges}
    heat = {"model": "m", "n": 10, "judges": judges, "guidance": {"mu": 2.0, "gap": 1.0},
            "temperatures": [0.2, 0.6, 1.0],  # gap's least MAE at 0.2 repeats too many molecules to be taken
            "rows": {"mu": {"unit": "D", "mae": [0.97, 0.95, 0.9], "unique": [0.95, 0.99, 1.0]},
                     "gap": {"unit": "meV", "mae": [250, 300, 350], "unique": [0.85, 0.98, 1.0]}}}
    stored = bench_conditional.model_results(str(folder))

    def store(guidance_result: dict) -> None:
        stored.write_text(json.dumps({part: {"result": result, "weights": {str(folder): digest}} for part, result in
                                      (("guidance", guidance_result), ("temperature", heat))}))
    store(sweep)
    assert bench_conditional.tuned_temperature(str(folder), judges) == {"mu": 1.0, "gap": 0.6}
    entry = {"result": heat, "commit": "c", "machine": "x", "date": "d", "weights": {},
             "command": "python benchmarks/bench_conditional.py --parts temperature -n 10"}
    text = "\n".join(conditional_sections({}, [{"temperature": entry}]))
    assert "best guidance scale (μ 2, gap 1)" in text
    assert "| 0.6 | 0.95 (99.0) | 300 (98.0) |" in text and "| 1 | 0.9 (100.0) | 350 (100.0) |" in text
    store({**sweep, "rows": {"mu": {"mae": [0.8, 0.9]}, "gap": {"mae": [350, 390]}}})  # μ's best scale is 1 now
    with pytest.raises(SystemExit, match="other guidance scales"):
        bench_conditional.tuned_temperature(str(folder), judges)


def test_the_conditional_table_says_how_many_molecules_are_distinct(common):
    """Two waters and a methane are two distinct molecules of three valid; an unperceivable one is left out."""
    import bench_conditional
    import numpy as np
    from report_conditional import conditional_sections

    from atomgen.system import AtomSystem

    water = AtomSystem(numbers=np.array([8, 1, 1]), positions=np.array([[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]))
    methane = AtomSystem(numbers=np.array([6, 1, 1, 1, 1]), positions=1.09 / 3 ** 0.5 * np.array(
        [[0, 0, 0], [1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]))
    stacked = AtomSystem(numbers=np.array([6, 6]), positions=np.zeros((2, 3)))
    assert bench_conditional._unique_share([water, water, methane, stacked]) == 2 / 3
    row = {"unit": "meV", "seconds": 1.0, "classifier": 300.0, "classifier_unconditioned": 900.0, "unique": 0.912}
    entry = {"result": {"model": "m", "judges": "j", "n": 10, "rows": {"gap": row}, "unique_unconditioned": 0.975},
             "commit": "c", "machine": "x", "date": "d", "weights": {},
             "command": "python benchmarks/bench_conditional.py --parts conditional"}
    text = "\n".join(conditional_sections({}, [{"conditional": entry}]))
    assert "| distinct among RDKit-valid, conditioned % (unconditioned: 97.5) | 91.2 |" in text
    assert bench_conditional._unique_share([stacked]) is None


def test_a_colder_conditional_part_is_stored_and_shown_beside_the_model_as_trained(common):
    """`--temperature tuned` keeps its own result ("conditional-temperature-tuned"); BENCHMARKS.md shows the
    temperature-1 table first, then the colder one under a heading that says so."""
    import bench_conditional
    from report_conditional import conditional_sections

    assert bench_conditional.stored_key("conditional", "1") == "conditional"
    assert bench_conditional.stored_key("ranges", "1.0") == "ranges"
    assert bench_conditional.stored_key("conditional", "tuned") == "conditional-temperature-tuned"
    assert bench_conditional.stored_key("ranges", "0.6") == "ranges-temperature-0.6"
    assert bench_conditional.stored_key("guidance", "tuned") == "guidance"  # sweeps are not sampled at --temperature

    def entry(temperature, mae: float) -> dict:
        row = {"unit": "meV", "seconds": 1.0, "classifier": mae, "classifier_unconditioned": 900.0, "unique": 0.9}
        return {"result": {"model": "m", "judges": "j", "n": 10, "guidance": 1.0, "temperature": temperature,
                           "rows": {"gap": row}}, "commit": "c", "machine": "x", "date": "d", "weights": {},
                "command": "python benchmarks/bench_conditional.py --parts conditional"}
    results = {"conditional-temperature-tuned": entry({"gap": 0.4}, 200.0), "conditional": entry(1.0, 300.0)}
    text = "\n".join(conditional_sections({}, [results]))
    as_trained = text.index("judged property\n")
    colder = text.index("judged property, sampled at each property's tuned temperature\n")
    assert as_trained < text.index("| conditioned, classifier | 300 |") < colder
    assert colder < text.index("| conditioned, classifier | 200 |")
    assert "best temperature in the temperature part (least MAE among 1 and those keeping 90 % of its molecules " \
           "distinct): gap 0.4" in text[colder:]


def test_two_ranges_at_once_count_a_molecule_in_both_only_when_each_judge_reads_both(common, tmp_path):
    """The joint part's shares: each range alone and both together, over the molecules read on both properties (a
    NaN from xTB leaves its molecule out), and its table renders one row per request; a model not conditioned on
    both is refused before any molecule is sampled."""
    import numpy as np
    from conditional_ranges import joint, shares_in_both
    from report_conditional import conditional_sections

    unconditional = QuetzalModel(preset("tiny")).save(tmp_path / "tiny")
    with pytest.raises(SystemExit, match="is not conditioned on gap, mu"):
        joint(str(unconditional), "judge-{property}", 4, 1.0, None)

    gap = np.array([6.5, 6.5, 5.0, 6.2, np.nan])  # eV: in, in, out, in, unread
    mu = np.array([0.5, 2.0, 0.5, 0.9, 0.1])  # D: in, out, in, in, in
    assert shares_in_both({"gap": gap, "mu": mu}) == {"gap": 0.75, "mu": 0.75, "both": 0.5}
    assert shares_in_both({"gap": None, "mu": mu}) == {"gap": None, "mu": None, "both": None}
    shares = {"gap": 0.8, "mu": 0.7, "both": 0.6}
    rows = {key: {"classifier": shares, "xtb": shares} for key in ("both", "gap only", "mu only", "unconditioned")}
    result = {"model": "m", "judges": "j", "n": 10, "guidance": 2.0,
              "ranges": {"gap": [6.0, 7.0, "eV"], "mu": [0.0, 1.0, "D"]},
              "rows": {**rows, "qm9_test": {"dft": {"gap": 0.27, "mu": 0.1, "both": 0.03}}}}
    entry = {"result": result, "commit": "c", "machine": "x", "date": "d", "weights": {},
             "command": "python benchmarks/bench_conditional.py --parts joint --guidance 2"}
    text = "\n".join(conditional_sections({}, [{"joint": entry}]))
    assert "asked for gap 6 to 7 eV with μ 0 to 1 D together" in text and "classifier-free guidance 2" in text
    assert "| μ only | 80.0 / 80.0 | 70.0 / 70.0 | 60.0 / 60.0 |" in text
    assert "| QM9 test (DFT labels) | 27.0 | 10.0 | 3.0 |" in text
