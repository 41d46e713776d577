"""Exact log-likelihood of molecules under Quetzal.

log p(molecule) = Σ_i log P(type_i | prefix) + log P(STOP | molecule) + Σ_i log p(x_i | prefix, type_i),

where each position term is the exact log-density of the position head's probability-flow ODE, conditioned on the
vector z_{i-1} that the transformer emits to predict atom i (teacher forcing on the molecule itself). Units:
nats, with positions in Å (so densities are per Å³).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from atomgen.data.sequences import collate_sequences
from atomgen.diffusion.likelihood import ode_log_likelihood
from atomgen.errors import InputError
from atomgen.models.quetzal.network import START, STOP, QuetzalNetwork
from atomgen.system import AtomSystem

if TYPE_CHECKING:
    from atomgen.models.quetzal.model import QuetzalModel


def canonical_frame(system: AtomSystem) -> np.ndarray:
    """Positions in a frame fixed by the molecule itself, so rotating or moving the input changes nothing.

    Origin: the heavy-atom centroid (Quetzal's training frame). Axes: principal axes of all atoms, largest variance
    first, each pointing where the cube of the projections sums positive; the third axis is the cross product
    of the first two, so the frame is a proper rotation and mirror images stay distinct. Molecules with
    degenerate principal axes (e.g. methane) have no unique such frame.
    """
    heavy = system.numbers != 1
    origin = system.positions[heavy].mean(0) if heavy.any() else system.positions.mean(0)
    centred = system.positions - origin
    if len(system) < 2:
        return centred
    _, vectors = np.linalg.eigh(centred.T @ centred)
    axes = vectors[:, ::-1].T.copy()  # rows, largest variance first
    for k in range(2):
        skew = np.sum((centred @ axes[k]) ** 3)
        if skew < 0:
            axes[k] = -axes[k]
    axes[2] = np.cross(axes[0], axes[1])
    return centred @ axes.T


def log_likelihood(model: QuetzalModel, systems: Sequence[AtomSystem], *, frame: str = "canonical",
                   steps: int = 128, batch_size: int = 64, source: str | Path | None = None) -> np.ndarray:
    """Per-molecule log-likelihood in nats (see the module docstring); `frame` is "canonical" or "given"."""
    if frame not in ("canonical", "given"):
        raise ValueError(f"frame must be 'canonical' or 'given', not {frame!r}")
    items = []
    for index, system in enumerate(systems):
        if len(system) == 0:
            raise InputError("empty molecule", source, index)
        if len(system) > model.config.max_atoms:
            raise InputError(f"{len(system)} atoms, more than this model's maximum of {model.config.max_atoms}",
                             source, index)
        positions = canonical_frame(system) if frame == "canonical" else system.positions
        items.append((model.classes(system.numbers, source, index), positions))
    # A float64 copy keeps the ODE integral accurate without touching the model; its weights need no gradients
    # (the divergence is a derivative with respect to positions only).
    network = copy.deepcopy(model.network).double().eval().requires_grad_(False)
    totals = []
    for start in range(0, len(items), batch_size):
        batch = collate_sequences(items[start : start + batch_size])
        totals.append(_batch_log_likelihood(network, batch, steps, model.device))
    return np.concatenate(totals) if totals else np.zeros(0)


def _batch_log_likelihood(network: QuetzalNetwork, batch: dict[str, torch.Tensor], steps: int,
                          device: torch.device) -> np.ndarray:
    types = batch["types"].to(device)
    positions = batch["positions"].to(device).double()
    n_atoms = batch["n_atoms"].to(device)
    rows, length = types.shape
    inputs = torch.cat([types.new_full((rows, 1), START), types], dim=1)
    input_positions = torch.cat([positions.new_zeros(rows, 1, 3), positions], dim=1)
    next_types = torch.cat([types, types.new_full((rows, 1), STOP)], dim=1)
    properties = None
    if network.properties is not None:  # a conditional model: the likelihood asks for no property
        absent = torch.zeros(rows, len(network.config.properties), dtype=torch.bool, device=device)
        properties = network.property_vector(absent.double(), absent)
    with torch.no_grad():
        logits, cond = network(inputs, input_positions, next_types, properties)
    token = torch.arange(length + 1, device=device)[None]
    type_terms = F.log_softmax(logits, dim=-1).gather(-1, next_types[..., None]).squeeze(-1)
    total = (type_terms * (token <= n_atoms[:, None])).sum(1)

    has_position = token < n_atoms[:, None]
    cond_embedding = network.head.embed_condition(cond[has_position]).detach()
    targets = torch.cat([positions, positions.new_zeros(rows, 1, 3)], dim=1)[has_position]
    placed = network.placed_atoms(types, positions, has_position)
    position_terms = ode_log_likelihood(lambda x, s: network.denoise(x, s, cond_embedding, placed), targets,
                                        network.config.edm, steps)
    owner = has_position.nonzero()[:, 0]
    total = total.index_add(0, owner, position_terms)
    return total.cpu().numpy()
