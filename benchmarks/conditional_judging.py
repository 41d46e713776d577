"""What every part of bench_conditional.py judges with: the property classifiers by name, QM9's test molecules, a
model's unconditioned molecules, the MAE, and the sampling settings a part is given."""

from __future__ import annotations

import numpy as np

JUDGES = "qm9-judge-{property}"
"""The shipped judges (`python -m atomgen.zoo.ship runs/judge-<property>/model qm9-judge-<property>`)."""

Setting = float | dict[str, float]
"""A sampling setting (guidance scale, temperature): one for every property, or each property's own (tuned)."""


def judge_of(template: str, name: str):
    """The judge of one property: `template` with "{property}" replaced by its name."""
    from atomgen.properties.classifier import PropertyClassifier

    return PropertyClassifier.from_pretrained(template.format(property=name))


def trained_judge(template: str, name: str):
    """The judge of one property, or None when it is not trained yet (its columns are then left empty, and the
    xTB judge's still measured)."""
    from atomgen.errors import InputError

    try:
        return judge_of(template, name)
    except InputError:
        return None


def predicted(judge, systems: list) -> np.ndarray | None:
    """A judge's reading of each system; None without a judge."""
    return None if judge is None else judge.predict(systems)


def qm9_test_sample(n: int, data_dir: str | None) -> list:
    """A seeded n of QM9 test molecules (the calibration's molecules, and the reference of the other parts)."""
    from atomgen.data.qm9 import load_qm9

    test = load_qm9("test", data_dir)
    return [test[int(k)] for k in np.random.default_rng(0).permutation(len(test))[:n]]


def model_and_baselines(model_name: str, n: int, data_dir: str | None) -> tuple:
    """(model, 1,000 QM9 test molecules, their xTB properties, n molecules of the model unconditioned (seed 0), their
    xTB properties): what the conditional parts compare the conditioned molecules with."""
    from atomgen.models.registry import load_model

    model = load_model(model_name)
    return (model, *baselines(model, n, data_dir))


def baselines(model, n: int, data_dir: str | None) -> tuple:
    """(1,000 QM9 test molecules, their xTB properties, n of `model`'s molecules unconditioned (seed 0), their xTB
    properties)."""
    from atomgen.properties.xtb import xtb_properties

    reference = qm9_test_sample(1000, data_dir)
    unconditioned = model.sample(n, seed=0, condition={"label": "qm9"} if model.family == "adit" else None,
                                 progress=False)
    return reference, xtb_properties(reference), unconditioned, xtb_properties(unconditioned)


def mae(values: np.ndarray, truth: np.ndarray) -> float:
    return float(np.abs(np.asarray(values) - np.asarray(truth)).mean())


def finite_mae(values: np.ndarray, truth: np.ndarray) -> float:
    """The MAE over the values a judge could compute (xTB leaves a radical, say, as NaN)."""
    keep = np.isfinite(values)
    return mae(values[keep], np.asarray(truth)[keep])


def setting_for(setting: Setting, name: str) -> float:
    """The value property `name` is sampled with (a property the tuning had no judge for: 1, the plain model)."""
    return setting.get(name, 1.0) if isinstance(setting, dict) else setting
