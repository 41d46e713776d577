"""PoseBusters' `mol` checks of molecules, as PoseBusters' table of them, computed in this process.

The table has the columns and values of `PoseBusters(config="mol").bust(mols)` (tests/test_eval_posebusters.py
compares them on molecules that take every path; on the evaluator's default subset of 1,000 QM9 molecules, every
row was the same). Each module of PoseBusters' configuration runs as PoseBusters' function, except the two that
cost nearly all of its time, which atomgen computes itself with PoseBusters' outcome: the distance-geometry checks
(`atomgen.eval.geometry_checks`) and the internal energy (`atomgen.eval.energy_ratio`). Modules whose outputs the
table leaves out do not run: `mol` lists the energy module twice, and only the second one's output goes into it.
"""

from __future__ import annotations

import logging
import warnings
from functools import cache
from typing import Any

from atomgen.eval.energy_ratio import energy_ratio_check
from atomgen.eval.geometry_checks import geometry_check

# The modules atomgen computes itself, by PoseBusters' function name.
_OWN = {"distance_geometry": geometry_check, "energy_ratio": energy_ratio_check}


def mol_checks_table(mols: list):
    """PoseBusters' table of the `mol` checks of `mols` (columns and values of `PoseBusters(config="mol").bust`),
    one row per molecule in order, indexed 0..n-1, computed in this process."""
    import pandas as pd

    modules = _mol_modules()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [_row(mol, modules) for mol in mols]
    return pd.DataFrame(rows, columns=[column for _, outputs in modules for _, column in outputs])


def _row(mol, modules: list[tuple[dict, list[tuple[str, str]]]]) -> dict[str, Any]:
    """One molecule's row of PoseBusters' table: the outputs of each module that the table keeps, by column."""
    import pandas as pd

    row = {}
    for module, outputs in modules:
        function, parameters = module["function"], module.get("parameters", {})
        results = (_OWN[function](mol, **parameters) if function in _OWN
                   else _posebusters_function(function)(mol_pred=mol, **parameters)["results"])
        row.update({column: results.get(output, pd.NA) for output, column in outputs})  # PoseBusters: NA if missing
    return row


@cache
def _mol_modules() -> list[tuple[dict, list[tuple[str, str]]]]:
    """The modules of PoseBusters' `mol` configuration whose outputs its table keeps, in order, each with those
    (output, column name); built once per process."""
    from posebusters import PoseBusters

    # PoseBusters' modules log a warning for a molecule they give up on; the table says so already.
    logging.getLogger("posebusters").setLevel(logging.ERROR)
    modules = PoseBusters(config="mol").config["modules"]
    # PoseBusters' column names: an output renamed by any module of the same name, else the output with that
    # name's suffix; then lower case, spaces as underscores.
    names = {(m["name"], k): v for m in modules for k, v in m.get("rename_outputs", {}).items()}
    suffixes = {m["name"]: m["rename_suffix"] for m in modules if "rename_suffix" in m}

    def column(module: dict, output: str) -> str:
        name = names.get((module["name"], output), output + suffixes.get(module["name"], ""))
        return name.lower().replace(" ", "_")

    kept = [(m, [(o, column(m, o)) for o in m["chosen_binary_test_output"]])
            for m in modules if m.get("chosen_binary_test_output")]
    columns = [c for _, outputs in kept for _, c in outputs]
    if len(set(columns)) != len(columns):
        raise RuntimeError(f"PoseBusters' mol configuration now names two outputs alike: {columns}")
    return kept


def _posebusters_function(name: str):
    """PoseBusters' check function of a module of its configurations."""
    from posebusters.posebusters import module_dict

    return module_dict[name]
