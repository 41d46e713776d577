"""NExTMolModel: a SELFIES language model and a conformer model in one object, and the pipeline between them.

`sample(n)` writes n molecules as SELFIES (always valid), then builds a 3D conformer for each; `conformers(smiles,
n)` builds n conformers for any molecule. The conformer model is not equivariant, and on its own it often picks
the wrong hand at a stereocentre: the sampler steers every centre to its hand early in the chain; a
conformer that still comes out wrong is replaced by its mirror image whenever that agrees with more centres
(reflection changes nothing else about a conformer), and one whose centres disagree in a way no reflection mends
(two of three right, say) is drawn again.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from atomgen.data.conformer_data import collate_graphs
from atomgen.data.molecular_graphs import MolecularGraph, graph_from_mol, mol_from_smiles
from atomgen.data.selfies_vocab import SelfiesVocabulary, selfies_to_smiles
from atomgen.errors import InputError
from atomgen.models.base import GenerativeModel, Job, padded_size, shard_range
from atomgen.models.conditions import Condition, normalise, sample_targets, stats_of
from atomgen.models.nextmol.alignment import chirality_agreement
from atomgen.models.nextmol.config import NExTMolConfig
from atomgen.models.nextmol.conformer import ConformerModel
from atomgen.models.nextmol.language import SelfiesLanguageModel
from atomgen.models.sampler_settings import NEXTMOL_PRECISION, NEXTMOL_SOLVERS
from atomgen.models.streams import SampleStreams
from atomgen.nn.property_condition import training_subsets
from atomgen.system import AtomSystem
from atomgen.tasks.relax import relax_all

FAMILY = "nextmol"
STAGES = ("language", "conformer")
LANGUAGE_ATTEMPTS = 20
"""Draws of a SELFIES per de novo sample before giving up on building it."""
LANGUAGE_STREAM, CONFORMER_STREAM = 0, 100
"""Where each sample's streams start (`atomgen.models.streams.sample_seed`): attempt a of its SELFIES draws from
stream LANGUAGE_STREAM + a, stereo retry r of its conformer from CONFORMER_STREAM + r."""


class NExTMolModel(GenerativeModel):
    """SELFIES language model + graph-to-3D conformer diffusion; `stage` says which one `training_loss` trains."""

    family = FAMILY
    config_class = NExTMolConfig

    def __init__(self, config: NExTMolConfig, stage: str = "language"):
        super().__init__()
        self.config = config
        self.vocabulary = SelfiesVocabulary(config.symbols)
        self.language = SelfiesLanguageModel(self.vocabulary, config.max_length, config.lm_dim, config.lm_depth,
                                             config.lm_heads, n_properties=len(config.properties),
                                             prompt_tokens=config.prompt_tokens)
        self.property_stats = stats_of(config.properties)
        self.conformer = ConformerModel(config.conformer)
        self.set_stage(stage)

    def set_stage(self, stage: str) -> None:
        """Train the language model ("language") or the conformer model ("conformer"); the other is frozen."""
        if stage not in STAGES:
            raise ValueError(f"unknown NExT-Mol training stage {stage!r}; choose from {STAGES}")
        self.stage = stage
        self.language.requires_grad_(stage == "language")
        self.conformer.requires_grad_(stage == "conformer")

    def training_loss(self, batch: dict[str, torch.Tensor], augment: bool = True,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Next-token cross-entropy (language stage) or the aligned denoising loss (conformer stage)."""
        if self.stage == "language":
            prompt = None
            if "properties" in batch:  # each molecule shows a random subset of its properties
                prompt = self.language.prompt_of(normalise(batch["properties"], self.property_stats),
                                                 training_subsets(batch["present"], generator))
            loss = self.language.loss(batch["ids"], prompt)
            return {"loss": loss, "token_loss": loss}
        return self.conformer.training_loss(batch, augment, generator, context=self.atom_context(batch))

    def atom_context(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Per atom, the language model's final state at the SELFIES symbol that placed it (zeros on padding);
        None unless the model transfers 1D knowledge to 3D."""
        if not self.config.transfer:
            return None
        with torch.no_grad():
            states = self.language.hidden_states(batch["symbol_ids"])
        index = batch["atom_symbols"]
        gathered = states.gather(1, index.clamp(min=0).unsqueeze(-1).expand(-1, -1, states.shape[-1]))
        return gathered * (index >= 0).unsqueeze(-1).to(gathered.dtype)

    def collate(self, items, length: int = 0) -> dict[str, torch.Tensor]:
        """The batch of (graph, positions or None) items this model's conformer stage reads, padded to at least
        `length` atoms (and, when a length is asked for, SELFIES padded to the language model's maximum)."""
        return collate_graphs(items, self.vocabulary if self.config.transfer else None, length,
                              self.config.max_length if length else 0)

    @property
    def elements(self) -> tuple[int, ...]:
        return tuple(self.config.elements)

    # ---------------------------------------------------------------------------------------------------- sampling
    def _smiles_of(self, indices: Sequence[int], *, seed: int, batch_size: int, temperature: float,
                   top_k: int | None, attempt: int = 0, progress: bool = False,
                   targets: tuple[np.ndarray, np.ndarray] | None = None, guidance: float = 1.0) -> list[str]:
        """The SMILES that the language model writes for samples `indices` at one attempt (each attempt of a
        sample draws from a stream of its own); a conditional model reads sample k's normalised property values
        and presence flags from row k of `targets`."""
        def write(batch: list[Job], streams: SampleStreams) -> list[str]:
            prompt = None
            if targets is not None:
                values, present = (torch.as_tensor(np.stack([job.payload[i] for job in batch]), device=self.device)
                                   for i in (0, 1))
                prompt = self.language.prompt_of(values.float(), present)
            rows = self.language.sample(streams, temperature=temperature, top_k=top_k, prompt=prompt,
                                        guidance=guidance)
            return [selfies_to_smiles(self.vocabulary.decode(row), closed_shell=True) if real else ""
                    for row, real in zip(rows, streams.real.tolist())]

        jobs = [Job(k, 0, None if targets is None else (targets[0][k], targets[1][k])) for k in indices]
        return self.run_batches(jobs, write, seed=seed, batch_size=batch_size, progress=progress, desc="SELFIES",
                                stream=LANGUAGE_STREAM + attempt)

    @torch.no_grad()
    def sample_smiles(self, n: int, *, seed: int = 0, batch_size: int = 1024, temperature: float = 1.0,
                      top_k: int | None = None, shard: tuple[int, int] | None = None,
                      condition: Condition | None = None, guidance: float = 1.0) -> list[str]:
        """n canonical SMILES from the language model (each one a valid molecule by construction; the rare radical
        that SELFIES decoding leaves is closed with hydrogens, see `selfies_to_smiles`); SMILES k comes from its
        own random stream, and `shard` = (i, N) returns the i-th of N contiguous slices. `condition` and
        `guidance` as in `sample`."""
        targets = sample_targets(self.property_stats, condition, guidance, n, seed,
                                 self.called("this NExT-Mol model"))
        return self._smiles_of(shard_range(n, shard), seed=seed, batch_size=batch_size, temperature=temperature,
                               top_k=top_k, targets=targets, guidance=guidance)

    def sample(self, n: int, *, seed: int = 0, batch_size: int = 256, steps: int | None = None,
               condition: Condition | None = None, guidance: float = 1.0, progress: bool = True,
               temperature: float = 1.0,
               top_k: int | None = None, solver: str | None = None, refine_steps: int | None = None,
               relax: bool = False, shard: tuple[int, int] | None = None,
               precision: str = NEXTMOL_PRECISION) -> list[AtomSystem]:
        """Generate n molecules de novo: SELFIES from the language model, then one conformer each (polished
        with MMFF94 when `relax`, see `conformers`).

        Molecule k draws its SELFIES and its conformer from streams of its own, so the batch size and sharding
        (`shard` = (i, N): the i-th of N contiguous slices of the run) never change it. A SELFIES the conformer
        model cannot build (an element it was not trained on, more atoms than it takes) is drawn again, from the
        sample's next stream, up to `LANGUAGE_ATTEMPTS` times.

        A property-conditional model takes a `condition` (`atomgen.models.conditions`: {"gap": 6.2} in eV, a
        (low, high) range, or one value per sample) and a classifier-free `guidance` scale (1: the plain
        conditional model); without a condition it samples unconditionally.
        """
        targets = sample_targets(self.property_stats, condition, guidance, n, seed,
                                 self.called("this NExT-Mol model"))
        indices = list(shard_range(n, shard))
        chosen: dict[int, str] = {}
        pending = indices
        for attempt in range(LANGUAGE_ATTEMPTS):
            drawn = self._smiles_of(pending, seed=seed, batch_size=max(batch_size, 1024), temperature=temperature,
                                    top_k=top_k, attempt=attempt, targets=targets, guidance=guidance)
            chosen.update((k, smiles) for k, smiles in zip(pending, drawn) if self._buildable(smiles))
            pending = [k for k in pending if k not in chosen]
            if not pending:
                break
        if pending:
            raise InputError(f"{len(pending)} of {len(indices)} molecules were still not buildable after "
                             f"{LANGUAGE_ATTEMPTS} draws each (first: sample {pending[0]})")
        rows = [(k, self._graph(chosen[k]), k) for k in indices]
        sampler = self._sampler(steps, solver, True, refine_steps, precision)
        return self._build(rows, sampler, seed=seed, batch_size=batch_size, progress=progress, stereo_retries=2,
                           relax=relax)

    def _buildable(self, smiles: str) -> bool:
        try:
            self._graph(smiles)
        except InputError:
            return False
        return True

    def _graph(self, molecule, source: str | None = None, record: int | None = None
               ) -> tuple[object, MolecularGraph]:
        """(RDKit molecule with explicit hydrogens, its graph) of a SMILES or of an RDKit molecule, checked
        against what the model can build."""
        if isinstance(molecule, str):
            smiles, mol = molecule, mol_from_smiles(molecule, source=source, record=record)
        else:
            from rdkit import Chem

            mol = molecule
            smiles = Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False))
        self.check_elements([atom.GetAtomicNum() for atom in mol.GetAtoms()], source, record, what=smiles)
        if mol.GetNumAtoms() > self.config.conformer.max_atoms:
            raise InputError(f"{smiles}: {mol.GetNumAtoms()} atoms with hydrogens, more than this model's "
                             f"maximum of {self.config.conformer.max_atoms}", source, record)
        graph = graph_from_mol(mol)
        if self.config.transfer:  # the language model must be able to read the molecule
            ids = self.vocabulary.encode(graph.selfies, source=source, record=record)
            if len(ids) > self.config.max_length:
                raise InputError(f"{smiles}: its SELFIES has {len(ids)} symbols, more than the language model's "
                                 f"maximum of {self.config.max_length}", source, record)
        return mol, graph

    def _sampler(self, steps: int | None, solver: str | None, steer: bool, refine_steps: int | None,
                 precision: str) -> _Sampler:
        """The settings of one call: each one given, or else this model's default (`NExTMolConfig`)."""
        if refine_steps is not None and refine_steps < 0:
            raise InputError(f"refine steps must be at least 0, got {refine_steps}")
        solver = solver or self.config.sampling_solver
        if solver not in NEXTMOL_SOLVERS:
            raise InputError(f"unknown conformer solver {solver!r} (choose from {', '.join(NEXTMOL_SOLVERS)})")
        stochastic, multistep = NEXTMOL_SOLVERS[solver]
        return _Sampler(steps or self.config.sampling_steps, stochastic, multistep, steer,
                        self.config.refine_steps if refine_steps is None else refine_steps, precision)

    @torch.no_grad()
    def conformers(self, smiles: Sequence, n: int = 1, *, seed: int = 0, steps: int | None = None,
                   batch_size: int = 256, progress: bool = True, skip_invalid: bool = False,
                   source: str | None = None, stereo_retries: int = 2, solver: str | None = None,
                   steer_chirality: bool = True, refine_steps: int | None = None,
                   relax: bool = False, shard: tuple[int, int] | None = None,
                   precision: str = NEXTMOL_PRECISION) -> list[AtomSystem]:
        """n conformers (hydrogens included, bonds set) of each molecule, in input order.

        Molecules are SMILES, or RDKit molecules with explicit hydrogens and stereochemistry assigned, whose atom
        order the conformers then keep (so they can be scored against a reference geometry atom by atom). A
        molecule that cannot be parsed or built is an InputError naming its record, or with `skip_invalid` a
        warning, and it is left out.

        Conformer k of the run (record k // n) draws from its own random stream, so the batch size and sharding
        (`shard` = (i, N): the i-th of N contiguous slices of the run's conformers) never change it.

        Stereocentres: `steer_chirality` steers every centre to its hand early in the sampling chain
        (`ConformerModel.generate`). A conformer that still comes out with a centre wrong is replaced by its
        mirror image when that gets more centres right; one with a wrong relative configuration, which no
        reflection mends, is drawn again, up to `stereo_retries` times, and the draw with the most centres right
        is kept.

        `solver` names the chain's solver (`NEXTMOL_SOLVERS`: DDPM's ancestral step, DDIM's deterministic one,
        or either in its second-order form; None: the model's `sampling_solver`), `steps` its network calls
        (None: the model's `sampling_steps`). `refine_steps` denoising iterations at a small fixed noise level
        follow it (`vp.refine`; None: the model's `refine_steps`, 0: none). `precision` is the arithmetic of the
        network's matrix products ("fp32" or "bf16"); the chain's coordinates stay float32 either way.

        `relax` polishes every conformer with a short MMFF94 minimisation (`atomgen.tasks.relax`); a conformer
        MMFF cannot type, or whose stereochemistry the minimisation would change, is kept as generated (a warning
        counts them).
        """
        self.eval()
        built, skipped = {}, 0
        for record, text in enumerate(smiles):
            try:
                built[record] = self._graph(text, source, record)
            except InputError as err:
                if not skip_invalid:
                    raise
                warnings.warn(str(err), stacklevel=3)
                skipped += 1
        if skipped:
            warnings.warn(f"skipped {skipped} of {len(smiles)} molecules", stacklevel=3)
        sampler = self._sampler(steps, solver, steer_chirality, refine_steps, precision)
        rows = [(k, built[k // n], k // n) for k in shard_range(len(smiles) * n, shard) if k // n in built]
        return self._build(rows, sampler, seed=seed, batch_size=batch_size, progress=progress,
                           stereo_retries=stereo_retries, relax=relax)

    def _build(self, rows: list, sampler: _Sampler, *, seed: int, batch_size: int, progress: bool,
               stereo_retries: int, relax: bool) -> list[AtomSystem]:
        """One conformer per row (sample number, (mol, graph), record), stereo retries and MMFF polish included."""
        drawn = self._draw(rows, sampler, seed, batch_size, CONFORMER_STREAM, progress)
        for retry in range(1, stereo_retries + 1):
            wrong = [row for row, (_, agree, total) in zip(rows, drawn) if agree < total]
            if not wrong:
                break
            again = dict(zip((row[0] for row in wrong),
                             self._draw(wrong, sampler, seed, batch_size, CONFORMER_STREAM + retry)))
            drawn = [again[row[0]] if row[0] in again and again[row[0]][1] > old[1] else old
                     for row, old in zip(rows, drawn)]
        systems = [_system(mol, graph, positions, record)
                   for (_, (mol, graph), record), (positions, _, _) in zip(rows, drawn)]
        if relax:
            systems, unchanged = relax_all(systems)
            if unchanged:
                warnings.warn(f"MMFF relaxation left {unchanged} of {len(systems)} conformers as generated",
                              stacklevel=3)
        return systems

    def _draw(self, rows: list, sampler: _Sampler, seed: int, batch_size: int, stream: int,
              progress: bool = False) -> list[tuple[np.ndarray, int, int]]:
        """(positions, stereocentres right, stereocentres) of one new conformer of each row."""
        def generate(batch: list[Job], streams: SampleStreams) -> list:
            graphs = self.collate([(job.payload[1][1], None) for job in batch], length=batch[0].size)
            graphs = {key: value.to(self.device) for key, value in graphs.items()}
            coordinates = self.conformer.generate(graphs, streams, steps=sampler.steps, stochastic=sampler.stochastic,
                                                  multistep=sampler.multistep, context=self.atom_context(graphs),
                                                  steer=sampler.steer, refine_steps=sampler.refine_steps)
            return [_mirror_if_better(job.payload[1][0], positions) if real else None
                    for job, positions, real in zip(batch, coordinates, streams.real.tolist())]

        jobs = [Job(row[0], padded_size(len(row[1][1].numbers)), row) for row in rows]
        return self.run_batches(jobs, generate, seed=seed, batch_size=batch_size, progress=progress,
                                desc="conformers", unit="conf", stream=stream, precision=sampler.precision)


@dataclass(frozen=True)
class _Sampler:
    """The conformer sampler's settings of one `conformers` call (see `ConformerModel.generate`)."""

    steps: int
    stochastic: bool
    multistep: bool
    steer: bool
    refine_steps: int
    precision: str


def _mirror_if_better(mol, positions: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(the conformer, or its mirror image when that agrees with more of the molecule's stereocentres;
    stereocentres it gets right; stereocentres of the molecule)."""
    agree, total = chirality_agreement(mol, positions)
    if total == 0 or agree == total:
        return positions, agree, total
    mirrored = positions * np.array([1.0, 1.0, -1.0])
    mirrored_agree = chirality_agreement(mol, mirrored)[0]
    return (mirrored, mirrored_agree, total) if mirrored_agree > agree else (positions, agree, total)


def _system(mol, graph: MolecularGraph, positions: np.ndarray, record: int) -> AtomSystem:
    """An AtomSystem with the graph's bonds (aromatic as 4) and formal charges."""
    i, j = np.nonzero(np.triu(graph.bond_types))
    bonds = np.stack([i, j, graph.bond_types[i, j]], axis=1) if len(i) else np.zeros((0, 3), dtype=np.int64)
    charges = np.array([atom.GetFormalCharge() for atom in mol.GetAtoms()], dtype=np.int64)
    return AtomSystem(numbers=graph.numbers, positions=positions, bonds=bonds, charges=charges,
                      name=graph.smiles, properties={"record": record})
