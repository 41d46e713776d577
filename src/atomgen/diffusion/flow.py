"""Flow matching on the straight path between noise and data (rectified flow), with a clean-data predictor.

Time runs from t = 0 (pure noise ε ~ N(0, I)) to t = 1 (data x₁), along x_t = t·x₁ + (1 - t)·ε. A network that
predicts the clean data x̂₁(x_t, t) defines the velocity field v = (x̂₁ - x_t) / (1 - t) of the ODE
dx/dt = v, which carries noise to data. Predicting x₁ rather than v keeps the training target bounded at every t
(ADiT's choice); the division only happens at sampling time, where t < 1 at every evaluated point.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

CleanPredictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""x̂₁(x_t, t): the model's guess of the clean data, for a batch of noisy data and per-row times."""

SAMPLERS = ("euler", "heun")


def sample_times(n: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> torch.Tensor:
    """Training times, uniform on [0, 1)."""
    return torch.rand(n, generator=generator, device=device)


def interpolate(clean: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = t·x₁ + (1 - t)·ε, with `t` (B,) broadcast over the trailing dimensions."""
    t = t.view(-1, *([1] * (clean.dim() - 1))).to(clean.dtype)
    return t * clean + (1 - t) * noise


def velocity(x: torch.Tensor, clean: torch.Tensor, t: float) -> torch.Tensor:
    """The straight-path velocity toward a predicted clean point: (x̂₁ - x_t) / (1 - t)."""
    return (clean - x) / (1.0 - t)


def time_grid(steps: int, device: torch.device | str = "cpu", start: float = 0.0) -> torch.Tensor:
    """`steps + 1` evenly spaced times from `start` (0, pure noise, unless a path is picked up part-way) to 1."""
    if steps < 1:
        raise ValueError(f"at least one sampling step is needed, not {steps}")
    if not 0.0 <= start < 1.0:
        raise ValueError(f"the start time must lie in [0, 1), not {start}")
    return torch.linspace(start, 1.0, steps + 1, device=device)


def integrate(predict_clean: CleanPredictor, noise: torch.Tensor, steps: int, method: str = "euler",
              start: float = 0.0) -> torch.Tensor:
    """Carry `noise` (t = 0) to data (t = 1) along the model's ODE.

    Args:
        predict_clean: x̂₁(x_t, t) for a batch and per-row times.
        noise: standard normal starting points.
        steps: number of time steps (network evaluations: `steps` for Euler, about twice that for Heun).
        method: "euler", or "heun" (second order: the average of the slopes at both ends of each step; the
            last step, which ends at t = 1 where the velocity is undefined, is an Euler step).
        start: the time `noise` is at; above 0 it is a point part-way along the path (x_t of some data), which
            diagnoses how well the model finishes a path it did not start.
    """
    if method not in SAMPLERS:
        raise ValueError(f"unknown sampler {method!r}; choose from {SAMPLERS}")
    x = noise
    times = time_grid(steps, noise.device, start).tolist()
    rows = x.shape[0]
    for t, t_next in zip(times[:-1], times[1:]):
        slope = velocity(x, predict_clean(x, x.new_full((rows,), t)), t)
        x_next = x + (t_next - t) * slope
        if method == "heun" and t_next < 1.0:
            slope_next = velocity(x_next, predict_clean(x_next, x.new_full((rows,), t_next)), t_next)
            x_next = x + (t_next - t) * 0.5 * (slope + slope_next)
        x = x_next
    return x
