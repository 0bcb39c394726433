"""Findings from the final validation metrics: is the model any good, class by class?

Every detector reads the metrics dict of docs/architecture.md (``confusion_matrix`` with rows = true
class and columns = predicted class, ``labels``, ``positive_label``, ``per_class``, ...) and returns a
list of findings. Per-class numbers come from the confusion matrix when there is one, so they agree
with each other; ``per_class`` is the fallback.

Zero division, an explicit choice: a class with no true samples has no recall and a class never
predicted has no precision; such values are ``None`` and never produce a finding of their own (a class
never predicted shows up as recall 0, which is exactly what ``low_recall`` and ``accuracy_paradox``
are for).

Which classes are judged: in a binary task the positive class (``positive_label``; else ``1``/``True``
when those are the labels; else the rarer class); in a multiclass task every class with samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trainwise.diagnostics.findings import Finding, Severity
from trainwise.policy import positive_index

# accuracy_paradox: accuracy must remove at least this share of the errors the majority guess makes.
MIN_SKILL = 0.2
# accuracy_paradox, second form: with this majority share or more, a minority class recalled below
# MINORITY_RECALL makes high accuracy misleading.
IMBALANCED_MAJORITY_SHARE = 0.75
MINORITY_RECALL = 0.5
# low_recall: warning below 0.5, error below 0.3. low_precision: warning below 0.5.
RECALL_WARNING, RECALL_ERROR = 0.5, 0.3
PRECISION_WARNING = 0.5
# precision_recall_gap: |precision - recall| at or above this.
PR_GAP = 0.3
# class_imbalance: the rarest class holds less than half of its fair share (1 / number of classes).
IMBALANCE_FAIR_SHARE_FRACTION = 0.5


@dataclass(frozen=True)
class ClassStats:
    """One class's counts and rates; ``None`` where a rate is undefined (zero division)."""

    label: str
    support: int | None
    predicted: int | None
    tp: int | None
    recall: float | None
    precision: float | None


def class_stats(metrics: Mapping[str, Any]) -> list[ClassStats]:
    """Per-class support, predictions, hits, recall and precision, in label order."""
    cm = metrics.get("confusion_matrix")
    labels = _labels(metrics, len(cm) if cm else None)
    if cm:
        stats = []
        for i, label in enumerate(labels):
            support = int(sum(cm[i]))
            predicted = int(sum(row[i] for row in cm))
            tp = int(cm[i][i])
            stats.append(ClassStats(label, support, predicted, tp,
                                    tp / support if support else None,
                                    tp / predicted if predicted else None))
        return stats
    per_class = metrics.get("per_class") or {}
    stats = []
    for label in labels:
        entry = per_class.get(label) or {}
        support = entry.get("support")
        stats.append(ClassStats(label, None if support is None else int(support), None, None,
                                entry.get("recall") if support else None, entry.get("precision")))
    return stats


def _labels(metrics: Mapping[str, Any], n: int | None) -> list[str]:
    labels = metrics.get("labels")
    if labels:
        return [str(x) for x in labels]
    per_class = metrics.get("per_class")
    if per_class:
        return [str(x) for x in per_class]
    return [str(i) for i in range(n or 0)]


def positive_label(metrics: Mapping[str, Any], stats: Sequence[ClassStats]) -> str | None:
    """The class a binary task is judged on; ``None`` in multiclass tasks."""
    if len(stats) != 2:
        return None
    given = metrics.get("positive_label")
    if given is not None:
        return str(given)
    labels = [s.label for s in stats]
    supports = [s.support for s in stats]
    counts = None if any(c is None for c in supports) else supports
    return labels[positive_index(labels, counts)]


def class_phrase(label: str) -> str:
    """How a message names a class: ``class 1``, ``class 'fraud'``."""
    return f"class {label}" if _is_plain(label) else f"class {label!r}"


def _is_plain(label: str) -> bool:
    return label.lstrip("-").replace(".", "", 1).isdigit() or label in ("True", "False", "true", "false")


def _judged(metrics: Mapping[str, Any], stats: list[ClassStats]) -> list[ClassStats]:
    pos = positive_label(metrics, stats)
    if pos is not None:
        return [s for s in stats if s.label == pos]
    return [s for s in stats if s.support]


def _pct(x: float) -> str:
    return f"{x:.0%}" if abs(x * 100 - round(x * 100)) < 1e-9 or x >= 0.1 else f"{x:.1%}"


def _missed(s: ClassStats) -> str:
    """"22 of 25" when the counts are known, else ""."""
    if s.support is None or s.tp is None:
        return ""
    return f" ({s.support - s.tp} of {s.support})"


# ---------------------------------------------------------------------------------------------------


def accuracy_paradox(metrics: Mapping[str, Any], thresholds: Mapping[str, Any] | None = None) -> list[Finding]:
    """Accuracy that says less than it seems: error.

    Rule, with ``baseline`` = the majority class's share of the samples (the accuracy of always
    predicting it) and ``skill = (accuracy - baseline) / (1 - baseline)`` (the share of the majority
    guess's errors that the model removes):

    - ``skill < 0.2``: accuracy does not clearly beat the baseline; or
    - the majority class holds >= 75 % of the samples and a minority class has recall < 0.5: high
      accuracy hides a class the model mostly misses.

    Evidence: ``accuracy``, ``baseline``, ``majority_label``, ``skill``, ``minority_label`` (the
    worst-recalled minority class when its recall is under 0.5, else the rarest class),
    ``minority_recall``, ``minority_share``; ``threshold_fix`` when a lower threshold (from
    ``thresholds``) reaches a useful recall, and the advice then gives its numbers.
    """
    stats = class_stats(metrics)
    total = sum(s.support or 0 for s in stats)
    if len(stats) < 2 or total == 0 or any(s.support is None for s in stats):
        return []
    accuracy = metrics.get("accuracy")
    if accuracy is None:
        if stats[0].tp is None:
            return []
        accuracy = sum(s.tp or 0 for s in stats) / total
    majority = max(stats, key=lambda s: s.support or 0)
    baseline = (majority.support or 0) / total
    if baseline >= 1.0:
        return []  # one class only: nothing to compare against (the data checks say so)
    skill = (accuracy - baseline) / (1.0 - baseline)
    minorities = [s for s in stats if s is not majority and s.support]
    rarest = min(minorities, key=lambda s: s.support or 0)
    recalled = [s for s in minorities if s.recall is not None]
    worst = min(recalled, key=lambda s: s.recall or 0.0) if recalled else None
    hidden = (baseline >= IMBALANCED_MAJORITY_SHARE and worst is not None
              and (worst.recall or 0.0) < MINORITY_RECALL)
    if skill >= MIN_SKILL and not hidden:
        return []

    # The class to name: the worst-recalled minority class when one is poorly recalled, else the rarest.
    shown = worst if worst is not None and (worst.recall or 0.0) < MINORITY_RECALL else rarest
    evidence = {"accuracy": accuracy, "baseline": baseline, "majority_label": majority.label,
                "skill": skill, "minority_label": shown.label, "minority_recall": shown.recall,
                "minority_share": (shown.support or 0) / total}
    always = f"always predicting {class_phrase(majority.label)}"
    if skill < MIN_SKILL:
        compare = ("equals" if abs(accuracy - baseline) < 0.0005
                   else "is below" if accuracy < baseline else "barely beats")
        seen = f"Accuracy {accuracy:.1%} {compare} the majority-class baseline of {baseline:.1%} ({always})"
    else:
        seen = (f"Accuracy {accuracy:.1%} looks high only because {baseline:.1%} of the samples are "
                f"{class_phrase(majority.label)}")
    poorly_recalled = shown.recall is not None and shown.recall < MINORITY_RECALL
    if poorly_recalled:
        seen += (f"; recall on {class_phrase(shown.label)} is {_pct(shown.recall)}: the model misses "
                 f"{_pct(1 - shown.recall)} of {class_phrase(shown.label)}{_missed(shown)}")
        message = seen + ". Accuracy is the wrong yardstick here, and the model is not ready."
        advice = (f"Judge it by recall, precision and F1 of {class_phrase(shown.label)} and by balanced "
                  "accuracy; try class weights or resampling"
                  + (", and a lower decision threshold." if len(stats) == 2 else "."))
        fix = threshold_fix(thresholds) if len(stats) == 2 else None
        if fix is not None:
            advice = (f"Judge it by recall, precision and F1 of {class_phrase(shown.label)}, not accuracy. "
                      f"Try class weights or {_fix_text(fix)}.")
            evidence["threshold_fix"] = fix
    else:
        worse = "does worse than" if accuracy < baseline else "adds little to"
        message = seen + f": the model {worse} a constant guess and is not ready."
        advice = ("Check the features and labels for errors and the training curves for a run that did not "
                  "learn; judge the model by balanced accuracy and per-class recall, not accuracy.")
    return [Finding("accuracy_paradox", Severity.ERROR, message, advice, None, evidence)]


def threshold_fix(thresholds: Mapping[str, Any] | None) -> dict | None:
    """The operating point that a lower decision threshold reaches (binary tasks with scores), from the
    ``thresholds`` of a run or an evaluation: the ``recall@R`` entry, when it lies below the threshold in
    use and reaches at least 50% recall. None otherwise."""
    if not thresholds:
        return None
    applied = thresholds.get("applied") or {}
    current = applied.get("threshold") or 0.5
    for key, choice in thresholds.items():
        if key.startswith("recall@") and choice and choice.get("threshold") is not None:
            if choice["threshold"] < current and choice["recall"] >= 0.5:
                return {"from": current, **choice}
    return None


def _fix_text(fix: Mapping[str, Any]) -> str:
    return (f"lower the decision threshold ({fix['from']:g} → {fix['threshold']:.3g} reaches "
            f"{_pct(fix['recall'])} recall at {_pct(fix['precision'])} precision on the validation data; "
            f"`--threshold recall={fix['recall']:.2g}` applies it)")


def low_recall(metrics: Mapping[str, Any], thresholds: Mapping[str, Any] | None = None) -> list[Finding]:
    """A judged class the model rarely finds.

    Rule: recall < 0.5 → warning; recall < 0.3 → error. Judged classes: the positive class in a
    binary task, every class with samples in a multiclass task (one finding lists them all, worst
    first; its severity is the worst one's). Classes without samples have no recall and are skipped.
    Evidence: ``classes`` (label, recall, support, missed), ``label`` and ``recall`` of the worst.
    """
    judged = [s for s in _judged(metrics, class_stats(metrics)) if s.recall is not None]
    low = sorted((s for s in judged if s.recall < RECALL_WARNING), key=lambda s: s.recall or 0.0)
    if not low:
        return []
    worst = low[0]
    severity = Severity.ERROR if worst.recall < RECALL_ERROR else Severity.WARNING
    rows = [{"label": s.label, "recall": s.recall, "support": s.support,
             "missed": None if s.support is None or s.tp is None else s.support - s.tp} for s in low]
    message = (f"Recall on {class_phrase(worst.label)} is {_pct(worst.recall)}: the model misses "
               f"{_pct(1 - worst.recall)} of {class_phrase(worst.label)}{_missed(worst)}")
    if len(low) > 1:
        others = ", ".join(f"{class_phrase(s.label)} {_pct(s.recall)}" for s in low[1:4])
        message += f"; also low: {others}" + (f" and {len(low) - 4} more" if len(low) > 4 else "")
    message += ". A class the model rarely finds is one it has not learned."
    advice = ("Weight the loss by class (or oversample the class), lower the decision threshold for it, "
              "and check that its training examples are labelled right.")
    evidence = {"label": worst.label, "recall": worst.recall, "classes": rows}
    fix = threshold_fix(thresholds) if metrics.get("positive_label") is not None else None
    if fix is not None:                      # a reachable threshold fixes it: say so, with the numbers
        advice = (f"Try class weights (--class-weights balanced) or {_fix_text(fix)}; check that the class's "
                  "training examples are labelled right.")
        evidence["threshold_fix"] = fix
    return [Finding("low_recall", severity, message, advice, None, evidence)]


def low_precision(metrics: Mapping[str, Any]) -> list[Finding]:
    """A judged class the model is often wrong about when it predicts it: warning.

    Rule: precision < 0.5 for a judged class that the model predicts at least once (a class never
    predicted has no precision). Judged classes as in :func:`low_recall`.
    Evidence: ``classes`` (label, precision, predicted, false_positives), ``label``, ``precision``.
    """
    judged = [s for s in _judged(metrics, class_stats(metrics)) if s.precision is not None]
    low = sorted((s for s in judged if s.precision < PRECISION_WARNING), key=lambda s: s.precision or 0.0)
    if not low:
        return []
    worst = low[0]
    rows = [{"label": s.label, "precision": s.precision, "predicted": s.predicted,
             "false_positives": None if s.predicted is None or s.tp is None else s.predicted - s.tp}
            for s in low]
    wrong = ""
    if worst.predicted and worst.tp is not None:
        wrong = f" ({worst.predicted - worst.tp} of {worst.predicted})"
    message = (f"Precision on {class_phrase(worst.label)} is {_pct(worst.precision)}: "
               f"{_pct(1 - worst.precision)} of the samples predicted as {class_phrase(worst.label)} "
               f"are not{wrong}")
    if len(low) > 1:
        message += "; also low: " + ", ".join(f"{class_phrase(s.label)} {_pct(s.precision)}" for s in low[1:4])
        message += f" and {len(low) - 4} more" if len(low) > 4 else ""
    message += ". Every alarm it raises has to be checked."
    advice = ("Raise the decision threshold for this class if false alarms are costly, or give the model "
              "more informative features; look at which classes it is confused with.")
    evidence = {"label": worst.label, "precision": worst.precision, "classes": rows}
    return [Finding("low_precision", Severity.WARNING, message, advice, None, evidence)]


def precision_recall_gap(metrics: Mapping[str, Any]) -> list[Finding]:
    """Precision and recall far apart: warning.

    Rule: ``|precision - recall| >= 0.3``; binary tasks compare the positive class's precision and
    recall, multiclass tasks the macro averages. A class never predicted (precision undefined) is left
    to ``low_recall``. Evidence: ``precision``, ``recall``, ``gap``, ``label`` (binary) or ``average``.
    """
    stats = class_stats(metrics)
    pos = positive_label(metrics, stats)
    if pos is not None:
        s = next(x for x in stats if x.label == pos)
        precision, recall, what = s.precision, s.recall, class_phrase(pos)
        target = what
        evidence: dict[str, Any] = {"label": pos}
    else:
        macro = metrics.get("macro") or {}
        precision, recall, what = macro.get("precision"), macro.get("recall"), "the classes on average (macro)"
        target = "the classes it rarely finds"
        evidence = {"average": "macro"}
    if precision is None or recall is None or abs(precision - recall) < PR_GAP:
        return []
    gap = abs(precision - recall)
    evidence.update({"precision": precision, "recall": recall, "gap": gap})
    if precision > recall:
        why = "the model is cautious: when it says so it is often right, but it says so too rarely"
        advice = (f"Lower the decision threshold (a threshold sweep, e.g. trainwise evaluate --score, shows "
                  f"the trade-off), or weight {target} up in the loss.")
    else:
        why = "the model is eager: it finds most cases but raises many false alarms"
        advice = ("Raise the decision threshold (a threshold sweep, e.g. trainwise evaluate --score, shows "
                  "the trade-off), or give the model features that tell the classes apart.")
    message = (f"Precision {_pct(precision)} and recall {_pct(recall)} on {what} are {100 * gap:.0f} points "
               f"apart; {why}. Where that balance sits is set by the decision threshold as much as by "
               "the model.")
    return [Finding("precision_recall_gap", Severity.WARNING, message, advice, None, evidence)]


def class_imbalance(counts: Sequence[int], labels: Sequence[str] | None = None) -> list[Finding]:
    """The rarest class is a small share of the data: info.

    Rule: with ``C`` classes, the rarest class holds less than half its fair share, ``0.5 / C`` of the
    samples (binary: under 25 %; ten classes: under 5 %). Evidence: ``counts``, ``labels``,
    ``rarest_label``, ``rarest_share``, ``ratio`` (largest count / rarest count).
    """
    counts = [int(c) for c in counts]
    total = sum(counts)
    if len(counts) < 2 or total == 0:
        return []
    labels = [str(x) for x in labels] if labels is not None else [str(i) for i in range(len(counts))]
    i = min(range(len(counts)), key=counts.__getitem__)
    share = counts[i] / total
    if share >= IMBALANCE_FAIR_SHARE_FRACTION / len(counts):
        return []
    ratio = max(counts) / counts[i] if counts[i] else None
    evidence = {"counts": counts, "labels": labels, "rarest_label": labels[i], "rarest_share": share,
                "ratio": ratio}
    ratio_text = f"{ratio:.0f} to 1" if ratio is not None else "absent"
    message = (f"{class_phrase(labels[i]).capitalize()} is {_pct(share)} of the data ({counts[i]} of {total}; "
               f"largest to rarest {ratio_text}). Accuracy will look good whatever happens to it.")
    advice = (f"Read recall and precision of {class_phrase(labels[i])} and balanced accuracy rather than "
              "accuracy; class weights or resampling help the model notice it.")
    return [Finding("class_imbalance", Severity.INFO, message, advice, None, evidence)]


def class_imbalance_from_metrics(metrics: Mapping[str, Any]) -> list[Finding]:
    """:func:`class_imbalance` on the validation supports, when no training counts are at hand."""
    stats = class_stats(metrics)
    if not stats or any(s.support is None for s in stats):
        return []
    return class_imbalance([s.support or 0 for s in stats], [s.label for s in stats])


def classification_findings(metrics: Mapping[str, Any],
                            thresholds: Mapping[str, Any] | None = None) -> list[Finding]:
    """Every metrics detector above except class_imbalance (which prefers the training counts).
    ``thresholds`` (binary tasks with scores) lets the advice name the threshold that fixes low recall."""
    return [*accuracy_paradox(metrics, thresholds), *low_recall(metrics, thresholds), *low_precision(metrics),
            *precision_recall_gap(metrics)]
