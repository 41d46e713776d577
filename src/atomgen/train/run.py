"""Build and run a training job from a TrainConfig: data, model, Lightning trainer, callbacks, resume."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins import TorchCheckpointIO
from torch.utils.data import DataLoader

from atomgen.data.sequences import LengthGroupedSampler
from atomgen.errors import InputError
from atomgen.io.atomic import atomic_path
from atomgen.nn.compile import compile_blocks
from atomgen.train.builders import BUILDERS
from atomgen.train.callbacks import EMA, ExportEMA, LineLogger, SampleAndEvaluate
from atomgen.train.config import TrainConfig, TrainerConfig, flat_settings
from atomgen.train.module import GenerativeModule


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False, progress_bar: bool = False) -> Path:
    """Train (or resume) a run in `run_dir`; returns the folder of the exported EMA model.

    `run_dir` receives `config.json`, Lightning checkpoints (`checkpoints/last.ckpt`, every few minutes),
    CSV logs and `model/`, the EMA weights as an atomgen checkpoint that `from_pretrained` loads.
    """
    if config.family not in BUILDERS:
        raise InputError(f"unknown model family {config.family!r}; trainable: {', '.join(BUILDERS)}")
    run_dir = Path(run_dir)
    checkpointer = _checkpointer(config.trainer, run_dir / "checkpoints")  # checks its settings before any work
    loggers = _loggers(config.trainer.logger, run_dir)  # and so does this
    last = run_dir / "checkpoints" / "last.ckpt"
    if resume and not last.is_file():
        raise InputError("nothing to resume: no checkpoints/last.ckpt", run_dir)
    if not resume and last.is_file():
        raise InputError("run folder already has checkpoints; pass --resume or choose another folder", run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    L.seed_everything(config.trainer.seed, workers=True, verbose=False)
    model, dataset, collate, weights = BUILDERS[config.family](config)
    if config.init_from is not None and not resume:  # a resumed run's checkpoint already holds these weights
        kept = model.warm_start(config.init_from)
        print(_warm_start_summary(model, config.init_from, kept), flush=True)
    if config.trainer.compile:
        print(f"compiling {compile_blocks(model)} blocks (torch.compile; the first steps wait for it)", flush=True)
    sampler = LengthGroupedSampler(dataset.lengths(), config.data.batch_size, seed=config.trainer.seed,
                                   weights=weights)
    loader = DataLoader(dataset, batch_size=config.data.batch_size, sampler=sampler, drop_last=True,
                        collate_fn=collate, num_workers=0)
    module = GenerativeModule(model, config.optim, config.trainer.max_steps)
    ema = EMA(config.optim.ema_decay)
    callbacks = [
        ema,
        ExportEMA(ema, run_dir / "model", extra={"train_config": config.to_dict()}),
        SampleAndEvaluate(ema, config.trainer.sample_every_steps, config.trainer.sample_count,
                          config.trainer.sample_steps, seed=config.trainer.seed),
        LineLogger(config.trainer.log_every_steps),
        checkpointer,
    ]
    trainer = L.Trainer(
        max_steps=config.trainer.max_steps,
        accelerator=config.trainer.accelerator,
        devices=config.trainer.devices,
        num_nodes=config.trainer.num_nodes,
        precision=config.trainer.precision,
        gradient_clip_val=config.optim.grad_clip,
        callbacks=callbacks,
        logger=loggers,
        log_every_n_steps=config.trainer.log_every_steps,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        default_root_dir=run_dir,
        plugins=[AtomicCheckpointIO()],
    )
    trainer.fit(module, loader, ckpt_path=str(last) if resume else None)
    # The timed checkpoints can end minutes before the last step: save the end too, so that `--resume` with a
    # larger max_steps continues from where this run stopped (and with the same max_steps has nothing to redo).
    trainer.save_checkpoint(last, weights_only=False)  # optimizer and loop state too: what a resume needs
    if trainer.is_global_zero:
        ema.ema_model(module).cpu().save(run_dir / "model", extra={"train_config": config.to_dict(),
                                                                    "global_step": trainer.global_step})
    return run_dir / "model"


LOGGERS = ("csv", "tensorboard")


def _loggers(name: str, run_dir: Path) -> list:
    """CSV logs under `run_dir/logs` always (the run report reads them); TensorBoard's beside them when asked."""
    if name not in LOGGERS:
        raise InputError(f"unknown trainer.logger {name!r}; choose one of {', '.join(LOGGERS)}")
    loggers = [CSVLogger(run_dir, name="logs")]
    if name == "tensorboard":
        from importlib.util import find_spec

        if find_spec("tensorboard") is None and find_spec("tensorboardX") is None:
            raise InputError("trainer.logger tensorboard needs the tensorboard package: pip install tensorboard")
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(run_dir, name="logs", version=loggers[0].version))
    return loggers


def _checkpointer(trainer: TrainerConfig, folder: Path) -> ModelCheckpoint:
    """Saves `folder/last.ckpt` every `trainer.checkpoint_every_steps` steps, or else every `checkpoint_minutes`."""
    if trainer.checkpoint_every_steps < 0:
        raise InputError(f"trainer.checkpoint_every_steps must be 0 (save by time) or more, not "
                         f"{trainer.checkpoint_every_steps}")
    common = {"dirpath": folder, "save_last": True, "save_top_k": 1, "enable_version_counter": False}
    if trainer.checkpoint_every_steps:
        return ModelCheckpoint(**common, every_n_train_steps=trainer.checkpoint_every_steps)
    return ModelCheckpoint(**common, train_time_interval=timedelta(minutes=trainer.checkpoint_minutes))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint files, written beside their final path and then renamed onto it, so that a run
    killed while it saves keeps its previous checkpoint whole.

    Lightning writes into a temporary file in the system's temporary folder and moves it into place: where that
    folder is on another file system the move is a copy, which a kill can cut short.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        """Write `checkpoint` to `path` (a local file) with torch.save, atomically."""
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


def _warm_start_summary(model, init_from: str, kept: list[str]) -> str:
    """What a run started from trained weights changes: the tensors that keep their initial values (grouped by
    module) and the settings that differ from the trained model's."""
    from atomgen.models.checkpoint import read_config
    from atomgen.zoo import resolve

    # Through JSON, as the checkpoint holds them (tuples become lists).
    ours = flat_settings(json.loads(json.dumps(model.config.to_dict())))
    theirs = flat_settings(read_config(resolve(init_from))["config"])
    changed = sorted(key for key in ours.keys() | theirs.keys() if ours.get(key) != theirs.get(key))
    modules = sorted({name.rsplit(".", 1)[0] for name in kept})
    return (f"initialised from {init_from}; {len(kept)} tensors it lacks keep their initial values"
            + (f" ({', '.join(modules)})" if modules else "")
            + f"; settings that differ from it: {', '.join(changed) or 'none'}")
