"""NExT-Mol: a SELFIES language model, then a conformer diffusion model from graph to 3D (Liu et al., 2025)."""
