"""The report's figures: what a sample looks like beside its reference, for molecules and for crystals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from atomgen.elements import symbol
from atomgen.eval.distributions import GeometryStatistics
from atomgen.eval.instability import CAUSES
from atomgen.report.plots import Panel, histograms, normalised, shares
from atomgen.system import AtomSystem

TOP_TYPES = 6  # bond and angle types plotted: the reference's most frequent
SPACE_GROUP_SUBSET = 2000  # crystals whose space group is found (spglib), drawn at random from each side


def molecule_figures(sample: GeometryStatistics, reference: GeometryStatistics | None,
                     records: Sequence[dict], reference_name: str) -> list[tuple[str, str]]:
    """(caption, SVG) pairs: atom types, atom counts, bond lengths and angles per type, instability causes."""
    label = {"reference_label": reference_name}
    ref_types = reference.atom_types if reference else Counter()
    elements = sorted(set(sample.atom_types) | set(ref_types))
    figures = [("Atom types: each element's share of all atoms.",
                shares([symbol(z) for z in elements], normalised(sample.atom_types, elements),
                       normalised(ref_types, elements) if reference else None, title="Atom types", **label))]
    sizes = Panel("Atoms per molecule", _expand(sample.n_atoms), _expand(reference.n_atoms) if reference else None,
                  "atoms", integer=True)
    figures.append(("Molecule sizes, hydrogens included.", histograms([sizes], panel_width=4.2, **label)))
    source = reference or sample
    for table, what, unit in (("bond_lengths", "Bond lengths", "Å"), ("bond_angles", "Bond angles", "degrees")):
        ours, theirs = getattr(sample, table), getattr(source, table)
        kinds = sorted(theirs, key=lambda k: -len(theirs[k]))[:TOP_TYPES]
        panels = [Panel(kind, ours.get(kind, np.zeros(0)), theirs[kind] if reference else None, unit)
                  for kind in kinds]
        if panels:
            figures.append((f"{what} of the {len(panels)} most frequent types (EDM bonds; `C-C:1` is a single bond, "
                            "`C-O-H` an angle at O).", histograms(panels, **label)))
    n = len(records)
    causes = Counter(record["cause"] for record in records)
    figures.append((f"Why molecules are unstable, as a share of all {n:,} (`atomgen.eval.instability`).",
                    shares(["stable", *[c.replace("_", " ") for c in CAUSES]],
                           [causes[None] / n, *[causes[c] / n for c in CAUSES]], None,
                           title="Stability and its failures", ylabel="share of samples")))
    return figures


def crystal_figures(systems: Sequence[AtomSystem], reference: Sequence[AtomSystem] | None,
                    records: Sequence[dict], reference_name: str, seed: int = 0) -> list[tuple[str, str]]:
    """(caption, SVG) pairs: density, lattice lengths and angles, elements, space groups, structural failures."""
    from atomgen.eval.crystals import density, n_elements

    label = {"reference_label": reference_name}
    reference = list(reference or [])
    ours = np.array([s.lattice_parameters for s in systems])
    theirs = np.array([s.lattice_parameters for s in reference]).reshape(-1, 6)

    def column(k: int) -> tuple[np.ndarray, np.ndarray | None]:
        return ours[:, k], (theirs[:, k] if reference else None)

    figures = [("Density of every sample (g/cm³).", histograms(
        [Panel("Density", np.array([density(s) for s in systems]),
               np.array([density(s) for s in reference]) if reference else None, "g/cm³")], panel_width=4.2, **label))]
    figures.append(("Lattice lengths.", histograms(
        [Panel(name, *column(k), "Å") for k, name in enumerate("abc")], **label)))
    figures.append(("Lattice angles.", histograms(
        [Panel(name, *column(k + 3), "degrees") for k, name in enumerate("αβγ")], **label)))
    counts = sorted(set(map(n_elements, systems)) | set(map(n_elements, reference)))
    figures.append(("Elements per crystal.", shares(
        [str(c) for c in counts], normalised(Counter(map(n_elements, systems)), counts),
        normalised(Counter(map(n_elements, reference)), counts) if reference else None,
        title="Elements per crystal", **label)))
    ours_elements, ref_elements = _element_shares(systems), _element_shares(reference)
    common = _most_frequent(ours_elements, ref_elements, 20)
    figures.append(("The 20 most frequent elements, as shares of all atoms.", shares(
        [symbol(z) for z in common], normalised(ours_elements, common),
        normalised(ref_elements, common) if reference else None, title="Elements", width=6.0, **label)))
    ours_groups, ref_groups = _space_groups(systems, records, seed), _space_groups(reference, None, seed)
    top = _most_frequent(ours_groups, ref_groups, 15)
    figures.append((f"Space groups (spglib, symprec 0.1 Å) of the 15 most frequent, among structurally valid samples "
                    f"(up to {SPACE_GROUP_SUBSET:,} drawn at random from each side).", shares(
        top, normalised(ours_groups, top), normalised(ref_groups, top) if reference else None,
        title="Space groups", width=6.0, **label)))
    failures = Counter(record["failure"] for record in records)
    names = sorted(f for f in failures if f)
    figures.append((f"Structural validity and what failed, as a share of all {len(records):,}.", shares(
        ["valid", *names], [failures[None] / len(records), *[failures[f] / len(records) for f in names]], None,
        title="Structural validity", ylabel="share of samples")))
    return figures


def _most_frequent(ours: Counter, theirs: Counter, top: int) -> list:
    """The `top` keys with the largest share of the sample plus share of the reference (shares, not counts, so a
    large reference does not hide what the sample over-produces)."""
    ours_total, theirs_total = sum(ours.values()) or 1, sum(theirs.values()) or 1
    return sorted(set(ours) | set(theirs), key=lambda k: -(ours[k] / ours_total + theirs[k] / theirs_total))[:top]


def _expand(histogram: Counter) -> np.ndarray:
    """The values of a histogram {value: count} as a flat array."""
    return np.repeat(np.array(list(histogram), dtype=float), list(histogram.values()))


def _element_shares(systems: Sequence[AtomSystem]) -> Counter:
    counts: Counter = Counter()
    for system in systems:
        counts.update(int(z) for z in system.numbers)
    return counts


def _space_groups(systems: Sequence[AtomSystem], records: Sequence[dict] | None, seed: int) -> Counter:
    """Space-group symbols of up to SPACE_GROUP_SUBSET crystals (structurally valid ones when records are
    given), drawn with a seeded RNG."""
    import random

    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from atomgen.io.convert import to_pymatgen

    indices = [k for k in range(len(systems)) if records is None or records[k]["structural"]]
    indices = random.Random(seed).sample(indices, min(SPACE_GROUP_SUBSET, len(indices)))
    groups: Counter = Counter()
    for k in indices:
        try:
            groups[SpacegroupAnalyzer(to_pymatgen(systems[k]), symprec=0.1).get_space_group_symbol()] += 1
        except (ValueError, TypeError):  # spglib gives up on a cell it cannot reduce
            groups["(none found)"] += 1
    return groups
