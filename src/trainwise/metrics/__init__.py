"""Metrics: a functional core of pure tensor functions, and one streaming accumulator built on it.

Rows of a confusion matrix are true classes, columns predictions; zero division gives 0. Multi-label
tasks (``[N, L]`` targets of 0/1) have their own counts in :mod:`trainwise.metrics.multilabel`.
"""

from trainwise.metrics.accumulator import MetricAccumulator
from trainwise.metrics.curves import (
    ScoreHistogram,
    ThresholdChoice,
    average_precision,
    best_fbeta_threshold,
    default_edges,
    precision_recall_curve,
    roc_auc,
    roc_curve,
    threshold_for_precision,
    threshold_for_recall,
)
from trainwise.metrics.functional import (
    accuracy,
    balanced_accuracy,
    confusion_matrix,
    f1,
    fbeta,
    precision,
    recall,
    support,
)
from trainwise.metrics.multilabel import (
    MultiLabelAccumulator,
    hamming_loss,
    label_scores,
    multilabel_confusion_matrix,
    subset_accuracy,
)

__all__ = [
    "MetricAccumulator",
    "MultiLabelAccumulator",
    "ScoreHistogram",
    "ThresholdChoice",
    "accuracy",
    "average_precision",
    "balanced_accuracy",
    "best_fbeta_threshold",
    "confusion_matrix",
    "default_edges",
    "f1",
    "fbeta",
    "hamming_loss",
    "label_scores",
    "multilabel_confusion_matrix",
    "precision",
    "precision_recall_curve",
    "recall",
    "roc_auc",
    "roc_curve",
    "subset_accuracy",
    "support",
    "threshold_for_precision",
    "threshold_for_recall",
]
