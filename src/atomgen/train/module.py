"""One LightningModule that trains any atomgen model exposing `training_loss(batch) -> {"loss": ...}`."""

from __future__ import annotations

import math

import lightning as L
import torch

from atomgen.train.config import OptimConfig


def batch_sizes(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, str]:
    """The size of every item of a batch and its unit: atoms for 3D models, tokens for language models."""
    if "n_atoms" in batch:
        return batch["n_atoms"], "atoms"
    return batch["n_tokens"], "tokens"


class GenerativeModule(L.LightningModule):
    """Wraps a model for Lightning: the loss, AdamW with warm-up, and logging; nothing model-specific."""

    def __init__(self, model: torch.nn.Module, optim: OptimConfig, max_steps: int):
        super().__init__()
        self.model = model
        self.optim = optim
        self.max_steps = max_steps

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        losses = self.model.training_loss(batch)
        sizes, _ = batch_sizes(batch)
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items()}, prog_bar=True, batch_size=len(sizes))
        return losses["loss"]

    def _lr_factor(self, step: int) -> float:
        if step < self.optim.warmup_steps:
            return (step + 1) / self.optim.warmup_steps
        if self.optim.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - self.optim.warmup_steps) / max(1, self.max_steps - self.optim.warmup_steps))
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.optim.min_lr_ratio + (1 - self.optim.min_lr_ratio) * cosine

    def configure_optimizers(self):
        # No weight decay on norms, biases and embeddings: decaying them only hurts small models.
        embeddings = {id(m.weight) for m in self.model.modules() if isinstance(m, torch.nn.Embedding)}
        decay, no_decay = [], []
        trainable = [p for p in self.model.parameters() if p.requires_grad]  # a frozen stage is left out
        for parameter in trainable:
            (decay if parameter.dim() >= 2 and id(parameter) not in embeddings else no_decay).append(parameter)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.optim.lr, betas=self.optim.betas)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
