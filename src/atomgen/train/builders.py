"""What each model family trains on: its model, dataset, collate function and draw weights, from a TrainConfig.

A builder returns (model, dataset, collate, weights): `model` exposes `training_loss(batch)`, `dataset` has
`lengths()` (for length-grouped batches), and `weights` (or None) gives each item's share of random draws.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from atomgen.errors import InputError
from atomgen.train.config import TrainConfig

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def build_quetzal(config: TrainConfig):
    """(model, training dataset, collate function) of a Quetzal run; with `model.properties` (names of QM9
    properties) a property-conditional model, each property's normalisation and range measured on the training
    molecules and stored in the model."""
    from atomgen.data.sequences import (
        AtomSequenceDataset,
        PropertySequenceDataset,
        collate_property_sequences,
        collate_sequences,
    )
    from atomgen.models.quetzal import QuetzalModel, preset

    options = dict(config.model)
    source = _load_dataset(config)
    values = None
    if options.get("properties"):
        values, options["properties"] = _property_values(source, options["properties"])
    model_config = preset(options.pop("preset", "small"), **options)
    model = QuetzalModel(model_config)
    common = (model_config.elements, model_config.atom_order, model_config.max_atoms)
    if values is None:
        return model, AtomSequenceDataset(source, *common, seed=config.trainer.seed), collate_sequences, None
    dataset = PropertySequenceDataset(source, values, *common, seed=config.trainer.seed)
    return model, dataset, collate_property_sequences, None


def _property_values(systems, names: list[str]):
    """(values (N, P) of the named QM9 properties over `systems`, NaN where a system lacks one; their stats as
    {name: PropertyStats as a mapping}, over the systems that have each)."""
    from dataclasses import asdict

    import numpy as np

    from atomgen.models.conditions import PropertyStats
    from atomgen.properties.qm9_properties import get_property

    properties = [get_property(name) for name in names]
    values = np.array([[system.properties.get(p.name, np.nan) for p in properties] for system in systems],
                      dtype=np.float64).reshape(-1, len(properties))
    stats = {}
    for j, p in enumerate(properties):
        known = values[np.isfinite(values[:, j]), j]
        if not len(known):
            raise InputError(f"no training system has the property {p.name}: a conditional model trains on QM9 "
                             "(its labels)")
        stats[p.name] = asdict(PropertyStats.of(known))
    return values, stats


def build_adit(config: TrainConfig):
    """(model, training dataset, collate function, per-item sampling weights) of one ADiT stage.

    `model.stage` is "autoencoder" (a new model) or "diffusion": then `model.autoencoder` names the finished
    autoencoder run's model folder, whose autoencoder is kept frozen while a new latent DiT trains on its latents
    (scaled to unit standard deviation, measured here). With `init_from` a trained DiT continues instead: on the
    same autoencoder it keeps its latent scale; on another (say, a retrained one) its DiT weights are only a warm
    start, and the scale is measured afresh.
    """
    from dataclasses import replace

    from atomgen.data.systems import LabelledSystemDataset, atom_count_histogram, collate_systems
    from atomgen.models.adit import ADiTModel, preset

    options = dict(config.model)
    stage = options.pop("stage", "autoencoder")
    autoencoder_path = options.pop("autoencoder", None)
    preset_name = options.pop("preset", "small")
    sources = _load_sources(config)
    names = options.pop("properties", None) or []
    if names:  # a property-conditional DiT: each property's stats over the systems that have it (QM9's)
        options["properties"] = _property_values([s for _, systems in sources for s in systems], names)[1]
    model_config = preset(preset_name, **options)
    dataset = LabelledSystemDataset([(k, systems) for k, (_, systems) in enumerate(sources)],
                                    model_config.max_atoms, model_config.max_z, properties=names)
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
        # A DiT continued (`init_from`) on the latents it was trained on (the same autoencoder) keeps the latent
        # scale it learned on; a new DiT, or one warm-started on other latents (a retrained autoencoder), measures
        # it.
        dit_config = replace(trained.config, **data_fields, **{"latent_scale": None, **options})
        if config.init_from:
            start = ADiTModel.from_pretrained(config.init_from)
            if _same_weights(start.autoencoder, trained.autoencoder):
                dit_config = replace(dit_config, latent_scale=start.config.latent_scale)
        model = ADiTModel(dit_config)
        model.autoencoder.load_state_dict(trained.autoencoder.state_dict())
        if model.config.latent_scale is None:
            model = model.with_latent_scale(_first_batches(dataset, collate_systems, config, batches=20))
        model.set_stage("diffusion")
    else:
        raise InputError(f"unknown ADiT stage {stage!r}: autoencoder or diffusion")
    return model, dataset, collate_systems, _item_weights(dataset, [name for name, _ in sources], config)


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


def _same_weights(first: torch.nn.Module, second: torch.nn.Module) -> bool:
    """Whether two modules of one architecture hold identical weights."""
    import torch

    theirs = second.state_dict()
    return all(torch.equal(tensor, theirs[name]) for name, tensor in first.state_dict().items())


def build_nextmol(config: TrainConfig):
    """(model, training dataset, collate function, None) of one NExT-Mol stage.

    `model.stage` is "language" (a new model whose vocabulary is read from the training SMILES) or "conformer":
    then `model.language_model` names the finished language run's model folder, whose language model is kept
    frozen while the conformer model trains on the same molecules' geometries. The language stage also trains
    on a SMILES corpus with no 3D data (`geom-drugs`, or a .smi/.txt file; `atomgen.data.smiles_corpus`).
    """
    from dataclasses import replace

    from atomgen.data.smiles_corpus import is_smiles_corpus, read_smiles_corpus
    from atomgen.models.nextmol import NExTMolModel

    options = dict(config.model)
    stage = options.pop("stage", "language")
    language_path = options.pop("language_model", None)
    if stage not in ("language", "conformer"):
        raise InputError(f"unknown NExT-Mol stage {stage!r}: language or conformer")
    if stage == "language" and options.get("properties"):
        return _nextmol_conditional_language_stage(config, options)
    if stage == "language" and is_smiles_corpus(config.data.dataset):
        return _nextmol_language_stage(config, options, read_smiles_corpus(config.data.dataset, config.data.split))
    graphs = _nextmol_graphs(config)
    elements = sorted({int(z) for z in graphs.arrays["numbers"]})
    if stage == "language":
        return _nextmol_language_stage(config, options, graphs.smiles, elements)
    if language_path is None:
        raise InputError("the conformer stage needs model.language_model: the model folder of a language run")
    options.pop("preset", None)
    trained = NExTMolModel.from_pretrained(language_path)
    # `model.conformer.*` options change single fields of the language run's conformer settings.
    conformer = replace(trained.config.conformer, **options.pop("conformer", {}))
    model = NExTMolModel(replace(trained.config, elements=elements, conformer=conformer, **options),
                         stage="conformer")
    model.language.load_state_dict(trained.language.state_dict())
    return model, graphs, model.collate, None


def _nextmol_graphs(config: TrainConfig):
    """The molecular graphs and 3D geometries of a NExT-Mol training set: QM9, a built `drugs-etkdg` split
    (`atomgen data drugs-etkdg`) or any file of 3D molecules; outside QM9, bonds are perceived from the
    coordinates, and a molecule whose bonds RDKit cannot perceive is left out (counted in a warning)."""
    from atomgen.data.conformer_data import ConformerDataset

    if config.data.dataset == "qm9":
        from atomgen.data.conformer_data import load_qm9_graphs

        return load_qm9_graphs(config.data.split, config.data.data_dir)
    if config.data.dataset == "drugs-etkdg":
        from atomgen.data.drugs import NAME, load_drugs_etkdg
        from atomgen.data.paths import data_dir

        systems = load_drugs_etkdg(data_dir(config.data.data_dir) / NAME, config.data.split)
    elif Path(config.data.dataset).is_file():
        from atomgen.io.formats import read

        systems = read(config.data.dataset)
    else:
        raise InputError(f"NExT-Mol trains on qm9, drugs-etkdg, a file of 3D molecules, or (language stage) a "
                         f"SMILES corpus such as geom-drugs, not {config.data.dataset!r}")
    graphs = ConformerDataset.from_systems(systems)
    if len(graphs) < len(systems):
        log.warning("%s: %d of %d molecules left out (RDKit cannot perceive their bonds from the coordinates)",
                    config.data.dataset, len(systems) - len(graphs), len(systems))
    if not len(graphs):
        raise InputError(f"{config.data.dataset}: no molecule whose bonds RDKit can perceive")
    return graphs


def _nextmol_conditional_language_stage(config: TrainConfig, options: dict):
    """A property-conditional language model on QM9 molecules (`data.split`: EDM's protocol trains on
    train-second-half) and the properties `model.properties` names; each property's normalisation and range are
    measured on those molecules and stored in the model."""
    from tqdm.auto import tqdm

    from atomgen.data.molecular_graphs import graph_from_mol, mol_from_coordinates
    from atomgen.data.qm9 import load_qm9

    if config.data.dataset != "qm9":
        raise InputError(f"a property-conditional language model trains on QM9 (its labels), not "
                         f"{config.data.dataset!r}")
    kept, smiles = [], []
    for system in tqdm(load_qm9(config.data.split, config.data.data_dir), desc="perceiving graphs"):
        mol = mol_from_coordinates(system.numbers, system.positions)
        if mol is not None:  # as the unconditional stage's graphs, left out when RDKit cannot perceive the bonds
            kept.append(system)
            smiles.append(graph_from_mol(mol).smiles)
    values, options["properties"] = _property_values(kept, options["properties"])
    return _nextmol_language_stage(config, options, smiles, values=values)


def _nextmol_language_stage(config: TrainConfig, options: dict, smiles, elements=None, values=None):
    """A new language model whose vocabulary is read from `smiles`, and its randomised-SELFIES dataset; the
    model records `elements`, by default those its vocabulary places. With `values` (one row of property values
    per SMILES) the dataset also carries them, for a conditional model. `model.conformer_from` (a NExT-Mol
    model without transfer) gives the new model that model's conformer stage, weights and settings, so that
    the language run exports a whole sampler.

    `model.vocabulary_molecules` caps the molecules whose randomised strings join the vocabulary
    (`build_vocabulary`'s `randomised_molecules`), for large corpora.
    """
    from atomgen.data.selfies_data import (
        PropertySelfiesDataset,
        SelfiesDataset,
        build_vocabulary,
        collate_property_token_ids,
        collate_token_ids,
    )
    from atomgen.models.nextmol import NExTMolModel, preset

    preset_name = options.pop("preset", "small")
    vocabulary = build_vocabulary(smiles, seed=config.trainer.seed,
                                  randomised_molecules=options.pop("vocabulary_molecules", None))
    elements = vocabulary.elements() if elements is None else tuple(elements)
    conformer_from = options.pop("conformer_from", None)
    if conformer_from is not None:  # a trained conformer stage joins the new language model, as it was
        trained = NExTMolModel.from_pretrained(conformer_from)
        if trained.config.transfer:
            raise InputError(f"{conformer_from}: its conformer model reads its own language model's states "
                             "(transfer), so it cannot join another")
        options.update(elements=trained.config.elements, conformer=trained.config.conformer,
                       **{key: getattr(trained.config, key) for key in ("sampling_solver", "sampling_steps",
                                                                         "refine_steps")})
    else:
        options["elements"] = elements
    model_config = preset(preset_name, symbols=vocabulary.tokens[3:], **options)
    model = NExTMolModel(model_config, stage="language")
    if conformer_from is not None:
        model.conformer.load_state_dict(trained.conformer.state_dict())
    if values is None:
        dataset, collate = SelfiesDataset(smiles, model.vocabulary, model_config.max_length,
                                          seed=config.trainer.seed), collate_token_ids
    else:
        dataset, collate = PropertySelfiesDataset(smiles, values, model.vocabulary, model_config.max_length,
                                                  seed=config.trainer.seed), collate_property_token_ids
    if not len(dataset):
        raise InputError(f"{config.data.dataset}: no SMILES has a SELFIES of at most {model_config.max_length} "
                         "symbols")
    if len(dataset) < len(smiles):
        log.warning(
            "%s: %d of %d SMILES left out (unparsable, or SELFIES longer than max_length %d)",
            config.data.dataset, len(smiles) - len(dataset), len(smiles), model_config.max_length)
    return model, dataset, collate, None


def build_property_classifier(config: TrainConfig):
    """(model, training dataset, collate function, None) of a property classifier (EDM's EGNN judge) for the QM9
    property `model.property`, normalised by the mean and mean absolute deviation of QM9's valid split as in EDM;
    the protocol trains it on `data.split: train-first-half`."""
    import numpy as np

    from atomgen.data.qm9 import load_qm9
    from atomgen.properties.classifier import ClassifierConfig, PropertyClassifier, PropertyDataset, collate_molecules
    from atomgen.properties.qm9_properties import PROPERTIES, get_property

    options = dict(config.model)
    if options.pop("preset", "small") != "small":  # "small" is TrainConfig's default, whatever the family
        raise InputError("a property classifier has no size presets: set model.width and model.depth")
    name = options.pop("property", None)
    if name is None:
        raise InputError(f"a property classifier needs model.property, one of {', '.join(PROPERTIES)}")
    if config.data.dataset != "qm9":
        raise InputError(f"property classifiers train on QM9 (its labels), not {config.data.dataset!r}")
    valid = get_property(name).values(load_qm9("valid", config.data.data_dir))
    mean = float(valid.mean())
    model = PropertyClassifier(ClassifierConfig(property=name, mean=mean, mad=float(np.abs(valid - mean).mean()),
                                                **options))
    return model, PropertyDataset(_load_dataset(config), name), collate_molecules, None


BUILDERS = {"quetzal": build_quetzal, "adit": build_adit, "nextmol": build_nextmol,
            "property-classifier": build_property_classifier}
