"""The property-conditional sections of BENCHMARKS.md, rendered from benchmarks/results/conditional.json (the
judges) and conditional-<model>.json (each shipped conditional model's rows)."""

from __future__ import annotations

import math

from report_format import provenance

DISTINCT_FLOOR = 0.9
"""`--temperature tuned` (bench_conditional.py) takes a temperature below 1 only where at least this share of the
temperature part's RDKit-valid molecules are distinct: a colder draw repeats the language model's likeliest
molecules, and a row that bought its MAE by repeating itself would no longer be a generator's (the floor was chosen
before the sweep reached below 0.4). Kept here, where the tables it shapes state it."""

COMMAND = "python benchmarks/bench_conditional.py --parts"
CONDITIONAL_MODELS = ("nextmol-qm9-cond", "quetzal-qm9-cond")
"""The shipped conditional models whose rows BENCHMARKS.md shows (a run folder's results stay in their file)."""
ORDER = ("mu", "alpha", "Cv", "homo", "lumo", "gap")
LABELS = {"mu": "μ (D)", "alpha": "α (Bohr³)", "Cv": "Cv (cal/mol K)", "homo": "HOMO (meV)", "lumo": "LUMO (meV)",
          "gap": "gap (meV)"}
PUBLISHED = {
    "L-bound": (0.043, 0.09, 0.040, 39, 36, 65),
    "EDM": (1.123, 2.78, 1.065, 371, 601, 671),
    "GeoLDM": (1.108, 2.37, 1.025, 340, 522, 587),
    "JODO": (0.628, 1.42, 0.581, 226, 256, 335),
    "NExT-Mol": (0.507, 1.16, 0.512, 205, 235, 297),
}
"""Published MAE of EDM's protocol, in ORDER: NExT-Mol (Liu et al. 2025) Table 3, its baseline rows from JODO."""
PUBLISHED_BOUNDS = {
    "L-bound": PUBLISHED["L-bound"],
    "#Atoms": (1.053, 3.86, None, None, None, 866),
    "Naive": (1.616, 9.01, None, None, None, 1470),
}
"""EDM's (Hoogeboom et al. 2022, Table 3) bounding rows, in ORDER. Of #Atoms and Naive only the cells that a source
here confirmed are filled (μ, α, gap); the others stay empty rather than be quoted from memory."""


def _cell(value) -> str:
    return "" if value is None else (f"{value:.3g}" if value < 10 else f"{value:.0f}")


def _judged(row: dict) -> str:
    """How many molecules xTB could judge (a radical, or atoms on top of each other, it cannot)."""
    return f"{row['xtb_judged']:,} / {row['xtb_unconditioned_judged']:,}" if "xtb_judged" in row else ""


def _share(value: float | None) -> str:
    """A share as a percentage; "judge not trained" where there is no judge to read it, "none read" where the
    judge could read no molecule."""
    if value is None:
        return "judge not trained"
    return "none read" if math.isnan(value) else f"{100 * value:.1f}"


def _published_lines(names: tuple[str, ...], published: dict = PUBLISHED) -> list[str]:
    return [f"| {row} (published) | " + " | ".join(_cell(values[ORDER.index(n)]) for n in names) + " |"
            for row, values in published.items()]


def _calibration(entry: dict) -> list[str]:
    r = entry["result"]
    lines = ["## Conditional generation: the GFN2-xTB judge's calibration", "",
             f"GFN2-xTB (tblite) single points of {r['n']:,} QM9 test molecules (seeded draw, {r['seconds']:.0f} s), "
             "each property fitted linearly to the DFT label; the fit's own MAE is the floor of any error this judge "
             "reports. " + provenance(entry, COMMAND, "calibration"), "",
             "| property | DFT ≈ slope · xTB + intercept | MAE | molecules |", "|---|---|---|---|"]
    lines += [f"| {name} | {row['slope']:.3f} · xTB {row['intercept']:+.3f} | {_cell(row['mae'])} {row['unit']} | "
              f"{row['n']:,} |" for name, row in r["rows"].items()]
    return lines + [""]


def _classifiers(entry: dict) -> list[str]:
    r = entry["result"]
    names = tuple(n for n in ORDER if "missing" not in r["rows"].get(n, {"missing": ""}))
    lines = ["## Conditional generation: the property classifiers (EDM's judges)", "",
             f"Each property's EGNN (`{r['judges']}`) trained on the first half of QM9 train, scored on QM9's valid "
             f"split and on the {r['n_second_half']:,} molecules of the second half (the generators' half): L-bound is "
             "the judge on those real molecules, #Atoms the median of the first half's values at each atom count, "
             "Naive the judge against shuffled labels. " + provenance(entry, COMMAND, "classifiers"), "",
             "| row | " + " | ".join(LABELS[n] for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for key, label in (("valid", "valid split"), ("l_bound", "L-bound"), ("atoms", "#Atoms"), ("naive", "Naive")):
        lines.append(f"| {label} | " + " | ".join(_cell(r["rows"][n][key]) for n in names) + " |")
    lines += _published_lines(names, PUBLISHED_BOUNDS)
    lines += ["", "Empty published cells were not confirmed from a source here. EDM's Cv is QM9's less a per-atom "
              "reference, a shift set by the atom count: it leaves L-bound and #Atoms alone but not Naive, so a "
              "Naive Cv from EDM would not compare with atomgen's, which keeps QM9's Cv."]
    missing = [n for n in ORDER if n not in names]
    if missing:
        lines += ["", f"Not trained yet: {', '.join(missing)}."]
    return lines + [""]


def _conditional(entry: dict) -> list[str]:
    r = entry["result"]
    names = tuple(n for n in ORDER if n in r["rows"])
    rows = r["rows"]
    lines = [f"## Conditional generation, `{r['model']}`: MAE between the requested and the judged property"
             f"{_colder(r)}", "",
             f"`{r['model']}`, {r['n']:,} molecules per property, each conditioned on that property alone "
             f"({_guidance_words(r)}) with targets drawn as EDM draws them; judged by the classifiers above and, "
             "where it computes the property, by calibrated GFN2-xTB (its line refitted on the 1,000 QM9 test "
             "molecules the part keeps as reference, the line's MAE on them its floor; a radical, or atoms closer "
             "than 0.5 Å, it does not judge). The unconditioned rows are the same model without a condition, "
             "against the same targets." + (" The row told the atom count samples each target at the atom count "
                                            "drawn with it, as EDM's generator is given it (a Quetzal model, which "
                                            "can fix the count; the headline lets the model choose it)."
                                            if _told_count(rows) else "") + " " +
             provenance(entry, COMMAND, "conditional"), "",
             "| row | " + " | ".join(LABELS[n] for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for key, label in (("classifier", "conditioned, classifier"), ("classifier_unconditioned",
                                                                    "unconditioned, classifier"),
                       *((("classifier_given_count", "conditioned and told the atom count (EDM), classifier"),)
                         if _told_count(rows) else ()),
                       ("xtb", "conditioned, xTB"), ("xtb_unconditioned", "unconditioned, xTB"),
                       ("xtb_floor", "xTB floor (the refitted line's MAE)")):
        lines.append(f"| {label} | " + " | ".join(_cell(rows[n].get(key)) for n in names) + " |")
    lines.append("| molecules xTB judged, conditioned / unconditioned | " + " | ".join(
        _judged(rows[n]) for n in names) + " |")
    if "unique_unconditioned" in r:  # results from before the row have no uniqueness
        lines.append(f"| distinct among RDKit-valid, conditioned % (unconditioned: "
                     f"{_percent(r['unique_unconditioned'])}) | " + " | ".join(
                         _percent(rows[n]["unique"]) for n in names) + " |")
    lines += _published_lines(names)
    untrained = [n for n in names if rows[n].get("classifier") is None]
    if untrained:
        lines += ["", f"Classifier judges not trained yet (their cells are empty): {', '.join(untrained)}."]
    return lines + [""]


def _percent(share: float | None) -> str:
    """A share as a percentage; empty where there was nothing to count (no valid molecule)."""
    return "" if share is None else f"{100 * share:.1f}"


def _told_count(rows: dict) -> bool:
    """Whether the conditional part also sampled the model told each target's atom count."""
    return any("classifier_given_count" in row for row in rows.values())


def _ranges(entry: dict) -> list[str]:
    r = entry["result"]
    lines = [f"## Conditional generation, `{r['model']}`: asked for a range, how many land in it{_colder(r)}", "",
             f"`{r['model']}`, {r['n']:,} molecules per range ({_guidance_words(r)}); the share whose property, as "
             "each judge reads it, lies in the range asked for, beside the same model unconditioned and QM9's test "
             "molecules (1,000, their DFT labels). " + provenance(entry, COMMAND, "ranges"), "",
             "| range | classifier: conditioned / unconditioned % | xTB: conditioned / unconditioned % | QM9 test % |",
             "|---|---|---|---|"]
    for name, row in r["rows"].items():
        low, high = row["range"]
        symbol = LABELS[name].split(" (")[0]
        lines.append(f"| {symbol} {low:g} to {high:g} {row['unit']} | {_share(row['classifier'])} / "
                     f"{_share(row['classifier_unconditioned'])} | {_share(row['xtb'])} / "
                     f"{_share(row['xtb_unconditioned'])} | {_share(row['qm9_test'])} |")
    return lines + [""]


def _joint(entry: dict) -> list[str]:
    r = entry["result"]
    (first, (low1, high1, unit1)), (second, (low2, high2, unit2)) = r["ranges"].items()
    symbol = {name: LABELS[name].split(" (")[0] for name in r["ranges"]}
    asked = f"{symbol[first]} {low1:g} to {high1:g} {unit1} with {symbol[second]} {low2:g} to {high2:g} {unit2}"
    lines = [f"## Conditional generation, `{r['model']}`: two ranges asked for at once", "",
             f"`{r['model']}`, {r['n']:,} molecules per request ({_guidance_words(r)}), asked for {asked} together, "
             "for each alone, and for nothing; the share whose properties, as each judge reads them, lie in each "
             "range and in both (xTB: over the molecules it reads on both), beside QM9's test molecules (1,000, "
             "their DFT labels). " + provenance(entry, COMMAND, "joint"), "",
             f"| asked for | {symbol[first]} in range %, classifier / xTB | {symbol[second]} in range %, classifier / "
             "xTB | both in range %, classifier / xTB |", "|---|---|---|---|"]
    labels = {"both": "both", f"{first} only": f"{symbol[first]} only", f"{second} only": f"{symbol[second]} only",
              "unconditioned": "nothing (unconditioned)"}
    for key, label in labels.items():
        row = r["rows"][key]
        lines.append(f"| {label} | " + " | ".join(f"{_share(row['classifier'][k])} / {_share(row['xtb'][k])}"
                                                  for k in (first, second, "both")) + " |")
    test = r["rows"]["qm9_test"]["dft"]
    lines.append("| QM9 test (DFT labels) | " + " | ".join(_share(test[k]) for k in (first, second, "both")) + " |")
    return lines + [""]


def _geometry(entry: dict) -> list[str]:
    r = entry["result"]
    names = tuple(n for n in ORDER if n in r["rows"])
    lines = [f"## Conditional generation, `{r['model']}`: what the conformer stage costs the classifiers", "",
             f"{r['n_molecules']:,} QM9 test molecules (a seeded {r['n']:,}, less those whose bonds cannot be "
             "perceived or that ETKDG cannot embed), each judged on three geometries of its own graph against its "
             f"DFT labels: the DFT geometry, `{r['model']}`'s conformer (seed 0, {r['conformer_seconds']:.0f} s in "
             f"all) and RDKit's ETKDG + MMFF94 conformer{_untyped(r)}. The model's row is the MAE a perfect "
             "language model would still score with this conformer stage. "
             + provenance(entry, COMMAND, "geometry"), "",
             "| geometry | " + " | ".join(LABELS[n] for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for key, label in (("dft", "DFT (QM9)"), ("model", f"`{r['model']}`'s conformer stage"),
                       ("rdkit", "RDKit ETKDG + MMFF94")):
        lines.append(f"| {label} | " + " | ".join(_cell(r["rows"][n][key]) for n in names) + " |")
    return lines + [""]


def _untyped(result: dict) -> str:
    """How many RDKit conformers MMFF could not type (left as ETKDG embedded them), where the result counts them."""
    untyped = result.get("rdkit_without_mmff")
    return "" if not untyped else f" ({untyped} of them left as embedded: MMFF94 cannot type them)"


def _per_property(values: dict) -> str:
    return ", ".join(f"{LABELS[n].split(' (')[0]} {values[n]:g}" for n in ORDER if n in values)


def _guidance_words(result: dict) -> str:
    """The guidance and temperature a part sampled with, in words (results from before either option sampled
    with 1)."""
    scale, heat = result.get("guidance", 1.0), result.get("temperature", 1.0)
    if isinstance(scale, dict):  # `--guidance tuned`
        words = f"classifier-free guidance at each property's best scale in the guidance part: {_per_property(scale)}"
    else:
        words = "no guidance" if scale == 1.0 else f"classifier-free guidance {scale:g}"
    if isinstance(heat, dict):  # `--temperature tuned`
        return words + (f"; each property's best temperature in the temperature part (least MAE among 1 and those "
                        f"keeping {DISTINCT_FLOOR * 100:g} % of its molecules distinct): {_per_property(heat)}")
    return words if heat == 1.0 else words + f"; temperature {heat:g}"


def _colder(result: dict) -> str:
    """A heading's ending for a part sampled at another temperature than the model's own 1 (results from before
    the option sampled at 1)."""
    heat = result.get("temperature", 1.0)
    if isinstance(heat, dict):  # `--temperature tuned`
        return ", sampled at each property's tuned temperature"
    return "" if heat == 1.0 else f", sampled at temperature {heat:g}"


def _sweep_header(entry: dict, part: str, choosing: str, description: str,
                  columns: tuple[str, ...]) -> tuple[list[str], tuple[str, ...]]:
    """The heading, description and table head of a sweep part (guidance, temperature), and the properties it has
    rows for, in ORDER; `columns` are the first column's name, then any after the properties'."""
    r = entry["result"]
    names = tuple(n for n in ORDER if n in r["rows"])
    head = [columns[0], *(LABELS[n] for n in names), *columns[1:]]
    return [f"## Conditional generation, `{r['model']}`: choosing the {choosing}", "",
            description + " " + provenance(entry, COMMAND, part), "",
            "| " + " | ".join(head) + " |", "|---" * len(head) + "|"], names


def _guidance(entry: dict) -> list[str]:
    r = entry["result"]
    lines, names = _sweep_header(
        entry, "guidance", "guidance scale",
        f"The classifier's MAE at each classifier-free guidance scale (1: the plain conditional model), "
        f"{r['n']:,} molecules per property and scale, with targets and a sampling seed that the tables below do not "
        "use; the last column is the mean over the properties of the MAE at that scale over the MAE at 1.",
        ("guidance", "mean ratio to 1"))
    for k, scale in enumerate(r["scales"]):
        ratio = r["mean_ratio"][k]
        lines.append(f"| {scale:g} | " + " | ".join(_cell(r["rows"][n]["mae"][k]) for n in names) +
                     f" | {'' if ratio is None else f'{ratio:.3f}'} |")
    return lines + [""]


def _temperature(entry: dict) -> list[str]:
    r = entry["result"]
    lines, names = _sweep_header(
        entry, "temperature", "sampling temperature",
        f"The classifier's MAE at each sampling temperature (1: the model's own distribution), each property at its "
        f"best guidance scale ({_per_property(r['guidance'])}), {r['n']:,} molecules per property and temperature "
        "on the guidance part's targets and seed; in brackets the share of distinct molecules among the RDKit-valid "
        "ones, %.", ("temperature",))
    for k, heat in enumerate(r["temperatures"]):
        lines.append(f"| {heat:g} | " + " | ".join(
            f"{_cell(r['rows'][n]['mae'][k])} ({_percent(r['rows'][n]['unique'][k])})" for n in names) + " |")
    return lines + [""]


def conditional_sections(judges: dict, models: list[dict]) -> list[str]:
    """Markdown lines for every conditional part that has results, in a fixed order: the judges' parts (from
    conditional.json), then each model's (from its conditional-<model>.json, in CONDITIONAL_MODELS' order), a part
    sampled at several temperatures once per temperature."""
    lines = [line for part, render in (("calibration", _calibration), ("classifiers", _classifiers))
             if part in judges for line in render(judges[part])]
    renders = {"guidance": _guidance, "temperature": _temperature, "conditional": _conditional, "ranges": _ranges,
               "joint": _joint, "geometry": _geometry}
    for results in models:
        for part, render in renders.items():
            # A part stored under several temperatures ("conditional", "conditional-temperature-tuned"): the
            # model's own distribution first, then each colder one.
            keys = [key for key in results if key == part or key.startswith(f"{part}-temperature-")]
            lines += [line for key in sorted(keys, key=len) for line in render(results[key])]
    return lines
