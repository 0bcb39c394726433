"""Binary score curves and threshold choices from a sweep: the counts at every candidate threshold.

A :class:`Sweep` comes from all scores sorted (:func:`trainwise.metrics.curves.precision_recall_curve`
and friends, tensors) or from two histograms (:func:`binned_sweep`, tensors or NumPy arrays). Every
function here is pure and takes either kind, returning the same kind: the accumulator reads its curves
and thresholds through them, and so does ``trainwise evaluate`` from NumPy counts, without torch.
Conventions are :mod:`trainwise.metrics.curves`' (``score >= threshold`` is predicted positive; zero
division gives 0).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from typing import NamedTuple

import numpy as np

from trainwise.metrics.derived import (
    Array,
    check_beta,
    f1,
    fbeta_from_counts,
    namespace,
    precision,
    recall,
    safe_divide,
)


@dataclasses.dataclass(frozen=True)
class ThresholdChoice:
    """A decision threshold and the exact metrics of ``score >= threshold`` (positive class's)."""

    threshold: float
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    tn: int
    fn: int

    def to_dict(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)


class Sweep(NamedTuple):
    """Counts at each candidate threshold, highest threshold first: ``tps[i]`` and ``fps[i]`` are
    the positives and negatives with ``score >= thresholds[i]`` (float64, non-decreasing), as
    scikit-learn's ``confusion_matrix_at_thresholds``."""

    thresholds: Array
    tps: Array
    fps: Array


@functools.lru_cache(maxsize=1)
def _bin_edges() -> np.ndarray:
    uniform = np.arange(8193, dtype=np.float64) / 8192
    logit_spaced = 1 / (1 + np.exp(-np.linspace(-16.0, 16.0, 8191, dtype=np.float64)))
    logit_spaced = np.round(logit_spaced * 2**24) / 2**24
    return np.unique(np.concatenate([uniform, logit_spaced]))  # sorted


def bin_edges() -> np.ndarray:
    """The default bin edges (see :func:`trainwise.metrics.curves.default_edges`), as a NumPy array."""
    return _bin_edges().copy()


def binned_sweep(counts: Array, edges: Array) -> Sweep:
    """The sweep of two histograms over ``edges``: ``counts`` ``[2, B]``, row 0 the negatives' scores,
    row 1 the positives'; the candidate thresholds are the non-empty bins' lower edges."""
    xp = namespace(counts)
    negatives, positives = xp.flip(xp.asarray(counts, dtype=xp.float64), (1,))  # highest bin first
    nonempty = (negatives + positives) > 0
    return Sweep(xp.flip(edges, (0,))[nonempty], xp.cumsum(positives, 0)[nonempty],
                 xp.cumsum(negatives, 0)[nonempty])


def precision_recall(sweep: Sweep) -> tuple[Array, Array, Array]:
    """``(precision, recall, thresholds)`` as scikit-learn's ``precision_recall_curve`` returns them."""
    thresholds, tps, fps = sweep
    xp = namespace(tps)
    precision_ = safe_divide(tps, tps + fps)
    positives = tps[-1] if len(tps) else 0
    recall_ = xp.ones_like(tps) if positives == 0 else tps / positives
    return (_cat([xp.flip(precision_, (0,)), _filled(tps, 1.0)]), _cat([xp.flip(recall_, (0,)), _filled(tps, 0.0)]),
            xp.flip(thresholds, (0,)))


def roc(sweep: Sweep, drop_intermediate: bool = True) -> tuple[Array, Array, Array]:
    """``(fpr, tpr, thresholds)`` as scikit-learn's ``roc_curve`` returns them."""
    thresholds, tps, fps = sweep
    xp = namespace(tps)
    if drop_intermediate and len(tps) > 2:  # keep the corners of the curve, as scikit-learn does
        corner = (xp.diff(fps, n=2) != 0) | (xp.diff(tps, n=2) != 0)
        keep = _cat([_filled(corner, True), corner, _filled(corner, True)])
        thresholds, tps, fps = thresholds[keep], tps[keep], fps[keep]
    tps, fps = _cat([_filled(tps, 0.0), tps]), _cat([_filled(fps, 0.0), fps])
    thresholds = _cat([_filled(tps, math.inf), xp.asarray(thresholds, dtype=xp.float64)])
    fpr = fps / fps[-1] if fps[-1] > 0 else xp.full_like(fps, math.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else xp.full_like(tps, math.nan)
    return fpr, tpr, thresholds


def area_under_pr(sweep: Sweep) -> Array:
    """Average precision, ``sum((R[i] - R[i-1]) * P[i])`` over the PR curve (no interpolation)."""
    precision_, recall_, _ = precision_recall(sweep)
    xp = namespace(recall_)
    # a sum of products of numbers in [0, 1] whose weights add up to 1: rounding can land one ulp outside
    # (1.0000000000000002, or -0.0); the value is bounded by construction, so it is clamped to its range
    return xp.clip(-(xp.diff(recall_) * precision_[:-1]).sum(), 0.0, 1.0)


def area_under_roc(sweep: Sweep) -> Array:
    """Area under the ROC curve (tied scores count half); NaN when only one class is present."""
    fpr, tpr, _ = roc(sweep, drop_intermediate=True)
    return namespace(tpr).trapezoid(tpr, fpr)


def best_fbeta(sweep: Sweep, beta: float) -> ThresholdChoice | None:
    """The threshold with the highest F-beta (the highest such threshold on ties); ``None`` when
    there are no positives."""
    check_beta(beta)
    _, tps, fps = sweep
    if len(tps) == 0 or tps[-1] == 0:
        return None
    scores = fbeta_from_counts(tps, tps + fps, tps[-1], beta)
    return choice(sweep, int(namespace(scores).argmax(scores)))  # the first maximum: the highest threshold


def for_recall(sweep: Sweep, goal: float) -> ThresholdChoice | None:
    """The highest threshold whose recall is ``>= goal``; ``None`` when unreachable."""
    check_fraction(goal, "recall")
    _, tps, _ = sweep
    if len(tps) == 0:
        return None
    reached = _indices(safe_divide(tps, tps[-1]) >= goal)
    return choice(sweep, int(reached[0])) if len(reached) else None  # the highest threshold


def for_precision(sweep: Sweep, goal: float) -> ThresholdChoice | None:
    """The lowest threshold whose precision is ``>= goal``; ``None`` when unreachable."""
    check_fraction(goal, "precision")
    _, tps, fps = sweep
    reached = _indices(safe_divide(tps, tps + fps) >= goal)
    return choice(sweep, int(reached[-1])) if len(reached) else None  # the lowest threshold


def choice(sweep: Sweep, i: int) -> ThresholdChoice:
    """The threshold ``i`` of the sweep and the exact metrics of its 2x2 confusion matrix."""
    thresholds, tps, fps = sweep
    positives, negatives, tp, fp = tps[-1], fps[-1], tps[i], fps[i]
    xp = namespace(tps)
    cm = xp.stack([negatives - fp, fp, positives - tp, tp]).reshape(2, 2)  # rows true, columns predicted
    tn_, fp_, fn_, tp_ = (int(v) for v in cm.reshape(-1).tolist())
    return ThresholdChoice(threshold=float(thresholds[i]), precision=float(precision(cm, average="binary")),
                           recall=float(recall(cm, average="binary")), f1=float(f1(cm, average="binary")),
                           tp=tp_, fp=fp_, tn=tn_, fn=fn_)


def check_fraction(value: float, name: str) -> None:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value <= 1:
        raise ValueError(f"Expected `{name}` to be a number in [0, 1], but got {value!r}")


# ---------------------------------------------------------------------- the few calls NumPy and torch name apart
def _cat(parts: list[Array]) -> Array:
    xp = namespace(parts[0])
    return np.concatenate(parts) if xp is np else xp.cat(parts)


def _filled(like: Array, value: object) -> Array:
    """A one-element array of ``like``'s dtype (and device) holding ``value``."""
    return np.full(1, value, dtype=like.dtype) if namespace(like) is np else like.new_full((1,), value)


def _indices(mask: Array) -> Array:
    """The positions where ``mask`` holds, in order."""
    return np.flatnonzero(mask) if namespace(mask) is np else mask.nonzero().reshape(-1)
