"""Metrics: a functional core of pure tensor functions, and one streaming accumulator built on it.

Rows of a confusion matrix are true classes, columns predictions; zero division gives 0.
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

__all__ = [
    "MetricAccumulator",
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
    "precision",
    "precision_recall_curve",
    "recall",
    "roc_auc",
    "roc_curve",
    "support",
    "threshold_for_precision",
    "threshold_for_recall",
]
