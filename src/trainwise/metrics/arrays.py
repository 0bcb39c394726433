"""Metrics of predictions held as NumPy arrays, without torch: what ``trainwise evaluate`` measures.

The counts are the accumulator's (one ``bincount`` of ``target * C + preds``; the scores' histograms
over the same bin edges) made with NumPy, and every number is derived from them by the functions the
accumulator uses (:mod:`trainwise.metrics.summary`), so a file of predictions and a training pass are
measured alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trainwise.errors import InputError
from trainwise.metrics.summary import classification_metrics, threshold_advice
from trainwise.metrics.sweeps import Sweep, bin_edges, binned_sweep


def measure(target: np.ndarray, preds: np.ndarray, labels: Sequence[str], positive: int = 1, *,
            scores: np.ndarray | None = None, target_recall: float | None = 0.8
            ) -> tuple[dict[str, Any], dict[str, dict | None] | None]:
    """``(metrics, thresholds)`` of class indices ``preds`` against ``target`` (both in ``[0, C)`` for
    the ``C`` names in ``labels``). Binary tasks may pass ``scores``, each sample's probability of class
    ``positive``: they add average precision, ROC AUC and the threshold advice (best F1, and the
    threshold reaching ``target_recall``); without them ``thresholds`` is None."""
    num_classes = len(labels)
    target, preds = np.asarray(target, dtype=np.int64).reshape(-1), np.asarray(preds, dtype=np.int64).reshape(-1)
    for name, values in (("target", target), ("preds", preds)):
        bad = values[(values < 0) | (values >= num_classes)]
        if len(bad):
            raise InputError(f"Expected `{name}` to hold class indices in [0, {num_classes}), but got {bad[0]} "
                             f"({len(bad)} of {len(values)} labels are out of range)")
    cm = np.bincount(target * num_classes + preds, minlength=num_classes**2).reshape(num_classes, num_classes)
    sweep = None if scores is None else score_sweep(scores, target == positive)
    metrics = classification_metrics(cm, labels, positive, sweep=sweep)
    return metrics, None if sweep is None else threshold_advice(sweep, target_recall)


def score_sweep(scores: np.ndarray, positive: np.ndarray) -> Sweep:
    """The sweep of the scores binned as the accumulator bins them (``bin_edges()``): ``positive`` marks
    the samples of the positive class."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not np.all((scores >= 0) & (scores <= 1)):           # False for NaN too
        outside = int(np.sum(~((scores >= 0) & (scores <= 1))))
        raise InputError(f"Expected `scores` to be probabilities in [0, 1], but {outside} were outside [0, 1] or "
                         "NaN (pass sigmoid/softmax outputs, not logits)")
    edges = bin_edges()
    bins = np.searchsorted(edges, scores, side="right") - 1          # edges[bin] <= score < edges[bin + 1]
    index = bins + len(edges) * np.asarray(positive, dtype=np.int64).reshape(-1)
    counts = np.bincount(index, minlength=2 * len(edges)).reshape(2, len(edges))   # negatives, positives
    return binned_sweep(counts, edges)
