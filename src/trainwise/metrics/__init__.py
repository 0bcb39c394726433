"""Metrics: a functional core of pure tensor functions, and one streaming accumulator built on it.

Rows of a confusion matrix are true classes, columns predictions; zero division gives 0. Names are
imported on first use (``trainwise._lazy``): :mod:`~trainwise.metrics.derived`,
:mod:`~trainwise.metrics.sweeps`, :mod:`~trainwise.metrics.summary` and :mod:`~trainwise.metrics.arrays`
work on NumPy arrays without importing torch. Multi-label tasks (``[N, L]`` targets of 0/1) have their
own counts in :mod:`trainwise.metrics.multilabel`.
"""

from typing import TYPE_CHECKING

from trainwise._lazy import lazy_exports

_EXPORTS = {
    "MetricAccumulator": "trainwise.metrics.accumulator",
    "MultiLabelAccumulator": "trainwise.metrics.multilabel",
    "hamming_loss": "trainwise.metrics.multilabel",
    "label_scores": "trainwise.metrics.multilabel",
    "multilabel_confusion_matrix": "trainwise.metrics.multilabel",
    "subset_accuracy": "trainwise.metrics.multilabel",
    "ScoreHistogram": "trainwise.metrics.curves",
    "ThresholdChoice": "trainwise.metrics.sweeps",
    "accuracy": "trainwise.metrics.derived",
    "average_precision": "trainwise.metrics.curves",
    "balanced_accuracy": "trainwise.metrics.derived",
    "best_fbeta_threshold": "trainwise.metrics.curves",
    "confusion_matrix": "trainwise.metrics.functional",
    "default_edges": "trainwise.metrics.curves",
    "f1": "trainwise.metrics.derived",
    "fbeta": "trainwise.metrics.derived",
    "precision": "trainwise.metrics.derived",
    "precision_recall_curve": "trainwise.metrics.curves",
    "recall": "trainwise.metrics.derived",
    "roc_auc": "trainwise.metrics.curves",
    "roc_curve": "trainwise.metrics.curves",
    "support": "trainwise.metrics.derived",
    "threshold_for_precision": "trainwise.metrics.curves",
    "threshold_for_recall": "trainwise.metrics.curves",
}
__all__ = ["MetricAccumulator", "MultiLabelAccumulator", "ScoreHistogram", "ThresholdChoice", "accuracy",
           "average_precision", "balanced_accuracy", "best_fbeta_threshold", "confusion_matrix", "default_edges",
           "f1", "fbeta", "hamming_loss", "label_scores", "multilabel_confusion_matrix", "precision",
           "precision_recall_curve", "recall", "roc_auc", "roc_curve", "subset_accuracy", "support",
           "threshold_for_precision", "threshold_for_recall"]                                 # _EXPORTS' keys
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from trainwise.metrics.accumulator import MetricAccumulator
    from trainwise.metrics.curves import (
        ScoreHistogram,
        average_precision,
        best_fbeta_threshold,
        default_edges,
        precision_recall_curve,
        roc_auc,
        roc_curve,
        threshold_for_precision,
        threshold_for_recall,
    )
    from trainwise.metrics.derived import accuracy, balanced_accuracy, f1, fbeta, precision, recall, support
    from trainwise.metrics.functional import confusion_matrix
    from trainwise.metrics.multilabel import (
        MultiLabelAccumulator,
        hamming_loss,
        label_scores,
        multilabel_confusion_matrix,
        subset_accuracy,
    )
    from trainwise.metrics.sweeps import ThresholdChoice
