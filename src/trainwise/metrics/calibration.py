"""Calibration: do the predicted probabilities mean what they say? Expected calibration error (ECE), the
data of a reliability diagram, and temperature scaling.

Conventions (those of torchmetrics' ``CalibrationError`` with ``norm="l1"``, so the numbers agree):

* **binary**: the confidence of a sample is its probability of the positive class, its outcome 1 when
  it is of the positive class (a reliability diagram of the scores: of the rows scored 0.8, 80% should
  be positives);
* **multiclass** (top-label): the confidence is the largest class probability, the outcome 1 when that
  class is the true one;
* ``n_bins`` equal-width bins over [0, 1], bin ``i`` holding ``[i/n, (i+1)/n)``; a confidence of exactly
  1 gets a slot of its own after them (``torch.bucketize(..., right=True)`` gives torchmetrics the same);
* ECE = sum over bins of ``|mean outcome - mean confidence| * rows in the bin / rows``.

The streaming state is three rows of bin sums (rows, confidence, outcomes) in one float64 tensor:
``update`` never reads back to the host, and runs on several processes add their states with one
``all_reduce``, as `MetricAccumulator`'s.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

N_BINS = 15
# Temperatures outside this range mean the logits carry no usable scale (all equal, or one class always).
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0

__all__ = ["N_BINS", "CalibrationAccumulator", "apply_temperature", "bin_counts", "calibration_summary",
           "confidences", "expected_calibration_error", "fit_temperature"]


def confidences(probs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """``(confidence, outcome)`` per sample: ``probs`` ``[N]`` (binary: the positive class's probability,
    ``target`` 1 for the positive class) or ``[N, C]`` (top-label)."""
    if probs.dim() == 1:
        return probs.double(), (target.reshape(-1) == 1).double()
    if probs.dim() != 2:
        raise ValueError(f"Expected `probs` of shape [N] or [N, C], but got {tuple(probs.shape)}")
    top, predicted = probs.max(dim=1)
    return top.double(), (predicted == target.reshape(-1)).double()


def bin_counts(confidence: Tensor, outcome: Tensor, n_bins: int = N_BINS) -> Tensor:
    """``[3, n_bins + 1]`` float64 sums per bin: rows, confidence, outcomes (the last slot: confidence 1).
    No host sync; a confidence outside [0, 1] (NaN included) is counted in no bin."""
    if not isinstance(n_bins, int) or isinstance(n_bins, bool) or n_bins < 1:
        raise ValueError(f"Expected `n_bins` to be an int >= 1, but got {n_bins!r}")
    confidence = confidence.reshape(-1).double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64, device=confidence.device)
    index = torch.bucketize(confidence, edges, right=True) - 1
    valid = (confidence >= 0) & (confidence <= 1)
    index = torch.where(valid, index, n_bins + 1)          # a spare slot, dropped below
    sums = torch.zeros(3, n_bins + 2, dtype=torch.float64, device=confidence.device)
    rows = torch.stack([torch.ones_like(confidence), confidence, outcome.reshape(-1).double()])
    sums.scatter_add_(1, index.expand(3, -1), torch.nan_to_num(rows))
    return sums[:, :n_bins + 1]


def expected_calibration_error(probs: Tensor, target: Tensor, *, n_bins: int = N_BINS) -> float:
    """ECE of one set of predictions (see the module docstring for binary ``[N]`` vs multiclass ``[N, C]``
    ``probs``); equals torchmetrics' ``CalibrationError(norm="l1", n_bins=n_bins)``."""
    counts = bin_counts(*confidences(probs, target), n_bins)
    return calibration_summary(counts, top_label=probs.dim() == 2)["ece"]


def calibration_summary(counts: Tensor, *, top_label: bool) -> dict:
    """ECE, its direction and noise level, and the reliability diagram, from ``bin_counts`` (one host read).

    ``gap``: signed, > 0 when the model is over-confident, < 0 when under-confident: top-label, the mean
    confidence minus the accuracy; binary, how much further from 0.5 the scores are than the outcomes
    justify (each bin counts on the side of 0.5 its mean score lies). ``noise``: the ECE a perfectly
    calibrated model would show on average with these rows per bin (its outcomes Bernoulli draws of its
    confidences, ``sqrt(2/pi * n * p * (1 - p))`` per bin): an ECE of a few times this is sampling
    noise, not miscalibration. ``bins``: one entry per non-empty bin: ``lower``, ``upper``, ``count``,
    ``confidence`` (mean), ``accuracy`` (mean outcome). ``ece``, ``gap``, ``noise`` are None without rows.
    """
    rows, conf, hits = counts.double().cpu()
    n_bins = rows.numel() - 1
    total = float(rows.sum())
    summary = {"kind": "top-label" if top_label else "binary", "n_bins": n_bins, "samples": int(total),
               "ece": None, "gap": None, "noise": None, "bins": []}
    if total == 0:
        return summary
    ece = gap = noise = 0.0
    for i, (n, c, h) in enumerate(zip(rows.tolist(), conf.tolist(), hits.tolist(), strict=True)):
        if n == 0:
            continue
        mean_c, mean_h = c / n, h / n
        ece += abs(h - c)
        gap += (c - h) if top_label else math.copysign(1.0, mean_c - 0.5) * (c - h)
        noise += math.sqrt(2 / math.pi * n * mean_c * (1 - mean_c))
        summary["bins"].append({"lower": min(i / n_bins, 1.0), "upper": min((i + 1) / n_bins, 1.0),
                                "count": int(n), "confidence": mean_c, "accuracy": mean_h})
    summary.update(ece=ece / total, gap=gap / total, noise=noise / total)
    return summary


class CalibrationAccumulator:
    """Streaming calibration of one pass: ``update(probs, target)`` per batch (no host sync), ``compute()``
    once.

    ``probs``: ``[N]`` positive-class probabilities (binary) or ``[N, C]`` class probabilities
    (multiclass, top-label). ``state()`` is the live float64 tensor: ``all_reduce`` it in place to sum
    the passes of several processes.
    """

    def __init__(self, *, top_label: bool, n_bins: int = N_BINS, device: torch.device | str | None = None) -> None:
        self.top_label = top_label
        self.n_bins = n_bins
        self._state = torch.zeros(3, n_bins + 1, dtype=torch.float64, device=device)

    def update(self, probs: Tensor, target: Tensor) -> None:
        if (probs.dim() == 2) != self.top_label:
            raise ValueError(f"Expected probabilities of shape {'[N, C]' if self.top_label else '[N]'}, but got "
                             f"{tuple(probs.shape)}")
        if self._state.device != probs.device:
            self._state = self._state.to(probs.device)
        self._state += bin_counts(*confidences(probs.detach(), target), self.n_bins)

    def state(self) -> Tensor:
        """The live ``[3, n_bins + 1]`` float64 state (rows, confidence sums, outcome sums per bin)."""
        return self._state

    def reset(self) -> None:
        self._state.zero_()

    def compute(self) -> dict:
        """`calibration_summary` of the pass."""
        return calibration_summary(self._state, top_label=self.top_label)


# ---------------------------------------------------------------------- temperature scaling
def apply_temperature(logits: Tensor, temperature: float) -> Tensor:
    """Logits divided by ``temperature``: the same predictions (argmax, and the sign of one logit), the
    probabilities softened (T > 1) or sharpened (T < 1). What ``predict`` applies to a calibrated run."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"Expected `temperature` to be a finite number > 0, but got {temperature!r}")
    return logits / temperature


def fit_temperature(logits: Tensor, target: Tensor, *, max_iter: int = 50) -> float:
    """The temperature T minimizing the cross-entropy of ``logits / T`` on ``target`` (Guo et al., 2017).

    ``logits``: ``[N]`` or ``[N, 1]`` (one logit per row: binary cross-entropy) or ``[N, C]``; ``target``:
    class indices. Fitted on validation rows; the result is clamped to [0.05, 20]. A full-batch L-BFGS on
    log T: a few milliseconds for 10,000 rows.
    """
    logits = logits.detach().double()
    target = target.detach().reshape(-1)
    single = logits.dim() == 1 or (logits.dim() == 2 and logits.shape[1] == 1)
    if single:
        logits = logits.reshape(-1)
        labels = target.double()
    log_t = torch.zeros((), dtype=torch.float64, device=logits.device, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        scaled = logits / log_t.exp()
        loss = (F.binary_cross_entropy_with_logits(scaled, labels) if single
                else F.cross_entropy(scaled, target.long()))
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    temperature = float(log_t.detach().exp())
    if not math.isfinite(temperature):
        return 1.0
    return min(max(temperature, MIN_TEMPERATURE), MAX_TEMPERATURE)
