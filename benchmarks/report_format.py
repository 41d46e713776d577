"""Number formatting and provenance lines shared by the BENCHMARKS.md section renderers."""

from __future__ import annotations

from functools import cache

from common import sha256_of

from atomgen.zoo.registry import WEIGHTS_DIR


def pct(value) -> str:
    """A fraction as a percentage with two decimals, or n/a when it was not measured."""
    return "n/a" if not isinstance(value, (int, float)) else f"{100 * value:.2f}"


def num(value) -> str:
    """A number to four significant digits, or n/a when it was not measured."""
    return "n/a" if not isinstance(value, (int, float)) else f"{value:.4g}"


def short_hash(sha256: str) -> str:
    """The first eight hex digits of a sha256, enough to tell weights apart in prose."""
    return f"{sha256[:8]}…"


@cache
def shipped_sha256(name: str) -> str | None:
    """The sha256 of the weights shipped now under a zoo name; None when no model of that name is shipped."""
    weights = WEIGHTS_DIR / name / "model.safetensors"
    return sha256_of(weights) if weights.is_file() else None


def command_of(entry: dict, fallback: str) -> str:
    """The command a stored result records; `fallback` for results stored before commands were recorded."""
    return entry.get("command") or fallback


def weights_note(entry: dict) -> str:
    """The weights a result was measured on, in short: each checkpoint's name and sha256 (and how the hashes were
    found, when backfilled); empty when the part loads no weights."""
    if "weights" not in entry:
        return "weights not recorded"
    if not entry["weights"]:
        return ""
    hashes = ", ".join(f"`{name}` " + (f"sha256 {short_hash(sha)}" if sha else "unknown")
                       for name, sha in entry["weights"].items())
    source = entry.get("weights_source")
    return f"weights {hashes}" + (f"; {source}" if source else "")


def weights_warning(entry: dict) -> str:
    """A warning paragraph for every shipped model a result was measured on whose weights are not (or not known to
    be) the ones shipped now; empty when they all are. Checkpoints that are not shipped (runs/...) are compared by
    design and get none."""
    warnings = []
    for name, sha in entry.get("weights", {}).items():
        shipped = shipped_sha256(name)
        if shipped is None or sha == shipped:
            continue
        if sha is None:
            warnings.append(f"⚠ the weights of `{name}` this was measured on are unknown: they may not be the shipped "
                            "ones.")
        else:
            warnings.append(f"⚠ measured on other weights of `{name}` (sha256 {short_hash(sha)}) than the shipped "
                            f"ones (sha256 {short_hash(shipped)}).")
    return "".join(f"\n\n{warning}" for warning in warnings)


def provenance(entry: dict, command: str, part: str) -> str:
    """Where a stored result came from: the command, machine, commit, date and weights, and a warning where the
    weights are not the shipped ones. `command` is the script's command up to `--parts`, the fallback for results
    stored before commands were recorded."""
    note = weights_note(entry)
    return (f"Command: `{command_of(entry, f'{command} {part}')}` ({entry['machine']}, commit {entry['commit']}, "
            f"{entry['date']}{'; ' + note if note else ''}).{weights_warning(entry)}")


def cause_shares(causes: dict) -> str:
    """The share of samples that each cause of failure accounts for, in one line (a molecule's instability,
    `atomgen.eval.instability`, or a crystal's structural failure, `atomgen.eval.crystals.structural_failure`)."""
    return "; ".join(f"{cause.replace('_', ' ')} {pct(share)} %" for cause, share in causes.items())


def peak_sentence(peak: dict) -> str:
    """The machine's matrix-product peak as measured beside a throughput row."""
    shapes = "; ".join(f"{name} {' × '.join(str(k) for k in peak['shapes'][name])}: "
                       f"{rates['fp32']:.0f} / {rates['bf16']:.0f}" for name, rates in peak["gflops"].items())
    cpu = peak.get("processor")
    where = (f"{cpu['model']}, bf16 instructions: {', '.join(cpu['bf16_flags']) or 'none'}; " if cpu else "")
    return (f"The machine's matrix-product rate in the same run, GFLOP/s in fp32 / bf16 ({where}{peak['threads']} threads; "
            f"rows × inner × columns): {shapes}. A row's share of the peak (MFU) is its matrix-product FLOPs "
            "(counted by PyTorch's FlopCounterMode) per second over the best rate of its precision at the model's "
            "shapes.")


SEED_LABELS = {"atom_stability": "atom stability", "molecule_stability": "molecule stability",
               "rdkit_validity": "RDKit validity", "uniqueness": "uniqueness"}


def seed_rows(result: dict, keys: tuple[str, ...]) -> list[str]:
    """The table of a `seeds` part: a row per model and seed, then each model's mean, with the shares `keys`."""
    lines = ["| model | seed | " + " | ".join(f"{SEED_LABELS[key]} %" for key in keys) + " |",
             "|---|---|" + "---|" * len(keys)]
    for name, model in result["models"].items():
        for row in model["rows"] + [{"seed": "mean", **model["mean"]}]:
            lines.append("| " + " | ".join([f"`{name}`", str(row["seed"])] + [pct(row[key]) for key in keys]) + " |")
    return lines


def seed_difference(result: dict, how: str) -> list[str]:
    """The sentence under a `seeds` table of two models: the second minus the first, each share with its
    standard error (`how` says how that error was computed); nothing for one model."""
    if "difference" not in result:
        return []
    names = list(result["models"])
    parts = [f"{SEED_LABELS[key]} {100 * d['value']:+.2f} ± {100 * d['standard_error']:.2f} points"
             for key, d in result["difference"].items()]
    return ["", f"`{names[1]}` minus `{names[0]}` (mean ± one standard error{how}): " + "; ".join(parts) + "."]
