"""Plots of a sample against its reference, drawn by matplotlib as inline SVG (text kept as text, so they stay
small and sharp at any zoom).

Two kinds cover every plot of the report: `histograms` (one or more panels, each a continuous quantity of the
sample over the reference's, both normalised to unit area) and `shares` (categories, each as a share of the sample
beside its share of the reference).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
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


def new_figure(width: float, height: float, columns: int = 1):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 8, "axes.spines.top": False,
                         "axes.spines.right": False, "axes.titlesize": 9})
    figure, axes = plt.subplots(1, columns, figsize=(width, height), squeeze=False)
    return figure, list(axes[0])


def svg_of(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.tight_layout()
    figure.savefig(buffer, format="svg", metadata={"Date": None})  # no date: the same data gives the same file
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # the XML prolog and DOCTYPE do not belong inside an HTML page


def histograms(panels: Sequence[Panel], *, sample_label: str = "sample", reference_label: str = "reference",
               panel_width: float = 2.6, height: float = 2.3) -> str:
    """Panels side by side, each the sample's histogram (filled) over the reference's (outline), as SVG."""
    figure, axes = new_figure(panel_width * len(panels), height, len(panels))
    for axis, panel in zip(axes, panels):
        values = [v for v in (panel.sample, panel.reference) if v is not None and len(v)]
        if not values:
            axis.text(0.5, 0.5, "no values", ha="center", va="center", transform=axis.transAxes)
        else:
            edges = _edges(np.concatenate(values), panel)
            # Values beyond the central 99 % are left out of the picture (not piled onto its edges); the legend
            # still counts every value.
            if _inside(panel.sample, edges):
                axis.hist(panel.sample, bins=edges, density=True, color=SAMPLE_COLOUR, alpha=0.55,
                          label=f"{sample_label} ({len(panel.sample):,})")
            if panel.reference is not None and _inside(panel.reference, edges):
                axis.hist(panel.reference, bins=edges, density=True, histtype="step", color=REFERENCE_COLOUR,
                          linewidth=1.4, label=f"{reference_label} ({len(panel.reference):,})")
        axis.set_title(panel.title)
        axis.set_xlabel(panel.xlabel)
        axis.set_yticks([])
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=5.5, frameon=False, loc="best")
    return svg_of(figure)


def overlaid(series: dict[str, np.ndarray], *, title: str, xlabel: str = "", bins: int = 40,
             width: float = 4.6, height: float = 2.6) -> str:
    """Several distributions of one quantity on one axis (each normalised to unit area): the first filled, the
    others as outlines, as SVG."""
    figure, (axis,) = new_figure(width, height)
    filled = [np.asarray(v, dtype=float) for v in series.values() if len(v)]
    if filled:
        edges = _edges(np.concatenate(filled), Panel(title, filled[0], None, xlabel, bins))
        outlines = iter(("#2c3e50", "#2980b9", "#27ae60", "#8e44ad"))
        for number, (label, values) in enumerate(series.items()):
            values = np.asarray(values, dtype=float)
            if not _inside(values, edges):
                continue
            style = ({"color": SAMPLE_COLOUR, "alpha": 0.55} if number == 0
                     else {"histtype": "step", "linewidth": 1.4, "color": next(outlines)})
            axis.hist(values, bins=edges, density=True, label=f"{label} ({len(values):,})", **style)
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    axis.set_yticks([])
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize=6, frameon=False)
    return svg_of(figure)


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
    figure, (axis,) = new_figure(width, height)
    positions = np.arange(len(categories))
    bar = 0.4 if reference is not None else 0.7
    axis.bar(positions - (bar / 2 if reference is not None else 0), sample, width=bar, color=SAMPLE_COLOUR,
             label=sample_label)
    if reference is not None:
        axis.bar(positions + bar / 2, reference, width=bar, color=REFERENCE_COLOUR, label=reference_label)
    crowded = sum(len(str(c)) for c in categories) > 40  # labels that would run into each other
    axis.set_xticks(positions, list(categories), rotation=35 if crowded else 0, ha="right" if crowded else "center")
    axis.set_title(title)
    axis.set_ylabel(ylabel)
    axis.legend(fontsize=6, frameon=False)
    return svg_of(figure)


def normalised(counts: dict, keys: Sequence) -> list[float]:
    """The share of each key in a histogram {key: count} (0 for a key it lacks)."""
    total = sum(counts.values()) or 1
    return [counts.get(key, 0) / total for key in keys]
