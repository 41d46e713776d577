"""Would a NExT-Mol conditional model do better if it were told the atom count, as EDM's generator is?

    python benchmarks/diagnose_atom_count.py [--model nextmol-qm9-cond] [-n 200] [-k 10] [--temperature 1]

EDM's protocol draws an atom count, then the property from that count's histogram, and hands its generator both;
NExT-Mol's language model is handed the property only and chooses the size itself. Before training a model that
also reads the count, this measures what the count is worth to the present one: for each of n targets (the
guidance part's: generator 11, sampling seed 7) the language model writes k SMILES at the property's tuned
guidance scale; "first buildable" keeps the first one the model can build (what `sample` does), "right count"
the first whose atom count, hydrogens included, is the drawn one (the first buildable where none is). Each set
gets one conformer per molecule (seed 0) and the classifier's MAE against the targets. If "right count" is not
clearly lower, the errors are not size mismatches and a count-conditioned model would not pay for its training.

Prints one line per property; writes nothing.
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_conditional import _edm_targets, tuned_guidance  # sibling scripts
from conditional_judging import JUDGES, mae, trained_judge


def atom_count(model, smiles: str) -> int | None:
    """Atoms with hydrogens of a SMILES the model can build; None for one it cannot."""
    from atomgen.errors import InputError

    try:
        return model._graph(smiles)[0].GetNumAtoms() if smiles else None
    except InputError:
        return None


def main() -> None:
    from atomgen.models.registry import load_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="nextmol-qm9-cond")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("-k", type=int, default=10, help="SMILES drawn per target")
    parser.add_argument("--temperature", type=float, default=1.0)
    args = parser.parse_args()

    model = load_model(args.model)
    if model.family != "nextmol":
        raise SystemExit(f"{args.model} is a {model.family} model; this diagnosis reads a language model's SMILES")
    scales = tuned_guidance(args.model, JUDGES)
    edm_targets = _edm_targets(None)
    for name, scale in scales.items():
        prop, targets = edm_targets(name)
        counts, requested = targets.sample(args.n, np.random.default_rng(11))
        drawn = model.sample_smiles(args.n * args.k, seed=7, condition={name: np.repeat(requested, args.k)},
                                    guidance=scale, temperature=args.temperature)
        first, right_count, kept, first_right, some_right = [], [], [], 0, 0
        for i in range(args.n):
            buildable = [(s, c) for s in drawn[i * args.k:(i + 1) * args.k] if (c := atom_count(model, s))]
            if not buildable:  # none of the k draws can be built: the target is left out of both sets
                continue
            right = [s for s, c in buildable if c == counts[i]]
            first.append(buildable[0][0])
            right_count.append(right[0] if right else buildable[0][0])
            kept.append(i)
            first_right += buildable[0][1] == counts[i]
            some_right += bool(right)
        judge = trained_judge(JUDGES, name)
        errors = {label: mae(judge.predict(model.conformers(chosen, 1, seed=0, progress=False)), requested[kept])
                  * prop.table_scale for label, chosen in (("first", first), ("right", right_count))}
        print(f"{name} ({prop.table_unit}, guidance {scale:g}, temperature {args.temperature:g}, {len(kept)} of "
              f"{args.n} targets with a buildable draw): first buildable draw of the drawn count "
              f"{first_right / len(kept):.0%}, some draw of {args.k} {some_right / len(kept):.0%}; MAE first "
              f"buildable {errors['first']:.4g}, right count {errors['right']:.4g} "
              f"({errors['right'] / errors['first'] - 1:+.1%})", flush=True)


if __name__ == "__main__":
    main()
