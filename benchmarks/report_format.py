"""Number formatting and provenance lines shared by the BENCHMARKS.md section renderers."""

from __future__ import annotations


def pct(value) -> str:
    """A fraction as a percentage with two decimals, or n/a when it was not measured."""
    return "n/a" if not isinstance(value, (int, float)) else f"{100 * value:.2f}"


def num(value) -> str:
    """A number to four significant digits, or n/a when it was not measured."""
    return "n/a" if not isinstance(value, (int, float)) else f"{value:.4g}"


def provenance(entry: dict, command: str, part: str) -> str:
    """Where a stored result came from: the command, machine, commit and date."""
    return f"Command: `{command} {part}` ({entry['machine']}, commit {entry['commit']}, {entry['date']})."


def cause_shares(causes: dict) -> str:
    """The share of samples that each cause of failure accounts for, in one line (a molecule's instability,
    `atomgen.eval.instability`, or a crystal's structural failure, `atomgen.eval.crystals.structural_failure`)."""
    return "; ".join(f"{cause.replace('_', ' ')} {pct(share)} %" for cause, share in causes.items())
