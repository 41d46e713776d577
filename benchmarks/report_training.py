"""The training-speed section of BENCHMARKS.md, rendered from benchmarks/results/training.json."""

from __future__ import annotations

from report_format import peak_sentence, provenance

COMMAND = "python benchmarks/bench_training.py --parts"


def training_sections(results: dict) -> list[str]:
    """One table of every family's training speed by setting, with the machine's peak measured beside it."""
    if not results:
        return []
    lines = ["## Training speed of every family, by precision", "",
             "Each shipped config's model and data as the training engine builds them, AdamW steps timed after two "
             "warm-up steps. The share of the peak (MFU) is the step's matrix-product FLOPs (PyTorch's "
             "FlopCounterMode) per second over the best rate of its precision, measured in the same run, at the "
             "small presets' shapes.", "",
             "| config | setting | units / s | × fp32 | share of the peak (MFU) | peak there, fp32 / bf16 GFLOP/s |",
             "|---|---|---|---|---|---|"]
    for entry in results.values():
        r = entry["result"]
        peak = r["machine_peak"]["best"]
        # The frozen stage's shipped weights are not a setting; a batch size is.
        settings = [item for item in r["overrides"] if not item.startswith("model.")]
        config = f"`{r['config']}`" + "".join(f" `{item}`" for item in settings) + f", {r['threads']} thread(s)"
        for name, row in r["by_setting"].items():
            use = row["utilisation"]
            lines.append(f"| {config} | {name} | {row['units_per_second']:,.0f} {r['unit']} | "
                         f"{row['speedup_over_fp32']:.2f} | {100 * use['mfu']:.1f} % ({use['gflops']:.0f} GFLOP/s) | "
                         f"{peak['fp32']:.0f} / {peak['bf16']:.0f} |")
    first = next(iter(results.values()))["result"]["machine_peak"]
    lines += ["", peak_sentence(first) + " (measured in the first part's run; every part's best rates are in its row.)"]
    lines += [""] + [provenance(entry, COMMAND, part) for part, entry in results.items()] + [""]
    return lines
