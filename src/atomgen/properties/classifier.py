"""The property classifier that judges conditional generation: EDM's EGNN for one QM9 property, as a checkpointed
model that trains through atomgen's engine (`atomgen train property-classifier`) and predicts for AtomSystems.

As in EDM, it learns the property normalised by the mean and the mean absolute deviation of QM9's valid split
with an L1 loss, from the one-hot atom types and the positions, hydrogens included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from atomgen.elements import symbol
from atomgen.errors import InputError
from atomgen.models.base import CheckpointedModel
from atomgen.properties.egnn import EGNNRegressor
from atomgen.properties.qm9_properties import get_property
from atomgen.system import AtomSystem


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything needed to rebuild a property classifier; stored as JSON beside the weights.

    Attributes:
        property: the QM9 property it predicts (`atomgen.properties.qm9_properties.PROPERTIES`).
        elements: atomic numbers of the one-hot channels, in order.
        width, depth: the EGNN's hidden width and number of layers (EDM: 128 and 7).
        mean, mad: the property's mean and mean absolute deviation over QM9's valid split, in its unit: the
            network predicts (value - mean) / mad.
    """

    property: str
    elements: tuple[int, ...] = (1, 6, 7, 8, 9)
    width: int = 128
    depth: int = 7
    mean: float = 0.0
    mad: float = 1.0

    def __post_init__(self) -> None:
        get_property(self.property)  # an unknown property fails here, with the known ones listed
        object.__setattr__(self, "elements", tuple(int(z) for z in self.elements))
        if self.mad <= 0:
            raise ValueError(f"mad must be positive, not {self.mad}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["elements"] = list(self.elements)
        return data


class PropertyClassifier(CheckpointedModel):
    """EDM's EGNN property classifier (a regressor, despite the protocol's name for it)."""

    family = "property-classifier"
    config_class = ClassifierConfig

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.network = EGNNRegressor(len(config.elements), config.width, config.depth)
        self.register_buffer("type_of_z", _type_lookup(config.elements), persistent=False)

    @property
    def property(self):
        return get_property(self.config.property)

    def forward(self, numbers: torch.Tensor, positions: torch.Tensor, atom_mask: torch.Tensor) -> torch.Tensor:
        """Normalised predictions (B,) for padded molecules: numbers (B, N) atomic numbers (0 = padding),
        positions (B, N, 3) in Å, atom_mask (B, N)."""
        one_hot = torch.nn.functional.one_hot(self.type_of_z[numbers], len(self.config.elements))
        return self.network(one_hot.float() * atom_mask[..., None], positions, atom_mask)

    def training_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """EDM's loss: L1 between the prediction and the normalised label; also the MAE in the property's unit."""
        target = (batch["values"] - self.config.mean) / self.config.mad
        error = (self(batch["numbers"], batch["positions"], batch["atom_mask"]).float() - target).abs().mean()
        return {"loss": error, "mae": error.detach() * self.config.mad}

    @torch.no_grad()
    def predict(self, systems: Sequence[AtomSystem], batch_size: int = 64) -> np.ndarray:
        """The property of each molecule, in its unit (`self.property.unit`); an empty molecule gets NaN."""
        # Batches of 32-64 ran about twice as fast as 256 on one CPU thread: the (batch, atoms, atoms, width)
        # pair tensors of a small batch stay in cache.
        self.eval()
        out = np.full(len(systems), np.nan)
        for k, system in enumerate(systems):
            unknown = set(np.asarray(system.numbers).tolist()) - set(self.config.elements)
            if unknown:
                names = ", ".join(symbol(z) for z in sorted(unknown))
                raise InputError(f"element {names} is not one the {self.config.property} classifier knows", None, k)
        order = [k for k in np.argsort([len(s) for s in systems], kind="stable") if len(systems[k])]
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = collate_molecules([_item(systems[k]) for k in rows])
            normalised = self(batch["numbers"].to(self.device), batch["positions"].to(self.device),
                              batch["atom_mask"].to(self.device))
            out[rows] = normalised.double().cpu().numpy() * self.config.mad + self.config.mean
        return out


def _type_lookup(elements: tuple[int, ...]) -> torch.Tensor:
    """Channel index of every atomic number (0 for padding and for elements without a channel)."""
    lookup = torch.zeros(max(elements) + 1, dtype=torch.long)
    for channel, z in enumerate(elements):
        lookup[z] = channel
    return lookup


def _item(system: AtomSystem, value: float = float("nan")) -> dict[str, Any]:
    positions = np.asarray(system.positions, dtype=np.float32)
    return {"numbers": np.asarray(system.numbers, dtype=np.int64), "positions": positions - positions.mean(axis=0),
            "value": value}


def collate_molecules(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Pad molecules (numbers, centred positions, a label each) into one batch."""
    length = max(len(item["numbers"]) for item in items)
    numbers = torch.zeros(len(items), length, dtype=torch.long)
    positions = torch.zeros(len(items), length, 3)
    for row, item in enumerate(items):
        n = len(item["numbers"])
        numbers[row, :n] = torch.from_numpy(item["numbers"])
        positions[row, :n] = torch.from_numpy(item["positions"])
    return {"numbers": numbers, "positions": positions, "atom_mask": numbers > 0,
            "values": torch.tensor([item["value"] for item in items], dtype=torch.float32),
            "n_atoms": (numbers > 0).sum(dim=1)}


class PropertyDataset(torch.utils.data.Dataset):
    """Molecules with one property each (in its unit), for training a classifier."""

    def __init__(self, systems: Sequence[AtomSystem], property_name: str):
        self.systems = systems
        self.values = get_property(property_name).values(systems)

    def __len__(self) -> int:
        return len(self.systems)

    def __getitem__(self, k: int) -> dict[str, Any]:
        return _item(self.systems[k], float(self.values[k]))

    def lengths(self) -> np.ndarray:
        return np.array([len(system) for system in self.systems])
