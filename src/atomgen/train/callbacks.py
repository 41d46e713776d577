"""Lightning callbacks: EMA weights, export of the EMA model, periodic sample-and-evaluate, plain-text logging."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

from atomgen.train.module import batch_sizes


class EMA(L.Callback):
    """Keeps an exponential moving average of the model's weights; it is saved in (and restored from) checkpoints.

    Samples come from the EMA weights: they are smoother than the last step's and worth several points of
    molecule stability at no training cost.
    """

    def __init__(self, decay: float = 0.999):
        self.decay = decay
        self.shadow: dict[str, torch.Tensor] | None = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        model = pl_module.model
        if self.shadow is None:
            self.shadow = {k: v.detach().float().clone() for k, v in model.state_dict().items()}
        # Warm-up of the decay (as in many EMA implementations) so early averages are not dominated by init.
        step = trainer.global_step
        decay = min(self.decay, (1 + step) / (10 + step))
        # Frozen weights (a trained autoencoder under a new DiT) are copied, not averaged: x·d + x·(1 - d) is not
        # exactly x in floating point, and a frozen part must come out bit for bit as it went in.
        trained = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
        with torch.no_grad():
            for name, value in model.state_dict().items():
                shadow = self.shadow[name]
                if shadow.device != value.device:
                    shadow = self.shadow[name] = shadow.to(value.device)
                if name in trained:
                    shadow.mul_(decay).add_(value.detach().float(), alpha=1 - decay)
                else:
                    shadow.copy_(value)

    def ema_model(self, pl_module: L.LightningModule) -> torch.nn.Module:
        """A copy of the model carrying the EMA weights (the training model is left untouched)."""
        model = copy.deepcopy(pl_module.model)
        if self.shadow is not None:
            model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in self.shadow.items()})
        return model

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.decay = state_dict["decay"]
        self.shadow = state_dict["shadow"]


class ExportEMA(L.Callback):
    """Writes the EMA model as an atomgen checkpoint folder (safetensors + JSON) every time Lightning saves."""

    def __init__(self, ema: EMA, folder: str | Path, extra: dict[str, Any] | None = None):
        self.ema = ema
        self.folder = Path(folder)
        self.extra = extra or {}

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if trainer.is_global_zero:
            model = self.ema.ema_model(pl_module).cpu()
            model.save(self.folder, extra={**self.extra, "global_step": trainer.global_step})


class SampleAndEvaluate(L.Callback):
    """Every `every_steps`, samples from the EMA model and logs molecule stability and validity, and for crystals
    structural and compositional validity. A model that cannot sample yet (`ready_to_sample` False) is skipped."""

    def __init__(self, ema: EMA, every_steps: int, count: int, steps: int, seed: int = 0):
        self.ema = ema
        self.every_steps = every_steps
        self.count = count
        self.steps = steps
        self.seed = seed

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if self.every_steps <= 0 or step == 0 or step % self.every_steps or not trainer.is_global_zero:
            return
        from atomgen.eval.crystals import compositionally_valid, structurally_valid
        from atomgen.eval.evaluate import molecule_metrics
        from atomgen.eval.molecules import analyse_molecules

        model = self.ema.ema_model(pl_module).float().eval()
        if not getattr(model, "ready_to_sample", True):
            return
        started = time.perf_counter()
        systems = model.sample(self.count, seed=self.seed, steps=self.steps, progress=False)
        molecules = [s for s in systems if not s.is_periodic]
        crystals = [s for s in systems if s.is_periodic]
        metrics = molecule_metrics(analyse_molecules(molecules), set()) if molecules else {}
        if crystals:
            metrics["crystal_structural_validity"] = sum(map(structurally_valid, crystals)) / len(crystals)
            metrics["crystal_compositional_validity"] = sum(map(compositionally_valid, crystals)) / len(crystals)
        metrics["seconds"] = time.perf_counter() - started
        print(f"[sample-and-evaluate] step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()),
              flush=True)
        for key, value in metrics.items():
            pl_module.log(f"sample/{key}", value, rank_zero_only=True)


class LineLogger(L.Callback):
    """One plain line of losses and throughput every `every_steps` (readable in a nohup log, unlike a bar), and
    one when training starts, with the step it starts from (a resumed run's checkpoint step)."""

    def __init__(self, every_steps: int = 50):
        self.every_steps = every_steps
        self._seen = 0  # atoms (or tokens) since the last line
        self._unit = "atoms"
        self._started = time.perf_counter()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            print(f"training from step {trainer.global_step} to step {trainer.max_steps}", flush=True)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        sizes, self._unit = batch_sizes(batch)
        self._seen += int(sizes.sum())
        step = trainer.global_step
        if step % self.every_steps or not trainer.is_global_zero:
            return
        elapsed = time.perf_counter() - self._started
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        text = ", ".join(f"{k[6:]} {v:.4f}" for k, v in metrics.items())
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        print(f"step {step} epoch {trainer.current_epoch}: {text}, lr {lr:.2e}, "
              f"{self._seen * trainer.world_size / elapsed:.0f} {self._unit}/s", flush=True)
        self._seen = 0
        self._started = time.perf_counter()
