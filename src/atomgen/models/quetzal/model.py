"""QuetzalModel: the public object for training, sampling, likelihoods and prefix completion."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from atomgen.data.augment import augment_molecules
from atomgen.diffusion.edm import loss_weight, sample_training_sigmas
from atomgen.errors import InputError
from atomgen.models.base import GenerativeModel, Job, shard_range
from atomgen.models.conditions import Condition, normalise, resolve_condition, sample_targets, stats_of
from atomgen.models.quetzal.config import QuetzalConfig
from atomgen.models.quetzal.network import START, STOP, QuetzalNetwork
from atomgen.models.quetzal.sampler import (
    DEFAULT_PRECISION,
    DEFAULT_SOLVER,
    DEFAULT_STEPS,
    SOLVERS,
    SamplingOptions,
    generate_batch,
)
from atomgen.models.streams import SampleStreams
from atomgen.nn.property_condition import training_subsets
from atomgen.system import AtomSystem

FAMILY = "quetzal"


class QuetzalModel(GenerativeModel):
    """Autoregressive 3-D molecule generator with exact likelihoods.

    Batches for `training_loss` are dicts of `types` (B, L) type classes (1..K, 0 = padding), `positions` (B, L, 3)
    in Å and `n_atoms` (B,), as built by `atomgen.data.sequences.collate_sequences`.
    """

    family = FAMILY
    config_class = QuetzalConfig

    def __init__(self, config: QuetzalConfig):
        super().__init__()
        self.config = config
        self.network = QuetzalNetwork(config)
        lookup = torch.full((max(config.elements) + 1,), -1, dtype=torch.long)
        lookup[list(config.elements)] = torch.arange(1, len(config.elements) + 1)
        self.register_buffer("class_of_element", lookup, persistent=False)
        self.hydrogen_class = config.elements.index(1) + 1 if 1 in config.elements else None
        self.property_stats = stats_of(config.properties)

    def weights_module(self) -> nn.Module:
        """Checkpoints hold the network's weights (the element lookup is rebuilt from the config)."""
        return self.network

    @property
    def elements(self) -> tuple[int, ...]:
        return self.config.elements

    # ----------------------------------------------------------------------------------------------- conversions
    def classes(self, numbers: np.ndarray, source: str | Path | None = None, record: int | None = None) -> np.ndarray:
        """Type classes (1..K) of atomic numbers; an element the model does not know is an InputError."""
        numbers = np.asarray(numbers, dtype=np.int64)
        self.check_elements(numbers, source, record)
        return self.class_of_element.cpu().numpy()[numbers]

    def numbers(self, classes: np.ndarray) -> np.ndarray:
        """Atomic numbers of type classes 1..K."""
        return np.asarray(self.config.elements, dtype=np.int64)[np.asarray(classes) - 1]

    # ---------------------------------------------------------------------------------------------------- training
    def _teacher_forced(self, batch: dict[str, torch.Tensor], augment: bool,
                        generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """One teacher-forced pass: next-type targets and logits, and per atom its conditioning vector and target."""
        types, positions, n_atoms = batch["types"], batch["positions"], batch["n_atoms"]
        batch_size, length = types.shape
        mask = torch.arange(length, device=types.device) < n_atoms[:, None]
        if augment:
            heavy = types != self.hydrogen_class if self.hydrogen_class is not None else None
            positions = augment_molecules(positions, mask, self.config.translation_std, heavy, generator)
        start_types = torch.full((batch_size, 1), START, dtype=torch.long, device=types.device)
        inputs = torch.cat([start_types, types], dim=1)
        input_positions = torch.cat([positions.new_zeros(batch_size, 1, 3), positions], dim=1)
        # The target after the last atom is STOP, which is the padding class 0.
        next_types = torch.cat([types, types.new_full((batch_size, 1), STOP)], dim=1)
        properties = None
        if "properties" in batch:  # each molecule shows a random subset of its properties
            properties = self.network.property_vector(normalise(batch["properties"], self.property_stats),
                                                      training_subsets(batch["present"], generator))
        elif self.property_stats:  # molecules without targets: a conditional model asked for no property
            absent = types.new_zeros(batch_size, len(self.property_stats), dtype=torch.bool)
            properties = self.network.property_vector(absent.float(), absent)
        logits, cond = self.network(inputs, input_positions, next_types, properties)
        token_index = torch.arange(length + 1, device=types.device)
        has_type_target = token_index[None] <= n_atoms[:, None]
        has_position_target = token_index[None] < n_atoms[:, None]
        return {"logits": logits[has_type_target], "next_types": next_types[has_type_target],
                "cond": cond[has_position_target], "atom_types": next_types[has_position_target],
                "target": torch.cat([positions, positions.new_zeros(batch_size, 1, 3)], dim=1)[has_position_target],
                # Only the prefix-geometry head looks at the placed atoms: spare the paper's head the copies.
                "placed": (self.network.placed_atoms(types, positions, has_position_target)
                           if self.network.geometry is not None else None)}

    def training_loss(self, batch: dict[str, torch.Tensor], augment: bool = True,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Type cross-entropy (STOP included) + EDM position loss with `noise_draws` noise levels per atom."""
        forced = self._teacher_forced(batch, augment, generator)
        type_loss = F.cross_entropy(forced["logits"], forced["next_types"])
        draws = self.config.noise_draws
        # The conditioning vector's share of the head's modulation is computed once per atom, then repeated.
        cond_embedding = self.network.head.embed_condition(forced["cond"]).repeat_interleave(draws, dim=0)
        target = forced["target"].repeat_interleave(draws, dim=0)
        placed = forced["placed"]
        if placed is not None:
            placed = tuple(part.repeat_interleave(draws, dim=0) for part in placed)
        sigma = sample_training_sigmas(target.shape[0], self.config.edm, target.device, generator)
        noise = torch.randn(target.shape, generator=generator, device=target.device, dtype=target.dtype)
        noisy = target + sigma[:, None].to(target.dtype) * noise
        denoised = self.network.denoise(noisy, sigma.to(target.dtype), cond_embedding, placed)
        weight = loss_weight(sigma, self.config.sigma_data)
        position_loss = (weight * ((denoised.float() - target.float()) ** 2).mean(-1)).mean()
        return {"loss": type_loss + position_loss, "type_loss": type_loss, "position_loss": position_loss}

    @torch.no_grad()
    def denoising_error(self, batch: dict[str, torch.Tensor], sigmas: Sequence[float],
                        generator: torch.Generator | None = None) -> dict[float, dict[str, float]]:
        """Position head diagnostic: RMS distance (Å) between D(x + σε, σ) and x for true next atoms x.

        Returns {σ: {"hydrogen": rmse, "heavy": rmse}}. An ideal head's error falls well below σ·√3 (the error
        of returning the noisy point unchanged) wherever the next position is sharply determined; where it stays
        near σ·√3 the head cannot resolve positions that finely, and sampled positions keep that much noise.
        """
        self.eval()
        forced = self._teacher_forced(batch, True, generator)
        embedding = self.network.head.embed_condition(forced["cond"])
        target = forced["target"]
        hydrogen = forced["atom_types"] == self.hydrogen_class
        result = {}
        for sigma in sigmas:
            noise = torch.randn(target.shape, generator=generator, device=target.device, dtype=target.dtype)
            level = target.new_full((target.shape[0],), float(sigma))
            denoised = self.network.denoise(target + sigma * noise, level, embedding, forced["placed"])
            squared = ((denoised - target) ** 2).sum(-1)
            result[float(sigma)] = {"hydrogen": float(squared[hydrogen].mean().sqrt()),
                                    "heavy": float(squared[~hydrogen].mean().sqrt())}
        return result

    # ---------------------------------------------------------------------------------------------------- sampling
    def _options(self, steps: int, temperature: float, elements: Sequence[int] | None, min_atoms: int = 1,
                 max_atoms: int | None = None, position_temperature: float = 1.0,
                 closed_shell: bool = False, solver: str = DEFAULT_SOLVER) -> SamplingOptions:
        for name, value in (("temperature", temperature), ("position temperature", position_temperature)):
            if not value >= 0:
                raise InputError(f"the {name} must be at least 0, got {value}")
        if solver not in SOLVERS:
            raise InputError(f"unknown ODE solver {solver!r}; choose one of {', '.join(SOLVERS)}")
        allowed = None
        if elements is not None:
            allowed = torch.zeros(len(self.config.elements) + 1, dtype=torch.bool)
            allowed[STOP] = True
            allowed[torch.as_tensor(self.classes(np.asarray(list(elements))))] = True
        return SamplingOptions(steps=steps, temperature=temperature, position_temperature=position_temperature,
                               allowed=allowed, min_atoms=min_atoms, max_atoms=max_atoms,
                               valence_parity=self._valence_parity() if closed_shell else None, solver=solver)

    def _valence_parity(self) -> torch.Tensor:
        """Per type class (STOP first), the parity of the element's EDM valences: 0 even, 1 odd, -1 mixed."""
        from atomgen.eval.bonds import edm_tables

        _, allowed, _ = edm_tables()
        parity = [0]
        for z in self.config.elements:
            odd = set(np.flatnonzero(allowed[z]) % 2)
            parity.append(int(odd.pop()) if len(odd) == 1 else -1)
        return torch.tensor(parity)

    def sample(self, n: int, *, seed: int = 0, batch_size: int = 256, steps: int = DEFAULT_STEPS,
               temperature: float = 1.0, position_temperature: float = 1.0, elements: Sequence[int] | None = None,
               condition: Condition | None = None, guidance: float = 1.0, progress: bool = True, min_atoms: int = 1,
               max_atoms: int | None = None, closed_shell: bool = False, shard: tuple[int, int] | None = None,
               solver: str = DEFAULT_SOLVER, precision: str = DEFAULT_PRECISION) -> list[AtomSystem]:
        """Generate `n` molecules from scratch.

        Args:
            n: number of molecules.
            seed: with the settings, it fixes every molecule: molecule k draws from its own random stream, so
                the batch size and sharding never change it.
            batch_size: molecules generated in lockstep.
            steps: ODE steps per atom position (`solver`'s; see `DEFAULT_STEPS`).
            temperature: of the type distribution (1 = the model's own; lower = more conservative).
            position_temperature: scales the starting noise of each position's ODE (1 = the model's own
                distribution; lower = sharper geometry and less diversity, see BENCHMARKS.md).
            elements: atomic numbers allowed (STOP always is); None allows all the model knows.
            condition: the target properties of a conditional model (`atomgen.models.conditions`: {"gap": 6.2}
                in eV, a (low, high) range, or one value per molecule); None samples unconditionally.
            guidance: classifier-free guidance scale of a conditional model (1: the plain conditional model):
                both the type logits and each position's denoiser become u + guidance · (c - u).
            progress: show a progress bar.
            min_atoms, max_atoms: bounds on the number of atoms (STOP is masked below, forced at the top).
            closed_shell: allow STOP only when the atoms' valences sum to an even number, so that a closed-shell
                molecule of them can exist (no longer the model's own distribution; see BENCHMARKS.md).
            shard: (i, N) returns only the i-th of N contiguous slices of the n molecules, exactly as they are
                in the whole run.
            solver: of each position's probability-flow ODE: "dpm2m" (DPM-Solver++(2M), one network call per
                step) or "heun" (the paper's, two calls per step).
            precision: "bf16" runs the trunk's and the head's matrix products in bfloat16 (positions, their
                embeddings and the head's modulation stay in float32), "fp32" all of it in float32.
        """
        targets = sample_targets(self.property_stats, condition, guidance, n, seed,
                                 self.called("this Quetzal model"))
        empty = AtomSystem(numbers=np.zeros(0, dtype=np.int64), positions=np.zeros((0, 3)))
        return self.extend([empty], n_per_prefix=n, seed=seed, batch_size=batch_size, steps=steps,
                           temperature=temperature, position_temperature=position_temperature, elements=elements,
                           progress=progress, centre=False, min_atoms=min_atoms, max_atoms=max_atoms,
                           closed_shell=closed_shell, shard=shard, solver=solver, precision=precision,
                           targets=targets, guidance=guidance)

    def extend(self, prefixes: Sequence[AtomSystem], *, n_per_prefix: int = 1, seed: int = 0, batch_size: int = 256,
               steps: int = DEFAULT_STEPS, temperature: float = 1.0, position_temperature: float = 1.0,
               elements: Sequence[int] | None = None, progress: bool = True, centre: bool = True,
               min_atoms: int = 1, max_atoms: int | None = None, closed_shell: bool = False,
               source: str | Path | None = None, shard: tuple[int, int] | None = None,
               solver: str = DEFAULT_SOLVER, precision: str = DEFAULT_PRECISION,
               targets: tuple[np.ndarray, np.ndarray] | None = None, guidance: float = 1.0) -> list[AtomSystem]:
        """Complete each prefix molecule `n_per_prefix` times; results are in prefix order.

        The given atoms come first and unchanged. Prefixes are moved to the training frame (their heavy-atom
        centroid at the origin) for generation and the completed molecule is moved back. Completion k of the
        run (prefix k // n_per_prefix) draws from its own random stream; `shard` = (i, N) returns only the i-th
        of N contiguous slices of the run's completions. `solver` and `precision` are as in `sample`. A
        conditional model reads completion k's normalised property values and presence flags from row k of
        `targets` (`resolve_condition`; None: no property asked for), with `guidance` as in `sample`.
        """
        prepared = []  # (classes, positions in the model frame, offset) of every prefix
        for index, prefix in enumerate(prefixes):
            if len(prefix) > self.config.max_atoms:
                raise InputError(f"prefix has {len(prefix)} atoms, more than this model's maximum of "
                                 f"{self.config.max_atoms}", source, index)
            offset = _anchor_centroid(prefix) if centre and len(prefix) else np.zeros(3)
            prepared.append((self.classes(prefix.numbers, source, index), prefix.positions - offset, offset))
        options = self._options(steps, temperature, elements, min_atoms, max_atoms, position_temperature,
                                closed_shell, solver)
        jobs = [Job(k, len(prefixes[k // n_per_prefix]), k // n_per_prefix)
                for k in shard_range(len(prefixes) * n_per_prefix, shard)]
        if self.property_stats and targets is None:
            targets = resolve_condition(None, len(prefixes) * n_per_prefix, self.property_stats, seed)

        def complete(batch: list[Job], streams: SampleStreams) -> list[AtomSystem]:
            types = np.stack([prepared[job.payload][0] for job in batch]).reshape(len(batch), batch[0].size)
            coords = np.stack([prepared[job.payload][1] for job in batch]).reshape(len(batch), batch[0].size, 3)
            done = generate_batch(self.network, torch.as_tensor(types, device=self.device),
                                  torch.as_tensor(coords, dtype=torch.float32, device=self.device), options, streams,
                                  conditioning=self._conditioning(targets, [job.index for job in batch], guidance))
            systems = []
            for job, (classes, positions) in zip(batch, done):
                system = AtomSystem(numbers=self.numbers(classes), positions=positions + prepared[job.payload][2])
                # Give back the exact input coordinates of the prefix.
                system.positions[: job.size] = prefixes[job.payload].positions
                systems.append(system)
            return systems

        return self.run_batches(jobs, complete, seed=seed, batch_size=batch_size, progress=progress,
                                precision=precision)

    def _conditioning(self, targets: tuple[np.ndarray, np.ndarray] | None, rows: list[int],
                      guidance: float) -> dict:
        """The trunk's property vectors for samples `rows` (and the unconditioned ones, for guidance)."""
        if targets is None:
            return {}
        values = torch.as_tensor(targets[0][rows], dtype=torch.float32, device=self.device)
        present = torch.as_tensor(targets[1][rows], device=self.device)
        conditioning = {"properties": self.network.property_vector(values, present)}
        if guidance != 1.0:
            conditioning.update(unconditional=self.network.property_vector(values, torch.zeros_like(present)),
                                guidance=guidance)
        return conditioning

    # -------------------------------------------------------------------------------------------------- likelihood
    def log_likelihood(self, systems: Sequence[AtomSystem], *, frame: str = "canonical", steps: int = 128,
                       batch_size: int = 64, source: str | Path | None = None) -> np.ndarray:
        """Exact log-likelihood (nats) of each molecule in its atom order: types (STOP included) + positions.

        `frame="canonical"` first moves each molecule to its principal-axes frame (so the value does not depend
        on how the molecule was rotated or translated); `frame="given"` uses the coordinates as they are.
        """
        from atomgen.models.quetzal.likelihood import log_likelihood

        return log_likelihood(self, systems, frame=frame, steps=steps, batch_size=batch_size, source=source)


def _anchor_centroid(system: AtomSystem) -> np.ndarray:
    """Centroid of the heavy atoms (of all atoms if there are none): the origin of Quetzal's training frame."""
    heavy = system.numbers != 1
    points = system.positions[heavy] if heavy.any() else system.positions
    return points.mean(axis=0)
