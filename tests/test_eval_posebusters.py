"""PoseBusters' `mol` checks as the evaluator runs them give PoseBusters' own results, molecule by molecule.

The molecules (tests/data/posebusters_cases.sdf) are QM9 geometries from the evaluator's default subset of a
10,000-molecule sample, picked to cover every path of `atomgen.eval.energy_ratio`: ensembles that ETKDG embeds at
once, ensembles whose first conformer needed retries, and ensembles that fail at the first, second and eighth
conformer; and other checks that fail (a clash, a double bond out of plane).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

CASES = Path(__file__).parent / "data" / "posebusters_cases.sdf"


@pytest.fixture(scope="module")
def cases() -> dict[str, object]:
    """The fixture molecules by case (their `case` property)."""
    from rdkit import Chem

    return {m.GetProp("case"): m for m in Chem.SDMolSupplier(str(CASES), removeHs=False)}


def _same(ours: dict, theirs: dict) -> bool:
    """Equal dicts of numbers, NaN equal to NaN."""
    return ours.keys() == theirs.keys() and all(
        ours[k] == theirs[k] or (math.isnan(ours[k]) and math.isnan(theirs[k])) for k in ours)


def test_a_conformer_embedded_alone_is_the_same_as_in_the_ensemble(cases):
    from rdkit import Chem
    from rdkit.Chem.rdDistGeom import EmbedMultipleConfs

    from atomgen.eval.energy_ratio import _SEED, _etkdg

    mol = Chem.AddHs(Chem.RemoveHs(cases["first conformer retried, all embed"]))
    ensemble = Chem.Mol(mol)
    assert len(EmbedMultipleConfs(ensemble, 4, _etkdg(_SEED))) == 4
    for k in range(4):
        alone = Chem.Mol(mol)
        assert len(EmbedMultipleConfs(alone, 1, _etkdg((k + 1) * _SEED))) == 1
        assert np.array_equal(alone.GetConformer().GetPositions(), ensemble.GetConformer(k).GetPositions())


def test_energy_check_gives_posebusters_results_on_every_path(cases):
    from posebusters.modules.energy_ratio import check_energy_ratio

    from atomgen.eval.energy_ratio import energy_ratio_check

    # 8 conformers instead of the `mol` configuration's 50 keep PoseBusters' own failures cheap; the paths are the
    # same (the failures above come within the first 8).
    parameters = {"threshold_energy_ratio": 100.0, "ensemble_number_conformations": 8}
    failed = 0
    for case, mol in cases.items():
        theirs = check_energy_ratio(mol, **parameters)["results"]
        assert _same(energy_ratio_check(mol, **parameters), theirs), case
        failed += math.isnan(theirs["ensemble_avg_energy"])
    assert failed == 3  # the three ensembles that fail do fail


def test_geometry_check_gives_posebusters_results(cases):
    from posebusters.modules.distance_geometry import check_geometry
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from atomgen.eval.geometry_checks import ANGLES, BONDS, CLASH, geometry_check

    parameters = {"bound_matrix_params": {"set15bounds": True, "scaleVDW": True, "doTriangleSmoothing": True,
                                          "useMacrocycle14config": False},
                  "threshold_bad_bond_length": 0.25, "threshold_bad_angle": 0.25, "threshold_clash": 0.3}
    mols = list(cases.values())
    # Conjugated terminal groups (their bounds are widened), small rings, one heavy atom, and no conformer.
    for smiles in ("C[N+](=O)[O-]", "O=[N+]([O-])c1ccc(C(=O)[O-])cc1", "C1CC1", "C1CCC1", "C", "CCO"):
        mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
        if smiles != "CCO":
            AllChem.EmbedMolecule(mol, randomSeed=3)
        mols.append(mol)
    # Bonds stretched and an atom pushed onto another.
    for scale, mol in ((1.4, Chem.Mol(mols[0])), (0.6, Chem.Mol(mols[1]))):
        conformer = mol.GetConformer()
        for k, position in enumerate(conformer.GetPositions() * scale):
            conformer.SetAtomPosition(k, position.tolist())
        mols.append(mol)
    outcomes = set()
    for mol in mols:
        theirs = check_geometry(mol, **parameters)["results"]
        ours = geometry_check(mol, **parameters)
        assert _same(ours, {k: theirs[k] for k in (BONDS, ANGLES, CLASH)}), Chem.MolToSmiles(mol)
        outcomes.update((k, v) for k, v in ours.items() if not math.isnan(v))
    assert len(outcomes) == 6  # every check both passed and failed


def test_table_is_posebusters_own_table(cases):
    import logging
    import warnings

    from posebusters import PoseBusters

    from atomgen.eval.posebusters import posebusters_table

    mols = [cases[c] for c in ("embeds at once", "internal steric clash", "double bond not flat",
                               "first conformer retried, all embed", "ensemble fails at conformer 0")]
    ours = posebusters_table(mols, workers=1)
    logging.getLogger("posebusters").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = PoseBusters(config="mol", max_workers=0).bust(mols, None, None).reset_index(drop=True)
    assert list(ours.columns) == list(theirs.columns)
    assert ((ours == theirs) | (ours.isna() & theirs.isna())).all(axis=None)
    assert theirs["internal_energy"].isna().sum() == 1 and not theirs.astype(bool).all(axis=None)


def test_worker_processes_give_the_same_table_in_order(small_molecules, monkeypatch):
    from atomgen.eval import posebusters

    monkeypatch.setattr(posebusters, "_PARALLEL_THRESHOLD", 2)
    mols = [_perceived(s) for s in small_molecules[:6]]
    alone = posebusters.posebusters_table(mols, workers=1)
    with posebusters.PoseBustersRun(mols, workers=2) as run:
        assert run._pool is not None  # the checks did go to worker processes
        assert run.table().equals(alone)


def _perceived(system):
    """The RDKit Mol the evaluator checks for a molecule: bonds perceived from its geometry."""
    from atomgen.eval.molecules import perceive_molecule

    return perceive_molecule(system.numbers, system.positions)
