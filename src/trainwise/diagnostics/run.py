"""``diagnose``: run every detector over what a run recorded, and order the findings."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainwise.diagnostics import classification, curves, gradients, quality
from trainwise.diagnostics import data as data_checks
from trainwise.diagnostics.findings import Finding
from trainwise.diagnostics.series import chance_loss
from trainwise.errors import InputError
from trainwise.history import read_history

logger = logging.getLogger(__name__)

# Curve findings that a diverged run makes meaningless: its numbers are NaN or astronomically large.
_AFTER_DIVERGENCE = {"overfitting", "not_converged", "no_progress", "unstable_loss", "unstable_accuracy",
                     "val_loss_below_train"}
# ...and that a run which learned nothing makes moot.
_AFTER_NO_PROGRESS = {"overfitting", "not_converged", "val_loss_below_train"}


def diagnose(history: Sequence[Mapping[str, Any]] | str | os.PathLike[str], *,
             metrics: Mapping[str, Any] | None = None,
             data: Mapping[str, Any] | None = None,
             restored_epoch: int | None = None,
             thresholds: Mapping[str, Any] | None = None) -> list[Finding]:
    """All findings about a run, errors first.

    ``history``: the per-epoch records (keys may be missing or ``None``), or a path that
    :func:`trainwise.history.read_history` accepts. ``metrics``: the final validation metrics dict.
    ``data``: the data facts (``class_counts``, ``labels``, ``leakage``, ``n_train``, ``n_val``).
    The class counts and the number of classes give the chance-level losses that ``no_progress`` and
    ``lr_too_high`` compare against. ``restored_epoch``: the epoch whose weights the run ended with when
    the loop restored the best ones; overfitting that those weights predate is reported as info.
    ``thresholds``: the binary threshold choices of a run or an evaluation (``recall@0.8``...), so advice
    about low recall can name the threshold that fixes it.
    """
    if isinstance(history, (str, os.PathLike)):
        return diagnose_path(history)[0]
    history = list(history or [])
    metrics = metrics or {}
    data = data or {}
    num_classes = _num_classes(metrics, data)
    # The loss of a model that only learned the class shares (no_progress), and of one that guesses
    # uniformly, ln C: an upper bound for a fresh model whatever the class weights (lr_too_high).
    chance = chance_loss(num_classes, data.get("class_counts") or _supports(metrics))
    uniform = chance_loss(num_classes)

    findings: list[Finding] = []
    diverged = curves.lr_too_high(history, chance=uniform)
    stuck = [] if diverged else curves.no_progress(history, chance=chance)
    skip = _AFTER_DIVERGENCE if diverged else _AFTER_NO_PROGRESS if stuck else set()
    findings += diverged + stuck
    findings += [f for f in curves.overfitting(history, restored_epoch=restored_epoch) if f.code not in skip]
    for detector in (curves.not_converged, curves.unstable_loss, curves.unstable_accuracy,
                     curves.val_loss_below_train):
        findings += [f for f in detector(history) if f.code not in skip]
    findings += gradients.exploding_gradients(history) + gradients.vanishing_gradients(history)

    if metrics:
        findings += classification.classification_findings(metrics, thresholds)
        findings += quality.quality_findings(metrics)
    if data.get("class_counts"):
        findings += classification.class_imbalance(data["class_counts"], data.get("labels"))
    elif metrics:
        findings += classification.class_imbalance_from_metrics(metrics)
    if data:
        findings += data_checks.data_leakage(data)

    findings.sort(key=lambda f: -f.severity.rank)  # stable: detector order within a severity
    logger.debug("diagnose: %s", [f.code for f in findings])
    return findings


def diagnose_path(path: str | os.PathLike[str]) -> tuple[list[Finding], dict[str, Any], list[dict[str, Any]]]:
    """Read a run folder or log file and diagnose it: ``(findings, mapping_info, records)``.

    For a trainwise run folder (or its ``history.jsonl``/``history.csv``), the ``metrics``, ``data`` and
    ``restored_epoch`` of its ``summary.json`` are used too, so the model's findings come back with the curves'.
    ``mapping_info`` is :func:`~trainwise.history.read_history`'s, plus ``summary`` when one was read.
    Raises :class:`~trainwise.errors.InputError` for a missing or unreadable file.
    """
    records, info = read_history(path)
    summary = _summary_next_to(Path(info["path"]))
    metrics = data = restored = thresholds = None
    if summary is not None:
        info["summary"] = str(summary[0])
        content = summary[1]
        metrics = content.get("metrics") if isinstance(content.get("metrics"), dict) else None
        data = content.get("data") if isinstance(content.get("data"), dict) else None
        restored = content.get("restored_epoch") if isinstance(content.get("restored_epoch"), int) else None
        thresholds = content.get("thresholds") if isinstance(content.get("thresholds"), dict) else None
    return (diagnose(records, metrics=metrics, data=data, restored_epoch=restored, thresholds=thresholds),
            info, records)


def _summary_next_to(file: Path) -> tuple[Path, dict[str, Any]] | None:
    if file.name not in ("history.jsonl", "history.csv"):
        return None
    summary = file.parent / "summary.json"
    if not summary.is_file():
        return None
    try:
        content = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{summary}: not valid JSON ({exc}); delete it to diagnose the curves alone") from exc
    return (summary, content) if isinstance(content, dict) else None


def _supports(metrics: Mapping[str, Any]) -> list[int] | None:
    cm = metrics.get("confusion_matrix")
    return [int(sum(row)) for row in cm] if cm else None


def _num_classes(metrics: Mapping[str, Any], data: Mapping[str, Any]) -> int | None:
    if isinstance(data.get("num_classes"), int):
        return data["num_classes"]
    for source in (data.get("labels"), data.get("class_counts"), metrics.get("labels"),
                   metrics.get("confusion_matrix")):
        if source:
            return len(source)
    return None
