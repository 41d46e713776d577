"""The model zoo: pretrained weights shipped inside the package, found by name."""

from atomgen.zoo.registry import available, resolve

__all__ = ["available", "resolve"]
