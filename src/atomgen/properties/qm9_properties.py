"""QM9's six conditioning properties and their units.

EDM (Hoogeboom et al. 2022) cuts QM9's train split into two halves (`atomgen.data.qm9.edm_halves`): the first
trains the property classifiers that judge generated molecules, the second the conditional generators, so that no
judge has seen a generator's molecules. Both share QM9's valid split, whose mean and mean absolute deviation
normalise every property.

Values are in atomgen's QM9 units (`atomgen.data.qm9`), which users give and read: μ in D, α in Bohr³, Cv in
cal/(mol K), HOMO, LUMO and gap in eV. The published tables give the orbital energies in meV (`table_scale`).
One departure: EDM subtracts 2.981 cal/(mol K) per atom from Cv (its thermochemical atom reference) before it
conditions or judges; atomgen keeps Cv as QM9 gives it, the heat capacity a user asks for. A judged error is the
same either way whenever the molecule has the atom count its target was drawn for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from atomgen.errors import InputError
from atomgen.system import AtomSystem

@dataclass(frozen=True)
class Property:
    """One conditioning property.

    Attributes:
        name: the key in QM9's `AtomSystem.properties` and on the command line.
        label: how tables name it.
        unit: the unit of every value atomgen reads or writes for it.
        table_unit, table_scale: the unit of the published tables, and the factor from `unit` to it.
    """

    name: str
    label: str
    unit: str
    table_unit: str
    table_scale: float = 1.0

    def values(self, systems: Sequence[AtomSystem]) -> np.ndarray:
        """The property of each molecule, in `unit`."""
        return np.array([system.properties[self.name] for system in systems], dtype=np.float64)


PROPERTIES = {p.name: p for p in (
    Property("mu", "μ", "D", "D"),
    Property("alpha", "α", "Bohr³", "Bohr³"),
    Property("Cv", "Cv", "cal/(mol K)", "cal/(mol K)"),
    Property("homo", "HOMO", "eV", "meV", 1000.0),
    Property("lumo", "LUMO", "eV", "meV", 1000.0),
    Property("gap", "gap", "eV", "meV", 1000.0),
)}
"""The six properties of EDM's protocol, in the column order of the published tables (NExT-Mol Table 3)."""


def get_property(name: str) -> Property:
    """The property of that name; an unknown one is an InputError listing the known."""
    if name not in PROPERTIES:
        raise InputError(f"unknown property {name!r}; known: "
                         + ", ".join(f"{p.name} ({p.unit})" for p in PROPERTIES.values()))
    return PROPERTIES[name]

