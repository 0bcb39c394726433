"""Findings that an imported log needs: what it lacks, what its metric columns say, a loop that never stepped.

- :func:`no_validation`: a run or log without any validation number cannot be called good (warning).
- :func:`logged_metrics`: the classification checks of classification.py, from the accuracy, precision,
  recall, F1 and AUC a log holds (no confusion matrix): the positive class's share follows from
  accuracy ``a``, precision ``p`` and recall ``r`` as ``π = (1 − a) / (r(1 − p)/p + 1 − r)`` (the
  errors are the missed positives ``π(1 − r)`` plus the false alarms ``πr(1 − p)/p``), and with it the
  majority baseline that accuracy must beat. Binary metrics are assumed (Keras' ``Precision``/``Recall``,
  scikit-learn's default ``average="binary"``).
- :func:`no_training_step`: NaN training loss in every epoch while validation loss never changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from trainwise.diagnostics.classification import (
    IMBALANCED_MAJORITY_SHARE,
    MIN_SKILL,
    MINORITY_RECALL,
    PR_GAP,
    PRECISION_WARNING,
    RECALL_ERROR,
    RECALL_WARNING,
)
from trainwise.diagnostics.findings import Finding, Severity
from trainwise.diagnostics.series import fmt, series, values

History = Sequence[Mapping[str, Any]]
VALIDATION_KEYS = ("val_loss", "val_accuracy", "val_precision", "val_recall", "val_f1",
                   "val_balanced_accuracy", "val_roc_auc", "val_average_precision")


def no_validation(history: History, ignored: Sequence[str] = ()) -> list[Finding]:
    """No record holds a validation number: nothing held-out was judged (warning).

    Evidence: ``keys`` (what the records hold), ``ignored`` (the columns not read, where a validation
    column under an unusual name would be).
    """
    if any(series(history, k, keep_nonfinite=True) for k in VALIDATION_KEYS):
        return []
    keys = sorted({k for r in history for k, v in r.items() if v is not None and k != "epoch"})
    message = ("No validation signal (the records hold " + (", ".join(keys) or "nothing") + "): "
               "the curves show how the model fits its training data, not how it does on new data, so "
               "overfitting, the accuracy paradox and the best epoch cannot be judged. Not a GOOD.")
    advice = ("Give the run validation data (Trainer.fit(model, train, val), trainwise fit --val or "
              "--val-fraction), or log a validation loss: Keras fit(validation_data=...), Lightning "
              "self.log('val_loss', ...) in "
              "validation_step, the Hugging Face Trainer eval_strategy='epoch', scikit-learn "
              "early_stopping=True")
    shown = list(ignored)[:8]
    advice += (f"; or rename the column if it is there (not read: {', '.join(shown)}" +
               (" ..." if len(ignored) > 8 else "") + ")." if shown else ".")
    return [Finding("no_validation", Severity.WARNING, message, advice, None,
                    {"keys": keys, "ignored": list(ignored)})]


def no_training_step(history: History) -> list[Finding]:
    """Training loss NaN in every epoch, validation loss exactly the same in every epoch: no step ran.

    A mean over zero batches is 0/0 = NaN, and weights never updated give the same validation loss
    every time -- not a learning rate that is too high (that makes the validation loss NaN too).
    Rule: at least 2 epochs, every training loss non-finite, at least 2 validation losses, all finite and
    equal to 1e-6. Reported as ``no_progress`` (error). Evidence: ``val_loss``, ``epochs``,
    ``uniform_classes`` (C when the value is within 2 % of ln C: a fresh model guessing uniformly).
    """
    train = series(history, "train_loss", keep_nonfinite=True)
    val = series(history, "val_loss", keep_nonfinite=True)
    if len(train) < 2 or any(math.isfinite(v) for v in values(train)) or len(val) < 2:
        return []
    vs = values(val)
    if not all(math.isfinite(v) for v in vs) or max(vs) - min(vs) > 1e-6 * max(1.0, abs(vs[0])):
        return []
    classes = next((c for c in range(2, 1001) if abs(vs[0] / math.log(c) - 1.0) <= 0.02), None)
    same = f"exactly {fmt(vs[0])}"
    if classes is not None:
        same += f" (ln {classes} = {math.log(classes):.3f}: a fresh model guessing uniformly among {classes} classes)"
    message = (f"Training loss is {values(train)[0]} in every epoch ({len(train)} of {len(train)}) while validation "
               f"loss stays at {same}: no training step ever ran -- a mean over zero batches is 0/0 -- and the "
               "weights never changed. A learning rate that is too high would make the validation loss NaN too.")
    advice = ("Check that the training loader yields batches: a batch size larger than the training set with "
              "drop_last=True, an empty dataset, or a sampler or filter that drops every row. The learning "
              "rate is not the problem.")
    evidence = {"val_loss": vs[0], "epochs": len(train), "uniform_classes": classes, "key": "train_loss"}
    return [Finding("no_progress", Severity.ERROR, message, advice, train[0][0], evidence)]


def logged_metrics(history: History) -> list[Finding]:
    """accuracy_paradox, low_recall, low_precision and precision_recall_gap from a log's last validation
    metrics (the same thresholds as classification.py). Evidence notes ``source: "logged metrics"``."""
    last = _last_metrics(history)
    if last is None:
        return []
    epoch, m = last
    a, p, r = m.get("val_accuracy"), m.get("val_precision"), m.get("val_recall")
    f1 = m.get("val_f1")
    if r is None and p is not None and f1 is not None and 2 * p - f1 > 0:
        r = f1 * p / (2 * p - f1)
    if p is None and r is not None and f1 is not None and 2 * r - f1 > 0:
        p = f1 * r / (2 * r - f1)
    base = {"source": "logged metrics", "epoch": epoch, "accuracy": a, "precision": p, "recall": r,
            "f1": f1, "roc_auc": m.get("val_roc_auc")}
    at = f" at epoch {epoch}"
    findings = _paradox(a, p, r, base, at, epoch)
    if r is not None and r < RECALL_WARNING:
        severity = Severity.ERROR if r < RECALL_ERROR else Severity.WARNING
        findings.append(Finding(
            "low_recall", severity,
            f"Logged validation recall is {r:.1%}{at}: the model misses {1 - r:.0%} of the positive class.",
            "Weight the loss by class (or oversample the positive class), lower the decision threshold, and "
            "check that its training examples are labelled right.", epoch, {**base, "label": "positive"}))
    if p is not None and 0 < p < PRECISION_WARNING:
        findings.append(Finding(
            "low_precision", Severity.WARNING,
            f"Logged validation precision is {p:.1%}{at}: {1 - p:.0%} of its positive predictions are wrong.",
            "Raise the decision threshold if false alarms are costly, or give the model more informative "
            "features.", epoch, {**base, "label": "positive"}))
    if p is not None and r is not None and p > 0 and abs(p - r) >= PR_GAP:
        way = ("cautious: right when it says positive, but it says so too rarely" if p > r
               else "eager: it finds most positives but raises many false alarms")
        move = "Lower" if p > r else "Raise"
        findings.append(Finding(
            "precision_recall_gap", Severity.WARNING,
            f"Logged validation precision {p:.0%} and recall {r:.0%}{at} are {100 * abs(p - r):.0f} points "
            f"apart: the model is {way}.",
            f"{move} the decision threshold (trainwise evaluate --score on its predictions shows the trade-off), "
            "or weight the rarer class in the loss.", epoch, {**base, "gap": abs(p - r)}))
    return findings


def _last_metrics(history: History) -> tuple[Any, dict[str, float]] | None:
    keys = ("val_accuracy", "val_precision", "val_recall", "val_f1", "val_roc_auc")
    for record in reversed(history):
        found = {k: float(record[k]) for k in keys
                 if isinstance(record.get(k), (int, float)) and not isinstance(record.get(k), bool)
                 and math.isfinite(record[k])}
        if {"val_precision", "val_recall", "val_f1"} & set(found):
            return record.get("epoch"), found
    return None


def _paradox(a: float | None, p: float | None, r: float | None, base: dict, at: str,
             epoch: Any) -> list[Finding]:
    """accuracy_paradox where accuracy, precision and recall give the positive share."""
    if a is None or p is None or r is None:
        return []
    if p == 0 and r == 0:
        share, assumed = 1.0 - a, True            # never predicts positive: every error is a missed positive
    elif p > 0 and r * (1 - p) / p + 1 - r > 0:
        share, assumed = (1.0 - a) / (r * (1 - p) / p + 1 - r), False
    else:
        return []
    if not 0 < share < 1:
        return []
    baseline = max(share, 1 - share)
    skill = (a - baseline) / (1 - baseline)
    minority_recall = r if share <= 0.5 else (a - r * share) / (1 - share)   # specificity when positives dominate
    hidden = baseline >= IMBALANCED_MAJORITY_SHARE and minority_recall < MINORITY_RECALL
    if skill >= MIN_SKILL and not hidden:
        return []
    where = ("the positive class" if share <= 0.5 else "the negative class")
    derived = (f"positive share {share:.1%}" + (" (the model never predicts positive)" if assumed else
               ", from accuracy, precision and recall: (1 - a) / (r(1 - p)/p + 1 - r)"))
    if skill < MIN_SKILL:
        compare = "equals" if abs(a - baseline) < 0.0005 else "is below" if a < baseline else "barely beats"
        seen = f"Logged validation accuracy {a:.1%}{at} {compare} the majority-class baseline of {baseline:.1%}"
    else:
        seen = f"Logged validation accuracy {a:.1%}{at} looks high only because {baseline:.1%} of the samples are one class"
    message = (f"{seen} ({derived}); recall on {where} is {minority_recall:.0%}. Accuracy is the wrong "
               "yardstick here, and the model is not ready.")
    advice = (f"Judge it by recall, precision and F1 of {where} and by balanced accuracy; try class weights or "
              "resampling, and a lower decision threshold.")
    evidence = {**base, "baseline": baseline, "positive_share": share, "skill": skill,
                "minority_recall": minority_recall, "share_assumed": assumed}
    return [Finding("accuracy_paradox", Severity.ERROR, message, advice, epoch, evidence)]
