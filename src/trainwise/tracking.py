"""What the loop keeps between steps and epochs: the epoch's running sums and the best epoch so far."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from trainwise.errors import InputError


class EpochSums:
    """Running sums of one training epoch, kept on the device so a step never waits for the host."""

    def __init__(self, device: torch.device, num_params: int) -> None:
        self.loss = torch.zeros((), device=device, dtype=torch.float64)
        self.correct = torch.zeros((), device=device, dtype=torch.long)
        self.grad_sum = torch.zeros((), device=device, dtype=torch.float64)
        self.grad_max = torch.zeros((), device=device)
        self.layer_max = torch.zeros(num_params, device=device)
        self.seen = 0          # samples; Python ints, known on the host without a sync
        self.steps = 0

    @torch.no_grad()
    def add(self, loss_sum: torch.Tensor, hits: torch.Tensor, grad_norms: torch.Tensor) -> None:
        """One step: the sum of its per-sample losses, per-sample correctness, per-parameter gradient norms."""
        self.loss += loss_sum
        self.correct += hits.sum()
        total = torch.linalg.vector_norm(grad_norms)
        self.grad_sum += total
        torch.maximum(self.grad_max, total, out=self.grad_max)
        torch.maximum(self.layer_max, grad_norms, out=self.layer_max)
        self.seen += len(hits)
        self.steps += 1

    def read(self) -> tuple[float, float, float, float, int]:
        """Mean loss, accuracy, mean and max gradient norm, the parameter with the largest gradient.

        ``.tolist()`` forces a device sync: once per epoch, not per step."""
        top = self.layer_max.argmax() if self.layer_max.numel() else torch.zeros((), dtype=torch.long)
        loss, correct, grad_sum, grad_max, top_idx = torch.stack([
            self.loss, self.correct.to(torch.float64), self.grad_sum, self.grad_max.to(torch.float64),
            top.to(self.loss.device, torch.float64)]).tolist()
        seen, steps = max(self.seen, 1), max(self.steps, 1)
        return loss / seen, correct / seen, grad_sum / steps, grad_max, int(top_idx)

    def summed(self, world: Any) -> EpochSums:
        """These sums over all ranks (one all-reduce); itself in a single process. Gradient statistics
        are the same on every rank after DDP averaged the gradients, so only loss, hits and samples add up."""
        if not world.distributed:
            return self
        totals = torch.stack([self.loss, self.correct.to(torch.float64),
                              torch.tensor(float(self.seen), dtype=torch.float64, device=self.loss.device)])
        world.all_reduce(totals)
        out = EpochSums(self.loss.device, self.layer_max.numel())
        out.loss, out.correct = totals[0], totals[1].round().long()
        out.grad_sum, out.grad_max, out.layer_max = self.grad_sum, self.grad_max, self.layer_max
        out.seen, out.steps = int(totals[2].item()), self.steps
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"loss": self.loss.cpu(), "correct": self.correct.cpu(), "grad_sum": self.grad_sum.cpu(),
                "grad_max": self.grad_max.cpu(), "layer_max": self.layer_max.cpu(), "seen": self.seen,
                "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any], device: torch.device, *, summed_part: bool = True) -> None:
        """Restore; with ``summed_part=False`` (ranks other than 0 under torchrun) the loss, hit and sample
        sums start from zero, because rank 0's checkpoint holds them summed over all ranks."""
        for key in ("grad_sum", "grad_max", "layer_max"):
            setattr(self, key, state[key].to(device))
        self.steps = state["steps"]
        if summed_part:
            self.loss, self.correct, self.seen = state["loss"].to(device), state["correct"].to(device), state["seen"]


class Best:
    """The best value of the monitored history key, its epoch, the epochs since, and (if kept) its weights.

    Keys holding ``loss`` are minimized, any other metric maximized. An epoch counts as better only
    when it beats the best by more than ``min_delta`` (as in Keras).
    """

    def __init__(self, monitor: str, min_delta: float = 0.0, *, keep_weights: bool = False) -> None:
        self.monitor = monitor
        self.min_delta = min_delta
        self.keep_weights = keep_weights
        self.minimize = "loss" in monitor
        self.value: float | None = None
        self.epoch: int | None = None
        self.wait = 0
        self.weights: dict[str, torch.Tensor] | None = None

    def update(self, record: dict, model: nn.Module) -> bool:
        """Take one epoch's record; True when it is the new best."""
        value = record.get(self.monitor)
        if value is None and self.monitor == "val_loss":
            value = record.get("train_loss")          # no validation set: judge on training loss
        if value is None:
            available = ", ".join(k for k, v in record.items() if isinstance(v, float))
            raise InputError(f"`monitor` {self.monitor!r} is not in the history; available: {available}.")
        if not math.isfinite(value):
            self.wait += 1
            return False
        if self.value is not None:
            gain = self.value - value if self.minimize else value - self.value
            if gain <= self.min_delta:
                self.wait += 1
                return False
        self.value, self.epoch, self.wait = value, record["epoch"], 0
        if self.keep_weights:
            self.weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value, "epoch": self.epoch, "wait": self.wait, "weights": self.weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value, self.epoch, self.wait, self.weights = state["value"], state["epoch"], state["wait"], state["weights"]
