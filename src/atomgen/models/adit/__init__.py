"""ADiT: one latent diffusion transformer for molecules and crystals (Joshi, Fu et al., 2025).

`ADiTModel` is the public object; the autoencoder, the latent DiT and the configuration live in their own files.
"""

from atomgen.models.adit.config import ADiTConfig, preset
from atomgen.models.adit.model import ADiTModel

__all__ = ["ADiTConfig", "ADiTModel", "preset"]
