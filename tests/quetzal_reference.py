"""Quetzal's trunk without a KV cache: the whole prefix is recomputed for every atom, as the paper's reference
implementation does. Tests compare the cached sampler with it (same seed, same molecules)."""

from __future__ import annotations

import torch

from atomgen.models.quetzal.network import QuetzalNetwork


class UncachedTrunk:
    """The three moves of `atomgen.models.quetzal.sampler.CachedTrunk`, each recomputing every token (a
    conditional model's property vectors too; without guidance)."""

    def __init__(self, network: QuetzalNetwork, types: torch.Tensor, positions: torch.Tensor,
                 properties: torch.Tensor | None = None):
        self.network = network
        self.types = types
        self.positions = positions
        self.properties = properties
        self._refresh()

    def _refresh(self) -> None:
        tokens = self.network.embed(self.types, self.positions, properties=self.properties)
        self.hidden, logits = self.network.type_logits(tokens)
        self.logits = logits[:, -1]

    def keep(self, rows: torch.Tensor) -> None:
        self.types, self.positions = self.types[rows], self.positions[rows]
        self.hidden, self.logits = self.hidden[rows], self.logits[rows]
        self.properties = None if self.properties is None else self.properties[rows]

    def condition(self, next_types: torch.Tensor) -> torch.Tensor:
        all_next = torch.cat([self.types[:, 1:], next_types[:, None]], dim=1)
        return self.network.condition(self.hidden, all_next, properties=self.properties)[:, -1]

    def append(self, types: torch.Tensor, positions: torch.Tensor) -> None:
        self.types = torch.cat([self.types, types[:, None]], dim=1)
        self.positions = torch.cat([self.positions, positions[:, None]], dim=1)
        self._refresh()
