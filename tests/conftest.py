"""Shared fixtures: small hand-made molecules and crystals, and the shared data folder when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from atomgen.system import AtomSystem

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per pytest-xdist worker: `make test` runs two workers on two cores, and two threads each
    oversubscribe them (measured: the shipped NExT-Mol tests took 6-7x longer beside another busy worker)."""
    import os

    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


def embedded(smiles: str, seed: int = 7) -> AtomSystem:
    """An RDKit ETKDG + MMFF geometry of `smiles` with hydrogens, as an AtomSystem."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from atomgen.io.convert import from_rdkit

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    AllChem.MMFFOptimizeMolecule(mol)
    return from_rdkit(mol, name=smiles)


@pytest.fixture(scope="session")
def small_molecules() -> list[AtomSystem]:
    """A dozen small organic molecules with force-field geometries."""
    smiles = ["CCO", "CC(=O)O", "c1ccccc1", "CC#N", "OCC(O)CO", "CN(C)C", "C1CC1", "CC(C)=O", "NC(=O)N",
              "c1ccncc1", "FC(F)F", "CCOC"]  # fmt: skip
    return [embedded(s) for s in smiles]


@pytest.fixture
def rock_salt() -> AtomSystem:
    """NaCl in its conventional 8-atom cubic cell (a = 5.64 Å)."""
    a = 5.64
    na = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    cl = na + np.array([0.5, 0, 0])
    return AtomSystem.from_fractional([11] * 4 + [17] * 4, np.vstack([na, cl]), np.eye(3) * a, name="NaCl")


def needs_shared_data(*parts: str) -> Path:
    """The path inside shared/data, or skip the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    return path
