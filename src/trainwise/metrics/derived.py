"""Scores derived from one confusion matrix: pure functions of a tensor or a NumPy array.

The conventions are :mod:`trainwise.metrics.functional`'s (rows true classes, columns predictions; zero
division gives 0; ``average`` binary/macro/micro/weighted/None). A tensor in gives float64 tensors out,
on its device; a NumPy array in gives float64 NumPy arrays out, the same numbers, without importing
torch: ``trainwise evaluate`` reads a file of predictions and derives every number here, as the
accumulator does after a training pass.
"""

from __future__ import annotations

import numbers
from typing import Any, Literal

import numpy as np

Average = Literal["binary", "macro", "micro", "weighted"] | None
AVERAGES: tuple[Average, ...] = ("binary", "macro", "micro", "weighted", None)
Array = Any                        # a torch.Tensor or a numpy.ndarray (numpy scalars included)


def namespace(x: object) -> Any:
    """The array module of ``x``: NumPy for NumPy arrays and scalars, else torch (as before NumPy was
    accepted: lists and tensors become tensors)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return np
    import torch  # a tensor exists, so torch is loaded already; a list asks for it

    return torch


def accuracy(cm: Array) -> Array:
    """Share of samples on the diagonal: ``trace / total`` (0 for an empty matrix)."""
    cm = check_cm(cm)
    return safe_divide(cm.diagonal().sum(), cm.sum())


def balanced_accuracy(cm: Array) -> Array:
    """Mean recall over the classes that have support (a class absent from the targets is left
    out, as in scikit-learn); 0 for an empty matrix."""
    cm = check_cm(cm)
    xp = namespace(cm)
    true_sum = cm.sum(axis=1)
    recalls = safe_divide(cm.diagonal(), true_sum)  # 0 where a class has no support
    return safe_divide(recalls.sum(), xp.asarray((true_sum > 0).sum(), dtype=cm.dtype))


def support(cm: Array) -> Array:
    """Number of true samples of each class (the row sums), int64 ``[C]``."""
    cm = check_cm(cm)
    xp = namespace(cm)
    return xp.asarray(cm.sum(axis=1), dtype=xp.int64)


def precision(cm: Array, average: Average = "macro", positive: int = 1) -> Array:
    """``tp / (tp + fp)``: of the samples predicted as a class, the share that are; 0 for a class
    never predicted."""
    return _score(cm, average, positive, lambda tp, pred_sum, true_sum: safe_divide(tp, pred_sum))


def recall(cm: Array, average: Average = "macro", positive: int = 1) -> Array:
    """``tp / (tp + fn)``: of the samples of a class, the share found; 0 for a class absent from
    the targets."""
    return _score(cm, average, positive, lambda tp, pred_sum, true_sum: safe_divide(tp, true_sum))


def f1(cm: Array, average: Average = "macro", positive: int = 1) -> Array:
    """Harmonic mean of precision and recall (F-beta with beta = 1)."""
    return fbeta(cm, 1.0, average=average, positive=positive)


def fbeta(cm: Array, beta: float, average: Average = "macro", positive: int = 1) -> Array:
    """F-beta: ``(1 + b²)·tp / (b²·(tp + fn) + tp + fp)``; recall weighs ``beta`` times as much as
    precision. 0 when the denominator is 0. Macro and weighted averages average the per-class
    F-scores (scikit-learn's definition), not the F-score of averaged precision and recall."""
    check_beta(beta)
    return _score(cm, average, positive,
                  lambda tp, pred_sum, true_sum: fbeta_from_counts(tp, pred_sum, true_sum, beta))


def fbeta_from_counts(tp: Array, pred_sum: Array, true_sum: Array, beta: float) -> Array:
    """F-beta from true positives, predicted positives and actual positives (elementwise), with
    zero division giving 0. Shared by the matrix scores and the threshold sweeps."""
    beta2 = float(beta) ** 2
    return safe_divide((1 + beta2) * tp, beta2 * true_sum + pred_sum)


def safe_divide(num: Array, den: Array) -> Array:
    """``num / den``, and exactly 0 where ``den == 0``: the documented zero-division choice."""
    xp = namespace(num)
    zero = den == 0
    return xp.where(zero, xp.zeros_like(num), num / xp.where(zero, xp.ones_like(den), den))


def _score(cm: Array, average: Average, positive: int, per_class) -> Array:
    cm = check_cm(cm)
    if average not in AVERAGES:
        raise ValueError(f"Expected `average` to be one of 'binary', 'macro', 'micro', 'weighted' or "
                         f"None, but got {average!r}")
    tp, pred_sum, true_sum = cm.diagonal(), cm.sum(axis=0), cm.sum(axis=1)
    if average == "micro":
        return per_class(tp.sum(), pred_sum.sum(), true_sum.sum())
    values = per_class(tp, pred_sum, true_sum)
    if average is None:
        return values
    if average == "binary":
        num_classes = cm.shape[0]
        if (not isinstance(positive, numbers.Integral) or isinstance(positive, bool)
                or not 0 <= positive < num_classes):
            raise ValueError(f"Expected `positive` to be a class index in [0, {num_classes}), but got "
                             f"{positive!r}")
        return values[positive]
    if average == "macro":
        return values.mean()
    return safe_divide((values * true_sum).sum(), true_sum.sum())  # weighted by support


def check_cm(cm: Array) -> Array:
    """``cm`` as a float64 array of its kind, or a ValueError unless it is a square ``[C, C]`` matrix."""
    xp = namespace(cm)
    cm = xp.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] < 1:
        raise ValueError(f"Expected `cm` to be a square [C, C] confusion matrix, but got shape "
                         f"{tuple(cm.shape)}")
    return xp.asarray(cm, dtype=xp.float64)


def check_beta(beta: float) -> None:
    if not isinstance(beta, numbers.Real) or isinstance(beta, bool) or not 0 <= beta < float("inf"):
        raise ValueError(f"Expected `beta` to be a finite number >= 0, but got {beta!r}")
