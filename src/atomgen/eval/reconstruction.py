"""How well an autoencoder gives back what it was given: pairs of (original, reconstruction) systems.

Atom i of a reconstruction is compared with atom i of its original (an autoencoder keeps the atom order and,
here, the frame). A reconstructed molecule "matches" when every type is right and its positions are within
0.1 Å RMSD; a reconstructed crystal matches when pymatgen's StructureMatcher with CDVAE's reconstruction
tolerances (stol 0.5, angle_tol 10, ltol 0.3) finds the two structures equal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from atomgen.system import AtomSystem

MOLECULE_MATCH_RMSD = 0.1  # Å
CRYSTAL_MATCH_TOLERANCES = {"stol": 0.5, "angle_tol": 10.0, "ltol": 0.3}


def _check_pairs(originals: Sequence[AtomSystem], reconstructions: Sequence[AtomSystem]) -> None:
    if len(originals) != len(reconstructions):
        raise ValueError(f"{len(originals)} originals but {len(reconstructions)} reconstructions")
    for k, (a, b) in enumerate(zip(originals, reconstructions)):
        if len(a) != len(b):
            raise ValueError(f"pair {k}: {len(a)} atoms in the original, {len(b)} in the reconstruction")


def molecule_reconstruction(originals: Sequence[AtomSystem], reconstructions: Sequence[AtomSystem]
                            ) -> dict[str, float]:
    """Type accuracy (per atom), position RMSD (Å, mean and median over molecules), match rate, and the share
    whose RDKit-perceived molecule (canonical SMILES) is the original's."""
    from atomgen.eval.molecules import analyse_molecules

    _check_pairs(originals, reconstructions)
    right_types = [a.numbers == b.numbers for a, b in zip(originals, reconstructions)]
    rmsd = np.array([np.sqrt(((a.positions - b.positions) ** 2).sum(1).mean())
                     for a, b in zip(originals, reconstructions)])
    matches = [ok.all() and r < MOLECULE_MATCH_RMSD for ok, r in zip(right_types, rmsd)]
    before, after = analyse_molecules(originals), analyse_molecules(reconstructions)
    same_graph = [a.rdkit_smiles is not None and a.rdkit_smiles == b.rdkit_smiles for a, b in zip(before, after)]
    return {
        "n": len(originals),
        "type_accuracy": float(np.concatenate(right_types).mean()),
        "position_rmsd_mean": float(rmsd.mean()),
        "position_rmsd_median": float(np.median(rmsd)),
        "match_rate": float(np.mean(matches)),
        "same_molecule_rate": float(np.mean(same_graph)),
    }


def crystal_reconstruction(originals: Sequence[AtomSystem], reconstructions: Sequence[AtomSystem]
                           ) -> dict[str, float]:
    """Type accuracy, fractional-coordinate RMSD (nearest image), lattice length (Å) and angle (°) mean absolute
    errors, StructureMatcher match rate and the mean normalised RMS displacement of the matched pairs."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    from atomgen.io.convert import to_pymatgen

    _check_pairs(originals, reconstructions)
    matcher = StructureMatcher(**CRYSTAL_MATCH_TOLERANCES)
    right_types, frac_rmsd, length_error, angle_error, rms = [], [], [], [], []
    for a, b in zip(originals, reconstructions):
        right_types.append(a.numbers == b.numbers)
        d = a.frac_coords - b.frac_coords
        d -= np.round(d)
        frac_rmsd.append(np.sqrt((d**2).sum(1).mean()))
        pa, pb = np.array(a.lattice_parameters), np.array(b.lattice_parameters)
        length_error.append(np.abs(pa[:3] - pb[:3]).mean())
        angle_error.append(np.abs(pa[3:] - pb[3:]).mean())
        try:
            result = matcher.get_rms_dist(to_pymatgen(a), to_pymatgen(b))
        except Exception:  # noqa: BLE001 - a degenerate generated cell can make the matcher itself fail
            result = None
        if result is not None:
            rms.append(result[0])
    return {
        "n": len(originals),
        "type_accuracy": float(np.concatenate(right_types).mean()),
        "frac_rmsd_mean": float(np.mean(frac_rmsd)),
        "lattice_length_mae": float(np.mean(length_error)),
        "lattice_angle_mae": float(np.mean(angle_error)),
        "match_rate": len(rms) / len(originals),
        "matched_rms_mean": float(np.mean(rms)) if rms else float("nan"),
    }
