"""Defaults that fit the data: batch size, epoch budget and early stopping chosen from the number of
training rows, each with the reason in words (`trainwise fit` states them in its summary and ``--json``).

The rule (docs/defaults.md):

* **batch size**: about ``STEPS_PER_EPOCH`` (64) batches per epoch, as a power of two between
  ``MIN_BATCH`` (32) and ``MAX_BATCH`` (256): 32 up to 4,095 training rows, 256 from 16,384 on.
  Small tables get small batches, so that an epoch makes more than one optimizer step.
  A table under 32 rows is one batch.
* **epochs**: enough for ``TARGET_STEPS`` (2,000) optimizer steps, at least ``MIN_EPOCHS`` (10) and
  at most ``MAX_EPOCHS`` (500): 500 epochs for iris's 120 rows (4 steps each), 134 for breast cancer's
  455 (15 steps each), 10 for a 1M-row table (3,907 steps each).
* **early stopping** with the best epoch's weights restored, patience a tenth of the epoch budget
  between 5 and 20 epochs; none without validation data (there is nothing held out to stop on).

Explicit settings always win; a setting given is reported "as given". Pure Python: no torch here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MIN_BATCH, MAX_BATCH = 32, 256
STEPS_PER_EPOCH = 64
TARGET_STEPS = 2_000
MIN_EPOCHS, MAX_EPOCHS = 10, 500
MIN_PATIENCE, MAX_PATIENCE = 5, 20

__all__ = ["Defaults", "choose_defaults"]


@dataclass(frozen=True)
class Defaults:
    """The settings chosen for a table, and why: ``reasons`` maps ``batch_size``, ``epochs`` and
    ``early_stopping`` to a sentence; ``chosen`` names the settings that were not given."""

    batch_size: int
    epochs: int
    early_stopping: int | None       # patience in epochs; None: off
    reasons: dict[str, str] = field(default_factory=dict)
    chosen: tuple[str, ...] = ()

    @property
    def restore_best(self) -> bool:
        """End with the best epoch's weights whenever early stopping is on."""
        return self.early_stopping is not None

    def settings(self) -> dict:
        """Keyword arguments for `trainwise.config.TrainConfig` (or `Trainer`)."""
        return {"batch_size": self.batch_size, "epochs": self.epochs, "early_stopping": self.early_stopping,
                "restore_best": self.restore_best}

    def to_dict(self) -> dict:
        """The summary's ``defaults`` section: the values, which were chosen, and the reasons."""
        return {**self.settings(), "chosen": list(self.chosen), "reasons": dict(self.reasons)}


def choose_defaults(n_train: int, *, batch_size: int | None = None, epochs: int | None = None,
                    early_stopping: int | bool | None = None, has_validation: bool = True) -> Defaults:
    """Batch size, epochs and early stopping for ``n_train`` training rows (the rule: module docstring).

    ``batch_size``/``epochs``: None to choose, else used as given. ``early_stopping``: None to choose,
    a patience in epochs to use it, ``0`` or ``False`` for none. ``has_validation``: without validation
    rows early stopping is not chosen.
    """
    if isinstance(n_train, bool) or not isinstance(n_train, int) or n_train < 1:
        raise ValueError(f"Expected `n_train` to be an int >= 1, but got {n_train!r}")
    if early_stopping is not None and not (early_stopping is False or (
            not isinstance(early_stopping, bool) and isinstance(early_stopping, int) and early_stopping >= 0)):
        raise ValueError(f"Expected `early_stopping` to be None, False or an int >= 0, but got {early_stopping!r}")
    chosen = tuple(name for name, value in (("batch_size", batch_size), ("epochs", epochs),
                                            ("early_stopping", early_stopping)) if value is None)
    reasons: dict[str, str] = {}
    if batch_size is None:
        batch_size = _batch_size(n_train)
        reasons["batch_size"] = _batch_reason(n_train, batch_size)
    else:
        reasons["batch_size"] = f"batch {batch_size} as given"
    steps = _steps(n_train, batch_size)
    if epochs is None:
        epochs = _epochs(steps)
        reasons["epochs"] = _epochs_reason(epochs, steps)
    else:
        reasons["epochs"] = f"{epochs} epochs as given"
    patience, reasons["early_stopping"] = _early_stopping(early_stopping, epochs, has_validation)
    return Defaults(batch_size=batch_size, epochs=epochs, early_stopping=patience, reasons=reasons, chosen=chosen)


def _batch_reason(n_train: int, batch_size: int) -> str:
    rows = f"{n_train:,} training row{_s(n_train)}"
    if batch_size == n_train < MIN_BATCH:
        why = f"the whole table, because it has only {rows}"
    elif batch_size == MIN_BATCH:
        why = f"the smallest default, because the table has {rows}"
    elif batch_size == MAX_BATCH:
        why = f"the largest default, for {rows}"
    else:
        why = f"about {STEPS_PER_EPOCH} batches per epoch for {rows}"
    steps = _steps(n_train, batch_size)
    return f"batch {batch_size}: {why} ({steps:,} optimizer step{_s(steps)} per epoch)"


def _epochs_reason(epochs: int, steps: int) -> str:
    total = epochs * steps
    if epochs == MAX_EPOCHS:
        why = f"the most by default: {total:,} optimizer steps at {steps:,} per epoch"
    elif epochs == MIN_EPOCHS:
        why = f"the fewest by default: {steps:,} optimizer steps per epoch already make {total:,}"
    else:
        why = f"about {TARGET_STEPS:,} optimizer steps at {steps:,} per epoch ({total:,})"
    return f"{epochs} epochs: {why}"


def _early_stopping(given: int | bool | None, epochs: int, has_validation: bool) -> tuple[int | None, str]:
    """The patience (None: off) and why."""
    if given is False or given == 0:
        return None, "no early stopping, as asked"
    if given is not None:
        return given, (f"early stopping after {given} epochs without improvement, as given, ending with the best "
                       "epoch's weights")
    if not has_validation:
        return None, "no early stopping: there are no validation rows to judge epochs on"
    patience = min(max(round(epochs / 10), MIN_PATIENCE), MAX_PATIENCE)
    return patience, (f"early stopping after {patience} epochs without a lower validation loss, ending with the "
                      f"best epoch's weights (patience: a tenth of the {epochs} epochs, between {MIN_PATIENCE} "
                      f"and {MAX_PATIENCE})")


def _batch_size(n_train: int) -> int:
    """A power of two near ``n_train / STEPS_PER_EPOCH`` (rounded down), within [MIN_BATCH, MAX_BATCH], and
    no more than the rows there are."""
    share = max(n_train // STEPS_PER_EPOCH, 1)
    return min(max(1 << (share.bit_length() - 1), MIN_BATCH), MAX_BATCH, n_train)


def _steps(n_train: int, batch_size: int) -> int:
    return -(-n_train // batch_size)


def _epochs(steps_per_epoch: int) -> int:
    """``TARGET_STEPS`` steps (rounded up to whole epochs), within [MIN_EPOCHS, MAX_EPOCHS]."""
    return min(max(math.ceil(TARGET_STEPS / steps_per_epoch), MIN_EPOCHS), MAX_EPOCHS)


def _s(n: int) -> str:
    return "" if n == 1 else "s"
