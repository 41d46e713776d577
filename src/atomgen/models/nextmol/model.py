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
from torch import nn
from tqdm.auto import tqdm

from atomgen.data.conformer_data import collate_graphs
from atomgen.data.molecular_graphs import MolecularGraph, graph_from_mol, mol_from_smiles
from atomgen.data.selfies_vocab import SelfiesVocabulary, selfies_to_smiles
from atomgen.elements import symbol
from atomgen.errors import InputError
from atomgen.models import checkpoint
from atomgen.models.nextmol.alignment import chirality_agreement
from atomgen.models.nextmol.config import NExTMolConfig
from atomgen.models.nextmol.conformer import ConformerModel
from atomgen.models.nextmol.language import SelfiesLanguageModel
from atomgen.system import AtomSystem
from atomgen.tasks.relax import relax_all

FAMILY = "nextmol"
STAGES = ("language", "conformer")


class NExTMolModel(checkpoint.Checkpointed, nn.Module):
    """SELFIES language model + graph-to-3D conformer diffusion; `stage` says which one `training_loss` trains."""

    family = FAMILY
    config_class = NExTMolConfig

    def __init__(self, config: NExTMolConfig, stage: str = "language"):
        super().__init__()
        self.config = config
        self.vocabulary = SelfiesVocabulary(config.symbols)
        self.language = SelfiesLanguageModel(self.vocabulary, config.max_length, config.lm_dim, config.lm_depth,
                                             config.lm_heads)
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
            loss = self.language.loss(batch["ids"])
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

    def collate(self, items) -> dict[str, torch.Tensor]:
        """The batch of (graph, positions or None) items this model's conformer stage reads."""
        return collate_graphs(items, self.vocabulary if self.config.transfer else None)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ---------------------------------------------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample_smiles(self, n: int, *, seed: int = 0, batch_size: int = 1024, temperature: float = 1.0,
                      top_k: int | None = None) -> list[str]:
        """n canonical SMILES from the language model (each one a valid molecule by construction; the rare radical
        that SELFIES decoding leaves is closed with hydrogens, see `selfies_to_smiles`)."""
        self.eval()
        generator = torch.Generator(device=self.device).manual_seed(int(seed))
        smiles = []
        for start in range(0, n, batch_size):
            rows = self.language.sample(min(batch_size, n - start), temperature=temperature, top_k=top_k,
                                        generator=generator)
            smiles += [selfies_to_smiles(self.vocabulary.decode(row), closed_shell=True) for row in rows]
        return smiles

    def sample(self, n: int, *, seed: int = 0, batch_size: int = 256, steps: int | None = None,
               condition: str | None = None, progress: bool = True, temperature: float = 1.0,
               top_k: int | None = None, stochastic: bool = True, refine_steps: int | None = None,
               relax: bool = False) -> list[AtomSystem]:
        """Generate n molecules de novo: SELFIES from the language model, then one conformer each (polished
        with MMFF94 when `relax`, see `conformers`).

        Molecules the conformer model cannot build (an element it was not trained on, more atoms than it
        takes) are replaced by new draws, so exactly n come back.
        """
        if condition is not None:
            raise InputError("this NExT-Mol model is unconditional: it takes no condition")
        accepted: list[str] = []
        draw = 0
        while len(accepted) < n and draw < 20:
            for smiles in self.sample_smiles(n - len(accepted), seed=seed + 7919 * draw, temperature=temperature,
                                             top_k=top_k):
                if self._buildable(smiles):
                    accepted.append(smiles)
            draw += 1
        return self.conformers(accepted, 1, seed=seed, steps=steps, batch_size=batch_size, progress=progress,
                               stochastic=stochastic, refine_steps=refine_steps, relax=relax)

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
        unknown = sorted({atom.GetAtomicNum() for atom in mol.GetAtoms()} - set(self.config.elements))
        if unknown:
            names = ", ".join(symbol(z) for z in unknown)
            known = ", ".join(symbol(z) for z in self.config.elements)
            raise InputError(f"{smiles}: element {names} is not one this model knows ({known})", source, record)
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

    @torch.no_grad()
    def conformers(self, smiles: Sequence, n: int = 1, *, seed: int = 0, steps: int | None = None,
                   batch_size: int = 256, progress: bool = True, skip_invalid: bool = False,
                   source: str | None = None, stereo_retries: int = 2, stochastic: bool = True,
                   steer_chirality: bool = True, refine_steps: int | None = None,
                   relax: bool = False) -> list[AtomSystem]:
        """n conformers (hydrogens included, bonds set) of each molecule, in input order.

        Molecules are SMILES, or RDKit molecules with explicit hydrogens and stereochemistry assigned, whose atom
        order the conformers then keep (so they can be scored against a reference geometry atom by atom). A
        molecule that cannot be parsed or built is an InputError naming its record, or with `skip_invalid` a
        warning, and it is left out.

        Stereocentres: `steer_chirality` steers every centre to its hand early in the sampling chain
        (`ConformerModel.generate`). A conformer that still comes out with a centre wrong is replaced by its
        mirror image when that gets more centres right; one with a wrong relative configuration, which no
        reflection mends, is drawn again, up to `stereo_retries` times, and the draw with the most centres right
        is kept.

        `stochastic` picks DDPM's ancestral sampler (the default); False picks DDIM's deterministic one.
        `refine_steps` denoising iterations at a small fixed noise level follow it (`vp.refine`; None: the
        model's `refine_steps`, 0: none).

        `relax` polishes every conformer with a short MMFF94 minimisation (`atomgen.tasks.relax`); a conformer
        MMFF cannot type, or whose stereochemistry the minimisation would change, is kept as generated (a warning
        counts them).
        """
        self.eval()
        jobs, skipped = [], 0
        for record, text in enumerate(smiles):
            try:
                jobs.append((record, *self._graph(text, source, record)))
            except InputError as err:
                if not skip_invalid:
                    raise
                warnings.warn(str(err), stacklevel=3)
                skipped += 1
        if skipped:
            warnings.warn(f"skipped {skipped} of {len(smiles)} molecules", stacklevel=3)
        if refine_steps is not None and refine_steps < 0:
            raise InputError(f"refine steps must be at least 0, got {refine_steps}")
        sampler = _Sampler(steps or self.config.sampling_steps, stochastic, steer_chirality,
                           self.config.refine_steps if refine_steps is None else refine_steps)
        rows = [job for job in jobs for _ in range(n)]
        generator = torch.Generator(device=self.device).manual_seed(int(seed))
        with tqdm(total=len(rows), desc="conformers", unit="conf", disable=not progress) as bar:
            drawn = self._draw(rows, range(len(rows)), sampler, batch_size, generator, bar)
        for _ in range(stereo_retries):
            wrong = [k for k, (_, agree, total) in drawn.items() if agree < total]
            if not wrong:
                break
            for k, again in self._draw(rows, wrong, sampler, batch_size, generator).items():
                if again[1] > drawn[k][1]:
                    drawn[k] = again
        systems = [_system(mol, graph, drawn[k][0], record) for k, (record, mol, graph) in enumerate(rows)]
        if relax:
            systems, unchanged = relax_all(systems)
            if unchanged:
                warnings.warn(f"MMFF relaxation left {unchanged} of {len(systems)} conformers as generated",
                              stacklevel=2)
        return systems

    def _draw(self, rows: list, which: Sequence[int], sampler: _Sampler, batch_size: int,
              generator: torch.Generator, bar: tqdm | None = None
              ) -> dict[int, tuple[np.ndarray, int, int]]:
        """{row: (positions, stereocentres right, stereocentres)} of one new conformer of each chosen row."""
        order = sorted(which, key=lambda k: len(rows[k][2]))  # similar sizes: little padding
        drawn = {}
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = self.collate([(rows[k][2], None) for k in chunk])
            batch = {key: value.to(self.device) for key, value in batch.items()}
            coordinates = self.conformer.generate(batch, steps=sampler.steps, stochastic=sampler.stochastic,
                                                  generator=generator, context=self.atom_context(batch),
                                                  steer=sampler.steer, refine_steps=sampler.refine_steps)
            for k, positions in zip(chunk, coordinates):
                drawn[k] = _mirror_if_better(rows[k][1], positions)
            if bar is not None:
                bar.update(len(chunk))
        return drawn


@dataclass(frozen=True)
class _Sampler:
    """The conformer sampler's settings of one `conformers` call (see `ConformerModel.generate`)."""

    steps: int
    stochastic: bool
    steer: bool
    refine_steps: int


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
