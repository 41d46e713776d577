"""MMFF94 relaxation of generated molecules: bonds go back to force-field lengths, nothing but positions changes,
and a minimisation that would change a molecule's stereochemistry is refused."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem, rdForceFieldHelpers

from atomgen.eval.molecules import analyse_molecule
from atomgen.io.convert import from_rdkit
from atomgen.tasks.relax import relax_all, relax_mmff


def _minimised(smiles: str):
    """An MMFF-minimised conformer of the SMILES, hydrogens explicit (seeded)."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=7) == 0
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    return mol


def _bond_lengths(system) -> np.ndarray:
    i, j = system.bonds[:, 0], system.bonds[:, 1]
    return np.linalg.norm(system.positions[i] - system.positions[j], axis=1)


def _stereo(system) -> str:
    from atomgen.io.convert import to_rdkit

    mol = to_rdkit(system, perceive_bonds=False, sanitize=True)
    Chem.AssignStereochemistryFrom3D(mol)
    return Chem.MolToSmiles(Chem.RemoveHs(mol))


def test_relaxing_a_stretched_molecule_restores_its_bonds_and_keeps_everything_else():
    reference = from_rdkit(_minimised("C[C@H](N)C(=O)O"))
    centre = reference.positions.mean(axis=0)
    stretched = reference.copy(positions=centre + 1.06 * (reference.positions - centre))
    assert not analyse_molecule(stretched.numbers, stretched.positions).stable  # 6 % longer bonds misread

    relaxed = relax_mmff(stretched)
    assert relaxed is not None
    assert analyse_molecule(relaxed.numbers, relaxed.positions).stable
    np.testing.assert_allclose(_bond_lengths(relaxed), _bond_lengths(reference), atol=0.01)
    assert np.array_equal(relaxed.numbers, stretched.numbers) and np.array_equal(relaxed.bonds, stretched.bonds)
    assert _stereo(relaxed) == _stereo(reference) == "C[C@H](N)C(=O)O"


def test_molecules_without_bonds_are_left_as_generated_and_counted():
    good = from_rdkit(_minimised("CC#N"))
    bare = good.copy(bonds=None)
    assert relax_mmff(bare) is None
    relaxed, unchanged = relax_all([bare, good])
    assert unchanged == 1 and relaxed[0] is bare and relaxed[1] is not good


@pytest.mark.parametrize("smiles, refused", [("C[C@H](N)O", True), ("CCO", False)])
def test_a_minimisation_that_would_change_stereochemistry_is_refused(monkeypatch, smiles, refused):
    def mirroring_optimiser(mol, maxIters=200):  # noqa: N803 - RDKit's keyword
        conformer = mol.GetConformer()
        for k, (x, y, z) in enumerate(conformer.GetPositions()):
            conformer.SetAtomPosition(k, (float(x), float(y), -float(z)))
        return 0

    monkeypatch.setattr(rdForceFieldHelpers, "MMFFOptimizeMolecule", mirroring_optimiser)
    system = from_rdkit(_minimised(smiles))
    assert (relax_mmff(system) is None) == refused


@pytest.mark.parametrize("smiles", ["Cc1noc(=O)c(O)n1", "Cc1cc(F)c[nH]c1=O", "C/N=c1\\onc(C#N)o1"])
def test_aromatic_rings_that_mmff_retypes_are_still_relaxed(smiles):
    # MMFF's typing rewrites RDKit's aromaticity flags; that alone must not count as a change of stereochemistry.
    system = from_rdkit(_minimised(smiles))
    stretched = system.copy(positions=1.03 * system.positions)
    assert relax_mmff(stretched) is not None
