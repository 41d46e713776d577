"""PoseBusters' internal-energy check, with PoseBusters' result for every molecule at a fraction of its cost.

The check (`posebusters.modules.energy_ratio.check_energy_ratio`) divides the molecule's UFF energy by the mean
UFF energy of an ensemble of ETKDG conformers of the same molecule (rebuilt from its InChI, each conformer
UFF-minimised); it passes when the ratio is at most a threshold, and is NaN when the ensemble cannot be built.
`energy_ratio_check` follows it step by step with PoseBusters' own helpers, with one change in cost only: it stops
at the first conformer ETKDG cannot embed. PoseBusters asks for every conformer and then rejects an ensemble that
lacks one, so the outcome is the same; but a conformer that fails costs all of ETKDG's retries (about 0.3 s on a
QM9 molecule, against 2 ms for one that embeds), and a molecule that fails usually fails on most of its
conformers: in a 1,000-molecule QM9 subset, the 70 whose ensemble fails took 80 % of the time of all ensembles.

How: the first conformer is embedded alone. If it fails, so does the ensemble. If ETKDG embedded it at the first
attempt, the whole ensemble is embedded in one call, as PoseBusters does. If ETKDG had to retry, the others are
embedded one at a time, up to the first that fails (in that subset, 50 of the 70 failures came at the first
conformer, and each of the other 20 molecules needed retries for it; 87 of the 930 molecules whose ensemble
embeds did too). RDKit seeds conformer k of `EmbedMultipleConfs(mol, n, params)` with (k + 1) *
params.randomSeed, independently of the others, so conformer k embeds alone, to the same coordinates, under that
seed (tests/test_eval_posebusters.py checks this against RDKit, and the whole check against PoseBusters').
"""

from __future__ import annotations

from copy import deepcopy
from math import isfinite

_SEED = 42  # PoseBusters' ETKDG seed (posebusters.modules.energy_ratio.new_conformation)


def energy_ratio_check(mol_pred, threshold_energy_ratio: float, ensemble_number_conformations: int,
                       inchi_strict: bool = False, epsilon: float = 1e-10) -> dict[str, float | bool]:
    """The `results` of PoseBusters' `check_energy_ratio` for `mol_pred` with these parameters (its defaults for
    `inchi_strict` and `epsilon`), computed on one thread."""
    nan = float("nan")
    observed = _observed(mol_pred, inchi_strict)
    if observed is None:
        return {"num_h_added": nan, "mol_pred_energy": nan, "ensemble_avg_energy": nan, "energy_ratio": nan,
                "energy_ratio_passes": nan}
    num_h_added, observed_energy, inchi = observed
    energies = ensemble_energies(inchi, ensemble_number_conformations)
    mean_energy = sum(energies) / len(energies) if energies else nan
    if mean_energy == 0:
        mean_energy = epsilon  # PoseBusters' clipping
    energy_ratio = observed_energy / mean_energy
    return {
        "num_h_added": num_h_added,
        "mol_pred_energy": observed_energy,
        "ensemble_avg_energy": mean_energy,
        "energy_ratio": energy_ratio,
        "energy_ratio_passes": energy_ratio <= threshold_energy_ratio if isfinite(energy_ratio) else nan,
    }


def _observed(mol_pred, inchi_strict: bool) -> tuple[int, float, str] | None:
    """Hydrogens PoseBusters adds to the molecule, its UFF energy then, and its InChI; None where PoseBusters'
    check gives up on the molecule (no conformer, no sanitisation, no UFF parameters, no InChI)."""
    from posebusters.tools.inchi import get_inchi
    from posebusters.tools.logging import CaptureLogger
    from posebusters.tools.molecules import add_hydrogens_with_uff_positions
    from rdkit.Chem.rdForceFieldHelpers import UFFHasAllMoleculeParams
    from rdkit.Chem.rdmolops import SanitizeMol

    mol = deepcopy(mol_pred)
    if mol.GetNumConformers() == 0 or SanitizeMol(mol, catchErrors=True):
        return None
    # PoseBusters gives up on any exception from here on; so does this.
    try:
        with CaptureLogger():
            num_atoms_in = mol.GetNumAtoms()
            mol, _, energy = add_hydrogens_with_uff_positions(mol)
        if not UFFHasAllMoleculeParams(mol):
            return None
        return mol.GetNumAtoms() - num_atoms_in, energy, get_inchi(mol, inchi_strict=inchi_strict)
    except Exception:  # noqa: BLE001 - as PoseBusters
        return None


def ensemble_energies(inchi: str, n_confs: int) -> list[float] | None:
    """UFF energies of PoseBusters' ensemble of `n_confs` minimised ETKDG conformers of the molecule of `inchi`
    (`posebusters.modules.energy_ratio.get_energies`), or None where PoseBusters' ensemble fails."""
    from posebusters.tools.logging import CaptureLogger
    from rdkit.Chem import AddHs, AssignStereochemistryFrom3D
    from rdkit.Chem.inchi import MolFromInchi
    from rdkit.Chem.rdForceFieldHelpers import UFFOptimizeMoleculeConfs

    # PoseBusters turns any exception while building the ensemble into a NaN mean energy; so does this (None).
    try:
        with CaptureLogger():
            mol = MolFromInchi(inchi)
        if mol is None:
            return None
        # PoseBusters' preparation (new_conformation), step by step.
        mol = AddHs(deepcopy(mol), addCoords=True)
        AssignStereochemistryFrom3D(mol, replaceExistingTags=True)
        mol.RemoveAllConformers()
        with CaptureLogger():
            if not _embed_every_conformer(mol, n_confs):
                return None
            return [energy for _, energy in UFFOptimizeMoleculeConfs(mol, numThreads=1)]
    except Exception:  # noqa: BLE001 - as PoseBusters
        return None


def _embed_every_conformer(mol, n_confs: int) -> bool:
    """Embed PoseBusters' `n_confs` ETKDG conformers into `mol`; False, as soon as it is known, when ETKDG cannot
    embed one of them."""
    from rdkit.Chem.rdDistGeom import EmbedMultipleConfs

    retries = _embed_alone(mol, 0)
    if retries is None:
        return False
    if not retries:
        # The first conformer embedded at the first attempt: the others almost surely will too (they did for
        # every such molecule of the subset above), and one call for all of them saves each one's set-up. The call
        # replaces the first conformer by the same one, and its count still tells a failure.
        return len(EmbedMultipleConfs(mol, n_confs, _etkdg(_SEED))) == n_confs
    # ETKDG had to retry: one at a time, the conformers stop at the first that fails, before paying for the
    # retries of all the others.
    return all(_embed_alone(mol, k) is not None for k in range(1, n_confs))


def _embed_alone(mol, k: int) -> int | None:
    """Embed conformer k of PoseBusters' ensemble alone and add it to `mol`; the attempts ETKDG retried, or None
    when it failed."""
    from rdkit.Chem import Mol
    from rdkit.Chem.rdDistGeom import EmbedMultipleConfs

    params = _etkdg((k + 1) * _SEED)
    params.trackFailures = True  # counts the retries, changes nothing else
    alone = Mol(mol)
    if len(EmbedMultipleConfs(alone, 1, params)) != 1:
        return None
    mol.AddConformer(alone.GetConformer(), assignId=True)
    return sum(params.GetFailureCounts())


def _etkdg(seed: int):
    """PoseBusters' ETKDG parameters with this seed, on one thread (each worker process is one)."""
    from rdkit.Chem.rdDistGeom import ETKDGv3

    params = ETKDGv3()
    params.randomSeed = seed
    params.verbose = False
    params.useRandomCoords = True
    params.numThreads = 1
    return params
