"""NExT-Mol: a SELFIES language model, then a conformer diffusion model from graph to 3D (Liu et al., 2025)."""

from atomgen.models.nextmol.config import NExTMolConfig, preset
from atomgen.models.nextmol.model import NExTMolModel

__all__ = ["NExTMolConfig", "NExTMolModel", "preset"]
