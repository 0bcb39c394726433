"""What a run folder says about using its model: classes, positive class, threshold, preprocessing, network.

A folder written by ``trainwise fit --out`` holds ``config.json`` (layer sizes, dropout, target, the
fitted preprocessor), ``summary.json`` (labels, positive class, the validation thresholds and the one
applied) and ``model.safetensors``. A folder written by ``Trainer(checkpoint_dir=...)`` in Python holds
``model.safetensors`` and ``last.ckpt`` (the settings) but no network description: its network comes from
the caller, and with no ``summary.json`` the classes are named ``0..C-1``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainwise import decision
from trainwise.data.preprocess import TablePreprocessor
from trainwise.errors import InputError, name_list, shown_name
from trainwise.io import read_json
from trainwise.policy import DEFAULT_THRESHOLD

log = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"      # the loop's FINAL_WEIGHTS: the weights the run ended with


@dataclass
class RunInfo:
    """A run folder's facts for prediction (see the module docstring). ``labels`` is None when the folder
    does not name the classes; ``positive`` is the positive class's index in binary tasks."""

    folder: Path
    config: dict[str, Any]
    labels: list[str] | None
    positive: int | None
    target: str | None
    preprocessor: TablePreprocessor | None
    threshold: float
    threshold_source: str
    recorded: dict[str, Any] = field(default_factory=dict)   # summary.json's thresholds (validation scores)

    @property
    def weights(self) -> Path:
        return self.folder / WEIGHTS

    @property
    def network(self) -> dict[str, Any] | None:
        """The MLP's shape as `trainwise fit` built it, or None for a network built by the caller."""
        if self.preprocessor is None or self.labels is None or "hidden" not in self.config:
            return None
        return {"in_features": len(self.preprocessor.feature_names), "num_classes": len(self.labels),
                "hidden": tuple(self.config["hidden"]), "dropout": float(self.config.get("dropout", 0.0))}


def read_run(folder: str | os.PathLike[str]) -> RunInfo:
    """Read ``folder``; an InputError of one line when it is not a run folder or holds no model."""
    path = Path(folder)
    shown = shown_name(path)
    if not path.is_dir():
        what = "a file, not a folder" if path.exists() else "no such folder"
        raise InputError(f"{shown}: {what}; pass a run folder written by `trainwise fit --out`.")
    summary = _json(path / "summary.json")
    config = _json(path / "config.json")
    if config is None:
        config = _checkpoint_config(path)
    if not (path / WEIGHTS).is_file():
        runs = sorted(p.name for p in path.iterdir() if (p / WEIGHTS).is_file())
        if (path / "comparison.json").is_file() and runs:
            raise InputError(f"{shown}: holds a comparison of runs ({name_list(runs)}); pass one of them, e.g. "
                             f"{shown_name(path / runs[0])}.")
        if summary is None and config is None:
            raise InputError(f"{shown}: not a run folder (no {WEIGHTS}, summary.json or config.json); pass a folder "
                             "written by `trainwise fit --out` or by Trainer(checkpoint_dir=...).")
        raise InputError(f"{shown}: the run holds no model ({WEIGHTS} is missing: the run did not finish); finish "
                         "it with `trainwise fit ... --resume`, or train again.")
    return run_info(path, summary or {}, config or {})


def run_info(folder: Path, summary: dict[str, Any], config: dict[str, Any],
             preprocessor: TablePreprocessor | None = None) -> RunInfo:
    """A RunInfo from a run's summary (the ``--json`` object) and settings; ``preprocessor`` replaces the
    one saved in ``config`` (a run trained in Python on a table the caller encoded)."""
    data = summary.get("data") or {}
    labels = [str(label) for label in data["labels"]] if data.get("labels") else None
    positive = data.get("positive") if labels is not None and len(labels) == 2 else None
    if labels is not None and len(labels) == 2 and positive is None:
        positive = 1
    pre = config.get("preprocessor")
    if preprocessor is None and isinstance(pre, dict):
        try:
            preprocessor = TablePreprocessor.from_dict(pre)
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{shown_name(folder)}/config.json: the saved preprocessing cannot be read ({exc}); was "
                             "the file edited? Train again.") from None
    recorded = summary.get("thresholds") or {}
    threshold, source = _run_threshold(recorded, config)
    return RunInfo(folder=folder, config=config, labels=labels, positive=positive,
                   target=config.get("target") or data.get("target"), preprocessor=preprocessor,
                   threshold=threshold, threshold_source=source, recorded=recorded)


def choose_threshold(value: object, info: RunInfo) -> tuple[float, str]:
    """A threshold asked for at prediction time: a number as it is; a rule (``best_f1``, ``recall=0.8``,
    ``precision=0.9``) as the run recorded it on its validation set. Never resolved on the rows being
    predicted: with their labels present that would grade the model on the rows it was tuned on."""
    if info.labels is not None and len(info.labels) != 2:
        raise InputError(f"--threshold applies to binary tasks; this run has {len(info.labels)} classes, each row "
                         "gets the most probable one.")
    rule = decision.parse_threshold(value)
    if rule.fixed is not None:
        return rule.fixed, "given"
    key = str(rule) if rule.kind == "best_f" else f"{rule.kind}@{rule.value:g}"
    choice = info.recorded.get(key)
    if not isinstance(choice, dict) or not isinstance(choice.get("threshold"), (int, float)):
        known = [k for k, v in info.recorded.items()
                 if k not in ("applied", "curve") and isinstance(v, dict) and v.get("threshold") is not None]
        have = f"it recorded {', '.join(k.replace('@', '=') for k in known)}" if known else "it recorded none"
        raise InputError(f"--threshold {rule}: the run did not record that threshold on its validation set ({have}); "
                         "pass a number, or train with --target-recall / --target-precision set to it.")
    return float(choice["threshold"]), f"{rule}, on the run's validation set"


def _run_threshold(recorded: dict[str, Any], config: dict[str, Any]) -> tuple[float, str]:
    """The run's decision threshold: the one its fit applied, else the configured number, else the default."""
    applied = recorded.get("applied")
    if isinstance(applied, dict) and isinstance(applied.get("threshold"), (int, float)):
        rule = applied.get("rule")
        if rule and decision.parse_threshold(rule).fixed is None:
            return float(applied["threshold"]), f"the run's {rule}, chosen on its validation set"
        return float(applied["threshold"]), "the run's threshold"
    configured = config.get("threshold")
    if isinstance(configured, (int, float)) and not isinstance(configured, bool):
        return float(configured), "the run's threshold"
    return DEFAULT_THRESHOLD, "the default"


def _json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    value = read_json(path)
    if not isinstance(value, dict):
        raise InputError(f"{shown_name(path)}: expected a JSON object; the file was changed or is not trainwise's.")
    return value


def _checkpoint_config(folder: Path) -> dict[str, Any] | None:
    """The settings saved in a Python API run's checkpoint (its threshold, when fixed), or None."""
    from trainwise.checkpoint import LAST, load_checkpoint

    if not (folder / LAST).is_file():
        return None
    try:
        payload, _ = load_checkpoint(folder)
    except InputError as exc:
        log.warning("%s", exc)
        return None
    config = payload.get("config")
    return dict(config) if isinstance(config, dict) else None
