"""Diffusion maths kept apart from the networks: EDM preconditioning, noise schedules, ODE samplers, likelihood."""
