"""`atomgen` on the command line: a thin layer over the Python API.

Every command that draws random numbers takes --seed; every failure a user can cause prints one line naming
the file and record, and exits non-zero without leaving a half-written output.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from atomgen import __version__
from atomgen.cli import data_commands, model_commands, report_commands
from atomgen.errors import AtomgenError

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `atomgen` command."""
    parser = argparse.ArgumentParser(prog="atomgen", description="Generate and evaluate 3D molecules and crystals.")
    parser.add_argument("--version", action="version", version=f"atomgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    data_commands.register(sub)
    model_commands.register(sub)
    report_commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 success, 2 bad input)."""
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        args.func(args)
    except AtomgenError as err:
        print(f"atomgen: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("atomgen: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
