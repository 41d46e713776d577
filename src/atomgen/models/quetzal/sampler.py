"""Autoregressive sampling for Quetzal: one atom per step, with or without a KV cache.

Both trunks expose the same three moves, so one loop drives them and, for the same seed, they give the same
molecule (the cache only removes recomputation):

* `logits`: next-type logits of the last token of every row;
* `condition(next_type)`: the position head's conditioning vector for the next atom, given its type;
* `append(type, position)`: extend every row by one atom.

Rows that emit STOP are dropped from the batch (and from the cache) at once, so finished molecules stop costing
compute. Random numbers are drawn in a fixed order (types, then position noise, per step), which keeps samples
reproducible from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from atomgen.diffusion.edm import heun_sample, karras_sigmas
from atomgen.models.quetzal.network import START, STOP, QuetzalNetwork


def _rows(biases: list[torch.Tensor] | None, rows: torch.Tensor) -> list[torch.Tensor] | None:
    return None if biases is None else [bias[rows] for bias in biases]


class CachedTrunk:
    """Keeps the keys and values of both transformer halves; each new atom costs one token per layer.

    With distance-biased attention it also keeps the positions of every token, so the new token's biases (its
    distances to the tokens before it) cost one row, not the whole matrix.
    """

    def __init__(self, network: QuetzalNetwork, types: torch.Tensor, positions: torch.Tensor):
        self.network = network
        batch, length = types.shape
        capacity = network.config.max_atoms + 1
        tokens = network.embed(types, positions)
        self.type_cache = network.type_stack.new_cache(batch, capacity, tokens)
        self.position_cache = network.position_stack.new_cache(batch, capacity, tokens)
        self.positions = positions.new_zeros(batch, capacity, 3)
        self.positions[:, :length] = positions
        type_biases, position_biases = network.attention_biases(positions, positions)
        hidden, logits = network.type_logits(tokens, self.type_cache, type_biases)
        if length > 1:  # the prefix's own next types are known: feed them to the second half now
            prefix_biases = None if position_biases is None else [b[:, :, :-1, :-1] for b in position_biases]
            network.condition(hidden[:, :-1], types[:, 1:], self.position_cache, prefix_biases)
        self.length = length
        self.last_hidden = hidden[:, -1:]
        self.last_position_biases = None if position_biases is None else [b[:, :, -1:] for b in position_biases]
        self.logits = logits[:, -1]

    def keep(self, rows: torch.Tensor) -> None:
        self.type_cache.keep(rows)
        self.position_cache.keep(rows)
        self.positions = self.positions[rows]
        self.last_hidden = self.last_hidden[rows]
        self.last_position_biases = _rows(self.last_position_biases, rows)
        self.logits = self.logits[rows]

    def condition(self, next_types: torch.Tensor) -> torch.Tensor:
        return self.network.condition(self.last_hidden, next_types[:, None], self.position_cache,
                                      self.last_position_biases)[:, 0]

    def append(self, types: torch.Tensor, positions: torch.Tensor) -> None:
        tokens = self.network.embed(types[:, None], positions[:, None], offset=self.length)
        self.positions[:, self.length] = positions
        type_biases, position_biases = self.network.attention_biases(
            positions[:, None], self.positions[:, :self.length + 1])
        hidden, logits = self.network.type_logits(tokens, self.type_cache, type_biases)
        self.length += 1
        self.last_hidden = hidden
        self.last_position_biases = position_biases  # the same token is the second half's next query
        self.logits = logits[:, -1]


class UncachedTrunk:
    """Recomputes the whole prefix for every atom, as the reference implementation does (for comparison)."""

    def __init__(self, network: QuetzalNetwork, types: torch.Tensor, positions: torch.Tensor):
        self.network = network
        self.types = types
        self.positions = positions
        self._refresh()

    def _refresh(self) -> None:
        type_biases, self.position_biases = self.network.attention_biases(self.positions, self.positions)
        self.hidden, logits = self.network.type_logits(self.network.embed(self.types, self.positions),
                                                       biases=type_biases)
        self.logits = logits[:, -1]

    def keep(self, rows: torch.Tensor) -> None:
        self.types, self.positions = self.types[rows], self.positions[rows]
        self.hidden, self.logits = self.hidden[rows], self.logits[rows]
        self.position_biases = _rows(self.position_biases, rows)

    def condition(self, next_types: torch.Tensor) -> torch.Tensor:
        all_next = torch.cat([self.types[:, 1:], next_types[:, None]], dim=1)
        return self.network.condition(self.hidden, all_next, biases=self.position_biases)[:, -1]

    def append(self, types: torch.Tensor, positions: torch.Tensor) -> None:
        self.types = torch.cat([self.types, types[:, None]], dim=1)
        self.positions = torch.cat([self.positions, positions[:, None]], dim=1)
        self._refresh()


@dataclass(frozen=True)
class SamplingOptions:
    """Knobs of one sampling run.

    Attributes:
        steps: Heun steps of each position ODE (2·steps - 1 head evaluations per atom).
        temperature: divides the type logits; 0 takes the most likely type.
        position_temperature: scales the starting noise of each position ODE. 1 samples the head's own
            distribution; below 1 draws positions nearer the centre of each mode (sharper geometry, less
            diversity; exact for a Gaussian, whose spread it scales), 0 the noise-free path.
        allowed: boolean mask over type classes (index 0 is STOP); None allows every class.
        use_cache: False recomputes the prefix for every atom (only useful to measure what the cache saves).
        min_atoms: STOP is not allowed before the molecule has this many atoms (a molecule is never empty).
        max_atoms: STOP is forced once the molecule has this many atoms (None: the model's own maximum).
        valence_parity: per type class (index 0 is STOP), the parity of the element's valence (0 even, 1 odd,
            -1 mixed). When given, STOP is allowed only while the valences placed so far sum to an even number,
            since no closed-shell molecule of atoms with an odd sum exists; a molecule with a mixed-parity element
            may always stop. None leaves STOP to the model.
    """

    steps: int = 30
    temperature: float = 1.0
    position_temperature: float = 1.0
    allowed: torch.Tensor | None = None
    use_cache: bool = True
    min_atoms: int = 1
    max_atoms: int | None = None
    valence_parity: torch.Tensor | None = None


def _sample_types(logits: torch.Tensor, options: SamplingOptions, generator: torch.Generator | None,
                  force_stop: torch.Tensor, stop_allowed: torch.Tensor) -> torch.Tensor:
    """Draw one type class per row by inverse-CDF sampling (one uniform per row, whatever the batch layout).

    `force_stop` and `stop_allowed` are per-row booleans; forcing wins."""
    if options.allowed is not None:
        logits = logits.masked_fill(~options.allowed.to(logits.device), float("-inf"))
    if not stop_allowed.all():
        logits = logits.clone()
        logits[~stop_allowed, STOP] = float("-inf")
    uniform = torch.rand(logits.shape[0], generator=generator, device=logits.device, dtype=torch.float64)
    if options.temperature == 0:
        choice = logits.argmax(-1)
    else:
        cdf = torch.softmax(logits.double() / options.temperature, dim=-1).cumsum(-1)
        choice = torch.searchsorted(cdf, (uniform * cdf[:, -1]).unsqueeze(-1)).squeeze(-1)
        choice = choice.clamp(max=logits.shape[-1] - 1)
    return torch.where(force_stop, torch.full_like(choice, STOP), choice)


@torch.no_grad()
def generate_batch(network: QuetzalNetwork, prefix_types: torch.Tensor, prefix_positions: torch.Tensor,
                   options: SamplingOptions, generator: torch.Generator | None = None
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Complete a batch of prefixes of equal length; return (type classes, positions) of every finished row.

    `prefix_types` (B, P) holds classes 1..K and `prefix_positions` (B, P, 3) their positions; P may be 0.
    """
    batch, prefix = prefix_types.shape
    device = prefix_positions.device
    start_type = torch.full((batch, 1), START, dtype=torch.long, device=device)
    start_position = torch.zeros(batch, 1, 3, dtype=prefix_positions.dtype, device=device)
    types = torch.cat([start_type, prefix_types], dim=1)
    positions = torch.cat([start_position, prefix_positions], dim=1)
    trunk_class = CachedTrunk if options.use_cache else UncachedTrunk
    trunk = trunk_class(network, types, positions)
    sigmas = karras_sigmas(options.steps, network.config.edm, device=device)

    rows = torch.arange(batch, device=device)  # original index of every active row
    placed_types, placed_positions = prefix_types, prefix_positions  # the atoms of every active row so far
    out_types = [list(t) for t in prefix_types.tolist()]
    out_positions = [list(p) for p in prefix_positions.tolist()]
    n_atoms = prefix
    limit = min(options.max_atoms or network.config.max_atoms, network.config.max_atoms)
    parity = None if options.valence_parity is None else options.valence_parity.to(device)
    while rows.numel():
        force_stop = torch.full((rows.numel(),), n_atoms >= limit, device=device)
        stop_allowed = torch.full((rows.numel(),), n_atoms >= options.min_atoms, device=device)
        if parity is not None:
            placed_parity = parity[placed_types]
            closable = (placed_parity < 0).any(dim=1) | (placed_parity.clamp(min=0).sum(dim=1) % 2 == 0)
            stop_allowed &= closable
        next_types = _sample_types(trunk.logits, options, generator, force_stop, stop_allowed)
        going = next_types != STOP
        if not going.all():
            keep = going.nonzero().squeeze(-1)
            rows, next_types = rows[keep], next_types[keep]
            placed_types, placed_positions = placed_types[keep], placed_positions[keep]
            trunk.keep(keep)
            if not rows.numel():
                break
        cond = network.head.embed_condition(trunk.condition(next_types))
        noise = torch.randn(rows.numel(), 3, generator=generator, device=device, dtype=cond.dtype)
        placed = (placed_types, placed_positions)
        new_positions = heun_sample(lambda x, sigma: network.denoise(x, sigma, cond, placed),
                                    noise * options.position_temperature, sigmas)
        for row, t, p in zip(rows.tolist(), next_types.tolist(), new_positions.tolist()):
            out_types[row].append(t)
            out_positions[row].append(p)
        trunk.append(next_types, new_positions)
        placed_types = torch.cat([placed_types, next_types[:, None]], dim=1)
        placed_positions = torch.cat([placed_positions, new_positions[:, None].to(placed_positions.dtype)], dim=1)
        n_atoms += 1
    return [(np.asarray(t, dtype=np.int64), np.asarray(p, dtype=np.float64).reshape(-1, 3))
            for t, p in zip(out_types, out_positions)]
