"""The report of a training run folder (`atomgen report RUN_DIR`): its loss curves and its periodic
sample-and-evaluate rows, read from the CSV logs the trainer writes (`logs/version_*/metrics.csv`; a resumed run
adds a version, and a later version's rows replace an earlier one's for the same step)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from atomgen.errors import InputError
from atomgen.report.page import Page, Section, Table, write_page
from atomgen.report.plots import SAMPLE_COLOUR, draw
from atomgen.train.config import flat_settings


def is_run_dir(path: str | Path) -> bool:
    """Whether `path` is a training run folder (a `config.json` and a `logs` folder, or a `checkpoints` one)."""
    path = Path(path)
    return path.is_dir() and (path / "config.json").is_file() and ((path / "logs").is_dir()
                                                                   or (path / "checkpoints").is_dir())


def read_run_logs(run_dir: str | Path) -> dict[int, dict[str, float]]:
    """{step: {column: value}} from every CSV log of a run, version by version. A resumed run starts a new version
    from its checkpoint's step, so an earlier version's rows past that step belong to a timeline the run abandoned
    and are dropped."""
    folders = [f for f in Path(run_dir).glob("logs/version_*") if f.name.removeprefix("version_").isdigit()]
    files = [f / "metrics.csv" for f in sorted(folders, key=lambda f: int(f.name.removeprefix("version_")))
             if (f / "metrics.csv").is_file()]
    if not files:
        raise InputError("no training logs (logs/version_*/metrics.csv) in this run folder", run_dir)
    rows: dict[int, dict[str, float]] = {}
    for file in files:
        version = _read_log(file)
        if version:
            resumed_at = min(version)
            rows = {step: values for step, values in rows.items() if step <= resumed_at}
        for step, values in version.items():
            rows.setdefault(step, {}).update(values)
    if not rows:
        raise InputError("the training logs hold no rows yet", run_dir)
    return dict(sorted(rows.items()))


def _read_log(file: Path) -> dict[int, dict[str, float]]:
    """{step: {column: value}} of one CSV log (Lightning writes a step's values over several rows)."""
    rows: dict[int, dict[str, float]] = {}
    with open(file, newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                step = int(row["step"])
                values = {k: float(v) for k, v in row.items() if k not in ("step", "epoch") and v not in ("", None)}
            except (KeyError, TypeError, ValueError) as error:
                raise InputError(f"unreadable training log row at line {line} ({error})", file) from None
            rows.setdefault(step, {}).update(values)
    return rows


def run_page(run_dir: str | Path) -> Page:
    """The page of a run: loss curves, sample-and-evaluate rows, its configuration."""
    run_dir = Path(run_dir)
    rows = read_run_logs(run_dir)
    try:
        config = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"unreadable config.json ({error})", run_dir / "config.json") from None
    losses = sorted({k for values in rows.values() for k in values if k.startswith("train/")})
    sampled = sorted({k for values in rows.values() for k in values if k.startswith("sample/")})
    figures = [(f"{name}: every logged value (faint) and a running mean (solid), against the step.",
                _curve(rows, name)) for name in losses]
    if sampled:
        figures += [(f"{name}, from the periodic sample-and-evaluate of the EMA model.", _curve(rows, name, smooth=1))
                    for name in sampled if name != "sample/seconds"]
    tables = []
    sample_steps = [step for step, values in rows.items() if any(k in values for k in sampled)]
    if sample_steps:
        columns = [name.removeprefix("sample/") for name in sampled]
        tables.append(Table("Sample-and-evaluate rows", ["step", *columns],
                            [[str(step)] + [_cell(rows[step].get(name)) for name in sampled] for step in sample_steps]))
    last = max(rows)
    settings = [[key, json.dumps(value)] for key, value in flat_settings(config).items()]
    appendix = [Table("Configuration (config.json)", ["setting", "value"], settings)]
    summary = (f"Training run {run_dir.name}: family {config.get('family', '?')}, last logged step {last:,}, "
               f"{len(rows):,} logged steps"
               + (f", {len(sample_steps)} sample-and-evaluate rows" if sample_steps else ""))
    notes = [] if sample_steps else ["No sample-and-evaluate rows: trainer.sample_every_steps was 0 or not reached."]
    return Page(f"atomgen run report: {run_dir.name}", summary,
                [Section(None, "", tables, figures, None, notes, appendix, figures_heading="Curves")])


def write_run_report(run_dir: str | Path, output: str | Path) -> Path:
    """Render a run folder's report as HTML at `output`, atomically."""
    return write_page(output, run_page(run_dir))


def _curve(rows: dict[int, dict[str, float]], name: str, smooth: int | None = None) -> str:
    """One logged quantity against the step; a running mean over `smooth` values (default: a twentieth of them,
    at least 1) drawn over the raw values when it spans several."""
    steps = np.array([step for step, values in rows.items() if name in values])
    values = np.array([rows[step][name] for step in steps])
    smooth = smooth or max(1, len(values) // 20)

    def paint(axes: list) -> None:
        (axis,) = axes
        if smooth > 1:
            axis.plot(steps, values, color=SAMPLE_COLOUR, alpha=0.25, linewidth=0.8)
            running = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
            axis.plot(steps[smooth - 1 :], running, color=SAMPLE_COLOUR, linewidth=1.5)
        else:
            axis.plot(steps, values, color=SAMPLE_COLOUR, marker="o", markersize=3, linewidth=1.2)
        if len(values) and values.min() > 0 and values.max() > 20 * values.min():
            axis.set_yscale("log")  # a loss that falls by orders of magnitude: the late part stays readable
        axis.set_title(name)
        axis.set_xlabel("step")

    return draw(4.2, 2.4, paint, name=name)


def _cell(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4g}"
