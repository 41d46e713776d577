"""ConformerModel: NExT-Mol's diffusion model from a molecular graph to 3D coordinates (training and sampling).

Coordinates are centred and divided by `coordinate_scale` (Å per unit) so the clean data has about unit spread.
The network's output is a preconditioned correction: x̂₀ = α·x_t + σ·F (`vp.precondition_clean`), so at low
noise it refines the coordinates it is given rather than rebuilding them. Training: a uniform random rotation of
each molecule, a cosine-schedule noise level, and the squared error between the predicted clean coordinates and
the truth after the truth is optimally rotated onto the prediction (so the model is not asked to guess an
orientation it cannot know), weighted by min-SNR-5 (`vp.min_snr_weight`); optionally, at low noise, also the error
of the bond lengths and 1-3 distances (`local_geometry_weight`), and a hinge on the handedness of every
stereocentre (`chirality_weight`). Sampling: DDPM ancestral steps, optionally second order (fresh noise
at every step, so repeated calls give different conformers), centring every clean estimate and, early in the
chain, steering it to the right hand at every stereocentre (`chirality.steer_chirality`); then a few denoising
iterations at one small noise level (`vp.refine`), which put the bond lengths nearer the model's mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from atomgen.data.augment import centre, random_rotations
from atomgen.diffusion import vp
from atomgen.models.nextmol.alignment import kabsch_align
from atomgen.models.nextmol.chirality import CHIRALITY_MARGIN, STEER_TIMES, chirality_error, steer_chirality
from atomgen.models.nextmol.conformer_net import ConformerNetwork
from atomgen.models.streams import SampleStreams

CHIRALITY_NOISE_WEIGHTINGS = ("min_snr", "uniform")
"""How the chirality loss may be weighted across noise levels (`ConformerConfig.chirality_noise_weighting`)."""


@dataclass(frozen=True)
class ConformerConfig:
    """Hyperparameters of the conformer model.

    Attributes:
        dim, pair_dim, depth, heads: the relational transformer (atom width, pair width, blocks, heads).
        coordinate_scale: Å per model unit.
        max_atoms: the largest molecule (hydrogens included) the model accepts.
        context_dim: width of the language-model states fed through the adapter (None: no 1D-to-3D transfer).
        pair_push: fine short-distance features and an equivariant pairwise output term (an atomgen extension,
            see `conformer_net.py`); False is the paper's DMT.
        chiral_order: the pairs also see each stereocentre's neighbours numbered in counter-clockwise order (see
            `atomgen.data.molecular_graphs`), which makes its chirality tag readable; False is the paper's DMT.
        local_geometry_weight: weight of an extra training loss on the lengths of bonds and of 1-3 distances
            (pairs one or two bonds apart) in the predicted clean coordinates, at low noise (an atomgen extension;
            0 is the paper's loss). Those distances decide whether a conformer perceives back to its molecule.
        chirality_weight: weight of an extra training loss on the handedness of each stereocentre in the
            predicted clean coordinates (`chirality_error`), an atomgen extension (0 is the paper's loss). A
            mirrored centre costs the aligned loss little (two neighbours swap places), yet it is a different
            molecule.
        chirality_noise_weighting: how the chirality term is weighted across noise levels: "min_snr" like the
            main loss, or "uniform" (the same at every level). The hand of a sample is decided at high noise,
            where min-SNR weighs the term down to almost nothing; at low noise the estimate keeps its input's hand.
        low_noise_share: share of the training molecules whose noise level is drawn from the low-noise band
            (`vp.LOW_NOISE_TIME`) rather than from all levels (an atomgen extension; 0 is the paper's uniform
            draw). Uniform times put 2 % of the training at σ below 0.06 Å, yet that is where bond lengths, and
            so the perceived bond orders, are settled.
    """

    dim: int = 192
    pair_dim: int = 64
    depth: int = 6
    heads: int = 8
    coordinate_scale: float = 1.5
    max_atoms: int = 64
    context_dim: int | None = None
    pair_push: bool = False
    chiral_order: bool = False
    local_geometry_weight: float = 0.0
    chirality_weight: float = 0.0
    chirality_noise_weighting: str = "min_snr"
    low_noise_share: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_noise_share <= 1.0:
            raise ValueError(f"low_noise_share must lie in [0, 1], not {self.low_noise_share}")
        if self.chirality_noise_weighting not in CHIRALITY_NOISE_WEIGHTINGS:
            raise ValueError(f"unknown chirality_noise_weighting {self.chirality_noise_weighting!r}; "
                             f"choose from {CHIRALITY_NOISE_WEIGHTINGS}")


class ConformerModel(nn.Module):
    """Graph-conditioned coordinate diffusion; batches come from `atomgen.data.conformer_data.collate_graphs`."""

    def __init__(self, config: ConformerConfig):
        super().__init__()
        self.config = config
        self.network = ConformerNetwork(config.dim, config.pair_dim, config.depth, config.heads, config.context_dim,
                                        config.pair_push, config.chiral_order)

    def _predict(self, x: torch.Tensor, t: torch.Tensor, batch: dict[str, torch.Tensor],
                 context: torch.Tensor | None) -> torch.Tensor:
        return vp.precondition_clean(x, t, self.network(x, t, batch, self.config.coordinate_scale, context))

    def training_loss(self, batch: dict[str, torch.Tensor], augment: bool = True,
                      generator: torch.Generator | None = None,
                      context: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Min-SNR-weighted aligned squared error of the clean-coordinate prediction at a random noise level;
        `aligned_mse` is the unweighted one (Å² per atom)."""
        mask = batch["mask"]
        clean = centre(batch["positions"], mask)
        if augment:
            rotation = random_rotations(len(clean), dtype=clean.dtype, device=clean.device, generator=generator)
            clean = clean @ rotation.transpose(1, 2)
        clean = clean / self.config.coordinate_scale
        t = vp.sample_times(len(clean), clean.device, generator, self.config.low_noise_share)
        noise = centre(torch.randn(clean.shape, generator=generator, device=clean.device), mask)
        predicted = self._predict(vp.noisy(clean, noise, t), t, batch, context).float()
        target = kabsch_align(clean.float(), predicted.detach(), mask)
        weights = mask.float()
        error = ((predicted - target) ** 2).sum(-1) * self.config.coordinate_scale**2
        aligned_mse = (error * weights).sum() / weights.sum().clamp(min=1)
        snr_weight = vp.min_snr_weight(t)
        loss = (error * snr_weight[:, None] * weights).sum() / weights.sum().clamp(min=1)
        local_mse = local_distance_error(predicted, clean, batch["graph_distance"], mask)
        local_mse = local_mse * self.config.coordinate_scale**2  # Å²
        if self.config.local_geometry_weight:
            # Distances of the clean estimate mean something only at low noise (at high noise the estimate is a
            # blurred average, whose distances are shorter than any real ones): full weight where the SNR is at
            # least min-SNR's cap, fading as the square of the SNR below it.
            low_noise = (snr_weight / snr_weight.new_tensor(vp.MIN_SNR_GAMMA)) ** 2
            loss = loss + self.config.local_geometry_weight * (local_mse * low_noise).mean()
        chirality, centres = chirality_error(predicted, clean, batch["chiral_order"])
        count = centres.sum().clamp(min=1)
        if self.config.chirality_weight:
            level_weight = snr_weight if self.config.chirality_noise_weighting == "min_snr" else torch.ones_like(t)
            loss = loss + self.config.chirality_weight * (chirality.sum(-1) * level_weight).sum() / count
        wrong = (chirality > CHIRALITY_MARGIN**2).sum() / count  # the prediction's hand is the wrong one
        return {"loss": loss, "aligned_mse": aligned_mse.detach(), "local_mse": local_mse.mean().detach(),
                "wrong_handedness": wrong.detach()}

    @torch.no_grad()
    def generate(self, batch: dict[str, torch.Tensor], streams: SampleStreams, *, steps: int = 100,
                 stochastic: bool = True, multistep: bool = False, context: torch.Tensor | None = None,
                 steer: bool = True, refine_steps: int = 0) -> list[np.ndarray]:
        """Coordinates (Å, centred) of every molecule of a batch of graphs; row r draws its noise from
        `streams` row r (three numbers per atom it has, whatever the batch is padded to).

        `steer` moves every clean estimate early in the chain so that each stereocentre has the hand its chiral
        order asks for (`chirality.steer_chirality`); the model on its own often picks the wrong hand.
        `stochastic` and `multistep` choose the chain's solver (`vp.sample`); `refine_steps` denoising iterations
        at a small fixed noise level follow the chain (`vp.refine`).
        """
        mask = batch["mask"]
        device = mask.device
        atoms = batch["n_atoms"].tolist()
        noise = centre(streams.normal((mask.shape[1], 3), lengths=atoms).to(device), mask)

        def steer_hands(clean: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            if not STEER_TIMES[0] <= float(t[0]) <= STEER_TIMES[1]:
                return clean
            return centre(steer_chirality(clean, batch["chiral_order"]), mask)

        def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self._predict(x, t, batch, context).float()

        def project(x: torch.Tensor) -> torch.Tensor:
            return centre(x, mask)

        coordinates = vp.sample(predict, noise, steps, stochastic=stochastic, multistep=multistep,
                                noise_like=lambda x: streams.normal(x.shape[1:], x.dtype, atoms),
                                project=project, guide=steer_hands if steer else None)
        coordinates = vp.refine(predict, coordinates, refine_steps, project=project)
        coordinates = (coordinates * self.config.coordinate_scale).cpu().numpy().astype(np.float64)
        return [coordinates[row, :n] for row, n in enumerate(batch["n_atoms"].tolist())]


def local_distance_error(predicted: torch.Tensor, clean: torch.Tensor, graph_distance: torch.Tensor,
                         mask: torch.Tensor) -> torch.Tensor:
    """(B,) mean squared error of the distances between atoms one or two bonds apart (bond lengths and the 1-3
    distances that fix bond angles), predicted against true, in model units squared. Rotation-invariant, so no
    alignment is needed."""
    pairs = ((graph_distance == 1) | (graph_distance == 2)) & mask[:, :, None] & mask[:, None, :]
    pairs = pairs.float()

    def distances(x: torch.Tensor) -> torch.Tensor:
        # The small constant keeps the square root differentiable on the diagonal, which the pair mask drops.
        return ((x[:, :, None] - x[:, None, :]) ** 2).sum(-1).add(1e-8).sqrt()

    error = (distances(predicted.float()) - distances(clean.float())) ** 2
    return (error * pairs).sum((1, 2)) / pairs.sum((1, 2)).clamp(min=1)

