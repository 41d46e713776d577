"""ADiTModel: the public object for training both stages, sampling molecules and crystals, and reconstruction."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from atomgen.data.augment import augment_systems
from atomgen.data.lattice import lattice_from_features
from atomgen.diffusion.flow import CleanPredictor, integrate, interpolate, sample_times
from atomgen.errors import InputError
from atomgen.models.adit.autoencoder import MASKED_TYPE, Autoencoder, Decoded
from atomgen.models.adit.config import KINDS, ADiTConfig
from atomgen.models.adit.denoiser import LatentDiT
from atomgen.models.base import GenerativeModel, Job, padded_size, shard_range
from atomgen.models.conditions import normalise, stats_of
from atomgen.models.conditions import resolve_condition as property_targets
from atomgen.models.sampler_settings import ADIT_PRECISION
from atomgen.models.streams import SampleStreams, sample_rng
from atomgen.nn.property_condition import training_subsets
from atomgen.system import AtomSystem

FAMILY = "adit"
STAGES = ("autoencoder", "diffusion")


class ADiTModel(GenerativeModel):
    """All-atom latent diffusion for molecules and crystals: an autoencoder plus a latent DiT.

    `stage` says which part `training_loss` trains; the other part is frozen. Batches are dicts as built by
    `atomgen.data.systems.collate_systems`.
    """

    family = FAMILY
    config_class = ADiTConfig

    def __init__(self, config: ADiTConfig, stage: str = "autoencoder"):
        super().__init__()
        self.config = config
        self.autoencoder = Autoencoder(config)
        self.denoiser = LatentDiT(config)
        self.property_stats = stats_of(config.properties)
        self.set_stage(stage)

    def set_stage(self, stage: str) -> None:
        """Train the autoencoder ("autoencoder") or the latent DiT ("diffusion"); the other part is frozen."""
        if stage not in STAGES:
            raise ValueError(f"unknown ADiT training stage {stage!r}; choose from {STAGES}")
        if stage != "autoencoder" and self.config.latent_scale is None:
            raise ValueError(f"the {stage} stage needs the latent scale: call with_latent_scale first")
        self.stage = stage
        self.autoencoder.requires_grad_(stage == "autoencoder")
        self.denoiser.requires_grad_(stage == "diffusion")

    def warm_start(self, name_or_path: str | Path) -> list[str]:
        """Start from a trained model's weights (see `checkpoint.warm_start`); returns the tensors kept.

        In the diffusion stage only the DiT is taken: the autoencoder stays the one this stage was built on,
        whose latent space the DiT is to learn.
        """
        if self.stage != "diffusion":
            return super().warm_start(name_or_path)
        own_autoencoder = {name: tensor.clone() for name, tensor in self.autoencoder.state_dict().items()}
        kept = super().warm_start(name_or_path)
        self.autoencoder.load_state_dict(own_autoencoder)
        return kept

    # ---------------------------------------------------------------------------------------------------- training
    def training_loss(self, batch: dict[str, torch.Tensor], augment: bool = True,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The current stage's loss on a batch (augmented with random rigid motions unless `augment` is False)."""
        if augment:
            positions, frac, lattice = augment_systems(batch["positions"], batch["frac"], batch["lattice"],
                                                       batch["periodic"], batch["numbers"] > 0, generator)
            batch = {**batch, "positions": positions, "frac": frac, "lattice": lattice}
        if self.stage == "autoencoder":
            return self.autoencoder.loss(batch, generator)
        return self._diffusion_loss(batch, generator)

    @torch.no_grad()
    def latents(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-atom latents of a batch (the encoder's means), divided by the latent scale (if known): the
        diffusion model's data."""
        mask = batch["numbers"] > 0
        mean, _ = self.autoencoder.encode(batch["numbers"], batch["positions"], batch["frac"],
                                          batch["lattice_features"], batch["periodic"], mask)
        return mean / (self.config.latent_scale or 1.0) * mask.unsqueeze(-1)

    def _diffusion_loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None
                        ) -> dict[str, torch.Tensor]:
        """Flow matching on the latents: predict the clean latent from a point on the noise-to-data line."""
        mask = batch["numbers"] > 0
        clean = self.latents(batch).float()
        rows = clean.shape[0]
        t = sample_times(rows, clean.device, generator)
        noise = torch.randn(clean.shape, generator=generator, device=clean.device)
        noisy = interpolate(clean, noise, t)
        hide = torch.rand(rows, generator=generator, device=clean.device) < self.config.label_dropout
        labels = batch["label"].masked_fill(hide, self.denoiser.no_label)
        properties = self._training_properties(batch, hide, generator)
        previous = torch.zeros_like(clean)
        # Self-conditioning: on some rows, a first no-gradient pass provides the estimate the real pass sees.
        use_previous = torch.rand(rows, generator=generator, device=clean.device) < self.config.self_condition_prob
        if use_previous.any():
            with torch.no_grad():
                first = self.denoiser(noisy, t, labels, previous, mask, properties).float()
            previous = torch.where(use_previous[:, None, None], first, previous)
        predicted = self.denoiser(noisy, t, labels, previous, mask, properties).float()
        atoms = mask.unsqueeze(-1).float()
        per_row = (((predicted - clean) ** 2) * atoms).sum((1, 2))
        norm = (atoms.sum() * clean.shape[-1]).clamp(min=1)
        loss = per_row.sum() / norm
        return {"loss": loss, "flow_loss": loss.detach()}

    def _training_properties(self, batch: dict[str, torch.Tensor], hide: torch.Tensor,
                             generator: torch.Generator | None) -> torch.Tensor | None:
        """A property-conditional DiT's vectors for a training batch: a random subset of each system's known
        properties, none where the label is hidden (so that the unconditional model guidance contrasts with
        knows neither)."""
        if not self.property_stats:
            return None
        rows, count = len(hide), len(self.property_stats)
        if "properties" not in batch:
            absent = torch.zeros(rows, count, dtype=torch.bool, device=hide.device)
            return self.denoiser.property_vector(absent.float(), absent)
        shown = training_subsets(batch["present"], generator) & ~hide[:, None]
        return self.denoiser.property_vector(normalise(batch["properties"], self.property_stats), shown)

    @torch.no_grad()
    def with_latent_scale(self, batches: Sequence[dict[str, torch.Tensor]]) -> ADiTModel:
        """A copy whose config carries the standard deviation of the latents (the encoder's means) of `batches`.

        The diffusion model then sees latents of unit scale, whatever scale the autoencoder settled on.
        """
        from dataclasses import replace

        values = [self.latents(batch)[batch["numbers"] > 0].float() for batch in batches]
        scale = float(torch.cat(values).std()) * (self.config.latent_scale or 1.0)  # undo any scale already set
        model = type(self)(replace(self.config, latent_scale=scale))
        model.load_state_dict(self.state_dict())
        return model

    # ---------------------------------------------------------------------------------------------------- sampling
    @property
    def elements(self) -> tuple[int, ...]:
        return tuple(range(1, self.config.max_z + 1))

    @property
    def ready_to_sample(self) -> bool:
        """False while only the autoencoder has been trained."""
        return self.config.latent_scale is not None

    def resolve_condition(self, condition: str | None) -> list[int]:
        """Class indices a condition allows: a label name, a kind ("molecule" or "crystal"), or None for all."""
        labels = self.config.labels
        if condition is None:
            return list(range(len(labels)))
        if condition in KINDS:
            chosen = [k for k, periodic in enumerate(self.config.periodic) if periodic == (condition == "crystal")]
            if not chosen:
                raise InputError(f"this model was not trained on any {condition} class (it knows "
                                 f"{', '.join(labels)})")
            return chosen
        try:
            return [self.config.label_index(condition)]
        except ValueError as exc:
            raise InputError(f"{exc}; or give a kind: {', '.join(KINDS)}") from None

    def _size_histograms(self) -> np.ndarray:
        """(classes, max_atoms + 1) training counts of each system size per class (uniform over 1..max_atoms when
        the config has none)."""
        histograms = np.asarray(self.config.atom_counts, dtype=np.float64)
        if histograms.size == 0:
            histograms = np.ones((len(self.config.labels), self.config.max_atoms + 1))
            histograms[:, 0] = 0
        return histograms

    @staticmethod
    def _draw_job(histograms: np.ndarray, classes: list[int], n_atoms: int | None,
                  rng: np.random.Generator) -> tuple[int, int]:
        """(class, atom count) of one system: a class in proportion to its training data, then a size from its
        training histogram unless `n_atoms` is given."""
        shares = histograms[classes].sum(1)
        label = int(rng.choice(classes, p=shares / shares.sum()))
        if n_atoms is None:
            counts = histograms[label]
            n_atoms = int(rng.choice(len(counts), p=counts / counts.sum()))
        return label, n_atoms

    @torch.no_grad()
    def sample(self, n: int, *, seed: int = 0, batch_size: int = 256, steps: int = 100,
               condition: str | dict | None = None, progress: bool = True, guidance: float = 2.0,
               sampler: str = "euler", n_atoms: int | None = None,
               shard: tuple[int, int] | None = None, precision: str = ADIT_PRECISION) -> list[AtomSystem]:
        """Generate `n` systems.

        Args:
            n: number of systems.
            seed: with the settings, it fixes every system: system k draws its class, size and noise from its own
                random stream, so the batch size and sharding never change it.
            batch_size: systems integrated together.
            steps: ODE steps (100 Euler steps by default, as ADiT).
            condition: a class label (e.g. "perov_5"), a kind ("molecule", "crystal"), or None for any class;
                a kind with several classes picks among them in proportion to their training data. A
                property-conditional model also takes a mapping of target properties (`atomgen.models.conditions`)
                with an optional "label" entry (default: the molecule classes), e.g. {"gap": 6.2}.
            progress: show a progress bar.
            guidance: classifier-free guidance scale (1 = the conditional model alone, 0 = unconditional).
            sampler: "euler" or "heun".
            n_atoms: the size of every system; None draws it from the class's training histogram.
            shard: (i, N) returns only the i-th of N contiguous slices of the n systems, exactly as they are in
                the whole run.
            precision: "bf16" (the default) or "fp32" for the denoiser's matrix products (the ODE's state and the
                decoder stay in float32).
        """
        if not self.ready_to_sample:
            raise InputError("this ADiT checkpoint holds only a trained autoencoder; train the diffusion stage")
        if n_atoms is not None and not 1 <= n_atoms <= self.config.max_atoms:
            raise InputError(f"this model makes systems of 1 to {self.config.max_atoms} atoms, not {n_atoms}")
        wanted = dict(condition) if isinstance(condition, dict) else {}
        label = wanted.pop("label", "molecule" if wanted else None) if isinstance(condition, dict) else condition
        classes = self.resolve_condition(label)
        if wanted and not self.property_stats:
            raise InputError(f"{self.called('this ADiT model')} is conditioned on its class label only: it takes no "
                             f"properties ({', '.join(wanted)} asked for)")
        targets = property_targets(wanted, n, self.property_stats, seed, self.called("this ADiT model")) \
            if self.property_stats else None
        histograms, jobs = self._size_histograms(), []
        for k in shard_range(n, shard):
            label, size = self._draw_job(histograms, classes, n_atoms, sample_rng(seed, k))
            jobs.append(Job(k, padded_size(size), (label, size)))

        def generate(batch: list[Job], streams: SampleStreams) -> list[AtomSystem]:
            labels = torch.tensor([job.payload[0] for job in batch], device=self.device)
            sizes = torch.tensor([job.payload[1] for job in batch], device=self.device)
            mask = torch.arange(batch[0].size, device=self.device)[None] < sizes[:, None]
            noise = streams.normal((batch[0].size, self.config.latent_dim), lengths=sizes.tolist())
            properties = None
            if targets is not None:
                rows = [job.index for job in batch]
                properties = (torch.as_tensor(targets[0][rows], dtype=torch.float32, device=self.device),
                              torch.as_tensor(targets[1][rows], device=self.device))
            latents = integrate(self.guided_predictor(labels, mask, guidance, properties), noise, steps, sampler)
            # One decoder pass, in float32 whatever the precision: coordinates rounded to bf16 would move atoms
            # by hundredths of an Ångström.
            with torch.autocast(self.device.type, enabled=False):
                return self.decode_latents(latents.float(), labels, mask)

        return self.run_batches(jobs, generate, seed=seed, batch_size=batch_size, progress=progress, unit="system",
                                precision=precision)

    def guided_predictor(self, labels: torch.Tensor, mask: torch.Tensor, guidance: float,
                         properties: tuple[torch.Tensor, torch.Tensor] | None = None) -> CleanPredictor:
        """x̂₁(x_t, t) for one batch of unit-scale latents: classifier-free guidance between the labelled and the
        unlabelled model, each pass self-conditioned on the estimate of the pass before. A property-conditional
        model's labelled pass also reads `properties` (normalised values and presence flags), its unlabelled pass
        none."""
        previous: torch.Tensor | None = None
        unlabelled = torch.full_like(labels, self.denoiser.no_label)
        vectors = [None, None]
        if properties is not None:
            values, present = properties
            vectors = [self.denoiser.property_vector(values, present),
                       self.denoiser.property_vector(values, torch.zeros_like(present))]

        def predict_clean(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            nonlocal previous
            if previous is None:
                previous = torch.zeros_like(x)
            if guidance == 1.0:
                clean = self.denoiser(x, t, labels, previous, mask, vectors[0])
            else:  # the conditional and unconditional passes as one batch
                both = self.denoiser(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, unlabelled]),
                                     torch.cat([previous, previous]), torch.cat([mask, mask]),
                                     None if vectors[0] is None else torch.cat(vectors))
                conditional, unconditional = both.chunk(2)
                clean = unconditional + guidance * (conditional - unconditional)
            previous = clean
            return clean

        return predict_clean

    def decode_latents(self, latents: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> list[AtomSystem]:
        """AtomSystems from unit-scale latents (B, L, latent_dim) of the given classes."""
        periodic = torch.tensor([self.config.periodic[k] for k in labels.tolist()], device=self.device)
        decoded = self.autoencoder.decode(latents * self.config.latent_scale, periodic, mask)
        return self.to_systems(decoded, periodic, mask.sum(1))

    def to_systems(self, decoded: Decoded, periodic: torch.Tensor, sizes: torch.Tensor) -> list[AtomSystem]:
        """AtomSystems of decoder outputs: molecules from positions, crystals from fractional coordinates and
        lattice."""
        logits = decoded.type_logits.float()
        logits[..., MASKED_TYPE] = float("-inf")
        numbers = logits.argmax(-1).cpu().numpy()
        positions = decoded.positions.float().cpu().numpy().astype(np.float64)
        frac = decoded.frac.float().cpu().numpy().astype(np.float64)
        lattices = decoded.lattice.float().cpu().numpy().astype(np.float64)
        systems = []
        for row, (n, crystal) in enumerate(zip(sizes.tolist(), periodic.tolist())):
            if crystal:
                lattice = lattice_from_features(lattices[row], n)
                systems.append(AtomSystem.from_fractional(numbers[row, :n], frac[row, :n], lattice))
            else:
                systems.append(AtomSystem(numbers=numbers[row, :n], positions=positions[row, :n]))
        return systems

    @torch.no_grad()
    def reconstruct(self, batch: dict[str, torch.Tensor]) -> list[AtomSystem]:
        """Encode a batch (the latent means, no noise) and decode it again, as AtomSystems."""
        self.eval()
        mask = batch["numbers"] > 0
        mean, _ = self.autoencoder.encode(batch["numbers"], batch["positions"], batch["frac"],
                                          batch["lattice_features"], batch["periodic"], mask)
        decoded = self.autoencoder.decode(mean, batch["periodic"], mask)
        return self.to_systems(decoded, batch["periodic"], batch["n_atoms"])
