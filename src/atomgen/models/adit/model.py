"""ADiTModel: the public object for training both stages, sampling molecules and crystals, and reconstruction."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from atomgen.data.augment import augment_systems
from atomgen.data.lattice import lattice_from_features
from atomgen.diffusion.flow import CleanPredictor, integrate, interpolate, loss_weights, sample_times
from atomgen.errors import InputError
from atomgen.models import checkpoint
from atomgen.models.adit.autoencoder import MASKED_TYPE, Autoencoder, Decoded
from atomgen.models.adit.config import KINDS, ADiTConfig
from atomgen.models.adit.denoiser import LatentDiT, least_squares_readout
from atomgen.system import AtomSystem

FAMILY = "adit"
STAGES = ("autoencoder", "diffusion", "decoder")


class ADiTModel(checkpoint.Checkpointed, nn.Module):
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
        self.set_stage(stage)

    def set_stage(self, stage: str) -> None:
        """Train the autoencoder ("autoencoder"), the latent DiT ("diffusion"), or only the decoder on noisy
        latents ("decoder", encoder and DiT frozen, so a trained DiT's latent space stays valid); the rest is
        frozen."""
        if stage not in STAGES:
            raise ValueError(f"unknown ADiT training stage {stage!r}; choose from {STAGES}")
        if stage != "autoencoder" and self.config.latent_scale is None:
            raise ValueError(f"the {stage} stage needs the latent scale: call with_latent_scale first")
        self.stage = stage
        self.autoencoder.requires_grad_(stage == "autoencoder")
        if stage == "decoder":
            for module in self.autoencoder.decoder_modules():
                module.requires_grad_(True)
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
        if self.stage == "decoder":
            noise = self.config.decoder_noise * self.config.latent_scale
            return self.autoencoder.loss(batch, generator, latent_noise=noise)
        return self._diffusion_loss(batch, generator)

    @torch.no_grad()
    def latents(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None,
                posterior_sample: bool = False) -> torch.Tensor:
        """Per-atom latents of a batch, divided by the latent scale (if known): the diffusion model's data.

        The encoder's means, or with `posterior_sample` a draw from each atom's posterior (mean + std·ε).
        """
        mask = batch["numbers"] > 0
        mean, log_var = self.autoencoder.encode(batch["numbers"], batch["positions"], batch["frac"],
                                                batch["lattice_features"], batch["periodic"], mask)
        latent = mean
        if posterior_sample:
            latent = mean + (0.5 * log_var).exp() * torch.randn(mean.shape, generator=generator, device=mean.device,
                                                                dtype=mean.dtype)
        return latent / (self.config.latent_scale or 1.0) * mask.unsqueeze(-1)

    def _diffusion_loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None
                        ) -> dict[str, torch.Tensor]:
        """Flow matching on the latents: predict the clean latent from a point on the noise-to-data line."""
        mask = batch["numbers"] > 0
        clean = self.latents(batch, generator, posterior_sample=self.config.diffuse_posterior_samples).float()
        rows = clean.shape[0]
        t = sample_times(rows, clean.device, generator)
        noise = torch.randn(clean.shape, generator=generator, device=clean.device)
        noisy = interpolate(clean, noise, t)
        hide = torch.rand(rows, generator=generator, device=clean.device) < self.config.label_dropout
        labels = batch["label"].masked_fill(hide, self.denoiser.no_label)
        previous = torch.zeros_like(clean)
        # Self-conditioning: on some rows, a first no-gradient pass provides the estimate the real pass sees.
        use_previous = torch.rand(rows, generator=generator, device=clean.device) < self.config.self_condition_prob
        if use_previous.any():
            with torch.no_grad():
                first = self.denoiser(noisy, t, labels, previous, mask).float()
            previous = torch.where(use_previous[:, None, None], first, previous)
        predicted = self.denoiser(noisy, t, labels, previous, mask).float()
        atoms = mask.unsqueeze(-1).float()
        per_row = (((predicted - clean) ** 2) * atoms).sum((1, 2))
        norm = (atoms.sum() * clean.shape[-1]).clamp(min=1)
        loss = (per_row * loss_weights(t, self.config.flow_loss)).sum() / norm
        # The unweighted clean-latent error is logged too, so runs with different weightings compare.
        return {"loss": loss, "flow_loss": per_row.sum() / norm}

    @torch.no_grad()
    def with_latent_scale(self, batches: Sequence[dict[str, torch.Tensor]]) -> ADiTModel:
        """A copy whose config carries the standard deviation of the latents of `batches` (the encoder's means,
        or posterior draws with a fixed seed if the DiT is to learn those).

        The diffusion model then sees latents of unit scale, whatever scale the autoencoder settled on.
        """
        from dataclasses import replace

        generator = torch.Generator(device=self.device).manual_seed(0)
        values = []
        for batch in batches:
            latents = self.latents(batch, generator, posterior_sample=self.config.diffuse_posterior_samples)
            values.append(latents[batch["numbers"] > 0].float())
        scale = float(torch.cat(values).std()) * (self.config.latent_scale or 1.0)  # undo any scale already set
        model = type(self)(replace(self.config, latent_scale=scale))
        model.load_state_dict(self.state_dict())
        return model

    @torch.no_grad()
    def fit_point_readout(self, batches: Sequence[dict[str, torch.Tensor]]) -> float | None:
        """Start the DiT's point readout (`dit_distance_bias`) as the least-squares map from a molecule atom's latent
        to its coordinates, fitted on the molecules of `batches`, each rotated at random (seed 0); returns the fit's
        R², or None when the batches hold no molecule (the readout then keeps its random start)."""
        if self.denoiser.point_readout is None:
            raise ValueError("this model has no distance bias (dit_distance_bias is off)")
        generator = torch.Generator(device=self.device).manual_seed(0)
        latents, positions = [], []
        for batch in batches:
            moved, frac, lattice = augment_systems(batch["positions"], batch["frac"], batch["lattice"],
                                                   batch["periodic"], batch["numbers"] > 0, generator)
            atoms = (batch["numbers"] > 0) & ~batch["periodic"][:, None]
            latents.append(self.latents({**batch, "positions": moved, "frac": frac, "lattice": lattice})[atoms])
            positions.append(moved[atoms])
        if sum(len(x) for x in latents) <= self.config.latent_dim:
            return None
        # The offset is dropped: the bias only sees distances between points.
        weight, _, r2 = least_squares_readout(torch.cat(latents).float(), torch.cat(positions).float())
        self.denoiser.point_readout.weight.copy_(weight)
        return r2

    # ---------------------------------------------------------------------------------------------------- sampling
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

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

    def _draw_jobs(self, n: int, classes: list[int], n_atoms: int | None, rng: np.random.Generator
                   ) -> list[tuple[int, int]]:
        """(class, atom count) of each of n systems: classes in proportion to their training data, sizes from
        their training histogram unless `n_atoms` is given."""
        if n_atoms is not None and not 1 <= n_atoms <= self.config.max_atoms:
            raise InputError(f"this model makes systems of 1 to {self.config.max_atoms} atoms, not {n_atoms}")
        histograms = np.asarray(self.config.atom_counts, dtype=np.float64)
        if histograms.size == 0:
            histograms = np.ones((len(self.config.labels), self.config.max_atoms + 1))
            histograms[:, 0] = 0
        shares = histograms[classes].sum(1)
        picked = rng.choice(classes, size=n, p=shares / shares.sum())
        jobs = []
        for label in picked:
            size = n_atoms
            if size is None:
                counts = histograms[label]
                size = int(rng.choice(len(counts), p=counts / counts.sum()))
            jobs.append((int(label), size))
        return jobs

    @torch.no_grad()
    def sample(self, n: int, *, seed: int = 0, batch_size: int = 256, steps: int = 100,
               condition: str | None = None, progress: bool = True, guidance: float = 2.0,
               sampler: str = "euler", n_atoms: int | None = None) -> list[AtomSystem]:
        """Generate `n` systems.

        Args:
            n: number of systems.
            seed: all randomness comes from this seed.
            batch_size: systems integrated together.
            steps: ODE steps (100 Euler steps by default, as ADiT).
            condition: a class label (e.g. "perov_5"), a kind ("molecule", "crystal"), or None for any class;
                a kind with several classes picks among them in proportion to their training data.
            progress: show a progress bar.
            guidance: classifier-free guidance scale (1 = the conditional model alone, 0 = unconditional).
            sampler: "euler" or "heun".
            n_atoms: the size of every system; None draws it from the class's training histogram.
        """
        if not self.ready_to_sample:
            raise InputError("this ADiT checkpoint holds only a trained autoencoder; train the diffusion stage")
        classes = self.resolve_condition(condition)
        rng = np.random.default_rng(seed)
        jobs = self._draw_jobs(n, classes, n_atoms, rng)
        generator = torch.Generator(device=self.device).manual_seed(int(seed))
        order = sorted(range(n), key=lambda k: jobs[k][1])  # similar sizes together: little padding
        results: list[AtomSystem | None] = [None] * n
        self.eval()
        bar = tqdm(total=n, desc="sampling", unit="system", disable=not progress)
        for start in range(0, n, batch_size):
            chunk = order[start : start + batch_size]
            labels = torch.tensor([jobs[k][0] for k in chunk], device=self.device)
            sizes = torch.tensor([jobs[k][1] for k in chunk], device=self.device)
            for k, system in zip(chunk, self._generate(labels, sizes, steps, guidance, sampler, generator)):
                results[k] = system
            bar.update(len(chunk))
        bar.close()
        return [system for system in results if system is not None]

    def _generate(self, labels: torch.Tensor, sizes: torch.Tensor, steps: int, guidance: float, sampler: str,
                  generator: torch.Generator) -> list[AtomSystem]:
        """Integrate the latent ODE for one batch and decode the result."""
        rows, length = len(labels), int(sizes.max())
        mask = torch.arange(length, device=self.device)[None] < sizes[:, None]
        noise = torch.randn(rows, length, self.config.latent_dim, generator=generator, device=self.device)
        latents = integrate(self.guided_predictor(labels, mask, guidance), noise, steps, sampler)
        return self.decode_latents(latents, labels, mask)

    def guided_predictor(self, labels: torch.Tensor, mask: torch.Tensor, guidance: float) -> CleanPredictor:
        """x̂₁(x_t, t) for one batch of unit-scale latents: classifier-free guidance between the labelled and the
        unlabelled model, each pass self-conditioned on the estimate of the pass before."""
        previous: torch.Tensor | None = None
        unlabelled = torch.full_like(labels, self.denoiser.no_label)

        def predict_clean(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            nonlocal previous
            if previous is None:
                previous = torch.zeros_like(x)
            if guidance == 1.0:
                clean = self.denoiser(x, t, labels, previous, mask)
            else:  # the conditional and unconditional passes as one batch
                both = self.denoiser(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, unlabelled]),
                                     torch.cat([previous, previous]), torch.cat([mask, mask]))
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
