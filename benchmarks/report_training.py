"""The training-speed section of BENCHMARKS.md, rendered from benchmarks/results/training.json."""

from __future__ import annotations

from report_format import peak_sentence, provenance

COMMAND = "python benchmarks/bench_training.py --parts"


def training_sections(results: dict) -> list[str]:
    """One table of every family's training speed by setting, with the machine's peak measured beside it."""
    overheads = results.get("overheads")
    results = {part: entry for part, entry in results.items() if part != "overheads"}
    lines = _speed_table(results) if results else []
    return lines + (_overheads(overheads) if overheads else [])


def _speed_table(results: dict) -> list[str]:
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


def _overheads(entry: dict) -> list[str]:
    """What packing and bf16 weights could save at most (the `overheads` part)."""
    lines = ["### What packed sequences and bf16 weights could save", "",
             "Real atoms or tokens as a share of the slots of the first 40 length-grouped training batches (what "
             "packing could save at most is the rest); dtype copies as a share of a bf16 autocast step's CPU time "
             "(torch.profiler, six steps); and all parameters cast to bf16 and back, against one step (what bf16 "
             "weights with an fp32 master copy would save of those copies). " + provenance(entry, COMMAND, "overheads"),
             "", "| config | real share of batch slots | copies, share of step time | parameters | "
             "weight casts / step |", "|---|---|---|---|---|"]
    for row in entry["result"].values():
        lines.append(f"| `{row['config']}` | {100 * row['real_share']:.1f} % {row['unit']} | "
                     f"{100 * row['cast_share_of_step']:.1f} % | {row['parameters'] / 1e6:.1f}M | "
                     f"{1000 * row['weight_cast_seconds']:.0f} ms / {1000 * row['step_seconds']:.0f} ms |")
    return lines + [""]
