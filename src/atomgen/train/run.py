"""Build and run a training job from a TrainConfig: data, model, Lightning trainer, callbacks, resume."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

from atomgen.data.sequences import LengthGroupedSampler
from atomgen.errors import InputError
from atomgen.train.callbacks import EMA, ExportEMA, LineLogger, SampleAndEvaluate
from atomgen.train.config import TrainConfig
from atomgen.train.module import GenerativeModule


def build_quetzal(config: TrainConfig):
    """(model, training dataset, collate function) of a Quetzal run."""
    from atomgen.data.sequences import AtomSequenceDataset, collate_sequences
    from atomgen.models.quetzal import QuetzalModel, preset

    options = dict(config.model)
    model_config = preset(options.pop("preset", "small"), **options)
    model = QuetzalModel(model_config)
    dataset = AtomSequenceDataset(_load_dataset(config), model_config.elements, model_config.atom_order,
                                  model_config.max_atoms, seed=config.trainer.seed)
    return model, dataset, collate_sequences, None


def build_adit(config: TrainConfig):
    """(model, training dataset, collate function, per-item sampling weights) of one ADiT stage.

    `model.stage` is "autoencoder" (a new model) or "diffusion": then `model.autoencoder` names the finished
    autoencoder run's model folder, whose autoencoder is kept frozen while a new latent DiT trains on its latents.
    """
    from dataclasses import replace

    from atomgen.data.systems import LabelledSystemDataset, atom_count_histogram, collate_systems
    from atomgen.models.adit import ADiTModel, preset

    options = dict(config.model)
    stage = options.pop("stage", "autoencoder")
    autoencoder_path = options.pop("autoencoder", None)
    preset_name = options.pop("preset", "small")
    sources = _load_sources(config)
    model_config = preset(preset_name, **options)
    dataset = LabelledSystemDataset([(k, systems) for k, (_, systems) in enumerate(sources)],
                                    model_config.max_atoms, model_config.max_z)
    histograms = []
    for k in range(len(sources)):
        counts = atom_count_histogram(dataset, k)
        histograms.append([counts.get(n, 0) for n in range(model_config.max_atoms + 1)])
    data_fields = {"labels": [name for name, _ in sources], "atom_counts": histograms,
                   "periodic": [bool(dataset.periodic[dataset.labels == k].any()) for k in range(len(sources))]}
    if stage == "autoencoder":
        model = ADiTModel(replace(model_config, **data_fields))
    elif stage == "diffusion":
        if autoencoder_path is None:
            raise InputError("the diffusion stage needs model.autoencoder: the model folder of an autoencoder run")
        trained = ADiTModel.from_pretrained(autoencoder_path)
        model = ADiTModel(replace(trained.config, **data_fields, **options))
        model.autoencoder.load_state_dict(trained.autoencoder.state_dict())
        model = model.with_latent_scale(_first_batches(dataset, collate_systems, config, batches=20))
        model.set_stage("diffusion")
    else:
        raise InputError(f"unknown ADiT stage {stage!r}: autoencoder or diffusion")
    return model, dataset, collate_systems, _item_weights(dataset, [name for name, _ in sources], config)


BUILDERS = {"quetzal": build_quetzal, "adit": build_adit}


def _load_sources(config: TrainConfig) -> list[tuple[str, list]]:
    """(name, systems) of every `name[:split]` entry of `data.dataset` (QM9 as a pack; crystals as lists).

    An entry may also be a file: a CDVAE-format crystal CSV or any molecule/crystal file; its name is the file's
    stem.
    """
    sources = []
    for entry in config.data.dataset.split(","):
        name, _, split = entry.strip().partition(":")
        split = split or config.data.split
        path = Path(name)
        if path.is_file():
            from atomgen.data.crystals import read_cdvae_csv
            from atomgen.io.formats import read

            systems = read_cdvae_csv(path).systems if path.suffix.lower() == ".csv" else read(path)
            sources.append((path.stem, systems))
        elif name == "qm9":
            from atomgen.data.qm9 import load_qm9

            sources.append((name, load_qm9(split, config.data.data_dir)))
        else:
            from atomgen.data.crystals import CRYSTAL_DATASETS, load_crystal_split

            if name not in CRYSTAL_DATASETS:
                raise InputError(f"unknown dataset {name!r} (known: qm9, {', '.join(CRYSTAL_DATASETS)})")
            sources.append((name, load_crystal_split(name, split).systems))
    return sources


def _first_batches(dataset, collate, config: TrainConfig, batches: int) -> list:
    """A few random batches (seeded) of a dataset, to measure statistics such as the latent scale."""
    import numpy as np

    rng = np.random.default_rng(config.trainer.seed)
    size = config.data.batch_size
    picks = rng.choice(len(dataset), size=min(len(dataset), batches * size), replace=False)
    return [collate([dataset[int(k)] for k in picks[start : start + size]]) for start in range(0, len(picks), size)]


def _item_weights(dataset, names: list[str], config: TrainConfig):
    """Per-item draw weights giving each named dataset its configured share of draws (None: no shares set)."""
    import numpy as np

    shares = config.data.shares
    if not shares:
        return None
    unknown = set(shares) - set(names)
    if unknown:
        raise InputError(f"data.shares names datasets not in data.dataset: {sorted(unknown)}")
    weights = np.zeros(len(dataset))
    for k, name in enumerate(names):
        members = dataset.labels == k
        weights[members] = float(shares.get(name, 0.0)) / max(1, int(members.sum()))
    return weights


def _load_dataset(config: TrainConfig):
    """A named dataset (its `split`), or any molecule file or pack folder given by path."""
    if config.data.dataset == "qm9":
        from atomgen.data.qm9 import load_qm9

        return load_qm9(config.data.split, config.data.data_dir)
    path = Path(config.data.dataset)
    if path.exists():
        from atomgen.io.formats import read
        from atomgen.io.pack import Pack

        return Pack(path) if path.is_dir() and (path / "meta.json").is_file() else read(path)
    raise InputError(f"unknown training dataset {config.data.dataset!r} (a name like 'qm9' or a file)")


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False, progress_bar: bool = False) -> Path:
    """Train (or resume) a run in `run_dir`; returns the folder of the exported EMA model.

    `run_dir` receives `config.json`, Lightning checkpoints (`checkpoints/last.ckpt`, every few minutes),
    CSV logs and `model/`, the EMA weights as an atomgen checkpoint that `from_pretrained` loads.
    """
    if config.family not in BUILDERS:
        raise InputError(f"unknown model family {config.family!r}; trainable: {', '.join(BUILDERS)}")
    run_dir = Path(run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    if resume and not last.is_file():
        raise InputError("nothing to resume: no checkpoints/last.ckpt", run_dir)
    if not resume and last.is_file():
        raise InputError("run folder already has checkpoints; pass --resume or choose another folder", run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    L.seed_everything(config.trainer.seed, workers=True, verbose=False)
    model, dataset, collate, weights = BUILDERS[config.family](config)
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
        ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, save_top_k=1, enable_version_counter=False,
                        train_time_interval=timedelta(minutes=config.trainer.checkpoint_minutes)),
    ]
    trainer = L.Trainer(
        max_steps=config.trainer.max_steps,
        accelerator=config.trainer.accelerator,
        devices=config.trainer.devices,
        num_nodes=config.trainer.num_nodes,
        precision=config.trainer.precision,
        gradient_clip_val=config.optim.grad_clip,
        callbacks=callbacks,
        logger=CSVLogger(run_dir, name="logs"),
        log_every_n_steps=config.trainer.log_every_steps,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        default_root_dir=run_dir,
    )
    trainer.fit(module, loader, ckpt_path=str(last) if resume else None)
    if trainer.is_global_zero:
        ema.ema_model(module).cpu().save(run_dir / "model", extra={"train_config": config.to_dict(),
                                                                    "global_step": trainer.global_step})
    return run_dir / "model"
