"""The metrics dict and the threshold advice of one pass, from its counts: a confusion matrix and, for
binary tasks with scores, the sweep of the score histograms.

Pure functions of tensors or NumPy arrays (see :mod:`trainwise.metrics.derived`): the accumulator
calls them after a training pass, ``trainwise evaluate`` on counts made with NumPy, so the two can never
disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from trainwise.metrics import derived as F
from trainwise.metrics.sweeps import (
    Sweep,
    area_under_pr,
    area_under_roc,
    best_fbeta,
    for_precision,
    for_recall,
)


def classification_metrics(cm: F.Array, labels: Sequence[str], positive: int = 1, *, loss: float | None = None,
                           sweep: Sweep | None = None) -> dict[str, Any]:
    """The metrics dict of ``docs/architecture.md`` (plain floats, ints and lists, JSON-ready) from the
    ``[C, C]`` matrix ``cm`` (rows true, columns predicted) and the class names ``labels``.

    Binary tasks: precision, recall and F1 are the ``positive`` class's, and ``sweep`` (the positive
    class's scores against the others') adds ``average_precision`` and ``roc_auc`` (``None`` when the
    positive class, resp. either class, is absent). Other tasks: macro averages.
    """
    cm = F.check_cm(cm)
    names = list(labels)
    binary = len(names) == 2
    average = "binary" if binary else "macro"
    metrics: dict[str, Any] = {
        "loss": loss,
        "num_samples": int(cm.sum()),
        "accuracy": float(F.accuracy(cm)),
        "balanced_accuracy": float(F.balanced_accuracy(cm)),
        "precision": float(F.precision(cm, average, positive)),
        "recall": float(F.recall(cm, average, positive)),
        "f1": float(F.f1(cm, average, positive)),
        "average": average,
        "labels": names,
    }
    if binary:
        metrics["positive_label"] = names[positive]
    xp = F.namespace(cm)
    cells = xp.asarray(cm, dtype=xp.int64)
    metrics["confusion_matrix"] = cells.tolist()
    if binary:
        p, n = positive, 1 - positive
        metrics.update(tp=int(cells[p, p]), fp=int(cells[n, p]), tn=int(cells[n, n]), fn=int(cells[p, n]))
    per_class = [F.precision(cm, None).tolist(), F.recall(cm, None).tolist(), F.f1(cm, None).tolist(),
                 F.support(cm).tolist()]
    metrics["per_class"] = {name: dict(zip(("precision", "recall", "f1", "support"), values, strict=True))
                            for name, *values in zip(names, *per_class, strict=True)}
    for kind in ("macro", "micro", "weighted"):
        metrics[kind] = {"precision": float(F.precision(cm, kind)), "recall": float(F.recall(cm, kind)),
                         "f1": float(F.f1(cm, kind))}
    if sweep is not None:
        positives, negatives = (float(sweep.tps[-1]), float(sweep.fps[-1])) if len(sweep.tps) else (0.0, 0.0)
        metrics["average_precision"] = float(area_under_pr(sweep)) if positives > 0 else None
        metrics["roc_auc"] = float(area_under_roc(sweep)) if positives > 0 and negatives > 0 else None
    return metrics


def threshold_advice(sweep: Sweep | None, target_recall: float | Iterable[float] | None = None,
                     target_precision: float | Iterable[float] | None = None,
                     beta: float = 1.0) -> dict[str, dict | None]:
    """``{"best_f1": {...}, "recall@0.8": {...}, "precision@0.9": {...}}`` (``best_f2`` for ``beta=2``;
    one entry per target given), each ``{threshold, precision, recall, f1, tp, fp, tn, fn}`` with exact
    metrics for ``score >= threshold``, or ``None`` when unreachable (or without a sweep)."""
    def entry(choose) -> dict | None:
        choice = choose(sweep) if sweep is not None else None
        return choice.to_dict() if choice is not None else None

    result = {f"best_f{beta:g}": entry(lambda s: best_fbeta(s, beta))}
    for goal in _as_list(target_recall):
        result[f"recall@{goal:g}"] = entry(lambda s, goal=goal: for_recall(s, goal))
    for goal in _as_list(target_precision):
        result[f"precision@{goal:g}"] = entry(lambda s, goal=goal: for_precision(s, goal))
    return result


def _as_list(goals: float | Iterable[float] | None) -> list[float]:
    if goals is None:
        return []
    if isinstance(goals, Iterable):
        return [float(goal) for goal in goals]
    return [float(goals)]
