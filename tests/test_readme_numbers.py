"""README.md's summary tables are benchmarks/results/*.json rendered: no number in them is typed in by hand."""

from __future__ import annotations

import difflib
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK_RESULTS = {"quetzal": "quetzal.json", "adit": "adit.json", "nextmol": "nextmol.json",
                 "evaluator": "evaluator.json"}
"""Each README summary block and the results file it is rendered from."""

NUMBER = re.compile(r"(?<![\w.,−-])[−-]?\d+(?:,\d{3})*(?:\.\d+)?")
"""A number in prose: not part of a name such as W1, fp32, Perov-5 or MMFF94; '−' or '-' makes it negative."""


@pytest.fixture(scope="module")
def report_modules():
    """The benchmarks' report modules, which import each other as sibling scripts."""
    sys.path.append(str(ROOT / "benchmarks"))
    import report_adit
    import report_quetzal
    import report_readme
    import write_benchmarks_md

    return report_readme, write_benchmarks_md, report_quetzal, report_adit


@pytest.fixture(scope="module")
def readme_blocks(report_modules) -> dict[str, str]:
    report_readme = report_modules[0]
    return report_readme.read_blocks((ROOT / "README.md").read_text(), list(BLOCK_RESULTS))


def _numbers(block: str) -> list[str]:
    """The numbers of a table's data rows (the header row names papers and years), code spans left out."""
    return [token for row in block.splitlines()[2:] for token in NUMBER.findall(re.sub(r"`[^`]*`", "", row))]


def _leaves(value: object, found: list[float]) -> list[float]:
    """Every number in a JSON document, keys that are numbers (batch sizes, thresholds) included."""
    if isinstance(value, dict):
        for key, item in value.items():
            try:
                found.append(float(key))
            except ValueError:
                pass
            _leaves(item, found)
    elif isinstance(value, list):
        for item in value:
            _leaves(item, found)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        found.append(float(value))
    return found


def _matches(token: str, values: list[float]) -> bool:
    """Whether a printed number is one of `values` (or a fraction of them as a percentage) rounded as printed."""
    text = token.replace(",", "").replace("−", "-")
    decimals = len(text.split(".")[1]) if "." in text else 0
    number, tolerance = float(text), 0.5 * 10**-decimals + 1e-9
    return any(abs(value - number) <= tolerance or abs(100 * value - number) <= tolerance for value in values)


def test_readme_summary_tables_are_the_results_rendered(report_modules, readme_blocks):
    write_benchmarks_md = report_modules[1]
    for name, lines in write_benchmarks_md.readme_summaries().items():
        rendered = "\n".join(lines) + "\n"
        diff = "\n".join(difflib.unified_diff(readme_blocks[name].splitlines(), rendered.splitlines(), "README.md",
                                              f"rendered from benchmarks/results/{BLOCK_RESULTS[name]}", lineterm=""))
        assert readme_blocks[name] == rendered, (
            f"README.md's {name} summary differs from its results; run `python benchmarks/write_benchmarks_md.py` "
            f"or change the wording in benchmarks/report_readme.py:\n{diff}")


def test_every_number_in_the_readme_tables_is_a_result_or_a_quoted_target(report_modules, readme_blocks):
    report_readme, write_benchmarks_md, report_quetzal, report_adit = report_modules
    # Numbers that are not measured: the issues' targets, EDM's published row, and the protocols the labels name
    # (29-atom molecules for the KV cache, ADiT's 100 Euler steps, Quetzal's 30 Heun steps).
    quoted = [*report_quetzal.TARGETS.values(), *report_adit.CRYSTAL_TARGETS.values(),
              *write_benchmarks_md.EDM_DATA_ROW.values(), report_readme.KV_CACHE_TARGET,
              report_readme.ADIT_MOLECULE_TARGET, 29, 100, 30]
    for name, results_file in BLOCK_RESULTS.items():
        values = _leaves(json.loads((ROOT / "benchmarks" / "results" / results_file).read_text()), [])
        stray = [token for token in _numbers(readme_blocks[name]) if not _matches(token, values + quoted)]
        assert not stray, f"README.md's {name} summary has numbers that are not in {results_file}: {stray}"


def test_a_number_not_in_the_results_is_caught():
    values = [0.547, 1103.8214955699925, -121.72540764170577]
    assert _matches("54.7", values) and _matches("1,104", values) and _matches("−121.7", values)
    assert not _matches("54.6", values) and not _matches("1,106", values) and not _matches("121.8", values)
    assert _numbers("| h |\n|---|\n| W1 of Perov-5 in `--parts x -n 7`: 0.21 g/cm³, 1,000 |") == ["0.21", "1,000"]
