"""`Run`: the outcome of a fit as plain data (history, metrics, findings, verdict...), its summary, and the
facts about the environment that let a run be repeated."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from trainwise import distributed


@dataclass
class Run:
    """The outcome of `Trainer.fit` or `Monitor.finish`: plain data that diagnostics, report and CLI consume."""

    history: list[dict]
    metrics: dict | None
    findings: list
    verdict: str
    best_epoch: int | None
    thresholds: dict | None
    config: dict
    data: dict
    model: nn.Module | None = field(default=None, repr=False)
    stop_reason: str | None = None
    restored_epoch: int | None = None    # the epoch whose weights the model ends with, when not the last
    environment: dict = field(default_factory=dict)
    defaults: dict | None = None         # the settings chosen from the data and why (trainwise.defaults), when chosen

    @property
    def calibration(self) -> dict | None:
        """Calibration of the final model on the validation rows (``metrics["calibration"]``): ``ece``,
        ``gap`` (> 0 over-confident), ``noise``, ``bins`` (the reliability diagram) and, with
        ``calibrate=True``, ``temperature`` and ``ece_after``. None without validation data."""
        return (self.metrics or {}).get("calibration")

    @property
    def baseline(self) -> dict | None:
        """The logistic regression on the same features (``metrics["baseline"]``): ``outcome``
        (``weaker``, ``better``, ``on_par``), ``metric``, ``network``, ``baseline``, ``p_value``,
        its ``metrics``; ``ran: False`` with a ``reason`` where it does not apply."""
        return (self.metrics or {}).get("baseline")

    def summary(self) -> dict:
        """The `--json` object of the CLI contract."""
        return {
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "metrics": self.metrics,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "thresholds": self.thresholds,
            "stop_reason": self.stop_reason,
            "restored_epoch": self.restored_epoch,
            "environment": self.environment,
            "data": self.data,
            "config": self.config,
            **({"defaults": self.defaults} if self.defaults is not None else {}),
        }


def environment(device: torch.device) -> dict:
    """Versions and device, so a run can be repeated."""
    from trainwise import __version__
    env = {"python": platform.python_version(), "torch": torch.__version__, "trainwise": __version__,
           "platform": platform.platform(), "device": str(device),
           "world_size": distributed.current().size}
    if device.type == "cuda":
        env["device_name"] = torch.cuda.get_device_name(device)
    return env


def data_facts(task: Any, *, n_train: int | None, n_val: int, class_counts: list[int] | None,
               extra: dict | None = None, loss: str | None = None) -> dict:
    """The data facts a run carries (the findings and the report read them): labels, classes, positive
    class, rows, the task (``binary``, ``multiclass``, ``multilabel``: then ``class_counts`` are each
    label's positives), whether the model outputs ``logits`` or ``probabilities`` and what the loss was
    computed on (``loss``: ``logits``, ``probabilities`` or None when unknown); ``extra`` adds what the
    data's source knows (a table's columns, split, leakage)."""
    data = {"labels": task.labels, "num_classes": task.num_classes, "positive": task.positive,
            "n_train": n_train, "n_val": n_val, "task": task.kind,
            "outputs": "probabilities" if task.probabilities else "logits", "loss_input": loss}
    if class_counts is not None:
        data["class_counts"] = class_counts
    if extra:
        data.update(extra)
    return data
