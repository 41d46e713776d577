"""Quetzal: an autoregressive transformer that builds a molecule atom by atom (Cheng, Sun et al., 2025).

`QuetzalModel` is the public object; the network, the KV-cached sampler and the likelihood live in their own files.
"""

from atomgen.models.quetzal.config import QuetzalConfig, preset
from atomgen.models.quetzal.model import QuetzalModel

__all__ = ["QuetzalConfig", "QuetzalModel", "preset"]
