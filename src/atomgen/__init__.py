"""atomgen: generate and evaluate 3D molecules and crystals."""

from __future__ import annotations

__version__ = "0.1.0"

from atomgen.errors import AtomgenError, InputError
from atomgen.system import AtomSystem

__all__ = ["AtomSystem", "AtomgenError", "InputError", "__version__", "evaluate"]


def __getattr__(name: str):
    # The evaluator pulls in RDKit, pymatgen and torch: import it only when asked for.
    if name == "evaluate":
        from atomgen.eval.evaluate import evaluate

        return evaluate
    raise AttributeError(name)
