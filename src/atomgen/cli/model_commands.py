"""Commands that use or train models: sample, likelihood, decorate, complete, train, zoo."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from atomgen.errors import InputError
from atomgen.models.sampler_settings import (
    ADIT_PRECISION,
    NEXTMOL_PRECISION,
    NEXTMOL_SOLVERS,
    PRECISIONS,
    QUETZAL_PRECISION,
    QUETZAL_SOLVER,
    QUETZAL_SOLVERS,
    QUETZAL_STEPS,
)

DEFAULT_QUETZAL = "quetzal-qm9-small"
DEFAULT_NEXTMOL = "nextmol-qm9"
RELAX_HELP = ("polish each conformer with a short MMFF94 minimisation (RDKit); one MMFF cannot type, or whose "
              "stereochemistry it would change, is kept as generated")
REFINE_HELP = ("denoising iterations at one small noise level after the diffusion chain, which tighten the bond "
               "lengths (default: the model's own, 10 for nextmol-qm9; 0: none)")


def _elements(text: str | None) -> list[int] | None:
    from atomgen.elements import atomic_number

    if not text:
        return None
    try:
        return [atomic_number(token.strip()) for token in text.split(",") if token.strip()]
    except (KeyError, ValueError) as exc:
        raise InputError(f"--elements: {exc}") from None


def _check_output(path: str) -> None:
    from atomgen.io.formats import detect_format

    kind = detect_format(path)
    if kind not in ("sdf", "xyz", "extxyz"):
        raise InputError("molecules are written as SDF or XYZ (.sdf, .xyz, .extxyz)", path)


def _is_folder(path: str) -> bool:
    return path.endswith(("/", "\\")) or Path(path).is_dir()


def _property_units() -> str:
    from atomgen.properties.qm9_properties import PROPERTIES

    return ", ".join(f"{p.name} ({p.unit})" for p in PROPERTIES.values())


_PROPERTY_UNITS = _property_units()

# The `atomgen sample` options each family takes (beyond -n, --seed, --batch-size, --steps).
_FAMILY_OPTIONS = {
    "quetzal": ("temperature", "position_temperature", "elements", "closed_shell", "solver", "precision",
                "property_condition", "guidance"),
    "adit": ("kind", "label", "guidance", "sampler", "n_atoms", "precision", "property_condition"),
    "nextmol": ("temperature", "top_k", "solver", "refine_steps", "relax", "precision", "property_condition",
                "guidance"),
}


def _sampling_options(model, args: argparse.Namespace) -> dict:
    """The family-specific keyword arguments of `model.sample` from the command line; options that do not
    apply to the model's family are an error rather than silently ignored."""
    allowed = _FAMILY_OPTIONS[model.family]
    given = [key for key in {k for keys in _FAMILY_OPTIONS.values() for k in keys} if getattr(args, key) is not None]
    foreign = sorted(f"--{key.replace('_', '-')}" for key in given if key not in allowed)
    if foreign:
        what = " (it makes molecules only)" if "--kind" in foreign or "--label" in foreign else ""
        raise InputError(f"{', '.join(foreign)}: not an option of this {model.family} model{what}")
    options = {key: getattr(args, key) for key in given}
    if args.steps is not None:
        options["steps"] = args.steps
    if "elements" in options:
        options["elements"] = _elements(options["elements"])
    if "kind" in options or "label" in options:
        if "kind" in options and "label" in options:
            raise InputError("give --kind or --label, not both")
        options["condition"] = options.pop("label", None) or options.pop("kind", None)
    if "property_condition" in options:
        from atomgen.models.conditions import parse_condition

        label = options.pop("condition", None)  # ADiT: properties of the given label's (default molecule) class
        options["condition"] = {**parse_condition(options.pop("property_condition")),
                                **({"label": label} if label else {})}
    return options


def _cmd_sample(args: argparse.Namespace) -> None:
    from atomgen.io.formats import detect_format, write, write_folder
    from atomgen.models.registry import load_model

    folder = _is_folder(args.output)
    if not folder:
        detect_format(args.output)  # an unknown suffix fails before any sampling
    model = load_model(args.model, device=args.device)
    if not hasattr(model, "sample"):
        raise InputError(f"{args.model} is a {model.family} model, which predicts properties and samples nothing")
    systems = model.sample(args.n, seed=args.seed, batch_size=args.batch_size, shard=args.shard,
                           **_sampling_options(model, args))
    if folder:
        write_folder(args.output, systems)
    else:
        write(args.output, systems)
    crystals = sum(s.is_periodic for s in systems)
    print(f"wrote {len(systems) - crystals} molecules and {crystals} crystals to {args.output}")


def _cmd_likelihood(args: argparse.Namespace) -> None:
    from atomgen.io.atomic import atomic_write_text
    from atomgen.io.formats import read
    from atomgen.models.registry import load_model

    model = load_model(args.model, family="quetzal", device=args.device)
    systems = read(args.input)
    values = model.log_likelihood(systems, frame=args.frame, steps=args.steps, source=args.input)
    buffer = io.StringIO()
    table = csv.writer(buffer, delimiter="\t" if not args.output else ",", lineterminator="\n")
    table.writerow(["index", "name", "n_atoms", "log_likelihood_nats", "nats_per_atom"])
    for k, (system, value) in enumerate(zip(systems, values)):
        table.writerow([k, system.name or "", len(system), f"{value:.4f}", f"{value / len(system):.4f}"])
    if args.output:
        with atomic_write_text(args.output) as handle:
            handle.write(buffer.getvalue())
        print(f"wrote {len(systems)} log-likelihoods to {args.output}")
    else:
        sys.stdout.write(buffer.getvalue())


def _cmd_decorate(args: argparse.Namespace) -> None:
    from atomgen.io.formats import read, write
    from atomgen.models.registry import load_model
    from atomgen.tasks.decorate import decorate

    _check_output(args.output)
    model = load_model(args.model, family="quetzal", device=args.device)
    molecules = read(args.input)
    decorated = decorate(model, molecules, seed=args.seed, steps=args.steps, solver=args.solver,
                         precision=args.precision, batch_size=args.batch_size,
                         closed_shell=args.closed_shell, source=args.input, shard=args.shard)
    write(args.output, decorated)
    print(f"wrote {len(decorated)} decorated molecules to {args.output}")


def _cmd_complete(args: argparse.Namespace) -> None:
    from atomgen.io.formats import read, write
    from atomgen.models.registry import load_model
    from atomgen.tasks.complete import complete, fragment_from_smiles

    _check_output(args.output)
    model = load_model(args.model, family="quetzal", device=args.device)
    if Path(args.input).exists():
        fragments = read(args.input)
    else:
        fragments = [fragment_from_smiles(args.input, seed=args.seed)]
    results = complete(model, fragments, args.n, seed=args.seed, steps=args.steps, solver=args.solver,
                       precision=args.precision, batch_size=args.batch_size, source=args.input, shard=args.shard)
    write(args.output, results)
    print(f"wrote {len(results)} completions of {len(fragments)} fragment(s) to {args.output}")


def _cmd_train(args: argparse.Namespace) -> None:
    from atomgen.train.config import load_train_config
    from atomgen.train.run import train

    config = load_train_config(args.config, args.set or [], family=args.family)
    run_dir = args.run_dir or f"runs/{args.family}"
    folder = train(config, run_dir, resume=args.resume, progress_bar=args.progress)
    print(f"trained model (EMA weights) in {folder}")


def _read_smiles(text: str) -> tuple[list[str], str | None]:
    """The SMILES of a file (one per line, first field; blank lines and # comments skipped) or of the argument
    itself; and the file's name for error messages."""
    path = Path(text)
    if not path.is_file():
        return [text], None
    lines = [line.split()[0] for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise InputError("no SMILES in the file", path)
    return lines, str(path)


def _cmd_conformers(args: argparse.Namespace) -> None:
    from atomgen.io.formats import write
    from atomgen.models.registry import load_model

    _check_output(args.output)
    smiles, source = _read_smiles(args.input)
    model = load_model(args.model, family="nextmol", device=args.device)
    systems = model.conformers(smiles, args.n, seed=args.seed, steps=args.steps, batch_size=args.batch_size,
                               skip_invalid=args.skip_invalid, source=source, stereo_retries=args.stereo_retries,
                               steer_chirality=not args.no_chirality_steer, solver=args.solver,
                               refine_steps=args.refine_steps, relax=args.relax, shard=args.shard,
                               precision=args.precision)
    write(args.output, systems)
    print(f"wrote {len(systems)} conformers of {len(systems) // max(args.n, 1)} molecules to {args.output}")


def _cmd_zoo(args: argparse.Namespace) -> None:
    from atomgen.zoo import available

    for name, family in available().items():
        print(f"{name}\t{family}")


def _shard(text: str) -> tuple[int, int]:
    """`i/N` as (i, N): the i-th (from 0) of N contiguous slices of a run."""
    try:
        index, total = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a shard is i/N (e.g. 0/4), not {text!r}") from None
    if not 0 <= index < total:
        raise argparse.ArgumentTypeError(f"shard {text} does not exist: shards of {total} are 0/{total} to "
                                         f"{total - 1}/{total}")
    return index, total


SHARD_HELP = ("write only slice i (from 0) of N of the whole run, exactly as it is there: the N shards, concatenated "
              "in order, are the unsharded run")


def _add_model_options(p: argparse.ArgumentParser, default: str = DEFAULT_QUETZAL) -> None:
    p.add_argument("--model", default=default, help=f"shipped model name or checkpoint folder (default {default})")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1 ...)")
    p.add_argument("--steps", type=int, default=QUETZAL_STEPS, help=f"ODE steps per atom position (default "
                                                                    f"{QUETZAL_STEPS})")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    _add_quetzal_sampler_options(p, QUETZAL_SOLVER, QUETZAL_PRECISION)


def _add_quetzal_sampler_options(p: argparse.ArgumentParser | argparse._ArgumentGroup, solver: str | None,
                                 precision: str | None, nextmol: bool = False) -> None:
    """--solver and --precision of Quetzal's position ODE (defaults None where other families share the parser;
    with `nextmol`, --solver also names the solvers of NExT-Mol's conformer chain)."""
    if nextmol:
        p.add_argument("--solver", choices=tuple(dict.fromkeys((*QUETZAL_SOLVERS, *NEXTMOL_SOLVERS))), help=(
            f"Quetzal: ODE solver of each atom's position (default {QUETZAL_SOLVER}; heun is the paper's); NExT-Mol: "
            f"solver of the conformer chain, one of {', '.join(NEXTMOL_SOLVERS)} (default: the model's own)"))
    else:
        p.add_argument("--solver", choices=QUETZAL_SOLVERS, default=solver,
                       help=f"ODE solver of each atom's position (default {QUETZAL_SOLVER}; heun is the paper's)")
    p.add_argument("--precision", choices=PRECISIONS, default=precision,
                   help=f"arithmetic of the networks' matrix products (default: {QUETZAL_PRECISION} for Quetzal, "
                        f"{ADIT_PRECISION} for ADiT, {NEXTMOL_PRECISION} for NExT-Mol's conformers)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the `atomgen` parser."""
    p = sub.add_parser("sample", help="generate molecules or crystals from a model")
    p.add_argument("-n", type=int, default=100, help="number of systems")
    p.add_argument("-o", "--output", required=True,
                   help="output file (.sdf, .xyz, .extxyz; .cif for crystals) or a folder (ending in /): one "
                        "file per system")
    p.add_argument("--model", default=DEFAULT_QUETZAL, help=f"shipped model name or checkpoint folder "
                                                            f"(default {DEFAULT_QUETZAL})")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1 ...)")
    p.add_argument("--steps", type=int,
                   help="diffusion steps (default: the model's own: 30 for Quetzal, 100 for ADiT; NExT-Mol's in its config)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--condition", dest="property_condition", action="append", metavar="NAME=VALUE",
                   help="a property-conditional model: a target, repeatable; NAME=LOW:HIGH draws each molecule's "
                        "target uniformly in the range. Units: " + _PROPERTY_UNITS)
    quetzal = p.add_argument_group("Quetzal")
    quetzal.add_argument("--temperature", type=float,
                         help="of the atom-type (Quetzal) or SELFIES-token (NExT-Mol) distribution (default 1)")
    quetzal.add_argument("--position-temperature", type=float,
                         help="scales the starting noise of each atom's position (default 1, the model's own; "
                              "lower gives sharper geometry and less diversity)")
    _add_quetzal_sampler_options(quetzal, None, None, nextmol=True)
    quetzal.add_argument("--elements", help="comma-separated element symbols allowed (default: all the model knows)")
    quetzal.add_argument("--closed-shell", action="store_const", const=True,
                         help="stop a molecule only when its atoms' valences sum to an even number, so that a "
                              "closed-shell molecule of them can exist")
    adit = p.add_argument_group("ADiT")
    adit.add_argument("--kind", choices=["molecule", "crystal"], help="kind of system to generate")
    adit.add_argument("--label", help="class label to generate (a training dataset, e.g. perov_5)")
    adit.add_argument("--guidance", type=float,
                      help="classifier-free guidance scale (ADiT: default 2; a property-conditional Quetzal or "
                           "NExT-Mol: default 1, the plain conditional model)")
    adit.add_argument("--sampler", choices=["euler", "heun"], help="ODE integrator (default euler)")
    adit.add_argument("--n-atoms", type=int, help="atoms per system (default: drawn from the training data)")
    nextmol = p.add_argument_group("NExT-Mol")
    nextmol.add_argument("--top-k", type=int, help="draw each SELFIES token among the k most likely (default: all)")
    nextmol.add_argument("--refine-steps", type=int, help=REFINE_HELP)
    nextmol.add_argument("--relax", action="store_const", const=True, help=RELAX_HELP)
    p.add_argument("--shard", type=_shard, help=SHARD_HELP)
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("likelihood", help="exact log-likelihood (nats) of each molecule in a file")
    p.add_argument("input", help="SDF or XYZ file (atoms in the order the model should read them)")
    p.add_argument("-o", "--output", help="write a CSV here instead of a table on stdout")
    p.add_argument("--frame", choices=["canonical", "given"], default="canonical",
                   help="canonical: principal-axes frame (rotation invariant); given: coordinates as they are")
    p.add_argument("--model", default=DEFAULT_QUETZAL)
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=128, help="ODE steps of the likelihood integral")
    p.set_defaults(func=_cmd_likelihood)

    p = sub.add_parser("decorate", help="add hydrogens to heavy atoms (one output molecule per input, in order)")
    p.add_argument("input", help="SDF or XYZ with heavy atoms (any hydrogens are replaced)")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--closed-shell", action="store_true",
                   help="stop only when the valences sum to an even number (the hydrogen count's parity is right)")
    _add_model_options(p)
    p.add_argument("--shard", type=_shard, help=SHARD_HELP)
    p.set_defaults(func=_cmd_decorate)

    p = sub.add_parser("complete", help="complete a fragment (SDF/XYZ with coordinates, or a SMILES) n times")
    p.add_argument("input", help="fragment file, or a SMILES string (embedded in 3D first)")
    p.add_argument("-n", type=int, default=100, help="completions per fragment")
    p.add_argument("-o", "--output", required=True)
    _add_model_options(p)
    p.add_argument("--shard", type=_shard, help=SHARD_HELP)
    p.set_defaults(func=_cmd_complete)

    p = sub.add_parser("conformers", help="3D conformers (hydrogens included) of a SMILES or a file of SMILES")
    p.add_argument("input", help="a SMILES, or a file with one SMILES per line")
    p.add_argument("-n", type=int, default=10, help="conformers per molecule")
    p.add_argument("-o", "--output", required=True, help="output .sdf (or .xyz); n records per input, in order")
    p.add_argument("--skip-invalid", action="store_true",
                   help="warn about and skip SMILES that cannot be parsed or built, instead of stopping")
    p.add_argument("--model", default=DEFAULT_NEXTMOL, help=f"default {DEFAULT_NEXTMOL}")
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, help="diffusion steps (default: the model's own)")
    p.add_argument("--solver", choices=NEXTMOL_SOLVERS,
                   help="solver of the diffusion chain: DDPM's or DDIM's step, or either in second-order form "
                        "(sde-dpm2m, dpm2m) (default: the model's own)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stereo-retries", type=int, default=2,
                   help="draws again a conformer with a wrong relative configuration of its stereocentres, up to "
                        "this many times (default 2)")
    p.add_argument("--no-chirality-steer", action="store_true",
                   help="do not steer stereocentres to their hand while sampling (the model alone)")
    p.add_argument("--refine-steps", type=int, help=REFINE_HELP)
    p.add_argument("--relax", action="store_true", help=RELAX_HELP)
    p.add_argument("--precision", choices=PRECISIONS, default=NEXTMOL_PRECISION,
                   help=f"arithmetic of the conformer network's matrix products (default {NEXTMOL_PRECISION})")
    p.add_argument("--shard", type=_shard, help=SHARD_HELP)
    p.set_defaults(func=_cmd_conformers)

    p = sub.add_parser("train", help="train a model with Lightning (CPU, GPUs, nodes: set trainer.* in the config)")
    p.add_argument("family", choices=["quetzal", "adit", "nextmol", "property-classifier"])
    p.add_argument("--config", help="YAML preset, e.g. configs/quetzal/qm9-small.yaml")
    p.add_argument("--run-dir", help="folder for checkpoints, logs and the exported model (default runs/FAMILY)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoints/last.ckpt")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting, e.g. optim.lr=3e-4")
    p.add_argument("--progress", action="store_true", help="show Lightning's progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("zoo", help="list the shipped pretrained models")
    p.set_defaults(func=_cmd_zoo)
