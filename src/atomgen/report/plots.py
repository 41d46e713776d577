"""Plots of a sample against its reference, drawn by matplotlib as inline SVG (text kept as text, so they stay
small and sharp at any zoom).

Two kinds cover every plot of the report: `histograms` (one or more panels, each a continuous quantity of the
sample over the reference's, both normalised to unit area) and `shares` (categories, each as a share of the sample
beside its share of the reference).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

SAMPLE_COLOUR = "#c0392b"
REFERENCE_COLOUR = "#7f8c8d"


@dataclass(frozen=True)
class Panel:
    """One histogram panel: the sample's and the reference's values of one quantity."""

    title: str
    sample: np.ndarray
    reference: np.ndarray | None
    xlabel: str = ""
    bins: int = 40
    integer: bool = False  # whole-number values (counts): one bin per value


STYLE = {"svg.fonttype": "none", "font.size": 8, "axes.spines.top": False, "axes.spines.right": False,
         "axes.titlesize": 9}
"""matplotlib settings of every plot (text stays text in the SVG), applied only while a plot is drawn."""


def draw(width: float, height: float, paint: Callable[[list], None], *, columns: int = 1, name: str = "") -> str:
    """SVG text of a figure of `columns` axes side by side, each drawn by `paint(axes)`.

    The figure is a bare matplotlib Figure inside `rc_context(STYLE)`: no pyplot, so drawing a report changes no
    backend or setting of the process (a notebook keeps its own). `name` salts the SVG's element ids, so the same
    plot gives the same text every time and two plots on one page do not share ids.
    """
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({**STYLE, "svg.hashsalt": f"atomgen {name}"}):
        figure = Figure(figsize=(width, height))
        axes = figure.subplots(1, columns, squeeze=False)
        paint(list(axes[0]))
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # the XML prolog and DOCTYPE do not belong inside an HTML page


def finite(values: Sequence[float] | np.ndarray | None) -> np.ndarray:
    """The finite values (a NaN density or lattice of a broken crystal cannot be binned)."""
    values = np.asarray([] if values is None else values, dtype=float)
    return values[np.isfinite(values)]


def _label(name: str, values: np.ndarray, given: np.ndarray | Sequence | None) -> str:
    """A legend entry: the name, how many values, and how many were not finite (left out)."""
    dropped = 0 if given is None else len(given) - len(values)
    return f"{name} ({len(values):,}" + (f"; {dropped:,} not finite, left out)" if dropped else ")")


def histograms(panels: Sequence[Panel], *, sample_label: str = "sample", reference_label: str = "reference",
               panel_width: float = 2.6, height: float = 2.3) -> str:
    """Panels side by side, each the sample's histogram (filled) over the reference's (outline), as SVG."""

    def paint(axes: list) -> None:
        for axis, panel in zip(axes, panels):
            ours = finite(panel.sample)
            theirs = finite(panel.reference) if panel.reference is not None else None
            values = [v for v in (ours, theirs) if v is not None and len(v)]
            if not values:
                axis.text(0.5, 0.5, "no values", ha="center", va="center", transform=axis.transAxes)
            else:
                edges = _edges(np.concatenate(values), panel)
                # Values beyond the central 99 % are left out of the picture (not piled onto its edges); the legend
                # still counts every value.
                if _inside(ours, edges):
                    axis.hist(ours, bins=edges, density=True, color=SAMPLE_COLOUR, alpha=0.55,
                              label=_label(sample_label, ours, panel.sample))
                if theirs is not None and _inside(theirs, edges):
                    axis.hist(theirs, bins=edges, density=True, histtype="step", color=REFERENCE_COLOUR,
                              linewidth=1.4, label=_label(reference_label, theirs, panel.reference))
            axis.set_title(panel.title)
            axis.set_xlabel(panel.xlabel)
            axis.set_yticks([])
            if axis.get_legend_handles_labels()[0]:
                axis.legend(fontsize=5.5, frameon=False, loc="best")

    return draw(panel_width * len(panels), height, paint, columns=len(panels),
                name="|".join(panel.title for panel in panels))


def overlaid(series: dict[str, np.ndarray], *, title: str, xlabel: str = "", bins: int = 40,
             width: float = 4.6, height: float = 2.6) -> str:
    """Several distributions of one quantity on one axis (each normalised to unit area): the first filled, the
    others as outlines, as SVG."""

    def paint(axes: list) -> None:
        (axis,) = axes
        kept = {label: finite(values) for label, values in series.items()}
        filled = [v for v in kept.values() if len(v)]
        if filled:
            edges = _edges(np.concatenate(filled), Panel(title, filled[0], None, xlabel, bins))
            outlines = iter(("#2c3e50", "#2980b9", "#27ae60", "#8e44ad"))
            for number, (label, values) in enumerate(kept.items()):
                if not _inside(values, edges):
                    continue
                style = ({"color": SAMPLE_COLOUR, "alpha": 0.55} if number == 0
                         else {"histtype": "step", "linewidth": 1.4, "color": next(outlines)})
                axis.hist(values, bins=edges, density=True, label=_label(label, values, series[label]), **style)
        axis.set_title(title)
        axis.set_xlabel(xlabel)
        axis.set_yticks([])
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=6, frameon=False)

    return draw(width, height, paint, name=title)


def _inside(values: np.ndarray, edges: np.ndarray) -> bool:
    """Whether any value falls within the plotted range (a histogram of none cannot be normalised)."""
    return bool(np.any((values >= edges[0]) & (values <= edges[-1])))


def _edges(values: np.ndarray, panel: Panel) -> np.ndarray:
    """Bin edges over the central 99 % of the values (every value when they are whole numbers)."""
    if panel.integer:
        return np.arange(values.min() - 0.5, values.max() + 1.5)
    low, high = np.percentile(values, [0.5, 99.5])
    return np.linspace(low, high if high > low else low + 1, panel.bins + 1)


def shares(categories: Sequence[str], sample: Sequence[float], reference: Sequence[float] | None, *,
           title: str, ylabel: str = "share", sample_label: str = "sample", reference_label: str = "reference",
           width: float = 4.2, height: float = 2.4) -> str:
    """Categories as grouped bars: the sample's share beside the reference's, as SVG."""

    def paint(axes: list) -> None:
        (axis,) = axes
        positions = np.arange(len(categories))
        bar = 0.4 if reference is not None else 0.7
        axis.bar(positions - (bar / 2 if reference is not None else 0), sample, width=bar, color=SAMPLE_COLOUR,
                 label=sample_label)
        if reference is not None:
            axis.bar(positions + bar / 2, reference, width=bar, color=REFERENCE_COLOUR, label=reference_label)
        crowded = sum(len(str(c)) for c in categories) > 40  # labels that would run into each other
        axis.set_xticks(positions, list(categories), rotation=35 if crowded else 0,
                        ha="right" if crowded else "center")
        axis.set_title(title)
        axis.set_ylabel(ylabel)
        axis.legend(fontsize=6, frameon=False)

    return draw(width, height, paint, name=title)


def normalised(counts: dict, keys: Sequence) -> list[float]:
    """The share of each key in a histogram {key: count} (0 for a key it lacks)."""
    total = sum(counts.values()) or 1
    return [counts.get(key, 0) / total for key in keys]
