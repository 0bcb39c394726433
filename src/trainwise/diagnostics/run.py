"""``diagnose``: run every detector over what a run recorded, and order the findings."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainwise.diagnostics import classification, curves, drift, gradients, logged, multilabel, quality
from trainwise.diagnostics import data as data_checks
from trainwise.diagnostics.findings import Finding
from trainwise.diagnostics.series import chance_loss
from trainwise.errors import InputError
from trainwise.logs import Reading, read_log

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
             thresholds: Mapping[str, Any] | None = None, ignored: Sequence[str] = ()) -> list[Finding]:
    """All findings about a run, errors first.

    ``history``: the per-epoch records (keys may be missing or ``None``), or a path that
    :func:`trainwise.logs.read_log` accepts. ``metrics``: the final validation metrics dict.
    ``data``: the data facts (``class_counts``, ``labels``, ``leakage``, ``n_train``, ``n_val``; ``check``:
    new data checked against the training data, see :mod:`~trainwise.diagnostics.drift`).
    The class counts and the number of classes give the chance-level losses that ``no_progress`` and
    ``lr_too_high`` compare against. ``restored_epoch``: the epoch whose weights the run ended with when
    the loop restored the best ones; overfitting that those weights predate is reported as info.
    ``thresholds``: the binary threshold choices of a run or an evaluation (``recall@0.8``...), so advice
    about low recall can name the threshold that fixes it. ``ignored``: columns a log reader did not
    read, named in the ``no_validation`` advice (a run or log without any validation number is never a
    bare GOOD: it gets that warning).
    """
    if isinstance(history, (str, os.PathLike)):
        return diagnose_path(history)[0]
    history = list(history or [])
    metrics = metrics or {}
    data = data or {}
    labelwise = metrics.get("task") == "multilabel" or data.get("task") == "multilabel"
    num_classes = _num_classes(metrics, data)
    # The loss of a model that only learned the class shares (no_progress), and of one that guesses
    # uniformly, ln C: an upper bound for a fresh model whatever the class weights (lr_too_high).
    # Multi-label losses are each label's binary cross-entropy, averaged: their chance levels too.
    if labelwise:
        chance, uniform = _label_chance(metrics, data), math.log(2)
    else:
        chance = chance_loss(num_classes, data.get("class_counts") or _supports(metrics))
        uniform = chance_loss(num_classes)

    findings: list[Finding] = []
    no_step = logged.no_training_step(history)
    diverged = [] if no_step else curves.lr_too_high(history, chance=uniform)
    stuck = no_step or ([] if diverged else curves.no_progress(history, chance=chance))
    skip = _AFTER_DIVERGENCE if diverged or no_step else _AFTER_NO_PROGRESS if stuck else set()
    findings += diverged + stuck
    findings += [f for f in curves.overfitting(history, restored_epoch=restored_epoch) if f.code not in skip]
    for detector in (curves.not_converged, curves.unstable_loss, curves.unstable_accuracy,
                     curves.val_loss_below_train):
        findings += [f for f in detector(history) if f.code not in skip]
    findings += gradients.exploding_gradients(history) + gradients.vanishing_gradients(history)

    if labelwise:
        findings += multilabel.multilabel_findings(metrics, data, thresholds)
    else:
        if metrics:
            findings += classification.classification_findings(metrics, thresholds)
            findings += quality.quality_findings(metrics)
        if data.get("class_counts"):
            findings += classification.class_imbalance(data["class_counts"], data.get("labels"))
        elif metrics:
            findings += classification.class_imbalance_from_metrics(metrics)
    if data:
        findings += data_checks.data_leakage(data)
        findings += multilabel.probabilities_into_logit_loss(data)
    if data.get("check"):
        findings += drift.unseen_categories(data["check"]) + drift.feature_drift(data["check"])
    if not metrics and history:
        findings += logged.no_validation(history, ignored)

    findings.sort(key=lambda f: -f.severity.rank)  # stable: detector order within a severity
    logger.debug("diagnose: %s", [f.code for f in findings])
    return findings


def diagnose_log(path: str | os.PathLike[str]) -> tuple[list[Finding], Reading]:
    """Read any log :func:`trainwise.logs.read_log` reads and diagnose it: ``(findings, reading)``.

    ``reading`` carries the records, the mapping, the ignored columns, the granularity and the best
    epoch (:class:`trainwise.logs.Reading`). Besides the curve findings: a trainwise run folder adds the
    ``metrics``, ``data`` and ``restored_epoch`` of its ``summary.json``; other logs get the
    classification checks from their logged validation metrics, and a ``no_validation`` warning when
    they hold no validation number at all. Raises :class:`~trainwise.errors.InputError` for a missing,
    unreadable or malformed log.
    """
    reading = read_log(path)
    summary = _summary_next_to(Path(reading.path))
    metrics = data = restored = thresholds = None
    if summary is not None:
        reading.summary = str(summary[0])
        content = summary[1]
        metrics = content.get("metrics") if isinstance(content.get("metrics"), dict) else None
        data = content.get("data") if isinstance(content.get("data"), dict) else None
        restored = content.get("restored_epoch") if isinstance(content.get("restored_epoch"), int) else None
        thresholds = content.get("thresholds") if isinstance(content.get("thresholds"), dict) else None
    findings = diagnose(reading.records, metrics=metrics, data=data, restored_epoch=restored, thresholds=thresholds,
                        ignored=reading.ignored)
    if not metrics:
        findings += logged.logged_metrics(reading.records)
    findings.sort(key=lambda f: -f.severity.rank)
    return findings, reading


def diagnose_path(path: str | os.PathLike[str]) -> tuple[list[Finding], dict[str, Any], list[dict[str, Any]]]:
    """:func:`diagnose_log` as plain data: ``(findings, mapping_info, records)``; ``mapping_info`` is
    :meth:`trainwise.logs.Reading.info` (with ``summary`` when a ``summary.json`` was read)."""
    findings, reading = diagnose_log(path)
    return findings, reading.info(), reading.records


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


def _label_chance(metrics: Mapping[str, Any], data: Mapping[str, Any]) -> float | None:
    """The mean over labels of the binary cross-entropy of guessing each label's share of positives."""
    counts, rows = data.get("class_counts"), (data.get("n_train") or 0) + (data.get("n_val") or 0)
    if not (counts and rows) and metrics.get("per_label"):
        counts = [m["support"] for m in metrics["per_label"].values()]
        rows = metrics.get("num_samples") or 0
    if not counts or not rows:
        return None
    return sum(chance_loss(2, [rows - c, c]) or 0.0 for c in counts) / len(counts)


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
