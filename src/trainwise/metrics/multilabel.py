"""Multi-label metrics: L independent yes/no labels per sample, targets and predictions ``[N, L]`` of 0/1.

The functional core is one ``[L, 2, 2]`` integer count, scikit-learn's ``multilabel_confusion_matrix``
layout: ``mcm[l]`` is label ``l``'s 2x2 matrix ``[[tn, fp], [fn, tp]]`` (rows true, columns predicted, as
everywhere in trainwise). Per-label precision, recall and F1 and their micro, macro and weighted averages
come from it (scikit-learn's ``precision_recall_fscore_support`` with ``zero_division=0``); the Hamming
loss too. Subset accuracy (every label of a row right) needs one more count, kept beside it.

:class:`MultiLabelAccumulator` streams them as :class:`~trainwise.metrics.MetricAccumulator` does: one
float64 state tensor (one all-reduce under torchrun), no host sync in ``update``, one read in ``compute``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from trainwise.errors import InputError
from trainwise.metrics import curves
from trainwise.metrics import functional as F

__all__ = ["MultiLabelAccumulator", "hamming_loss", "label_scores", "multilabel_confusion_matrix",
           "multilabel_edges", "subset_accuracy"]


# --------------------------------------------------------------------------- functional
def multilabel_confusion_matrix(preds: Tensor, target: Tensor) -> Tensor:
    """The int64 ``[L, 2, 2]`` counts ``[[tn, fp], [fn, tp]]`` of each label (scikit-learn's layout).
    ``preds`` and ``target``: ``[N, L]`` of 0/1 (any integer, bool or float dtype holding 0 and 1)."""
    preds, target = _check_pair(preds, target)
    return _counts(preds, target)[:-1].view(-1, 2, 2)


def subset_accuracy(preds: Tensor, target: Tensor) -> Tensor:
    """The share of rows whose every label is right (scikit-learn's ``accuracy_score`` on multi-label data)."""
    preds, target = _check_pair(preds, target)
    return F.safe_divide((preds == target).all(dim=1).sum().double(), torch.tensor(float(len(target))))


def hamming_loss(mcm: Tensor) -> Tensor:
    """The share of wrong label decisions, ``(fp + fn) / (N * L)``, from the ``[L, 2, 2]`` counts."""
    mcm = _check_mcm(mcm)
    return F.safe_divide(mcm[:, 0, 1].sum() + mcm[:, 1, 0].sum(), mcm.sum())


def label_scores(mcm: Tensor, average: str | None = None) -> dict[str, Tensor]:
    """Precision, recall and F1 of the ``[L, 2, 2]`` counts: per label (``average=None``, ``[L]`` each) or
    averaged: ``"micro"`` (of the summed counts), ``"macro"`` (the plain mean over all labels) or
    ``"weighted"`` (by support). Zero division gives 0, as everywhere in trainwise."""
    mcm = _check_mcm(mcm)
    tp, fp, fn = mcm[:, 1, 1], mcm[:, 0, 1], mcm[:, 1, 0]
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    values = {"precision": F.safe_divide(tp, tp + fp), "recall": F.safe_divide(tp, tp + fn),
              "f1": F.fbeta_from_counts(tp, tp + fp, tp + fn, 1.0)}
    if average in (None, "micro"):
        return values
    if average == "macro":
        return {key: value.mean() for key, value in values.items()}
    if average == "weighted":
        support = tp + fn
        return {key: F.safe_divide((value * support).sum(), support.sum()) for key, value in values.items()}
    raise ValueError(f"Expected `average` to be 'micro', 'macro', 'weighted' or None, but got {average!r}")


@functools.lru_cache(maxsize=1)
def _edges() -> Tensor:
    uniform = torch.arange(257, dtype=torch.float64) / 256
    logit_spaced = torch.round(torch.sigmoid(torch.linspace(-12.0, 12.0, 255, dtype=torch.float64)) * 2**24) / 2**24
    return torch.unique(torch.cat([uniform, logit_spaced]))


def multilabel_edges() -> Tensor:
    """The score bins of each label's histograms: every multiple of 2**-8 and ``sigmoid(x)`` for 255 ``x``
    evenly spaced in ``[-12, 12]`` (finer towards 0 and 1), 500 edges. Coarser than the binary task's
    14k edges: a label's histograms are 8 kB, so a thousand labels stay 8 MB to keep and all-reduce."""
    return _edges().clone()


def _check_pair(preds: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    preds, target = torch.as_tensor(preds), torch.as_tensor(target)
    if preds.shape != target.shape or preds.dim() != 2:
        raise ValueError(f"Expected `preds` and `target` of the same shape [N, L], but got {tuple(preds.shape)} "
                         f"and {tuple(target.shape)}")
    for name, x in (("preds", preds), ("target", target)):
        if not bool(((x == 0) | (x == 1)).all()):
            raise InputError(f"Expected `{name}` to hold 0 or 1 per label, but got other values")
    return preds.long(), target.long()


def _counts(preds: Tensor, target: Tensor) -> Tensor:
    """``4L + 1`` int64 counts: each label's ``tn, fp, fn, tp``, then the decisions left out (a label
    other than 0/1). Never syncs with the host."""
    num_labels = preds.shape[1]
    valid = ((preds == 0) | (preds == 1)) & ((target == 0) | (target == 1))
    label = torch.arange(num_labels, device=preds.device)
    index = torch.where(valid, label * 4 + target * 2 + preds, 4 * num_labels)
    return F.count_indices(index.reshape(-1), 4 * num_labels + 1)


def _check_mcm(mcm: Tensor) -> Tensor:
    mcm = torch.as_tensor(mcm)
    if mcm.dim() != 3 or tuple(mcm.shape[1:]) != (2, 2):
        raise ValueError(f"Expected `mcm` of shape [L, 2, 2], but got {tuple(mcm.shape)}")
    return mcm.to(torch.float64)


# --------------------------------------------------------------------------- streaming
class MultiLabelAccumulator:
    """Streaming multi-label metrics of one pass, in ONE float64 tensor (``all_reduce(acc.state())``)::

        [loss_sum, count, rows, exact_rows,       # exact_rows: rows with every label right
         mcm (4L), bad_labels,                    # each label's tn, fp, fn, tp; decisions not 0/1
         hist (L * 2 * B), bad_scores]            # with scores: each label's negatives', positives' scores

    ``binary_scores``: keep each label's score histograms (over :func:`multilabel_edges`), for the
    best-F1 threshold, average precision and ROC AUC per label.
    """

    def __init__(self, num_labels: int, *, device: torch.device | str | None = None,
                 binary_scores: bool = False) -> None:
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(f"Expected `num_labels` to be an int >= 1, but got {num_labels!r}")
        self.num_labels = num_labels
        self.binary_scores = bool(binary_scores)
        self._edges = (multilabel_edges() if self.binary_scores else torch.zeros(0, dtype=torch.float64)).to(device)
        bins = self._edges.numel()
        size = 4 + 4 * num_labels + 1 + (num_labels * 2 * bins + 1 if self.binary_scores else 0)
        self._state = torch.zeros(size, dtype=torch.float64, device=device)

    def update(self, preds: Tensor, target: Tensor, *, loss_sum: Tensor | float | None = None,
               scores: Tensor | None = None) -> None:
        """Add a batch (``[N, L]`` 0/1 predictions and targets, ``[N, L]`` probabilities); no host sync."""
        if preds.shape != target.shape or preds.dim() != 2 or preds.shape[1] != self.num_labels:
            raise ValueError(f"Expected `preds` and `target` of shape [N, {self.num_labels}], but got "
                             f"{tuple(preds.shape)} and {tuple(target.shape)}")
        if self._state.device != preds.device:
            with torch.inference_mode(False):
                self._state = self._state.to(preds.device)
                self._edges = self._edges.to(preds.device)
        preds, target = preds.long(), target.long()
        state, labels = self._state, self.num_labels
        if loss_sum is not None:
            state[0] += loss_sum.detach().reshape(()) if isinstance(loss_sum, Tensor) else loss_sum
            state[1] += len(target)
        state[2] += len(target)
        state[3] += (preds == target).all(dim=1).sum()
        state[4:4 + 4 * labels + 1] += _counts(preds, target)
        if scores is not None:
            if not self.binary_scores:
                raise ValueError("Expected no `scores`: this accumulator keeps none (binary_scores=False)")
            bins = self._edges.numel()
            flat = scores.reshape(len(target), labels).to(torch.float64)
            in_range = (flat >= 0) & (flat <= 1) & ((target == 0) | (target == 1))
            slot = torch.bucketize(flat, self._edges, right=True) - 1
            label = torch.arange(labels, device=flat.device) * 2 * bins
            index = torch.where(in_range, label + target * bins + slot, labels * 2 * bins)
            state[5 + 4 * labels:] += F.count_indices(index.reshape(-1), labels * 2 * bins + 1)

    def reset(self) -> None:
        self._state.zero_()

    def state(self) -> Tensor:
        """The live float64 state: all-reduce it in place."""
        return self._state

    def diverged(self) -> bool:
        """Whether the pass saw a NaN/Inf loss or scores that are not probabilities (one host read)."""
        bad_scores = self._state[-1] if self.binary_scores else self._state.new_zeros(())
        loss, bad = torch.stack([self._state[0], bad_scores]).tolist()
        return not math.isfinite(loss) or bad > 0

    def confusion_matrices(self, state: Tensor | None = None) -> Tensor:
        """The int64 ``[L, 2, 2]`` counts, ``[[tn, fp], [fn, tp]]`` per label."""
        state = self._state if state is None else state
        labels = self.num_labels
        bad = int(state[4 + 4 * labels])
        if bad:
            raise InputError(f"Expected multi-label targets and predictions of 0 or 1, but {bad} were not; pass "
                             "[N, L] targets holding 0/1 per label")
        return state[4:4 + 4 * labels].view(labels, 2, 2).long()

    def compute(self, labels: Sequence[Any] | None = None, positive: int | None = None) -> dict:
        """The metrics dict (JSON-ready), one host read. ``accuracy`` is subset accuracy; ``precision``,
        ``recall`` and ``f1`` are macro averages over the labels; ``balanced_accuracy`` the mean of each
        label's (scikit-learn's ``balanced_accuracy_score`` of its column)."""
        if positive is not None:
            raise ValueError(f"Expected no `positive` in a multi-label task, but got {positive!r}")
        names = [str(label) for label in labels] if labels is not None else [str(i) for i in range(self.num_labels)]
        if len(names) != self.num_labels:
            raise ValueError(f"Expected {self.num_labels} label names, but got {names!r}")
        state = self._state.cpu()
        mcm = self.confusion_matrices(state)
        rows, exact, loss_sum, count = int(state[2]), state[3], state[0], state[1]
        per = {key: value.tolist() for key, value in label_scores(mcm).items()}
        balanced = torch.stack([F.balanced_accuracy(m) for m in mcm]) if len(mcm) else torch.zeros(0)
        per_label = {}
        for i, name in enumerate(names):
            (tn, fp), (fn, tp) = mcm[i].tolist()
            per_label[name] = {"precision": per["precision"][i], "recall": per["recall"][i], "f1": per["f1"][i],
                               "support": tp + fn, "predicted": tp + fp, "tp": tp, "fp": fp, "fn": fn, "tn": tn}
        for name, entry in zip(names, self._score_summaries(state), strict=False):
            per_label[name].update(entry)
        macro = {key: float(value) for key, value in label_scores(mcm, "macro").items()}
        return {
            "task": "multilabel",
            "loss": float(loss_sum / count) if count > 0 else None,
            "num_samples": rows,
            "accuracy": float(F.safe_divide(exact, torch.tensor(float(rows)))),
            "subset_accuracy": float(F.safe_divide(exact, torch.tensor(float(rows)))),
            "hamming_loss": float(hamming_loss(mcm)),
            "balanced_accuracy": float(balanced.mean()) if len(balanced) else 0.0,
            **macro,
            "average": "macro",
            "labels": names,
            "per_label": per_label,
            "confusion_matrices": mcm.tolist(),
            **{kind: {key: float(value) for key, value in label_scores(mcm, kind).items()}
               for kind in ("macro", "micro", "weighted")},
        }

    def thresholds(self, target_recall: Any = None, target_precision: Any = None, beta: float = 1.0, *,
                   positive: int | None = None) -> dict[str, dict | None]:
        """Each label's best-F1 threshold ``{threshold, precision, recall, f1, tp, fp, tn, fn}`` on its
        scores (None for a label without positives), keyed by label index as text."""
        if not self.binary_scores:
            raise ValueError("Expected an accumulator with scores for thresholds, but binary_scores is off")
        out: dict[str, dict | None] = {}
        for i, histogram in enumerate(self._histograms(self._state.cpu())):
            choice = histogram.best_fbeta_threshold(beta) if histogram is not None else None
            out[str(i)] = choice.to_dict() if choice is not None else None
        return out

    def pr_curve(self, *args: Any, **kwargs: Any) -> None:
        """Per-label curves are not drawn: None."""
        return None

    # ------------------------------------------------------------------ helpers
    def _histograms(self, state: Tensor) -> list[curves.ScoreHistogram | None]:
        if not self.binary_scores:
            return []
        labels, bins = self.num_labels, self._edges.numel()
        hist = state[5 + 4 * labels:]
        if int(hist[-1]):
            raise InputError(f"Expected label scores to be probabilities in [0, 1], but {int(hist[-1])} were "
                             "outside [0, 1] or NaN")
        counts = hist[:-1].view(labels, 2, bins).long()
        edges = self._edges.cpu()
        return [curves.ScoreHistogram.from_counts(c, edges) if int(c.sum()) else None for c in counts]

    def _score_summaries(self, state: Tensor) -> list[dict]:
        summaries = []
        for histogram in self._histograms(state):
            entry: dict[str, float | None] = {"average_precision": None, "roc_auc": None}
            if histogram is not None:
                positives, negatives = int(histogram.counts[1].sum()), int(histogram.counts[0].sum())
                if positives:
                    entry["average_precision"] = float(histogram.average_precision())
                if positives and negatives:
                    entry["roc_auc"] = float(histogram.roc_auc())
            summaries.append(entry)
        return summaries
