"""EDM maths, the Heun sampler and the exact ODE likelihood, checked against closed-form Gaussians."""

from __future__ import annotations

import math

import pytest
import torch

from atomgen.diffusion.edm import EDMConfig, dpm_solver_2m_sample, heun_sample, karras_sigmas, preconditioning
from atomgen.diffusion.likelihood import ode_log_likelihood

MEAN = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
STD = 0.7


def gaussian_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The exact E[x0 | x] for x0 ~ N(MEAN, STD² I) and x = x0 + σ ε."""
    sigma = sigma.unsqueeze(-1)
    return MEAN + STD**2 / (STD**2 + sigma**2) * (x - MEAN)


def pushforward_log_density(x0: torch.Tensor, config: EDMConfig) -> torch.Tensor:
    """Exact log-density at σ_min of N(0, σ_max² I) pushed through the Gaussian's probability-flow ODE.

    The flow is affine: x(σ_min) = MEAN + (x(σ_max) - MEAN)·r with r = sqrt((s² + σ_min²)/(s² + σ_max²)).
    """
    r = math.sqrt((STD**2 + config.sigma_min**2) / (STD**2 + config.sigma_max**2))
    mean, std = MEAN * (1 - r), r * config.sigma_max
    return -0.5 * ((x0 - mean) ** 2).sum(-1) / std**2 - 3 * math.log(std) - 1.5 * math.log(2 * math.pi)


def test_ode_likelihood_matches_closed_form_and_converges():
    config = EDMConfig()
    x0 = MEAN + STD * torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    exact = pushforward_log_density(x0, config)
    errors = [(ode_log_likelihood(gaussian_denoiser, x0, config, steps) - exact).abs().max().item()
              for steps in (32, 64, 128)]
    assert errors[-1] < 0.02
    # Heun is second order: doubling the steps cuts the error about four times.
    assert errors[1] < errors[0] / 3 and errors[2] < errors[1] / 3


def test_ode_likelihood_is_the_data_density_for_a_centred_gaussian():
    # With MEAN = 0 the pushforward is N(0, s² + σ_min²) up to a negligible σ_max truncation: the data density.
    config = EDMConfig()
    x0 = STD * torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    denoiser = lambda x, s: STD**2 / (STD**2 + s.unsqueeze(-1) ** 2) * x  # noqa: E731
    var = STD**2 + config.sigma_min**2
    exact = -0.5 * (x0**2).sum(-1) / var - 1.5 * math.log(2 * math.pi * var)
    assert torch.allclose(ode_log_likelihood(denoiser, x0, config, 128), exact, atol=0.02)


def test_heun_sampler_reproduces_the_gaussian():
    config = EDMConfig()
    noise = torch.randn(20000, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    samples = heun_sample(gaussian_denoiser, noise, karras_sigmas(30, config))
    assert torch.allclose(samples.mean(0), MEAN, atol=0.03)
    assert torch.allclose(samples.std(0), torch.full((3,), STD, dtype=torch.float64), atol=0.03)


def test_dpm_solver_reproduces_the_gaussian_and_beats_heun_at_equal_denoiser_calls():
    config = EDMConfig()
    noise = torch.randn(20000, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    samples = dpm_solver_2m_sample(gaussian_denoiser, noise, karras_sigmas(30, config))
    assert torch.allclose(samples.mean(0), MEAN, atol=0.03)
    assert torch.allclose(samples.std(0), torch.full((3,), STD, dtype=torch.float64), atol=0.03)
    # The exact end of each path: the Gaussian's flow from x at σ_max is x(0) = MEAN + STD (x - MEAN) / √(STD² + σ²).
    start = noise * config.sigma_max
    exact = MEAN + STD * (start - MEAN) / math.sqrt(STD**2 + config.sigma_max**2)
    dpm = (dpm_solver_2m_sample(gaussian_denoiser, noise, karras_sigmas(10, config)) - exact).abs().max()
    heun = (heun_sample(gaussian_denoiser, noise, karras_sigmas(5, config)) - exact).abs().max()  # 9 calls
    assert dpm < heun / 3


def test_karras_schedule_and_preconditioning():
    config = EDMConfig()
    sigmas = karras_sigmas(10, config)
    assert sigmas[0] == pytest.approx(config.sigma_max) and sigmas[-2] == pytest.approx(config.sigma_min)
    assert sigmas[-1] == 0 and (sigmas[:-1].diff() < 0).all()
    c_skip, c_out, c_in, _ = preconditioning(torch.tensor([0.3, 1.4, 20.0]), 1.4)
    # Unit-variance inputs and a skip/out split that sums to the data variance (EDM, Table 1).
    assert torch.allclose(c_in**2 * (torch.tensor([0.3, 1.4, 20.0]) ** 2 + 1.4**2).unsqueeze(-1), torch.ones(3, 1))
    assert torch.allclose(c_skip[1], torch.tensor([0.5]))
    assert (c_out > 0).all()


def test_vp_refine_climbs_to_the_mode_of_the_smoothed_density():
    from atomgen.diffusion import vp

    def exact_clean(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """E[x0 | x_t] for x0 ~ N(MEAN, STD² I) under the VP process x_t = α·x0 + σ·ε."""
        alpha, sigma = vp.alpha_sigma(t.double())
        alpha, sigma = alpha.unsqueeze(-1), sigma.unsqueeze(-1)
        return MEAN + alpha * STD**2 / (alpha**2 * STD**2 + sigma**2) * (x - alpha * MEAN)

    start = MEAN + torch.tensor([[1.0, 0.0, 0.0], [0.0, -2.0, 0.5]], dtype=torch.float64)
    assert torch.equal(vp.refine(exact_clean, start, 0), start)
    distances = [(vp.refine(exact_clean, start, k, t=0.1) - MEAN).norm(dim=-1) for k in (1, 10, 400)]
    # Each iteration is a step up the smoothed density: always nearer its mode (MEAN), never past it.
    assert (distances[0] < (start - MEAN).norm(dim=-1)).all()
    assert (distances[1] < distances[0]).all() and (distances[2] < 1e-3).all()
    # The per-iteration step is about σ², so at the default (tiny) noise level a sample barely moves.
    moved = (vp.refine(exact_clean, start, 1) - start).norm(dim=-1)
    assert (moved < 0.01 * (start - MEAN).norm(dim=-1)).all()
    # `project` is applied after every iteration.
    projected = vp.refine(exact_clean, start, 3, t=0.1, project=lambda x: x - x.mean(-1, keepdim=True))
    assert torch.allclose(projected.mean(-1), torch.zeros(2, dtype=torch.float64), atol=1e-12)


def test_vp_training_times_over_sample_the_low_noise_band_by_the_share_asked():
    from atomgen.diffusion import vp

    generator = torch.Generator().manual_seed(0)
    uniform = vp.sample_times(20_000, generator=generator)
    assert 0.0 <= float(uniform.min()) and float(uniform.max()) <= vp.MAX_T
    assert abs(float((uniform < vp.LOW_NOISE_TIME).float().mean()) - vp.LOW_NOISE_TIME / vp.MAX_T) < 0.01
    times = vp.sample_times(20_000, generator=generator, low_noise_share=0.5)
    # Half the rows come from the band, and the other half fall in it as often as uniform times do.
    expected = 0.5 + 0.5 * vp.LOW_NOISE_TIME / vp.MAX_T
    assert abs(float((times < vp.LOW_NOISE_TIME).float().mean()) - expected) < 0.01
    assert float(times.max()) > 0.9  # the high-noise levels are still trained
    assert (vp.sample_times(100, generator=generator, low_noise_share=1.0) < vp.LOW_NOISE_TIME).all()
    with pytest.raises(ValueError, match="low_noise_share"):
        vp.sample_times(4, low_noise_share=1.5)
