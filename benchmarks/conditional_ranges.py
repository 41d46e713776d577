"""The parts of bench_conditional.py that ask for ranges: one property's range at a time ('ranges'), and two at
once ('joint'), each judged by the classifiers and by calibrated GFN2-xTB."""

from __future__ import annotations

import numpy as np
from conditional_judging import Setting, baselines, model_and_baselines, predicted, setting_for, trained_judge

RANGES = {"gap": (6.0, 7.0), "mu": (0.0, 1.0), "homo": (-6.5, -6.0), "lumo": (1.0, 2.0)}
"""The ranges the 'ranges' part asks for, in the properties' units (eV, D): each a band that holds a minority of
QM9 molecules, so that landing in it says something."""
JOINT = ("gap", "mu")
"""The two ranges of RANGES the 'joint' part asks for at once: a gap of 6 to 7 eV with a dipole under 1 D."""


def within(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Which values lie in [low, high]."""
    return (values >= low) & (values <= high)


def share_inside(values: np.ndarray | None, low: float, high: float) -> float | None:
    """The share of the finite values within [low, high]; None without values (no trained judge)."""
    if values is None:
        return None
    values = values[np.isfinite(values)]
    return float(within(values, low, high).mean()) if len(values) else float("nan")


def ranges(model_name: str, template: str, n: int, guidance: Setting, temperature: Setting,
           data_dir: str | None) -> dict:
    """For each range of RANGES the model is conditioned on: the share of n molecules whose property, judged by the
    classifier and by calibrated xTB, lands in the requested range, beside the same shares of the model
    unconditioned and of QM9's test molecules."""
    from atomgen.properties.qm9_properties import get_property
    from atomgen.properties.xtb import Calibration, xtb_properties

    model, reference, reference_xtb, unconditioned, unconditioned_xtb = model_and_baselines(model_name, n, data_dir)
    rows = {}
    for name, (low, high) in RANGES.items():
        if name not in model.property_stats:
            continue
        prop = get_property(name)
        judge = trained_judge(template, name)
        fit = Calibration.fit(reference_xtb[name], prop.values(reference))
        generated = model.sample(n, seed=0, condition={name: (low, high)}, guidance=setting_for(guidance, name),
                                 temperature=setting_for(temperature, name), progress=False)
        rows[name] = {"range": [low, high], "unit": prop.unit,
                      "classifier": share_inside(predicted(judge, generated), low, high),
                      "classifier_unconditioned": share_inside(predicted(judge, unconditioned), low, high),
                      "xtb": share_inside(fit(xtb_properties(generated)[name]), low, high),
                      "xtb_unconditioned": share_inside(fit(unconditioned_xtb[name]), low, high),
                      "qm9_test": share_inside(prop.values(reference), low, high)}
    return {"model": model_name, "judges": template, "n": n, "guidance": guidance, "temperature": temperature,
            "rows": rows}


def shares_in_both(values: dict[str, np.ndarray | None]) -> dict[str, float | None]:
    """For the properties of JOINT, each one's values (None: no judge): the share inside each one's range and the
    share inside both, over the molecules the judge could read on both."""
    if any(values[name] is None for name in JOINT):
        return {**{name: None for name in JOINT}, "both": None}
    readable = np.logical_and.reduce([np.isfinite(values[name]) for name in JOINT])
    if not readable.any():
        return {**{name: float("nan") for name in JOINT}, "both": float("nan")}
    inside = [within(values[name][readable], *RANGES[name]) for name in JOINT]
    return {**{name: float(mask.mean()) for name, mask in zip(JOINT, inside)},
            "both": float(np.logical_and.reduce(inside).mean())}


def joint(model_name: str, template: str, n: int, guidance: Setting, data_dir: str | None) -> dict:
    """The two ranges of JOINT asked for at once, each alone, and neither (n molecules each, seed 0, temperature 1,
    one guidance scale for all): the share whose judged properties land in each range and in both, by the
    classifiers and by calibrated xTB, beside QM9's test molecules. A model conditioned on several properties
    should meet them together, not one at the other's cost."""
    from atomgen.models.registry import load_model
    from atomgen.properties.qm9_properties import get_property
    from atomgen.properties.xtb import Calibration, xtb_properties

    if isinstance(guidance, dict):
        raise SystemExit("the joint part samples both properties at one guidance scale: give --guidance a number")
    model = load_model(model_name)
    missing = [name for name in JOINT if name not in model.property_stats]
    if missing:  # before the minutes of baselines
        raise SystemExit(f"the joint part asks for {' and '.join(JOINT)}; {model_name} is not conditioned on "
                         f"{', '.join(missing)}")
    reference, reference_xtb, unconditioned, unconditioned_xtb = baselines(model, n, data_dir)
    props = {name: get_property(name) for name in JOINT}
    judges = {name: trained_judge(template, name) for name in JOINT}
    fits = {name: Calibration.fit(reference_xtb[name], props[name].values(reference)) for name in JOINT}

    def judged(systems: list, xtb: dict | None = None) -> dict:
        xtb = xtb_properties(systems) if xtb is None else xtb
        return {"classifier": shares_in_both({name: predicted(judges[name], systems) for name in JOINT}),
                "xtb": shares_in_both({name: fits[name](xtb[name]) for name in JOINT})}

    requests = {"both": JOINT, **{f"{name} only": (name,) for name in JOINT}}
    rows = {label: judged(model.sample(n, seed=0, condition={name: RANGES[name] for name in names},
                                       guidance=guidance, progress=False))
            for label, names in requests.items()}
    rows["unconditioned"] = judged(unconditioned, unconditioned_xtb)
    rows["qm9_test"] = {"dft": shares_in_both({name: props[name].values(reference) for name in JOINT})}
    return {"model": model_name, "judges": template, "n": n, "guidance": guidance,
            "ranges": {name: [*RANGES[name], props[name].unit] for name in JOINT}, "rows": rows}
