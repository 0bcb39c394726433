"""Binary score curves and decision thresholds: exact from all scores, or binned in constant memory.

Conventions (scikit-learn's):

* ``target`` holds 0/1 (or bool) and 1 is the positive class; ``scores`` rank the samples, higher
  meaning more likely positive (probabilities, or any real number for the exact functions).
* A sample is predicted positive when ``score >= threshold``.
* Zero division gives 0, as in :mod:`trainwise.metrics.functional`.

The exact functions sort all scores (memory grows with the data) and return the same arrays and
numbers as scikit-learn's ``precision_recall_curve``, ``roc_curve``, ``average_precision_score`` and
``roc_auc_score``. :class:`ScoreHistogram` keeps two fixed-size histograms instead; see its docstring
for what stays exact.

The threshold choices return a :class:`ThresholdChoice`, or ``None`` when no threshold reaches the
goal. Their candidate thresholds are the distinct scores (exact) or the lower edges of the non-empty
bins (binned), and the metrics they report come from :mod:`~trainwise.metrics.functional` on the
2x2 confusion matrix at the chosen threshold. Everything read from a sweep of counts is in
:mod:`trainwise.metrics.sweeps`, which NumPy counts can use too.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from trainwise.errors import InputError
from trainwise.metrics import functional as F
from trainwise.metrics.sweeps import (
    Sweep,
    ThresholdChoice,
    area_under_pr,
    area_under_roc,
    best_fbeta,
    bin_edges,
    binned_sweep,
    for_precision,
    for_recall,
    precision_recall,
    roc,
)

__all__ = ["ScoreHistogram", "ThresholdChoice", "average_precision", "best_fbeta_threshold",
           "default_edges", "precision_recall_curve", "roc_auc", "roc_curve", "threshold_for_precision",
           "threshold_for_recall"]


# --------------------------------------------------------------------------- exact, from all scores
def precision_recall_curve(scores: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(precision, recall, thresholds)`` as scikit-learn returns them: thresholds increasing (the
    distinct scores); ``precision[i]``/``recall[i]`` those of ``score >= thresholds[i]``, then a last
    point (1, 0) with no threshold. Recall is 1 everywhere when there are no positives."""
    return precision_recall(_exact_sweep(scores, target))


def roc_curve(scores: Tensor, target: Tensor, *,
              drop_intermediate: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """``(fpr, tpr, thresholds)`` as scikit-learn returns them: thresholds decreasing from ``inf``;
    collinear points dropped unless ``drop_intermediate=False``; a rate is NaN when its class is
    absent."""
    return roc(_exact_sweep(scores, target), drop_intermediate)


def average_precision(scores: Tensor, target: Tensor) -> Tensor:
    """Average precision, ``sum((R[i] - R[i-1]) * P[i])`` over the PR curve (no interpolation),
    equal to scikit-learn's ``average_precision_score``; 0 when there are no positives."""
    return area_under_pr(_exact_sweep(scores, target))


def roc_auc(scores: Tensor, target: Tensor) -> Tensor:
    """Area under the ROC curve (tied scores count half), equal to scikit-learn's
    ``roc_auc_score``; NaN when only one class is present."""
    return area_under_roc(_exact_sweep(scores, target))


def best_fbeta_threshold(scores: Tensor, target: Tensor, beta: float = 1.0) -> ThresholdChoice | None:
    """The threshold with the highest F-beta (the highest such threshold on ties); ``None`` when
    there are no positives."""
    return best_fbeta(_exact_sweep(scores, target), beta)


def threshold_for_recall(scores: Tensor, target: Tensor, recall: float) -> ThresholdChoice | None:
    """The highest threshold whose recall is ``>= recall``: of the thresholds reaching that recall,
    the one with the fewest false positives. ``None`` when unreachable."""
    return for_recall(_exact_sweep(scores, target), recall)


def threshold_for_precision(scores: Tensor, target: Tensor, precision: float) -> ThresholdChoice | None:
    """The lowest threshold whose precision is ``>= precision``: of the thresholds reaching that
    precision, the one with the best recall. ``None`` when unreachable."""
    return for_precision(_exact_sweep(scores, target), precision)


# --------------------------------------------------------------------------- binned, constant memory
@functools.lru_cache(maxsize=1)
def _default_edges() -> Tensor:
    return torch.from_numpy(bin_edges())


def default_edges() -> Tensor:
    """The default bin edges of :class:`ScoreHistogram`: 14,375 float64 edges on the CPU.

    Every multiple of 2**-13 (bins 1.2e-4 wide everywhere), plus ``sigmoid(x)`` for 8191 ``x``
    evenly spaced in ``[-16, 16]``, which are finer than that towards 0 and 1, down to 6e-8.
    Thresholds worth choosing sit where scores crowd, and with rare positives that is near 0 (a
    target recall) or near 1 (a target precision), where uniform bins would lump most samples
    together. Every edge is a multiple of 2**-24, so it is exact in float32 as well as float64 and
    ``scores >= threshold`` means the same in either precision. Two histograms of 14k float64
    counts are 230 kB: nothing to keep on a device or to all-reduce once per pass. On 100k scores
    (uniform noise, rare positives, confident models) the binned average precision was within 6e-5
    of the exact one and ROC AUC within 3e-6.
    """
    return _default_edges().clone()


class ScoreHistogram:
    """Constant-memory binary score curves: per-class histograms of scores over fixed bin edges.

    Bin ``i`` holds the scores in ``[edges[i], edges[i + 1])``; the last edge is 1 and its bin holds
    the scores equal to 1. The number of scores ``>= edges[i]`` is the sum of bins ``i`` onwards, so
    a threshold placed on an edge has exact counts: the precision, recall, F1 and tp/fp/tn/fn of a
    chosen threshold equal scikit-learn's on ``scores >= threshold`` for the raw scores. The curves,
    average precision and ROC AUC are exactly scikit-learn's for the scores rounded down to their
    bin's lower edge, an approximation of the raw ones (within 1e-4 with the default edges).

    ``counts`` is int64 ``[2, B]``: row 0 the negatives, row 1 the positives. ``update`` never syncs
    with the host; scores outside ``[0, 1]`` (or NaN) and targets other than 0/1 are counted, not
    binned, and make every reading method raise.
    """

    def __init__(self, edges: Tensor | None = None, *, device: torch.device | str | None = None):
        self.edges = (default_edges() if edges is None else check_edges(edges)).to(device)
        self.counts = torch.zeros(2, self.edges.numel(), dtype=torch.long, device=self.edges.device)
        self.num_invalid = torch.zeros((), dtype=torch.long, device=self.edges.device)
        self._swept: tuple[tuple, Sweep] | None = None

    @classmethod
    def from_counts(cls, counts: Tensor, edges: Tensor | None = None, *,
                    num_invalid: int | Tensor = 0) -> ScoreHistogram:
        """A histogram holding ``counts`` (``[2, B]``: negatives, positives) over ``edges``."""
        hist = cls(edges, device=counts.device)
        if counts.shape != hist.counts.shape:
            raise ValueError(f"Expected `counts` of shape {tuple(hist.counts.shape)} for "
                             f"{hist.edges.numel()} edges, but got {tuple(counts.shape)}")
        hist.counts.copy_(counts)
        hist.num_invalid.fill_(num_invalid)
        return hist

    def update(self, scores: Tensor, target: Tensor) -> None:
        """Add a batch: ``scores`` in ``[0, 1]`` and 0/1 ``target`` of the same shape, on the
        histogram's device. Never reads a value back to the host."""
        if scores.shape != target.shape:
            raise ValueError(f"Expected `scores` and `target` to have the same shape, but got "
                             f"{tuple(scores.shape)} and {tuple(target.shape)}")
        valid_target = (target == 0) | (target == 1)
        counts = histogram_counts(scores, target == 1, self.edges, valid=valid_target)
        self.counts += counts[:-1].view(2, -1)
        self.num_invalid += counts[-1]

    def precision_recall_curve(self) -> tuple[Tensor, Tensor, Tensor]:
        """As :func:`precision_recall_curve`, the thresholds being the non-empty bins' lower edges."""
        return precision_recall(self.sweep())

    def roc_curve(self, *, drop_intermediate: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """As :func:`roc_curve`, the thresholds being the non-empty bins' lower edges."""
        return roc(self.sweep(), drop_intermediate)

    def average_precision(self) -> Tensor:
        """Average precision of the binned scores (see the class docstring)."""
        return area_under_pr(self.sweep())

    def roc_auc(self) -> Tensor:
        """ROC AUC of the binned scores (see the class docstring); NaN with one class only."""
        return area_under_roc(self.sweep())

    def best_fbeta_threshold(self, beta: float = 1.0) -> ThresholdChoice | None:
        """As :func:`best_fbeta_threshold`, over the edges; exact metrics."""
        return best_fbeta(self.sweep(), beta)

    def threshold_for_recall(self, recall: float) -> ThresholdChoice | None:
        """As :func:`threshold_for_recall`, over the edges; exact metrics."""
        return for_recall(self.sweep(), recall)

    def threshold_for_precision(self, precision: float) -> ThresholdChoice | None:
        """As :func:`threshold_for_precision`, over the edges; exact metrics."""
        return for_precision(self.sweep(), precision)

    def sweep(self) -> Sweep:
        """The counts at every edge, computed once per change of ``counts`` (each reading method needs them)."""
        key = (self.counts.data_ptr(), self.counts._version, self.num_invalid._version)
        if self._swept is not None and self._swept[0] == key:
            return self._swept[1]
        if self.num_invalid > 0:
            raise InputError(f"Expected `scores` to be probabilities in [0, 1] and `target` 0 or 1, but "
                             f"{int(self.num_invalid)} samples were not (NaN, or logits instead of "
                             "probabilities?)")
        self._swept = (key, binned_sweep(self.counts, self.edges))
        return self._swept[1]


def histogram_counts(scores: Tensor, positive: Tensor, edges: Tensor, *,
                     valid: Tensor | None = None) -> Tensor:
    """``2B + 1`` int64 counts: the histogram of the negatives' scores, the positives' scores (each
    over the ``B`` bins of ``edges``), then the number of samples left out: a score outside
    ``[0, 1]`` or NaN, or ``valid`` false. ``positive`` is a bool tensor shaped like ``scores``.
    Never syncs with the host."""
    if not scores.is_floating_point():
        raise ValueError(f"Expected `scores` to be a float tensor of probabilities, but got dtype "
                         f"{scores.dtype}")
    scores = scores.reshape(-1).to(torch.float64)  # exact for every float dtype; edges are float64
    num_bins = edges.numel()
    in_range = (scores >= 0) & (scores <= 1)  # False for NaN
    if valid is not None:
        in_range &= valid.reshape(-1)
    bins = torch.bucketize(scores, edges, right=True) - 1  # edges[bin] <= score < edges[bin + 1]
    index = torch.where(in_range, bins + num_bins * positive.reshape(-1).long(), 2 * num_bins)
    return F.count_indices(index, 2 * num_bins + 1)


def check_edges(edges: Tensor) -> Tensor:
    """Validated float64 bin edges: 1-D, strictly increasing from 0 to 1, exact in float32."""
    edges = torch.as_tensor(edges, dtype=torch.float64)
    ok = (edges.ndim == 1 and edges.numel() >= 2 and bool(edges[0] == 0) and bool(edges[-1] == 1)
          and bool((edges[1:] > edges[:-1]).all())
          and bool((edges.to(torch.float32).to(torch.float64) == edges).all()))
    if not ok:
        raise ValueError("Expected `edges` to be 1-D, strictly increasing from 0 to 1 and exact in "
                         "float32 (e.g. multiples of 2**-24), but they are not")
    return edges


# --------------------------------------------------------------------------- the exact sweep
def _exact_sweep(scores: Tensor, target: Tensor) -> Sweep:
    scores, target = _check_scores_target(scores, target)
    order = torch.argsort(scores, descending=True, stable=True)
    scores, target = scores[order], target[order]
    last_of_each_value = torch.nonzero(scores[1:] != scores[:-1]).reshape(-1)
    index = torch.cat([last_of_each_value, torch.tensor([scores.numel() - 1], device=scores.device)])
    index = index[index >= 0]  # no samples: no thresholds
    tps = torch.cumsum(target.to(torch.float64), dim=0)[index]
    fps = 1 + index.to(torch.float64) - tps
    return Sweep(scores[index], tps, fps)


def _check_scores_target(scores: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    scores, target = torch.as_tensor(scores), torch.as_tensor(target)
    if scores.shape != target.shape:
        raise ValueError(f"Expected `scores` and `target` to have the same shape, but got "
                         f"{tuple(scores.shape)} and {tuple(target.shape)}")
    if not scores.is_floating_point():
        scores = scores.to(torch.float64)
    scores, target = scores.reshape(-1), target.reshape(-1).to(scores.device)
    if torch.isnan(scores).any():
        raise InputError(f"Expected `scores` without NaN, but {int(torch.isnan(scores).sum())} are NaN")
    bad = target[(target != 0) & (target != 1)]
    if bad.numel():
        raise InputError(f"Expected `target` to hold 0 or 1 (1 is the positive class), but got "
                         f"{bad[0].item()}")
    return scores, target.long()
