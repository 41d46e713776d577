"""`atomgen report`: one self-contained HTML page of a sample (its metrics beside the reference's data row,
plots, a gallery with 3D views) or of a training run folder (its curves)."""

from __future__ import annotations

import argparse

from atomgen.cli.data_commands import add_data_dir, add_evaluation_switches, evaluation_switches


def _cmd_report(args: argparse.Namespace) -> None:
    from atomgen.report.run import is_run_dir, write_run_report

    if is_run_dir(args.path):
        print(f"wrote {write_run_report(args.path, args.output)}")
        return
    from atomgen.report.samples import write_samples_report

    write_samples_report(
        args.path, args.output, reference=args.reference, seed=args.seed, data_dir=args.data_dir,
        with_data_row=not args.no_data_row, progress=not args.no_progress, skip_invalid=args.skip_invalid,
        **evaluation_switches(args),
    )
    print(f"wrote {args.output}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `report` to the `atomgen` parser."""
    p = sub.add_parser("report", help="an HTML report (opens offline) of a file of samples or of a training run")
    p.add_argument("path", help="samples (SDF, XYZ, extended XYZ, CIF or a folder of them), or a run folder "
                                "(config.json and logs/, as `atomgen train` writes)")
    p.add_argument("-o", "--output", default="report.html", help="the HTML file to write (default report.html)")
    p.add_argument("--reference", default="qm9", help="samples: qm9, drugs-etkdg, perov_5, carbon_24 or a file")
    p.add_argument("--no-data-row", action="store_true",
                   help="samples: leave out the reference data's own row (it is evaluated once and cached)")
    add_evaluation_switches(p)
    p.add_argument("--skip-invalid", action="store_true", help="skip unreadable records (counted in the report)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.add_argument("--seed", type=int, default=0, help="seeds the evaluation's subsets and the gallery")
    add_data_dir(p)
    p.set_defaults(func=_cmd_report)
