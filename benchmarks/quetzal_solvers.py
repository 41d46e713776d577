"""How finely each ODE solver integrates Quetzal's position head (a part of bench_quetzal.py).

Teacher-forced on QM9 test molecules: every true prefix gives the head its conditioning, and the same noise is
integrated by each solver and by a reference (Heun, 200 steps). The distance to the reference's end point is the
solver's error alone, free of the sampling noise that a comparison of generated molecules carries.
"""

from __future__ import annotations

import torch

SOLVER_GRID = (("heun", 10), ("heun", 15), ("heun", 20), ("heun", 30), ("dpm2m", 10), ("dpm2m", 15), ("dpm2m", 20),
               ("dpm2m", 30))
REFERENCE_STEPS = 200


def solver_error(model, molecules: list) -> dict:
    """RMS, median and share above 0.1 Å of each solver's distance to the reference, in fp32 and in bf16."""
    from atomgen.data.sequences import AtomSequenceDataset, collate_sequences
    from atomgen.diffusion.edm import heun_sample, karras_sigmas
    from atomgen.models.quetzal.sampler import SOLVERS

    model = model.eval()
    dataset = AtomSequenceDataset(molecules, model.config.elements)
    batch = collate_sequences([dataset[k] for k in range(len(dataset))])
    with torch.no_grad():
        forced = model._teacher_forced(batch, False, None)
        embedding = model.network.head.embed_condition(forced["cond"])
        noise = torch.randn(forced["target"].shape, generator=torch.Generator().manual_seed(0))

        def denoiser(x, sigma):
            return model.network.denoise(x, sigma, embedding, forced["placed"])

        reference = heun_sample(denoiser, noise, karras_sigmas(REFERENCE_STEPS, model.config.edm))
        rows = []
        for precision in ("fp32", "bf16"):
            for solver, steps in SOLVER_GRID:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                    end = SOLVERS[solver](denoiser, noise, karras_sigmas(steps, model.config.edm))
                distance = ((end.float() - reference) ** 2).sum(-1).sqrt()
                rows.append({"solver": solver, "steps": steps, "precision": precision,
                             "calls": steps if solver == "dpm2m" else 2 * steps - 1,
                             "rms": float(distance.pow(2).mean().sqrt()), "median": float(distance.median()),
                             "above_0.1": float((distance > 0.1).float().mean())})
    return {"molecules": len(molecules), "atoms": int(noise.shape[0]),
            "reference": f"heun {REFERENCE_STEPS} steps, fp32", "rows": rows}
