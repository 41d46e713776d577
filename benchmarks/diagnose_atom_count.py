"""Would a NExT-Mol conditional model do better if it were told the atom count, as EDM's generator is?

    python benchmarks/diagnose_atom_count.py [--model nextmol-qm9-cond] [-n 200] [-k 10] [--temperature 1]

EDM's protocol draws an atom count, then the property from that count's histogram, and hands its generator both;
NExT-Mol's language model is handed the property only and chooses the size itself. Before training a model that
also reads the count, this measures what the count is worth to the present one: for each of n targets (the
guidance part's: generator 11, sampling seed 7) the language model writes k SMILES at the property's tuned
guidance scale; "free" keeps the first buildable one (what `sample` does), "told" the first whose atom count,
hydrogens included, is the drawn one (the first buildable where none is). Each set gets one conformer per molecule
(seed 0) and the classifier's MAE against the targets. If "told" is not clearly lower, the errors are not size
mismatches and a count-conditioned model would not pay for its training.

Prints one line per property; writes nothing.
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_conditional import _edm_targets, tuned_guidance  # sibling scripts
from conditional_judging import JUDGES, mae, trained_judge
from rdkit import Chem

def atom_count(model, smiles: str) -> int | None:
    """Atoms with hydrogens of a SMILES the model can build; None for one it cannot."""
    if not smiles or not model._buildable(smiles):
        return None
    return Chem.AddHs(Chem.MolFromSmiles(smiles)).GetNumAtoms()


def main() -> None:
    from atomgen.models.registry import load_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="nextmol-qm9-cond")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("-k", type=int, default=10, help="SMILES drawn per target")
    parser.add_argument("--temperature", type=float, default=1.0)
    args = parser.parse_args()

    model = load_model(args.model)
    scales = tuned_guidance(args.model, JUDGES)
    edm_targets = _edm_targets(None)
    for name, scale in scales.items():
        prop, targets = edm_targets(name)
        counts, requested = targets.sample(args.n, np.random.default_rng(11))
        drawn = model.sample_smiles(args.n * args.k, seed=7, condition={name: np.repeat(requested, args.k)},
                                    guidance=scale, temperature=args.temperature)
        free, told, first_right, some_right = [], [], 0, 0
        for i in range(args.n):
            buildable = [(s, c) for s in drawn[i * args.k:(i + 1) * args.k] if (c := atom_count(model, s))]
            right = [s for s, c in buildable if c == counts[i]]
            free.append(buildable[0][0])
            told.append(right[0] if right else buildable[0][0])
            first_right += buildable[0][1] == counts[i]
            some_right += bool(right)
        judge = trained_judge(JUDGES, name)
        errors = {label: mae(judge.predict(model.conformers(chosen, 1, seed=0, progress=False)), requested)
               * prop.table_scale for label, chosen in (("free", free), ("told", told))}
        print(f"{name} ({prop.table_unit}, guidance {scale:g}, temperature {args.temperature:g}): first draw of the "
              f"drawn count {first_right / args.n:.0%}, some draw of {args.k} {some_right / args.n:.0%}; "
              f"MAE free {errors['free']:.4g}, told {errors['told']:.4g} ({errors['told'] / errors['free'] - 1:+.1%})",
              flush=True)


if __name__ == "__main__":
    main()
