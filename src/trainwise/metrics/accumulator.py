"""One streaming state per pass: loss, confusion matrix and binary score histograms in one tensor."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from trainwise.errors import InputError
from trainwise.metrics import curves
from trainwise.metrics import functional as F
from trainwise.metrics.summary import classification_metrics, threshold_advice


class MetricAccumulator:
    """Streaming metrics of one pass over the data (an epoch's validation, an evaluation).

    ``update`` adds a batch on the device and never reads a value back to the host; ``compute``
    reads the state back once and derives every number from :mod:`~trainwise.metrics.functional`,
    so streaming and one-shot results cannot disagree.

    All the state is ONE float64 tensor (counts are exact up to 2**53), so a distributed run needs
    one all-reduce::

        torch.distributed.all_reduce(acc.state())   # state() is the live tensor: summed in place

    Its layout, with ``C`` classes and ``B`` score bins (the last three parts only with
    ``binary_scores``)::

        [loss_sum, count,                      # count: the samples whose loss was given
         cm (C*C), bad_labels,                 # cm row-major: rows true classes, columns predictions
         hist_0 (B), hist_1 (B), bad_scores]   # scores of the samples of true class 0, of class 1

    ``bad_labels`` and ``bad_scores`` count the samples that could not be counted (a label outside
    ``[0, C)``; a score outside ``[0, 1]`` or NaN): checking per batch would cost a host sync, so
    ``compute`` raises instead. The histograms are kept per true class, over
    :func:`~trainwise.metrics.curves.default_edges`, because the positive class is only named at
    ``compute(positive=...)``: with positive 1 (the default) ``hist_0`` holds the negatives and
    ``hist_1`` the positives, with positive 0 the other way round.

    ``binary_scores``: keep score histograms, for average precision, ROC AUC and threshold advice;
    ``None`` means "when ``num_classes == 2``". ``device``: where the state lives; ``None`` adopts the
    device of the first batch.
    """

    def __init__(self, num_classes: int, *, device: torch.device | str | None = None,
                 binary_scores: bool | None = None):
        F.check_num_classes(num_classes)
        if binary_scores is None:
            binary_scores = num_classes == 2
        if binary_scores and num_classes != 2:
            raise ValueError(f"Expected `binary_scores` only for num_classes == 2, but got num_classes "
                             f"{num_classes!r}")
        self.num_classes = int(num_classes)
        self.binary_scores = bool(binary_scores)
        self._device_fixed = device is not None
        edges = curves.default_edges() if self.binary_scores else torch.zeros(0, dtype=torch.float64)
        self._edges = edges.to(device)
        num_bins = self._edges.numel()
        size = 2 + self.num_classes**2 + 1 + (2 * num_bins + 1 if self.binary_scores else 0)
        self._state = torch.zeros(size, dtype=torch.float64, device=device)
        self._positive = 1
        self._memo: tuple[tuple, curves.ScoreHistogram | None] | None = None
        self._make_views()

    # ------------------------------------------------------------------ streaming
    def update(self, preds: Tensor, target: Tensor, *, loss_sum: Tensor | float | None = None,
               scores: Tensor | None = None) -> None:
        """Add one batch; never reads a value back to the host, so it is safe on every step.

        ``preds``/``target``: class indices of the same shape on the accumulator's device.
        ``loss_sum``: the batch's summed per-sample loss (a 0-dim tensor; ``mean * batch size`` if
        the loss was averaged). ``scores`` (binary, with histograms): each sample's probability of
        the positive class, the class ``compute()`` and ``thresholds()`` will call positive.
        """
        if preds.shape != target.shape:
            raise ValueError(f"Expected `preds` and `target` to have the same shape, but got "
                             f"{tuple(preds.shape)} and {tuple(target.shape)}")
        for name, x in (("preds", preds), ("target", target)):
            if x.is_floating_point() or x.is_complex():
                raise ValueError(f"Expected `{name}` to hold integer class indices, but got dtype {x.dtype}")
        self._follow(preds.device)
        preds, target = preds.reshape(-1).long(), target.reshape(-1).long()
        self._pairs += F.pair_counts(preds, target, self.num_classes)
        if loss_sum is not None:
            if isinstance(loss_sum, Tensor):
                if loss_sum.numel() != 1:
                    raise ValueError(f"Expected `loss_sum` to be the batch's summed loss (one number), "
                                     f"but got shape {tuple(loss_sum.shape)}")
                loss_sum = loss_sum.detach().reshape(())
            self._loss_sum += loss_sum
            self._count += preds.numel()
        if scores is not None:
            if not self.binary_scores:
                raise ValueError("Expected no `scores`: they are kept for binary tasks only (with "
                                 "binary_scores enabled)")
            if scores.numel() != target.numel():
                raise ValueError(f"Expected one score per sample, but got {scores.numel()} scores for "
                                 f"{target.numel()} samples")
            self._scores += curves.histogram_counts(scores, target == 1, self._edges)

    def reset(self) -> None:
        """Zero the state in place (device and positive class are kept)."""
        self._state.zero_()

    def state(self) -> Tensor:
        """The live float64 state tensor (layout in the class docstring): all-reduce it in place, or
        ``clone()`` it to keep a copy."""
        self._memo = None           # the caller may change it in ways its version counter does not see
        return self._state

    def load_state(self, state: Tensor) -> None:
        """Set the state from a tensor laid out as :meth:`state` (e.g. the sum of several)."""
        if tuple(state.shape) != tuple(self._state.shape):
            raise ValueError(f"Expected a state of shape {tuple(self._state.shape)} (num_classes "
                             f"{self.num_classes}, binary_scores {self.binary_scores}), but got "
                             f"{tuple(state.shape)}")
        self._state.copy_(state)

    def confusion_matrix(self) -> Tensor:
        """The int64 ``[C, C]`` confusion matrix on the device (rows true, columns predicted)."""
        c = self.num_classes
        return self._pairs[:-1].view(c, c).long()

    # ------------------------------------------------------------------ reading (one host sync)
    def compute(self, labels: Sequence[Any] | None = None, positive: int | None = None) -> dict:
        """The metrics dict of ``docs/architecture.md``: plain floats, ints and lists, JSON-ready.

        ``labels``: the class names, in index order (default ``"0"``..``"C-1"``). ``positive``
        (binary only): the positive class index, default 1 (or the one given last); precision,
        recall and F1 are then that class's, else macro averages. Zero division gives 0;
        ``loss`` is ``None`` when no loss was given; ``average_precision`` and ``roc_auc`` are
        present when scores were given, ``None`` when the positive class, resp. either class, is
        absent. Raises ``InputError`` if a label or score could not be counted.
        """
        names = self._labels(labels)
        state = self._state.cpu()  # the one read-back of the pass
        cm = self._checked_cm(state)
        if self.num_classes == 2:
            self._positive = self._check_positive(positive)
        elif positive is not None:
            raise ValueError(f"Expected `positive` only for binary tasks, but got {positive!r} with "
                             f"{self.num_classes} classes")
        loss_sum, count = state[0], state[1]
        histogram = self._histogram(state, int(cm.sum()), self._positive)
        return classification_metrics(cm, names, self._positive, loss=float(loss_sum / count) if count > 0 else None,
                                      sweep=None if histogram is None else histogram.sweep())

    def thresholds(self, target_recall: float | Iterable[float] | None = None,
                   target_precision: float | Iterable[float] | None = None, beta: float = 1.0, *,
                   positive: int | None = None) -> dict[str, dict | None]:
        """Decision thresholds from the score histograms (binary tasks with scores).

        Returns ``{"best_f1": {...}, "recall@0.8": {...}, "precision@0.9": {...}}`` (``best_f2``
        for ``beta=2``; one entry per target given), each ``{threshold, precision, recall, f1, tp,
        fp, tn, fn}`` with exact metrics for ``score >= threshold``, or ``None`` when unreachable
        (or no scores were given). ``positive`` defaults to the one of the last ``compute()``.
        """
        if not self.binary_scores:
            raise ValueError("Expected a binary accumulator with score histograms for thresholds, but "
                             "binary_scores is off")
        state = self._state.cpu()
        histogram = self._histogram(state, int(self._checked_cm(state).sum()), self._check_positive(positive))
        return threshold_advice(None if histogram is None else histogram.sweep(), target_recall, target_precision,
                                beta)

    def diverged(self) -> bool:
        """Whether the pass saw a NaN/Inf loss or NaN scores: the outputs of a model whose weights blew
        up, which nothing can be measured on (one host read)."""
        bad_scores = self._scores[-1] if self.binary_scores else self._state.new_zeros(())
        loss, bad = torch.stack([self._loss_sum, bad_scores]).tolist()
        return not math.isfinite(loss) or bad > 0

    def pr_curve(self, max_points: int = 200, *, positive: int | None = None) -> dict[str, list[float]] | None:
        """The binned precision/recall curve, thinned to at most ``max_points`` points for plots and
        reports (every point kept is exact for its threshold); None without scores."""
        if not self.binary_scores:
            return None
        state = self._state.cpu()
        histogram = self._histogram(state, int(self._checked_cm(state).sum()), self._check_positive(positive))
        if histogram is None:
            return None
        precision, recall, thresholds = histogram.precision_recall_curve()
        keep = torch.linspace(0, len(thresholds) - 1, min(max_points, len(thresholds))).round().long().unique()
        return {"precision": precision[keep].tolist(), "recall": recall[keep].tolist(),
                "thresholds": thresholds[keep].tolist()}

    # ------------------------------------------------------------------ helpers
    def _make_views(self) -> None:
        c2 = self.num_classes**2
        self._loss_sum = self._state[0]
        self._count = self._state[1]
        self._pairs = self._state[2:3 + c2]  # cm, then bad_labels: what F.pair_counts returns
        self._scores = self._state[3 + c2:]  # hist_0, hist_1, bad_scores: what histogram_counts returns

    def _follow(self, device: torch.device) -> None:
        if device != self._state.device:
            if self._device_fixed:
                raise ValueError(f"Expected inputs on {self._state.device} (the accumulator's device), but "
                                 f"got {device}; create the accumulator with device={str(device)!r}")
            with torch.inference_mode(False):  # a normal tensor, so reset() works outside inference mode
                self._state = self._state.to(device)
                self._edges = self._edges.to(device)
            self._make_views()
        self._device_fixed = True

    def _checked_cm(self, state: Tensor) -> Tensor:
        c = self.num_classes
        pairs = state[2:3 + c * c]
        bad_labels = int(pairs[-1])
        if bad_labels:
            raise InputError(f"Expected labels in [0, {c}), but {bad_labels} samples had a target or a "
                             f"prediction outside it")
        return pairs[:-1].view(c, c)

    def _histogram(self, state: Tensor, num_samples: int, positive: int) -> curves.ScoreHistogram | None:
        """The negatives'/positives' score histograms, or None when no scores were given; built once per
        state and positive class (compute, thresholds and pr_curve each read it after a pass)."""
        if not self.binary_scores:
            return None
        key = (self._state.data_ptr(), self._state._version, num_samples, positive)
        if self._memo is None or self._memo[0] != key:
            self._memo = (key, self._build_histogram(state, num_samples, positive))
        return self._memo[1]

    def _build_histogram(self, state: Tensor, num_samples: int, positive: int) -> curves.ScoreHistogram | None:
        hist = state[3 + self.num_classes**2:]
        num_bins = self._edges.numel()
        by_class = hist[:-1].view(2, num_bins).long()
        if int(hist[-1]):
            raise InputError(f"Expected `scores` to be probabilities in [0, 1], but {int(hist[-1])} were "
                             "outside [0, 1] or NaN (pass sigmoid/softmax outputs, not logits)")
        scored = int(by_class.sum())
        if scored == 0:
            return None
        if scored != num_samples:
            raise ValueError(f"Expected scores for every sample or for none, but got {scored} scores for "
                             f"{num_samples} samples")
        if positive == 0:
            by_class = by_class.flip(0)
        return curves.ScoreHistogram.from_counts(by_class, self._edges.cpu())

    def _labels(self, labels: Sequence[Any] | None) -> list[str]:
        if labels is None:
            return [str(i) for i in range(self.num_classes)]
        names = [str(label) for label in labels]
        if len(names) != self.num_classes or len(set(names)) != len(names):
            raise ValueError(f"Expected {self.num_classes} distinct class names in `labels`, but got "
                             f"{names!r}")
        return names

    def _check_positive(self, positive: int | None) -> int:
        if positive is None:
            return self._positive
        if positive not in (0, 1) or isinstance(positive, bool):
            raise ValueError(f"Expected `positive` to be 0 or 1 in a binary task, but got {positive!r}")
        return int(positive)

