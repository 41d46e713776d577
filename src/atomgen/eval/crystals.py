"""Crystal generation metrics as docs/EVALUATION.md (section Crystals) defines them.

- Structural validity: all interatomic distances (periodic images, an atom's own image included) > 0.5 Å and
  cell volume > 0.1 Å^3.
- Compositional validity: `smact.screening.smact_validity`. Single elements (carbon) and all-metal alloys are
  valid (smact's fast paths, CDVAE's convention); oxidation states default to "smact14", the set CDVAE's
  smact 2.2 used (smact >= 3 defaults to a filtered ICSD-24 set: pass `oxidation_states_set=None`).
- Uniqueness / novelty: pymatgen `StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5)` over the structurally
  valid samples; uniqueness = distinct structures (greedy grouping, like `group_structures`) / samples.
- Distributions: Wasserstein-1 of density (g/cm^3) and number of elements, valid samples vs the reference set.
- Coverage (CDVAE COV-R / COV-P): needs matminer (atomgen's `coverage` extra, which the Makefile installs);
  otherwise 'not computed: ...'. Magpie fingerprints are standardised with the reference set's mean and std
  (CDVAE uses fixed constants), so values are not directly comparable with CDVAE's tables.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from atomgen.eval.progress import stage_bar
from atomgen.io.convert import to_pymatgen
from atomgen.system import AtomSystem

__all__ = [
    "COVERAGE_CUTOFFS",
    "compositionally_valid",
    "coverage",
    "crystal_metrics",
    "density",
    "min_interatomic_distance",
    "n_elements",
    "novel_mask",
    "structural_failure",
    "structurally_valid",
    "unique_labels",
]

MIN_DISTANCE = 0.5  # Å
MIN_VOLUME = 0.1  # Å^3
MATCHER_TOLERANCES = {"ltol": 0.2, "stol": 0.3, "angle_tol": 5.0}
# CDVAE's coverage cut-offs (structure fingerprint distance, composition fingerprint distance).
COVERAGE_CUTOFFS: dict[str, tuple[float, float]] = {
    "mp_20": (0.4, 10.0),
    "carbon_24": (0.2, 4.0),
    "perov_5": (0.2, 4.0),
}
_AMU_PER_A3_TO_G_PER_CM3 = 1.66053906660  # 1 u / Å^3 in g / cm^3
_IMAGES = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=np.float64)


# ------------------------------------------------------------------------------------------ per-sample checks
def _closest_pair_and_image(system: AtomSystem) -> tuple[float, float]:
    """Shortest distance in Å between two distinct atoms of the infinite crystal, and between an atom and its own
    periodic image (the shortest lattice vector); inf where there is no pair."""
    from pymatgen.core import Lattice

    # In an LLL-reduced basis, wrapping fractional differences to [-0.5, 0.5) and trying the 27 neighbouring
    # images finds the minimum image (the same scheme as pymatgen's pbc_shortest_vectors).
    lll = Lattice(system.lattice).lll_matrix
    frac = np.linalg.solve(lll.T, system.positions.T).T
    image = float(np.sqrt(((np.delete(_IMAGES, 13, axis=0) @ lll) ** 2).sum(-1)).min())  # 13 is (0, 0, 0)
    pair = math.inf
    for start in range(0, len(frac), 64):  # chunks keep the (n, n, 27, 3) array small for big cells
        diff = frac[start : start + 64, None, :] - frac[None, :, :]
        diff -= np.round(diff)
        cart = (diff[:, :, None, :] + _IMAGES[None, None, :, :]) @ lll
        dist = np.sqrt((cart**2).sum(-1))
        rows = np.arange(dist.shape[0])
        dist[rows, rows + start, :] = np.inf  # an atom and itself, or its own images: counted in `image`
        pair = min(pair, float(dist.min()))
    return pair, image


def min_interatomic_distance(system: AtomSystem) -> float:
    """Shortest distance in Å between two atoms of the infinite crystal (an atom and its own image included)."""
    return min(_closest_pair_and_image(system))


STRUCTURAL_FAILURES = ("no lattice", "not finite", "tiny volume", "short lattice vector", "overlapping atoms")
"""What `structural_failure` can name, in the order it checks them."""


def structural_failure(system: AtomSystem, *, cutoff: float = MIN_DISTANCE,
                       min_volume: float = MIN_VOLUME) -> str | None:
    """Why a crystal is not structurally valid, or None if it is.

    'short lattice vector': an atom lies within `cutoff` of its own periodic image; 'overlapping atoms': two
    distinct atoms lie within `cutoff` of each other (two atoms on one site, for a generative model).
    """
    if system.lattice is None or len(system) == 0:
        return "no lattice"
    if not (np.all(np.isfinite(system.lattice)) and np.all(np.isfinite(system.positions))):
        return "not finite"
    if system.volume <= min_volume:
        return "tiny volume"
    pair, image = _closest_pair_and_image(system)
    if image <= cutoff:
        return "short lattice vector"
    if pair <= cutoff:
        return "overlapping atoms"
    return None


def structurally_valid(system: AtomSystem, *, cutoff: float = MIN_DISTANCE, min_volume: float = MIN_VOLUME) -> bool:
    """True if all interatomic distances (periodic images included) exceed `cutoff` and volume > `min_volume`."""
    return structural_failure(system, cutoff=cutoff, min_volume=min_volume) is None


@functools.lru_cache(maxsize=65536)
def _smact_valid(composition: tuple[tuple[str, int], ...], oxidation_states_set: str | None) -> bool:
    from pymatgen.core import Composition
    from smact.screening import smact_validity

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # smact warns about missing data for exotic elements
        try:
            return bool(smact_validity(Composition(dict(composition)), oxidation_states_set=oxidation_states_set))
        except Exception:  # elements smact has no data for (heavy actinides...): cannot be shown valid
            return False


def compositionally_valid(system: AtomSystem, *, oxidation_states_set: str | None = "smact14") -> bool:
    """SMACT validity (charge neutral + electronegativity ordering) of the system's composition.

    Single-element compositions and all-metal alloys are valid (smact_validity's fast paths, CDVAE's
    convention). `oxidation_states_set=None` uses smact's current default (filtered ICSD-24).
    """
    if len(system) == 0:
        return False
    counts = Counter(system.symbols)
    gcd = math.gcd(*counts.values())
    key = tuple(sorted((sym, n // gcd) for sym, n in counts.items()))
    return _smact_valid(key, oxidation_states_set)


def density(system: AtomSystem) -> float:
    """Mass density in g/cm^3."""
    return _mass(tuple(system.numbers.tolist())) * _AMU_PER_A3_TO_G_PER_CM3 / system.volume


@functools.lru_cache(maxsize=4096)
def _mass(numbers: tuple[int, ...]) -> float:
    from pymatgen.core import Element

    return float(sum(float(Element.from_Z(z).atomic_mass) for z in numbers))


def n_elements(system: AtomSystem) -> int:
    """Number of distinct elements."""
    return int(len(np.unique(system.numbers)))


# ------------------------------------------------------------------------------------ structure matching
def _reduced(systems: Iterable[AtomSystem]) -> Iterator[tuple[tuple[str, int], Any, np.ndarray]]:
    """Per system, as it is reached: (bucket key, reduced pymatgen structure, scale-free lattice lengths)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    for system in systems:
        # The same primitive + Niggli reduction fit() would redo for every pair; done once per structure here.
        structure = StructureMatcher._get_reduced_structure(to_pymatgen(system), True, True)
        lengths = np.sort(structure.lattice.abc) / structure.volume ** (1 / 3)
        yield (structure.composition.reduced_formula, len(structure)), structure, lengths


def _may_match(lengths1: np.ndarray, lengths2: np.ndarray, ltol: float) -> bool:
    # fit(s1, s2) maps a basis of s1's lattice onto s2's Niggli cell with every length within a factor
    # (1 + ltol), after both are scaled to one volume. A Niggli cell's sorted lengths are the lattice's successive
    # minima, so s1's minima must each be below (1 + ltol) times s2's: a cheap necessary condition (1% slack).
    return bool(np.all(lengths1 < lengths2 * (1.0 + ltol) * 1.01))


def _matcher(tolerances: dict[str, float] | None):
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher(**(tolerances or MATCHER_TOLERANCES))


def unique_labels(samples: Sequence[AtomSystem], *, tolerances: dict[str, float] | None = None,
                  progress: bool = False) -> np.ndarray:
    """Group label of each sample (equal labels = the same structure under StructureMatcher).

    `progress` shows a bar ("uniqueness") on stderr.
    """
    matcher = _matcher(tolerances)
    ltol = matcher.ltol
    reps: dict[tuple[str, int], list[tuple[Any, np.ndarray, int]]] = {}
    labels = np.empty(len(samples), dtype=np.int64)
    n_groups = 0
    # Only structures with the same reduced formula and site count after primitive reduction can match
    # (fit() rejects anything else), so each one is compared with the representatives of its bucket only.
    shown = stage_bar(samples, desc="uniqueness", unit="crystal", enabled=progress)
    for index, (key, structure, lengths) in enumerate(_reduced(shown)):
        bucket = reps.setdefault(key, [])
        for rep_structure, rep_lengths, label in bucket:
            if _may_match(rep_lengths, lengths, ltol) and matcher.fit(
                rep_structure, structure, skip_structure_reduction=True
            ):
                labels[index] = label
                break
        else:
            labels[index] = n_groups
            bucket.append((structure, lengths, n_groups))
            n_groups += 1
    return labels


def novel_mask(
    samples: Sequence[AtomSystem], train: Sequence[AtomSystem], *, tolerances: dict[str, float] | None = None,
    progress: bool = False,
) -> np.ndarray:
    """True for each sample that matches no structure of `train` (StructureMatcher, sample fitted onto train).

    `progress` shows bars ("novelty: training crystals", then "novelty") on stderr.
    """
    matcher = _matcher(tolerances)
    by_key: dict[tuple[str, int], list[tuple[Any, np.ndarray]]] = {}
    shown = stage_bar(train, desc="novelty: training crystals", unit="crystal", enabled=progress)
    for key, structure, lengths in _reduced(shown):
        by_key.setdefault(key, []).append((structure, lengths))
    novel = np.ones(len(samples), dtype=bool)
    shown = stage_bar(samples, desc="novelty", unit="crystal", enabled=progress)
    for index, (key, structure, lengths) in enumerate(_reduced(shown)):
        for ref_structure, ref_lengths in by_key.get(key, ()):
            if _may_match(lengths, ref_lengths, matcher.ltol) and matcher.fit(
                structure, ref_structure, skip_structure_reduction=True
            ):
                novel[index] = False
                break
    return novel


# -------------------------------------------------------------------------------------------- distributions
def _distribution_distances(good: Sequence[AtomSystem], reference: Sequence[AtomSystem],
                            progress: bool) -> dict[str, float]:
    """`density_w1` and `n_elements_w1` between the valid samples and the reference crystals."""
    densities, counts = [], []
    with stage_bar(desc="distributions", total=len(good) + len(reference), unit="crystal", enabled=progress) as bar:
        for systems in (good, reference):
            densities.append([density(s) for s in systems])
            counts.append([n_elements(s) for s in systems])
            bar.update(len(systems))
    return {"density_w1": float(wasserstein_distance(*densities)),
            "n_elements_w1": float(wasserstein_distance(*counts))}


# ------------------------------------------------------------------------------------------------- coverage
def coverage(
    samples: Sequence[AtomSystem],
    reference: Sequence[AtomSystem],
    *,
    dataset: str | None = None,
    cutoffs: tuple[float, float] | None = None,
    n_generated: int | None = None,
    progress: bool = False,
) -> dict[str, float] | str:
    """CDVAE COV-R / COV-P, or a 'not computed: reason' string (no matminer, no cut-offs).

    Args:
        samples: the generated crystals to fingerprint (pass the valid ones, as CDVAE does).
        reference: the reference (test) crystals.
        dataset: perov_5, carbon_24 or mp_20, to pick CDVAE's cut-offs; or give `cutoffs` (structure, comp).
        n_generated: denominator of COV-P (all generated samples, valid or not); defaults to len(samples).
        progress: show bars ("coverage: samples", "coverage: reference crystals") on stderr.
    """
    if cutoffs is None:
        if dataset not in COVERAGE_CUTOFFS:
            return f"not computed: no coverage cut-offs for dataset {dataset!r} (known: {', '.join(COVERAGE_CUTOFFS)})"
        cutoffs = COVERAGE_CUTOFFS[dataset]
    try:
        from matminer.featurizers.composition import ElementProperty
        from matminer.featurizers.site import CrystalNNFingerprint
    except ImportError:
        return "not computed: matminer (CrystalNN / Magpie fingerprints) is not installed"
    if not samples or not reference:
        return "not computed: no valid samples or no reference crystals"
    from scipy.spatial.distance import cdist

    site_fp = CrystalNNFingerprint.from_preset("ops")
    comp_fp = ElementProperty.from_preset("magpie")

    def fingerprints(systems: Sequence[AtomSystem], desc: str) -> tuple[np.ndarray, np.ndarray]:
        struct, comp = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # CrystalNN warns on unusual coordination environments
            for system in stage_bar(systems, desc=desc, unit="crystal", enabled=progress):
                structure = to_pymatgen(system)
                try:
                    sites = [site_fp.featurize(structure, i) for i in range(len(structure))]
                    struct.append(np.mean(sites, axis=0))
                    comp.append(np.asarray(comp_fp.featurize(structure.composition), dtype=float))
                except Exception:  # CrystalNN fails on some odd environments: no fingerprint (CDVAE drops it)
                    struct.append(None)
                    comp.append(None)
        keep = [i for i, fp in enumerate(struct) if fp is not None]
        return np.array([struct[i] for i in keep], dtype=float), np.array([comp[i] for i in keep], dtype=float)

    s_struct, s_comp = fingerprints(samples, "coverage: samples")
    r_struct, r_comp = fingerprints(reference, "coverage: reference crystals")
    if not len(s_struct) or not len(r_struct):
        return "not computed: no fingerprint could be computed"
    mean, std = np.nanmean(r_comp, axis=0), np.nanstd(r_comp, axis=0)
    std[~(std > 0)] = 1.0  # constant features (carbon: every composition is C) only shift

    def scale(x: np.ndarray) -> np.ndarray:
        return np.nan_to_num((x - mean) / std, nan=0.0)

    struct_d = cdist(np.nan_to_num(s_struct), np.nan_to_num(r_struct))
    comp_d = cdist(scale(s_comp), scale(r_comp))
    close = (struct_d <= cutoffs[0]) & (comp_d <= cutoffs[1])
    return {
        "cov_recall": float(close.any(axis=0).mean()),
        "cov_precision": float(close.any(axis=1).sum() / (n_generated or len(samples))),
    }


# ---------------------------------------------------------------------------------------------- entry point
def crystal_metrics(
    samples: Sequence[AtomSystem],
    reference: Sequence[AtomSystem] | None = None,
    train: Sequence[AtomSystem] | None = None,
    *,
    dataset: str | None = None,
    compute_coverage: bool = False,
    oxidation_states_set: str | None = "smact14",
    progress: bool = False,
) -> dict[str, Any]:
    """All crystal metrics of EVALUATION.md for generated `samples`.

    Args:
        samples: generated crystals.
        reference: crystals for the distribution metrics and coverage (the test split).
        train: crystals for novelty (the training split; here typically `val`, see shared/data/README.md).
        dataset: perov_5, carbon_24 or mp_20, for the coverage cut-offs.
        compute_coverage: compute COV-R / COV-P (slow: CrystalNN on every site; needs matminer).
        oxidation_states_set: passed to smact_validity (see `compositionally_valid`).
        progress: show a bar for every stage on stderr.

    Returns:
        Fractions in [0, 1] (`structural_validity`, `compositional_validity`, `validity`, `uniqueness`,
        `novelty`, `cov_recall`, `cov_precision`), W1 distances (`density_w1`, `n_elements_w1`), counts
        (`n_samples`, `n_structurally_valid`, `n_valid`), `structural_failures` (each cause of
        `structural_failure` as a share of all samples), `per_crystal` (each sample's structural failure, None
        when sound, and compositional validity, in sample order), and a 'not computed: reason' string for any
        metric that could not be computed.
    """
    n = len(samples)
    if n == 0:
        return {"n_samples": 0, "note": "not computed: no samples"}
    shown = stage_bar(samples, desc="structural validity", unit="crystal", enabled=progress)
    failures = [structural_failure(s) for s in shown]
    struct_ok = np.array([failure is None for failure in failures], dtype=bool)
    shown = stage_bar(samples, desc="compositional validity", unit="crystal", enabled=progress)
    comp_ok = np.array([compositionally_valid(s, oxidation_states_set=oxidation_states_set) for s in shown])
    valid = struct_ok & comp_ok
    out: dict[str, Any] = {
        "n_samples": n,
        "n_structurally_valid": int(struct_ok.sum()),
        "n_valid": int(valid.sum()),
        "structural_validity": float(struct_ok.mean()),
        "compositional_validity": float(comp_ok.mean()),
        "validity": float(valid.mean()),
        "structural_failures": {cause: failures.count(cause) / n for cause in STRUCTURAL_FAILURES},
        "per_crystal": {"failure": failures, "compositional": comp_ok.tolist()},
    }
    sound = [s for s, ok in zip(samples, struct_ok) if ok]
    if sound:
        out["uniqueness"] = float(len(np.unique(unique_labels(sound, progress=progress))) / len(sound))
        out["novelty"] = (float(novel_mask(sound, train, progress=progress).mean()) if train
                          else "not computed: no training set")
    else:
        out["uniqueness"] = out["novelty"] = "not computed: no structurally valid sample"
    good = [s for s, ok in zip(samples, valid) if ok]
    if not reference:
        out["density_w1"] = out["n_elements_w1"] = "not computed: no reference set"
    elif not good:
        out["density_w1"] = out["n_elements_w1"] = "not computed: no valid sample"
    else:
        out.update(_distribution_distances(good, reference, progress))
    if not compute_coverage:
        cov: dict[str, float] | str = "not computed: compute_coverage=False (slow; needs matminer)"
    elif not reference:
        cov = "not computed: no reference set"
    else:
        cov = coverage(good, reference, dataset=dataset, n_generated=n, progress=progress)
    if isinstance(cov, str):
        out["cov_recall"] = out["cov_precision"] = cov
    else:
        out.update(cov)
    return out
