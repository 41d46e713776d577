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

NEXTMOL_PRECISION = "fp32"
"""NExT-Mol's conformer network's default precision."""
