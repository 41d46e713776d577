"""Training configuration: YAML presets and `section.key=value` overrides merged into typed dataclasses."""

from __future__ import annotations

import pytest

from atomgen.errors import InputError
from atomgen.train.config import load_train_config


def test_overrides_reach_nested_settings_and_keep_their_types():
    config = load_train_config("configs/quetzal/qm9-small.yaml", ["optim.lr=3e-4", "trainer.max_steps=1e4",
                                                                  "trainer.checkpoint_minutes=1", "data.shares=null",
                                                                  "model.prefix_geometry=false"])
    # Plain YAML 1.1 would read "3e-4" and "1e4" (no dot) as strings: they arrive as numbers of the setting's type.
    assert config.optim.lr == pytest.approx(3e-4) and isinstance(config.optim.lr, float)
    assert config.trainer.max_steps == 10_000 and isinstance(config.trainer.max_steps, int)
    assert config.trainer.checkpoint_minutes == 1.0 and isinstance(config.trainer.checkpoint_minutes, float)
    assert config.data.shares is None
    assert config.model == {"preset": "small", "atom_order": "dataset", "prefix_geometry": False}


def test_exponent_numbers_without_a_dot_are_floats_in_free_model_settings(tmp_path):
    # Model settings are a free mapping with no field types to coerce a string back into a number.
    path = tmp_path / "adit.yaml"
    path.write_text("family: adit\nmodel:\n  kl_weight: 1e-5\n  dropout: .5e-1\n  name: e5\n")
    config = load_train_config(path, ["model.latent_noise=2E-2", "model.depth=1_0"])
    given = {key: config.model[key] for key in ("kl_weight", "dropout", "name", "latent_noise", "depth")}
    assert given == {"kl_weight": 1e-5, "dropout": 0.05, "name": "e5", "latent_noise": 0.02, "depth": 10}
    assert all(isinstance(config.model[key], float) for key in ("kl_weight", "dropout", "latent_noise"))


def test_overrides_of_one_nested_model_mapping_add_up():
    config = load_train_config("configs/nextmol/qm9-small-conformer.yaml", [
        "model.conformer.pair_push=true", "model.conformer.chiral_order=true", "init_from=nextmol-qm9"])
    assert config.model["conformer"] == {"pair_push": True, "chiral_order": True}
    assert config.model["stage"] == "conformer" and config.init_from == "nextmol-qm9"


@pytest.mark.parametrize("override, message", [
    ("optim.lr=fast", "optim.lr must be a number"),
    ("trainer.max_steps=2.5", "trainer.max_steps must be a whole number"),
    ("trainer.max_steps=true", "trainer.max_steps must be a number"),
    ("optim.learning_rate=1.0", "unknown setting optim.learning_rate"),
])
def test_bad_overrides_are_clear_errors(override, message):
    with pytest.raises(InputError, match=message):
        load_train_config("configs/quetzal/qm9-small.yaml", [override])


def test_a_recipe_extends_its_base_config_key_by_key_and_overrides_come_last(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("family: nextmol\nmodel:\n  stage: conformer\n  conformer:\n    pair_push: true\n"
                    "optim:\n  lr: 5.0e-4\n  warmup_steps: 500\n")
    (tmp_path / "recipes").mkdir()
    recipe = tmp_path / "recipes" / "stage.yaml"
    recipe.write_text("extends: ../base.yaml\ninit_from: nextmol-qm9\nmodel:\n  conformer:\n    low_noise_share: 0.5\n"
                      "optim:\n  lr: 2.0e-4\n")
    config = load_train_config(recipe, ["optim.warmup_steps=100"])
    assert config.model["conformer"] == {"pair_push": True, "low_noise_share": 0.5}
    assert config.model["stage"] == "conformer"
    assert config.optim.lr == pytest.approx(2e-4) and config.optim.warmup_steps == 100
    assert config.family == "nextmol" and config.init_from == "nextmol-qm9"


def test_shipped_recipes_load():
    from pathlib import Path

    recipes = sorted(Path("configs").glob("*/recipes/*.yaml"))
    assert recipes, "every family's recipes live in configs/<family>/recipes/"
    for recipe in recipes:
        config = load_train_config(recipe)
        assert config.family == recipe.parts[1]


@pytest.mark.parametrize("text, message", [("extends: base.yaml\n", "loop"),
                                           ("extends: [a.yaml, b.yaml]\n", "one config file"),
                                           ("extends: missing.yaml\n", "cannot read training config")])
def test_bad_extends_are_clear_errors(tmp_path, text, message):
    path = tmp_path / "base.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_train_config(path)
