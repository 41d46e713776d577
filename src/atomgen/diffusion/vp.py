"""Variance-preserving diffusion with the cosine schedule (Nichol & Dhariwal, 2021), for a clean-data predictor.

x_t = α(t)·x₀ + σ(t)·ε with α² + σ² = 1 and α(t) = cos(π/2 · (t + s)/(1 + s)) normalised to α(0) = 1, for t in
[0, 1]. The sampler is DDPM's ancestral step written for a model that predicts x₀ (stochastic: the usual choice
when several different samples of one condition are wanted, as for conformers), or DDIM's deterministic one,
either optionally second order (DPM-Solver++(2M) and its SDE form); `refine` may follow it, to move a finished
sample to the nearest mode of the model's low-noise density.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

CleanPredictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""x̂₀(x_t, t): the model's guess of the clean data, for a batch of noisy data and per-row times."""

OFFSET = 0.008
MAX_T = 0.999  # α(1) is exactly 0 under the cosine schedule; stopping short keeps σ/α finite


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(α(t), σ(t)) of the cosine schedule."""
    f = torch.cos(math.pi / 2 * (t + OFFSET) / (1 + OFFSET))
    alpha = f / math.cos(math.pi / 2 * OFFSET / (1 + OFFSET))
    alpha = alpha.clamp(0.0, 1.0)
    return alpha, (1 - alpha**2).clamp(min=0.0).sqrt()


def precondition_clean(x: torch.Tensor, t: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """x̂₀ = α(t)·x_t + σ(t)·F from a network's raw output F, for data of unit variance.

    These are EDM's c_skip and c_out for a variance-preserving process (σ_data = 1): at low noise x̂₀ stays close
    to x_t and the network only supplies a correction of size σ, so it never has to rebuild the coordinates
    themselves to within a bond-length tolerance; at high noise F itself is the estimate.
    """
    alpha, sigma = alpha_sigma(t)
    shape = (-1, *([1] * (x.dim() - 1)))
    return alpha.view(shape).to(x.dtype) * x + sigma.view(shape).to(raw.dtype) * raw


MIN_SNR_GAMMA = 5.0


def min_snr_weight(t: torch.Tensor, gamma: float = MIN_SNR_GAMMA) -> torch.Tensor:
    """Min-SNR-γ loss weight of a clean-data loss (Hang et al., 2023): min(α²/σ², γ).

    The clean-data error at high noise is large but says little, so it is scaled down by the signal-to-noise
    ratio (the ε-loss); at low noise, where the geometry's fine detail is learned, the weight is capped at γ.
    """
    alpha, sigma = alpha_sigma(t)
    return (alpha**2 / sigma.clamp(min=1e-6) ** 2).clamp(max=gamma)


LOW_NOISE_TIME = 0.1
"""Upper end of the low-noise band that `sample_times` can over-sample: σ ≤ 0.17 data units (0.25 Å for
conformers), the last five of 50 sampling steps and the refine iterations, where bond lengths are decided."""


def sample_times(n: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None,
                 low_noise_share: float = 0.0) -> torch.Tensor:
    """Training times: uniform on [0, MAX_T], except that a share `low_noise_share` of the rows (chosen at random)
    is drawn uniformly on [0, LOW_NOISE_TIME] instead, to train the low-noise denoiser more often."""
    if not 0.0 <= low_noise_share <= 1.0:
        raise ValueError(f"low_noise_share must lie in [0, 1], not {low_noise_share}")
    uniform = torch.rand(n, generator=generator, device=device)
    if not low_noise_share:  # no second draw: runs without the share keep their random stream
        return uniform * MAX_T
    low = torch.rand(n, generator=generator, device=device) < low_noise_share
    return torch.where(low, uniform * LOW_NOISE_TIME, uniform * MAX_T)


def noisy(clean: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t for per-row times `t` (B,) broadcast over the trailing dimensions."""
    alpha, sigma = alpha_sigma(t)
    shape = (-1, *([1] * (clean.dim() - 1)))
    return alpha.view(shape).to(clean.dtype) * clean + sigma.view(shape).to(clean.dtype) * noise


def sample(predict_clean: CleanPredictor, noise: torch.Tensor, steps: int, *, stochastic: bool = True,
           multistep: bool = False, noise_like: Callable[[torch.Tensor], torch.Tensor] = torch.randn_like,
           project: Callable[[torch.Tensor], torch.Tensor] | None = None,
           guide: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Go from pure noise (t = MAX_T) to data in `steps` steps.

    Args:
        predict_clean: x̂₀(x_t, t).
        noise: standard normal starting points.
        steps: number of model evaluations.
        stochastic: DDPM's ancestral step (fresh noise at every step) or, when False, DDIM's deterministic one.
        multistep: make either step second order by extrapolating the clean estimate from the one before,
            D = x̂₀ + (x̂₀ − x̂₀')·h / (2h'), with h and h' this step's and the last step's log-SNR increments. DDPM's
            step is the first-order SDE DPM-Solver++ and DDIM's the first-order DPM-Solver++ (Lu et al., 2022), so
            this makes them SDE-DPM-Solver++(2M) and DPM-Solver++(2M): the same network calls, fewer needed.
        noise_like: fresh standard normal numbers shaped like its argument, for the ancestral steps (a sampler
            with one random stream per sample passes its own).
        project: applied to every x̂₀ before it is used (e.g. removing the centre of mass of each system).
        guide: steers x̂₀, given (x̂₀, t), after `project`. The noisy sample moves with it, x_t += α(t)·(steered -
            x̂₀), keeping its noise: steering x̂₀ alone would let the next estimate, made from the unmoved x_t,
            undo the steer.
    """
    if steps < 1:
        raise ValueError(f"at least one sampling step is needed, not {steps}")
    times = torch.linspace(MAX_T, 0.0, steps + 1, device=noise.device)
    x = noise
    rows = x.shape[0]
    previous: tuple[torch.Tensor, torch.Tensor] | None = None  # the last step's (x̂₀, log-SNR increment)
    for t, t_next in zip(times[:-1], times[1:]):
        clean = predict_clean(x, t.expand(rows))
        if project is not None:
            clean = project(clean)
        alpha, sigma = alpha_sigma(t)
        if guide is not None:
            steered = guide(clean, t.expand(rows))
            x = x + alpha * (steered - clean)
            clean = steered
        alpha_next, sigma_next = alpha_sigma(t_next)
        if t_next <= 0:
            x = clean
            break
        if multistep:
            increment = torch.log(alpha_next / sigma_next) - torch.log(alpha / sigma)
            estimate = clean
            if previous is not None:
                last_clean, last_increment = previous
                clean = clean + (clean - last_clean) * increment / (2 * last_increment)
            previous = (estimate, increment)
        eps = (x - alpha * clean) / sigma
        if stochastic:
            # DDPM posterior q(x_{t'} | x_t, x₀): its variance, and the share of the predicted noise kept.
            variance = (sigma_next / sigma) ** 2 * (1 - (alpha / alpha_next) ** 2)
            fresh = noise_like(x)
            kept = (sigma_next**2 - variance).clamp(min=0.0).sqrt()
            x = alpha_next * clean + kept * eps + variance.clamp(min=0.0).sqrt() * fresh
        else:
            x = alpha_next * clean + sigma_next * eps
    return x


REFINE_TIME = 0.005
"""Diffusion time of `refine`: σ = 0.016 data units (0.024 Å for conformers), about a bond length's thermal spread,
so the smoothed density still has one mode per conformer while its gradient steps (σ²) stay small."""


def refine(predict_clean: CleanPredictor, x: torch.Tensor, iterations: int, *, t: float = REFINE_TIME,
           project: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Repeat x ← x̂₀(α(t)·x, t) at one small noise level t, `iterations` times, from a finished sample x.

    The sample is read as a noisy point with no noise in it; its clean estimate is (α·x + σ²·∇log p_t(α·x))/α
    (Tweedie), so each iteration is a gradient step of about σ² up the model's density smoothed at that level: a
    deterministic, mode-seeking corrector with no fresh noise, whose fixed points are that density's modes. It
    removes the jitter the last stochastic steps leave (for conformers: bond lengths a few hundredths of an
    Ångström off) while moving the sample little, so it keeps the sample's mode.
    """
    times = torch.full((x.shape[0],), float(t), device=x.device)
    alpha = float(alpha_sigma(torch.tensor(float(t)))[0])
    for _ in range(iterations):
        x = predict_clean(alpha * x, times)
        if project is not None:
            x = project(x)
    return x
