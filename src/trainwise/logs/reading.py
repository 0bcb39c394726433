"""What reading a log gave: the records and how they were made, so a person can check the reading."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]

# The validation metrics a best epoch is chosen by when there is no validation loss, in this order
# (all "higher is better").
MONITORED = ("val_accuracy", "val_f1", "val_balanced_accuracy", "val_roc_auc", "val_average_precision",
             "val_recall", "val_precision")
VALIDATION_KEYS = ("val_loss", *MONITORED)


@dataclass
class Reading:
    """A log as read: ``records`` and everything needed to say how they were read.

    ``format``: ``trainwise``, ``lightning``, ``keras``, ``fastai``, ``huggingface``, ``tensorboard``,
    ``sklearn``, ``csv`` or ``jsonl``. ``columns``: source column -> record key. ``ignored``: columns
    not used. ``granularity``: ``epoch``, ``evaluation``, ``row`` or ``window`` (records/build says what
    each means). ``epoch``: where the record numbers come from, in words. ``best_epoch`` and
    ``best_key``: the epoch with the lowest validation loss, else the highest monitored validation
    metric (``None`` without a validation signal).
    """

    records: list[Record]
    path: str
    format: str
    columns: dict[str, str]
    ignored: list[str]
    granularity: str
    epoch: str
    rows: int
    notes: list[str] = field(default_factory=list)
    best_epoch: int | float | None = None
    best_key: str | None = None
    best_value: float | None = None
    summary: str | None = None

    def __post_init__(self) -> None:
        self.best_epoch, self.best_key, self.best_value = best_epoch(self.records)

    @property
    def validation(self) -> list[str]:
        """The validation keys that hold at least one number (NaN counts: a diverged value was measured)."""
        return [k for k in VALIDATION_KEYS if any(_number(r.get(k)) for r in self.records)]

    def info(self) -> dict[str, Any]:
        """The mapping as plain data (``--json``'s ``mapping``)."""
        info = {"path": self.path, "format": self.format, "columns": dict(self.columns),
                "ignored": list(self.ignored), "granularity": self.granularity, "epoch": self.epoch,
                "rows": self.rows, "epochs": len(self.records), "validation": self.validation,
                "best_epoch": self.best_epoch, "best_key": self.best_key, "notes": list(self.notes)}
        if self.summary is not None:
            info["summary"] = self.summary
        return info


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def best_epoch(records: Sequence[Mapping[str, Any]]) -> tuple[int | float | None, str | None, float | None]:
    """``(epoch, key, value)``: the lowest finite validation loss, else the highest monitored metric.

    Ties go to the earliest epoch. ``(None, None, None)`` when no record holds a finite validation number.
    """
    for key, sign in (("val_loss", 1.0), *((k, -1.0) for k in MONITORED)):
        points = [(r.get("epoch"), float(r[key])) for r in records
                  if _number(r.get(key)) and math.isfinite(r[key])]
        if points:
            epoch, value = min(points, key=lambda p: sign * p[1])
            return epoch, key, value
    return None, None, None
