"""Training configuration: YAML presets and `section.key=value` overrides merged into typed dataclasses."""

from __future__ import annotations

import pytest

from atomgen.errors import InputError
from atomgen.train.config import load_train_config


def test_overrides_reach_nested_settings_and_keep_their_types():
    config = load_train_config("configs/quetzal/qm9-small.yaml", ["optim.lr=3e-4", "trainer.max_steps=1e4",
                                                                  "trainer.checkpoint_minutes=1", "data.shares=null",
                                                                  "model.prefix_geometry=false"])
    # YAML 1.1 reads "3e-4" and "1e4" (no dot) as strings: they still arrive as numbers of the setting's type.
    assert config.optim.lr == pytest.approx(3e-4) and isinstance(config.optim.lr, float)
    assert config.trainer.max_steps == 10_000 and isinstance(config.trainer.max_steps, int)
    assert config.trainer.checkpoint_minutes == 1.0 and isinstance(config.trainer.checkpoint_minutes, float)
    assert config.data.shares is None
    assert config.model == {"preset": "small", "atom_order": "dataset", "prefix_geometry": False}


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
