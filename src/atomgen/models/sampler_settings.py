"""Sampler settings, importable without torch so that the command line can offer them before it loads a model.

The defaults were chosen by measurement, on six seeds of 1,000 QM9 molecules each (benchmarks/bench_quetzal.py,
part `sampler-settings`; speed from part `throughput`; BENCHMARKS.md): DPM-Solver++(2M) with 30 steps in bf16 (30
head calls per atom) keeps the quality of the paper's sampler (Heun, 30 steps, 59 calls, fp32): molecule stability
56.1 against 56.5 % (± 0.9), FCD 0.85 against 0.85, atom-type TV 0.009 against 0.009. With 20 steps the atom-type
distribution drifted in all six seeds (TV 0.014) and FCD rose to 0.92, so 20 steps did not become the default.
"""

PRECISIONS = ("fp32", "bf16")
"""Arithmetic a sampler may run its networks' matrix products in (`atomgen.models.base.precision_context`)."""

QUETZAL_SOLVERS = ("dpm2m", "heun")
"""Solvers of Quetzal's per-atom position ODE: DPM-Solver++(2M), one network call per step, and Heun's method,
the paper's, two calls per step."""

QUETZAL_SOLVER, QUETZAL_STEPS, QUETZAL_PRECISION = "dpm2m", 30, "bf16"
"""Quetzal's default solver, steps per atom and precision."""

NEXTMOL_SOLVERS = {"ddpm": (True, False), "sde-dpm2m": (True, True), "ddim": (False, False), "dpm2m": (False, True)}
"""Solvers of NExT-Mol's conformer chain: name -> (stochastic, second order). DDPM's ancestral step and DDIM's
deterministic one, each also as its second-order multistep form, SDE-DPM-Solver++(2M) and DPM-Solver++(2M)
(`atomgen.diffusion.vp.sample`); all take one network call per step."""

NEXTMOL_PRECISION = "bf16"
"""NExT-Mol's conformer network's default precision. On 500 QM9 test molecules (benchmarks/bench_nextmol.py, part
`sampler`) bf16 kept the geometry of fp32 (bond-length MAE 0.0115 against 0.0114 Å, molecule stability 89.0
against 88.4 %, median RMSD 0.220 against 0.220 Å) at 1.36x its speed."""

ADIT_PRECISION = "bf16"
"""ADiT's denoiser's default precision. On four seeds of 250 Perov-5 crystals and 125 QM9 molecules each
(benchmarks/bench_adit.py, part `sampler-precision`) bf16 kept fp32's structural validity (96.2 against 96.1 %,
+0.1 ± 0.9 points) and compositional validity (98.8 %, both) at 1.7x its speed; 50 Euler steps lost 0.7-1.0
points, so the default stays ADiT's 100."""
