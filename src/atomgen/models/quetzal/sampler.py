"""Autoregressive sampling for Quetzal: one atom per step through a KV cache.

The trunk exposes three moves, which the loop drives:

* `logits`: next-type logits of the last token of every row;
* `condition(next_type)`: the position head's conditioning vector for the next atom, given its type;
* `append(type, position)`: extend every row by one atom.

Rows that emit STOP leave the batch at once (and the cache), so finished molecules stop costing compute, down to
`MIN_BATCH_ROWS` rows: below it finished rows stay on as padding (`atomgen.models.base.rows_to_keep`). Each row
draws its type and its position noise from its own random stream, so a molecule does not depend on its batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from atomgen.diffusion.edm import dpm_solver_2m_sample, heun_sample, karras_sigmas
from atomgen.models.base import rows_to_keep
from atomgen.models.quetzal.network import START, STOP, QuetzalNetwork
from atomgen.models.sampler_settings import QUETZAL_PRECISION, QUETZAL_SOLVER, QUETZAL_SOLVERS, QUETZAL_STEPS
from atomgen.models.streams import SampleStreams, categorical

PADDING_TYPE = 1
"""The type a padding row (no sample, or a finished one kept to fill the batch) is given at every step."""


class CachedTrunk:
    """Keeps the keys and values of both transformer halves; each new atom costs one token per layer.

    A conditional model's rows carry their property vectors (`properties`, (B, dim)). With `unconditional`
    vectors as well, every row is also computed unconditioned, as a second half of the batch, and `logits`
    mixes the two by classifier-free guidance; `condition` then returns both halves' vectors, for the guided
    position denoiser (`guided_denoiser`).
    """

    def __init__(self, network: QuetzalNetwork, types: torch.Tensor, positions: torch.Tensor,
                 properties: torch.Tensor | None = None, unconditional: torch.Tensor | None = None,
                 guidance: float = 1.0):
        self.network = network
        self.guided = unconditional is not None
        self.guidance = guidance
        if self.guided:
            types, positions = types.repeat(2, 1), positions.repeat(2, 1, 1)
            properties = torch.cat([properties, unconditional])
        self.properties = properties
        batch, length = types.shape
        capacity = network.config.max_atoms + 1
        tokens = network.embed(types, positions, properties=properties)
        self.type_cache = network.type_stack.new_cache(batch, capacity, tokens)
        self.position_cache = network.position_stack.new_cache(batch, capacity, tokens)
        hidden, logits = network.type_logits(tokens, self.type_cache)
        if length > 1:  # the prefix's own next types are known: feed them to the second half now
            network.condition(hidden[:, :-1], types[:, 1:], self.position_cache, properties)
        self.length = length
        self.last_hidden = hidden[:, -1:]
        self.all_logits = logits[:, -1]

    @property
    def logits(self) -> torch.Tensor:
        """Next-type logits of every row (guided: u + guidance · (c - u) of its two halves)."""
        if not self.guided:
            return self.all_logits
        conditional, unconditional = self.all_logits.chunk(2)
        return unconditional + self.guidance * (conditional - unconditional)

    def _both(self, rows: torch.Tensor) -> torch.Tensor:
        """Indices of `rows` in every half of the computed batch."""
        return torch.cat([rows, rows + len(self.all_logits) // 2]) if self.guided else rows

    def keep(self, rows: torch.Tensor) -> None:
        rows = self._both(rows)
        self.type_cache.keep(rows)
        self.position_cache.keep(rows)
        self.last_hidden = self.last_hidden[rows]
        self.all_logits = self.all_logits[rows]
        self.properties = None if self.properties is None else self.properties[rows]

    def condition(self, next_types: torch.Tensor) -> torch.Tensor:
        next_types = next_types.repeat(2) if self.guided else next_types
        return self.network.condition(self.last_hidden, next_types[:, None], self.position_cache,
                                      self.properties)[:, 0]

    def append(self, types: torch.Tensor, positions: torch.Tensor) -> None:
        if self.guided:
            types, positions = types.repeat(2), positions.repeat(2, 1)
        tokens = self.network.embed(types[:, None], positions[:, None], offset=self.length,
                                    properties=self.properties)
        hidden, logits = self.network.type_logits(tokens, self.type_cache)
        self.length += 1
        self.last_hidden = hidden
        self.all_logits = logits[:, -1]


def guided_denoiser(network: QuetzalNetwork, cond_embedding: torch.Tensor,
                    placed: tuple[torch.Tensor, torch.Tensor], guidance: float):
    """D(x, σ) of the next positions of the B rows of `placed`: plain when `cond_embedding` has B rows, and
    D_u + guidance · (D_c - D_u) when it has 2B (the conditioned rows, then the unconditioned)."""
    rows = placed[0].shape[0]
    if cond_embedding.shape[0] == rows:
        return lambda x, sigma: network.denoise(x, sigma, cond_embedding, placed)
    doubled = (placed[0].repeat(2, 1), placed[1].repeat(2, 1, 1))

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        conditional, unconditional = network.denoise(x.repeat(2, 1), sigma.repeat(2), cond_embedding,
                                                     doubled).chunk(2)
        return unconditional + guidance * (conditional - unconditional)

    return denoise


SOLVERS = dict(zip(QUETZAL_SOLVERS, (dpm_solver_2m_sample, heun_sample), strict=True))
"""Solvers of each position's probability-flow ODE, by name."""

DEFAULT_SOLVER, DEFAULT_STEPS, DEFAULT_PRECISION = QUETZAL_SOLVER, QUETZAL_STEPS, QUETZAL_PRECISION
"""The sampler's defaults (see `atomgen.models.sampler_settings` for how they were chosen)."""


@dataclass(frozen=True)
class SamplingOptions:
    """Knobs of one sampling run.

    Attributes:
        steps: steps of each position's ODE (one head evaluation each with "dpm2m", 2·steps - 1 with "heun").
        temperature: divides the type logits; 0 takes the most likely type.
        position_temperature: scales the starting noise of each position ODE. 1 samples the head's own
            distribution; below 1 draws positions nearer the centre of each mode (sharper geometry, less
            diversity; exact for a Gaussian, whose spread it scales), 0 the noise-free path.
        allowed: boolean mask over type classes (index 0 is STOP); None allows every class.
        min_atoms: STOP is not allowed before the molecule has this many atoms (a molecule is never empty).
        max_atoms: STOP is forced once the molecule has this many atoms (None: the model's own maximum).
        solver: a name in `SOLVERS`.
        valence_parity: per type class (index 0 is STOP), the parity of the element's valence (0 even, 1 odd,
            -1 mixed). When given, STOP is allowed only while the valences placed so far sum to an even number,
            since no closed-shell molecule of atoms with an odd sum exists; a molecule with a mixed-parity element
            may always stop. None leaves STOP to the model.
    """

    steps: int = DEFAULT_STEPS
    temperature: float = 1.0
    position_temperature: float = 1.0
    allowed: torch.Tensor | None = None
    min_atoms: int = 1
    max_atoms: int | None = None
    valence_parity: torch.Tensor | None = None
    solver: str = DEFAULT_SOLVER


def _sample_types(logits: torch.Tensor, options: SamplingOptions, uniform: torch.Tensor,
                  force_stop: torch.Tensor, stop_allowed: torch.Tensor) -> torch.Tensor:
    """Draw one type class per row from its own uniform (`streams.categorical`); `force_stop` and `stop_allowed`
    are per-row booleans, and forcing wins."""
    if options.allowed is not None:
        logits = logits.masked_fill(~options.allowed.to(logits.device), float("-inf"))
    if not stop_allowed.all():
        logits = logits.clone()
        logits[~stop_allowed, STOP] = float("-inf")
    choice = categorical(logits, uniform, options.temperature)
    return torch.where(force_stop, torch.full_like(choice, STOP), choice)


@torch.no_grad()
def generate_batch(network: QuetzalNetwork, prefix_types: torch.Tensor, prefix_positions: torch.Tensor,
                   options: SamplingOptions, streams: SampleStreams, trunk_class: type = CachedTrunk,
                   conditioning: dict | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Complete a batch of prefixes of equal length; return (type classes, positions) of every row.

    `prefix_types` (B, P) holds classes 1..K and `prefix_positions` (B, P, 3) their positions; P may be 0.
    `streams` holds each row's random stream (None: a padding row, whose result is meaningless). `trunk_class`
    is the cached trunk unless a test compares it with a reference. A conditional model's `conditioning` holds
    the trunk's `properties` (and for guidance `unconditional` and `guidance`; see `CachedTrunk`).
    """
    with network.head.noise_terms_cached():  # every atom's ODE visits the same noise levels
        return _complete(network, prefix_types, prefix_positions, options, streams, trunk_class, conditioning or {})


def _complete(network: QuetzalNetwork, prefix_types: torch.Tensor, prefix_positions: torch.Tensor,
              options: SamplingOptions, streams: SampleStreams, trunk_class: type, conditioning: dict
              ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The loop of `generate_batch`."""
    batch, prefix = prefix_types.shape
    device = prefix_positions.device
    start_type = torch.full((batch, 1), START, dtype=torch.long, device=device)
    start_position = torch.zeros(batch, 1, 3, dtype=prefix_positions.dtype, device=device)
    trunk = trunk_class(network, torch.cat([start_type, prefix_types], dim=1),
                        torch.cat([start_position, prefix_positions], dim=1), **conditioning)
    sigmas = karras_sigmas(options.steps, network.config.edm, device=device)

    rows = torch.arange(batch, device=device)  # original index of every computed row
    growing = streams.real  # rows whose molecule is not finished (padding rows never are)
    placed_types, placed_positions = prefix_types, prefix_positions  # the atoms of every computed row so far
    out_types = [list(t) for t in prefix_types.tolist()]
    out_positions = [list(p) for p in prefix_positions.tolist()]
    n_atoms = prefix
    limit = min(options.max_atoms or network.config.max_atoms, network.config.max_atoms)
    parity = None if options.valence_parity is None else options.valence_parity.to(device)
    while growing.any():
        force_stop = torch.full((rows.numel(),), n_atoms >= limit, device=device)
        stop_allowed = torch.full((rows.numel(),), n_atoms >= options.min_atoms, device=device)
        if parity is not None:
            placed_parity = parity[placed_types]
            closable = (placed_parity < 0).any(dim=1) | (placed_parity.clamp(min=0).sum(dim=1) % 2 == 0)
            stop_allowed &= closable
        next_types = _sample_types(trunk.logits, options, streams.uniform(only=growing), force_stop, stop_allowed)
        growing = growing & (next_types != STOP)
        if not growing.any():
            break
        keep = rows_to_keep(growing)
        if keep is not None:
            rows, growing, next_types, streams = rows[keep], growing[keep], next_types[keep], streams.select(keep)
            placed_types, placed_positions = placed_types[keep], placed_positions[keep]
            trunk.keep(keep)
        next_types = torch.where(growing, next_types, torch.full_like(next_types, PADDING_TYPE))
        cond = network.head.embed_condition(trunk.condition(next_types))
        noise = streams.normal((3,), cond.dtype, only=growing)
        denoiser = guided_denoiser(network, cond, (placed_types, placed_positions), conditioning.get("guidance", 1.0))
        new_positions = SOLVERS[options.solver](denoiser, noise * options.position_temperature, sigmas)
        for row, t, p in zip(rows[growing].tolist(), next_types[growing].tolist(), new_positions[growing].tolist()):
            out_types[row].append(t)
            out_positions[row].append(p)
        trunk.append(next_types, new_positions)
        placed_types = torch.cat([placed_types, next_types[:, None]], dim=1)
        placed_positions = torch.cat([placed_positions, new_positions[:, None].to(placed_positions.dtype)], dim=1)
        n_atoms += 1
    return [(np.asarray(t, dtype=np.int64), np.asarray(p, dtype=np.float64).reshape(-1, 3))
            for t, p in zip(out_types, out_positions)]

