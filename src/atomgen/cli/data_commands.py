"""Commands that read, convert, prepare and evaluate data: convert, evaluate, evaluate-conformers, data, demo."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None, help="dataset cache folder (default: $ATOMGEN_DATA or ~/.cache/atomgen)")


def add_evaluation_switches(parser: argparse.ArgumentParser) -> None:
    """The switches of `atomgen.evaluate` that `evaluate` and `report` share (`evaluation_switches` reads them)."""
    parser.add_argument("--no-fcd", action="store_true")
    parser.add_argument("--no-posebusters", action="store_true")
    parser.add_argument("--no-strain", action="store_true")
    parser.add_argument("--xtb", action="store_true",
                        help="molecules: also relax up to 1,000 valid ones with GFN2-xTB and report the energy "
                             "released (kcal/mol) and the RMSD to the relaxed geometry (about 0.1 s a QM9 molecule)")


def evaluation_switches(args: argparse.Namespace) -> dict[str, bool]:
    """The keyword arguments of `atomgen.evaluate` that `add_evaluation_switches` set."""
    return {"fcd": not args.no_fcd, "posebusters": not args.no_posebusters, "strain": not args.no_strain,
            "xtb": args.xtb}


def _cmd_convert(args: argparse.Namespace) -> None:
    from atomgen.io.formats import read_files

    result = read_files(args.input, skip_invalid=args.skip_invalid)
    bondless = _write_counting_bondless(args.output, result.systems)
    skipped = f", skipped {len(result.skipped)} invalid" if result.skipped else ""
    no_bonds = f", {bondless} without bonds (no sanitisable bond table; field atomgen_bonds)" if bondless else ""
    print(f"wrote {len(result.systems)} systems to {args.output}{skipped}{no_bonds}")


def _write_counting_bondless(output: str, systems: list) -> int:
    """Write the systems; the number of molecules written without bonds (other warnings are shown as usual)."""
    import warnings

    from atomgen.io.formats import write
    from atomgen.io.sdf import BondlessRecordsWarning

    # The count goes into the command's summary line, so the warning itself is caught rather than shown.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BondlessRecordsWarning)
        write(output, systems)
    bondless = 0
    for item in caught:
        if isinstance(item.message, BondlessRecordsWarning):
            bondless += item.message.count
        else:
            warnings.showwarning(item.message, item.category, item.filename, item.lineno)
    return bondless


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from atomgen.eval.evaluate import evaluate
    from atomgen.io.formats import read_files

    samples = read_files(args.samples, skip_invalid=args.skip_invalid)
    report = evaluate(
        samples.systems,
        args.reference,
        coverage=args.coverage,
        seed=args.seed,
        n_skipped=len(samples.skipped),
        data_dir=args.data_dir,
        progress=not args.no_progress,
        **evaluation_switches(args),
    )
    print(report.to_markdown())
    if args.output:
        report.save_json(args.output)
    if args.markdown:
        report.save_markdown(args.markdown)
    if args.html:
        from atomgen.report.samples import write_report_html

        write_report_html(args.html, samples.systems, report, reference=args.reference, data_dir=args.data_dir,
                          progress=not args.no_progress, **evaluation_switches(args))
        print(f"wrote {args.html}")


def _cmd_conformers_eval(args: argparse.Namespace) -> None:
    from atomgen.eval.conformer_report import evaluate_conformer_files

    text, result = evaluate_conformer_files(
        args.generated, args.reference, delta=args.delta, baseline_k=args.baselines, seed=args.seed,
        output=args.output,
    )
    print(text)
    if args.html:
        from atomgen.report.conformers import write_conformer_report

        write_conformer_report(args.html, result, title=f"atomgen conformers: {args.generated} against "
                                                         f"{args.reference}")
        print(f"wrote {args.html}")


def _cmd_data(args: argparse.Namespace) -> None:
    from atomgen.data.paths import data_dir

    if args.dataset == "qm9":
        from atomgen.data.qm9 import prepare_qm9

        exclude = []
        if args.exclude:
            exclude = [int(tok) for tok in Path(args.exclude).read_text().split() if tok.isdigit()]
        folder = prepare_qm9(args.data_dir, archive=args.archive, exclude=exclude)
        print(f"QM9 ready in {folder}")
    elif args.dataset == "drugs-etkdg":
        from atomgen.data.drugs import build_drugs_etkdg

        folder = build_drugs_etkdg(
            data_dir(args.data_dir) / "drugs-etkdg", args.split, max_molecules=args.max_molecules,
            max_atoms=args.max_atoms, workers=args.workers, seed=args.seed,
        )
        print(f"drugs-etkdg {args.split} ready in {folder}")
    else:
        from atomgen.data.crystals import load_crystal_split
        from atomgen.io.formats import write

        table = load_crystal_split(args.dataset, args.split)
        if args.output:
            write(args.output, list(table))
        print(f"{args.dataset} {args.split}: {len(table)} crystals" + (f" written to {args.output}" if args.output else ""))


def _cmd_demo(args: argparse.Namespace) -> None:
    from atomgen.demo import run_demo

    run_demo(args.output, n=args.n, seed=args.seed, data_dir=args.data_dir, model=args.model,
             n_crystals=args.crystals, n_conformers=args.conformers)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the `atomgen` parser."""
    p = sub.add_parser("convert", help="convert between SDF, XYZ, extended XYZ, CIF and pack")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--skip-invalid", action="store_true", help="skip broken records with a warning")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("evaluate", help="evaluate generated molecules or crystals against a reference")
    p.add_argument("samples", help="an SDF, XYZ, extended XYZ or CIF file, or a folder of them")
    p.add_argument("--reference", default="qm9", help="qm9, drugs-etkdg, perov_5, carbon_24 or a file")
    p.add_argument("-o", "--output", help="write the report as JSON here")
    p.add_argument("--markdown", help="write the report as Markdown here")
    p.add_argument("--html", help="write an HTML report here (plots, gallery, 3D views, the reference's data row; "
                                  "as `atomgen report`)")
    add_evaluation_switches(p)
    p.add_argument("--coverage", action="store_true",
                   help="crystals: also COV-R / COV-P against the reference's test side, with CDVAE's cut-offs for "
                        "perov_5 and carbon_24 (slow; needs matminer)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.add_argument("--skip-invalid", action="store_true", help="skip unreadable records (counted in the report)")
    p.add_argument("--seed", type=int, default=0)
    add_data_dir(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("evaluate-conformers", help="COV/AMR and best RMSD of generated conformers to references")
    p.add_argument("generated", help="SDF of generated conformers (molecules matched to references by graph)")
    p.add_argument("reference", help="SDF of reference conformers")
    p.add_argument("--delta", type=float, default=0.5, help="coverage threshold in Å (0.75 for drug-size)")
    p.add_argument("--baselines", type=int, default=0, metavar="K", help="also run ETKDG and ETKDG+MMFF with K conformers")
    p.add_argument("-o", "--output", help="write the result as JSON here")
    p.add_argument("--html", help="write an HTML report here: the table and the RMSD (or coverage) distributions")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_conformers_eval)

    p = sub.add_parser("data", help="prepare a dataset into the cache folder (or export a crystal split)")
    p.add_argument("dataset", choices=["qm9", "drugs-etkdg", "perov_5", "carbon_24", "mp_20"])
    p.add_argument("--split", default="test")
    p.add_argument("--archive", help="qm9: read the original dsgdb9nsd.xyz.tar.bz2 instead of qm9pack")
    p.add_argument("--exclude", help="qm9 --archive: file of gdb indices to leave out (uncharacterised molecules)")
    p.add_argument("--max-molecules", type=int)
    p.add_argument("--max-atoms", type=int)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("-o", "--output", help="crystals: write the split to this file (CIF, extended XYZ, pack)")
    p.add_argument("--seed", type=int, default=0)
    add_data_dir(p)
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("demo", help="the main job: sample molecules and crystals from the shipped models, "
                                    "evaluate them, write demo_out/")
    p.add_argument("-o", "--output", default="demo_out")
    p.add_argument("-n", type=int, default=1000, help="molecules")
    p.add_argument("--crystals", type=int, default=20, help="Perov-5 crystals from adit-joint-small (0: none)")
    p.add_argument("--conformers", type=int, default=5,
                   help="conformers per demo SMILES from nextmol-qm9 (0: none)")
    p.add_argument("--model", default="quetzal-qm9-small")
    p.add_argument("--seed", type=int, default=0)
    add_data_dir(p)
    p.set_defaults(func=_cmd_demo)
