"""The report's gallery: a seeded sample of the systems, each as a card with a picture, its badges and the text a
3D viewer reads.

Molecules are drawn by RDKit in 2D from the evaluator's own (EDM) bonds, so a picture shows the bonding that
stability was judged on; an unstable molecule keeps its hydrogens and has its unstable atoms highlighted, and the
gallery groups unstable molecules by cause. A crystal's card shows its unit cell projected along c. Clicking a
card opens the 3D view: the molecule as a Mol block with those bonds, the crystal as CIF with its cell.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np

from atomgen.eval.bonds import edm_bond_orders, stable_atoms
from atomgen.eval.instability import CAUSES
from atomgen.system import AtomSystem

STABLE_CARDS = 24  # stable molecules (or sound crystals) shown
CARDS_PER_CAUSE = 8  # unstable molecules (or unsound crystals) shown for each cause


@dataclass
class Card:
    """One gallery entry.

    Attributes:
        index: the system's position in the sample (0-based).
        title: formula (and anything else worth a line).
        picture: inline SVG.
        badges: (label, kind) pairs; kind is "good", "bad" or "neutral".
        structure: the text the 3D viewer loads, in `structure_format` ("sdf" or "cif").
        highlight: atoms (0-based) the viewer marks.
    """

    index: int
    title: str
    picture: str
    badges: list[tuple[str, str]]
    structure: str
    structure_format: str
    highlight: list[int] = field(default_factory=list)


@dataclass
class Gallery:
    """Cards in groups, each group with a heading; `note` says how they were chosen."""

    groups: list[tuple[str, list[Card]]]
    note: str


def choose(records: Sequence[dict], key: str, groups: Sequence[tuple[str, object, int]],
           seed: int) -> list[tuple[str, list[int]]]:
    """For each (heading, value, size) group, up to `size` indices whose record has `key` equal to `value`, drawn
    with a seeded RNG and listed in sample order; empty groups are left out."""
    rng = random.Random(seed)
    chosen = []
    for heading, value, size in groups:
        members = [k for k, record in enumerate(records) if record[key] == value]
        if members:
            chosen.append((heading, sorted(rng.sample(members, min(size, len(members))))))
    return chosen


def molecule_gallery(systems: Sequence[AtomSystem], records: Sequence[dict], seed: int = 0) -> Gallery:
    """Stable molecules, then unstable ones grouped by cause (see `atomgen.eval.instability`)."""
    groups = [("Stable", None, STABLE_CARDS)]
    groups += [(f"Unstable: {cause.replace('_', ' ')}", cause, CARDS_PER_CAUSE) for cause in CAUSES]
    return _gallery(systems, records, "cause", groups, seed, molecule_card,
                    f"molecules, drawn at random (seed {seed}): up to {STABLE_CARDS} stable ones and up to "
                    f"{CARDS_PER_CAUSE} for each cause of instability. Bonds are the evaluator's (EDM); unstable "
                    "atoms are highlighted. Click a card for its 3D view.")


def crystal_gallery(systems: Sequence[AtomSystem], records: Sequence[dict], seed: int = 0) -> Gallery:
    """Structurally sound crystals, then unsound ones grouped by what failed."""
    failures = sorted({record["failure"] for record in records if record["failure"]})
    groups = [("Structurally valid", None, STABLE_CARDS)]
    groups += [(f"Structurally invalid: {failure}", failure, CARDS_PER_CAUSE) for failure in failures]
    return _gallery(systems, records, "failure", groups, seed, crystal_card,
                    f"crystals, drawn at random (seed {seed}): up to {STABLE_CARDS} structurally valid ones and up "
                    f"to {CARDS_PER_CAUSE} for each structural failure. Pictures look down c at one unit cell. "
                    "Click a card for its 3D view with the cell.")


def _gallery(systems: Sequence[AtomSystem], records: Sequence[dict], key: str,
             groups: Sequence[tuple[str, object, int]], seed: int, card: Callable[[int, AtomSystem, dict], Card],
             how: str) -> Gallery:
    """The cards of the systems `choose` picks, group by group; the note says how many of all and `how`."""
    chosen = choose(records, key, groups, seed)
    shown = sum(len(indices) for _, indices in chosen)
    return Gallery([(heading, [card(k, systems[k], records[k]) for k in indices]) for heading, indices in chosen],
                   f"{shown} of {len(systems):,} {how}")


# -------------------------------------------------------------------------------------------------- molecules
def molecule_card(index: int, system: AtomSystem, record: dict) -> Card:
    """A molecule's card: RDKit depiction of its EDM bonds, badges, Mol block for the viewer."""
    numbers, positions = np.asarray(system.numbers), np.asarray(system.positions, dtype=float)
    orders = edm_bond_orders(numbers, positions) if len(numbers) else np.zeros((0, 0), dtype=int)
    unstable = np.flatnonzero(~stable_atoms(numbers, orders)).tolist() if len(numbers) else []
    mol = _edm_mol(numbers, positions, orders)
    posebusters = record.get("posebusters")
    badges = [("stable" if record["stable"] else "unstable", "good" if record["stable"] else "bad"),
              ("RDKit-valid" if record["rdkit_valid"] else "RDKit-invalid", "good" if record["rdkit_valid"] else "bad"),
              ("PoseBusters: not checked", "neutral") if posebusters is None
              else ("PoseBusters pass" if posebusters else "PoseBusters fail", "good" if posebusters else "bad")]
    title = f"#{index} {system.formula}"
    if record.get("smiles"):
        title += f" · {record['smiles']}"
    return Card(index, title, depiction(mol, unstable, keep_hydrogens=not record["stable"]), badges,
                _mol_block(mol), "sdf", unstable)


def _edm_mol(numbers: np.ndarray, positions: np.ndarray, orders: np.ndarray):
    """An unsanitised RDKit molecule with the EDM bonds and the 3D coordinates."""
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    mol = Chem.RWMol()
    for z in numbers:
        atom = Chem.Atom(int(z))
        atom.SetNoImplicit(True)  # the picture shows the atoms that were generated, nothing filled in
        mol.AddAtom(atom)
    for i, j in zip(*np.nonzero(np.triu(orders))):
        mol.AddBond(int(i), int(j), kinds[min(int(orders[i, j]), 3)])
    conformer = Chem.Conformer(len(numbers))
    for k, (x, y, z) in enumerate(positions):
        conformer.SetAtomPosition(k, Point3D(float(x), float(y), float(z)))
    mol.AddConformer(conformer, assignId=True)
    mol.UpdatePropertyCache(strict=False)
    return mol.GetMol()


def depiction(mol, highlight: list[int], *, keep_hydrogens: bool, size: int = 220) -> str:
    """RDKit's 2D drawing as SVG (hydrogens hidden unless asked for); a short note when RDKit cannot draw it."""
    from rdkit import Chem
    from rdkit.Chem import rdDepictor
    from rdkit.Chem.Draw import rdMolDraw2D

    flat = Chem.Mol(mol)
    flat.RemoveAllConformers()
    atoms = list(range(flat.GetNumAtoms()))
    if not keep_hydrogens:
        heavy = [a.GetIdx() for a in flat.GetAtoms() if a.GetAtomicNum() != 1]
        editable = Chem.RWMol(flat)
        for k in sorted(set(atoms) - set(heavy), reverse=True):
            editable.RemoveAtom(k)
        flat, atoms = editable.GetMol(), heavy
    keep = {old: new for new, old in enumerate(atoms)}
    try:
        Chem.FastFindRings(flat)
        rdDepictor.Compute2DCoords(flat)
        drawer = rdMolDraw2D.MolDraw2DSVG(size, size)
        drawer.drawOptions().clearBackground = False
        drawer.DrawMolecule(flat, highlightAtoms=[keep[k] for k in highlight if k in keep])
        drawer.FinishDrawing()
    except (RuntimeError, ValueError):
        return '<p class="nodraw">RDKit could not draw this one</p>'
    svg = drawer.GetDrawingText()
    return svg[svg.index("<svg"):]


def _mol_block(mol) -> str:
    from rdkit import Chem

    return Chem.MolToMolBlock(mol, kekulize=False)


# --------------------------------------------------------------------------------------------------- crystals
def crystal_card(index: int, system: AtomSystem, record: dict) -> Card:
    """A crystal's card: its cell seen down c, badges, CIF for the viewer."""
    from atomgen.io.cif import format_cif

    a, b, c, alpha, beta, gamma = system.lattice_parameters
    badges = [("structurally valid" if record["structural"] else f"invalid: {record['failure']}",
               "good" if record["structural"] else "bad"),
              ("SMACT-valid" if record["compositional"] else "SMACT-invalid",
               "good" if record["compositional"] else "bad")]
    title = f"#{index} {system.formula} · {a:.2f}, {b:.2f}, {c:.2f} Å · {alpha:.0f}°, {beta:.0f}°, {gamma:.0f}°"
    return Card(index, title, _cell_picture(system), badges, format_cif([system]), "cif")


# Jmol's element colours for the elements most crystals hold; others are grey.
_COLOURS = {1: "#ffffff", 3: "#cc80ff", 6: "#909090", 7: "#3050f8", 8: "#ff0d0d", 9: "#90e050", 11: "#ab5cf2",
            12: "#8aff00", 13: "#bfa6a6", 14: "#f0c8a0", 15: "#ff8000", 16: "#ffff30", 17: "#1ff01f",
            19: "#8f40d4", 20: "#3dff00", 22: "#bfc2c7", 23: "#a6a6ab", 25: "#9c7ac7", 26: "#e06633",
            27: "#f090a0", 28: "#50d050", 29: "#c88033", 30: "#7d80b0", 38: "#00ff00", 40: "#94e0e0",
            41: "#73c2c9", 42: "#54b5b5", 50: "#668080", 51: "#9e63b5", 56: "#00c900", 57: "#70d4ff",
            73: "#4da6ff", 74: "#2194d6", 82: "#575961", 83: "#9e4fb5"}


def _cell_picture(system: AtomSystem, size: int = 220) -> str:
    """The unit cell projected on the a-b plane: its outline and the atoms, drawn far side first."""
    lattice = np.asarray(system.lattice, dtype=float)
    corners = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=float) @ lattice
    positions = np.asarray(system.frac_coords) @ lattice
    points = np.vstack([corners[:, :2], positions[:, :2]])
    low, high = points.min(axis=0), points.max(axis=0)
    scale = (size - 30) / max(float((high - low).max()), 1e-6)

    def xy(p: np.ndarray) -> tuple[float, float]:
        return 15 + (p[0] - low[0]) * scale, size - 15 - (p[1] - low[1]) * scale

    outline = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, corners[:, :2]))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}">',
             f'<polygon points="{outline}" fill="none" stroke="#555" stroke-width="1"/>']
    radius = max(3.0, min(12.0, 0.6 * scale))
    for k in np.argsort(positions[:, 2]):
        x, y = xy(positions[k, :2])
        z = int(system.numbers[k])
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{_COLOURS.get(z, "#b0b0b0")}" '
                     f'stroke="#333" stroke-width="0.6"><title>{escape(system.symbols[k])}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)
