"""Maintainers' tool: copy a trained checkpoint into the package's zoo, weights cast to fp16.

    python -m atomgen.zoo.ship runs/quetzal-qm9-small/model quetzal-qm9-small

Buffers (e.g. Fourier frequencies) stay in full precision; the config keeps the training metadata, and for a run
warm-started from trained weights (`init_from`) the sha256 of those weights, read before anything is written: a
model continued from the shipped one of its own name (`--set init_from=nextmol-qm9-cond`) still says which
weights it grew from.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch

from atomgen.models.registry import load_model
from atomgen.zoo.registry import WEIGHTS_DIR


def ship(source: str, name: str, dtype: torch.dtype = torch.float16) -> None:
    """Write the model at `source` into zoo/weights/<name>/ in `dtype`, keeping its config's metadata."""
    model = load_model(source)
    metadata = json.loads((Path(source) / "config.json").read_text())
    extra = {k: v for k, v in metadata.items() if k not in ("family", "config")}
    extra["stored_dtype"] = str(dtype).removeprefix("torch.")
    start = extra.get("train_config", {}).get("init_from")
    if start is not None:
        extra["init_from_sha256"] = _weights_sha256(start)
    model.save(WEIGHTS_DIR / name, dtype=dtype, extra=extra)
    size = (WEIGHTS_DIR / name / "model.safetensors").stat().st_size / 1e6
    print(f"shipped {source} as {name} ({size:.1f} MB)")


def _weights_sha256(name_or_path: str) -> str:
    """The sha256 of a model's weights file (a zoo name or a folder)."""
    from atomgen.models.checkpoint import WEIGHTS
    from atomgen.zoo.registry import resolve

    return hashlib.sha256((resolve(name_or_path) / WEIGHTS).read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="checkpoint folder (model.safetensors + config.json)")
    parser.add_argument("name", help="zoo name, e.g. quetzal-qm9-small")
    args = parser.parse_args()
    ship(args.source, args.name)


if __name__ == "__main__":
    main()
