"""The callback protocol: a class with no-op ``on_*`` methods, called by the one loop.

A callback reads and may change the ``TrainState``; to stop training it sets
``state.should_stop = True`` (and ``state.stop_reason``) — no exceptions for control flow.
Callbacks must not force a host sync per batch: ``on_batch_end`` sees device tensors only.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

import torch

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """What the loop knows, shared with callbacks. Device tensors stay on the device."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    epochs: int
    steps_per_epoch: int
    epoch: int = 0                      # the current epoch, numbered from 1
    step: int = 0                       # optimizer steps taken so far
    batch: int = 0                      # batches done in the current epoch
    history: list[dict] = field(default_factory=list)
    should_stop: bool = False
    stop_reason: str | None = None
    train_loss_sum: torch.Tensor | None = None   # the epoch's loss sum on the device, as of the last flush
    train_count: int | None = None               # samples trained on in the current epoch
    train_sums: Any = field(default=None, repr=False)  # the epoch's EpochSums (the loop's own bookkeeping)
    lr: float | None = None                      # the learning rate the current epoch started with

    def flush_train_sums(self) -> None:
        """Fold the steps the loop has not yet added into ``train_loss_sum`` (it does so every few dozen
        steps, to keep per-step work off the device): call it before reading ``train_loss_sum``."""
        if self.train_sums is not None:
            self.train_sums.flush()


class Callback:
    """Override the hooks you need; every hook is a no-op by default."""

    def on_fit_start(self, state: TrainState) -> None:
        pass

    def on_epoch_start(self, state: TrainState) -> None:
        pass

    def on_batch_end(self, state: TrainState) -> None:
        pass

    def on_epoch_end(self, state: TrainState, record: dict) -> None:
        pass

    def on_fit_end(self, state: TrainState) -> None:
        pass


class EpochLines(Callback):
    """One plain line per epoch (for logs, CI and non-terminal output)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def on_epoch_end(self, state: TrainState, record: dict) -> None:
        self.stream.write(format_record(record, state.epochs) + "\n")
        self.stream.flush()


def format_record(record: dict, epochs: int) -> str:
    parts = [f"epoch {record['epoch']:>{len(str(epochs))}}/{epochs}"]
    for key, label, fmt in (("train_loss", "loss", ".4f"), ("val_loss", "val_loss", ".4f"),
                            ("val_accuracy", "acc", ".3f"), ("val_precision", "prec", ".3f"),
                            ("val_recall", "rec", ".3f"), ("val_f1", "f1", ".3f"), ("lr", "lr", ".2g"),
                            ("seconds", "s", ".1f")):
        value = record.get(key)
        if value is not None:
            parts.append(f"{label} {value:{fmt}}")
    return "  ".join(parts)
