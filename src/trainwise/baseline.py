"""A simple baseline on the same features: is the network worth its complexity?

For a table (2-D float features), a regularised multinomial logistic regression is fitted full-batch on
the same training rows the network saw and scored on the same validation rows with the same metrics
(`MetricAccumulator`). Its objective is scikit-learn's ``LogisticRegression()`` default, per row:
mean cross-entropy + ``||W||^2 / (2 * C * n)`` with ``C = 1`` (the intercept unpenalised), on features
standardized with the training rows' mean and standard deviation (a no-op for trainwise's own
preprocessed tables; for raw features it keeps L-BFGS well conditioned and the penalty fair). L-BFGS
with a strong-Wolfe line search, at most ``MAX_ITER`` iterations: on the benchmark table (40,000 x 20)
it costs a few percent of a 3-epoch fit (benchmarks/README.md). Larger tables are fitted on a seeded
sample of ``MAX_ROWS`` training rows (``train_rows`` says how many); the validation rows are all scored.

The comparison is paired -- the same rows for both models -- and says "clearly" only when the difference
is both larger than chance allows (``ALPHA``) and large enough to matter (``MIN_GAP``):

* on **accuracy** (McNemar's exact test on the rows exactly one of the two gets right), or
* on **ROC AUC** for binary tasks whose rarer class is under ``RARE_SHARE`` of the validation rows,
  where accuracy mostly counts the majority class (DeLong's test for two correlated AUCs).

Not run for Datasets and DataLoaders (their rows are not in hand), features that are not 2-D, or under
torchrun; the run says which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from trainwise.metrics import MetricAccumulator

C_REG = 1.0             # inverse regularisation strength (scikit-learn's default)
MAX_ITER = 100          # L-BFGS iterations
MAX_ROWS = 20_000       # training rows the baseline is fitted on at most (a seeded sample of larger tables)
ALPHA = 0.05            # two-sided significance of "clearly"
MIN_GAP = 0.01          # ...and the least difference that matters (accuracy or AUC, absolute)
RARE_SHARE = 0.2        # binary tasks whose rarer class is under this share are compared on ROC AUC
DESCRIPTION = "logistic regression (L2, C=1, standardized features)"

__all__ = ["LogisticModel", "compare_accuracy", "compare_auc", "fit_logistic", "mcnemar_p", "score_baseline"]


@dataclass
class LogisticModel:
    """A fitted logistic regression on standardized features ``Z = (X - mean) / scale``: multinomial
    (``weight`` ``[d, C]``) or, for two classes, one coefficient vector (``weight`` ``[d, 1]``, class 1's
    logit, as scikit-learn fits binary tasks: half the work of two)."""

    mean: Tensor
    scale: Tensor
    weight: Tensor
    bias: Tensor
    iterations: int

    def logits(self, X: Tensor) -> Tensor:
        """``[N, C]`` logits (for two classes ``[0, z]``: their softmax is the sigmoid of ``z``)."""
        z = torch.addmm(self.bias, (X.to(self.weight.dtype) - self.mean) / self.scale, self.weight)
        return torch.cat([torch.zeros_like(z), z], dim=1) if self.weight.shape[1] == 1 else z


def fit_logistic(X: Tensor, y: Tensor, num_classes: int, *, c: float = C_REG, max_iter: int = MAX_ITER,
                 class_weights: Tensor | None = None) -> LogisticModel:
    """Fit the baseline on ``X`` ``[n, d]`` (float) and ``y`` ``[n]`` (class indices), full batch, on their
    device. ``class_weights``: one weight per class, as the network's loss weighs them."""
    X = X.detach().float()
    y = y.detach().reshape(-1).long()
    n, d = X.shape
    mean = X.mean(dim=0)
    scale = X.std(dim=0, correction=0)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    Z = (X - mean) / scale
    binary = num_classes == 2
    columns = 1 if binary else num_classes
    weight = torch.zeros(d, columns, device=X.device, requires_grad=True)
    bias = torch.zeros(columns, device=X.device, requires_grad=True)
    penalty = 1.0 / (2.0 * c * n)
    row_weights = None if class_weights is None else class_weights.to(X.device, torch.float32)[y]
    target = y.float() if binary else y
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, history_size=10,
                                  tolerance_grad=1e-6, tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        logits = torch.addmm(bias, Z, weight)
        if binary:
            data_loss = F.binary_cross_entropy_with_logits(logits.reshape(-1), target, weight=row_weights)
        elif row_weights is None:
            data_loss = F.cross_entropy(logits, target)
        else:
            data_loss = (F.cross_entropy(logits, target, reduction="none") * row_weights).mean()
        loss = data_loss + penalty * weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    iterations = int(optimizer.state[optimizer._params[0]].get("n_iter", 0))
    return LogisticModel(mean, scale, weight.detach(), bias.detach(), iterations)


def score_baseline(model: LogisticModel, X: Tensor, y: Tensor, *, labels: list[str], positive: int | None,
                   batch_size: int = 65_536) -> tuple[dict, Tensor, Tensor | None]:
    """The baseline's validation metrics (the network's metric dict), its per-row correctness, and in binary
    tasks its positive-class scores."""
    num_classes = len(labels)
    binary = num_classes == 2
    acc = MetricAccumulator(num_classes, device=X.device, binary_scores=binary)
    correct, scores = [], []
    for i in range(0, len(X), batch_size):
        xb, yb = X[i:i + batch_size], y[i:i + batch_size].reshape(-1).long()
        logits = model.logits(xb)
        preds = logits.argmax(dim=1)
        score = logits.softmax(dim=1)[:, positive] if binary else None
        acc.update(preds, yb, loss_sum=F.cross_entropy(logits, yb, reduction="sum"), scores=score)
        correct.append(preds == yb)
        if binary:
            scores.append(score)
    metrics = acc.compute(labels=labels, positive=positive if binary else None)
    return metrics, torch.cat(correct), torch.cat(scores) if binary else None


# ---------------------------------------------------------------------- paired comparisons
def mcnemar_p(network_only: int, baseline_only: int) -> float:
    """Two-sided exact McNemar test: the chance of a split of the discordant rows at least this uneven
    when both models are equally accurate (a binomial with p = 1/2)."""
    n = network_only + baseline_only
    if n == 0:
        return 1.0
    k = min(network_only, baseline_only)
    log_half = n * math.log(0.5)
    tail = sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half)
               for i in range(k + 1))
    return min(1.0, 2.0 * tail)


def compare_accuracy(network_correct: Tensor, baseline_correct: Tensor) -> dict:
    """Accuracy of both on the same rows, the rows only one gets right, McNemar's p-value."""
    net, base = network_correct.bool().cpu(), baseline_correct.bool().cpu()
    n = net.numel()
    network_only, baseline_only = int((net & ~base).sum()), int((base & ~net).sum())
    return {"metric": "accuracy", "network": float(net.sum()) / n, "baseline": float(base.sum()) / n,
            "network_only": network_only, "baseline_only": baseline_only,
            "p_value": mcnemar_p(network_only, baseline_only)}


def compare_auc(network_scores: Tensor, baseline_scores: Tensor, positive: Tensor) -> dict | None:
    """ROC AUC of both on the same rows and DeLong's two-sided p-value for their difference; None unless
    both classes are present."""
    is_pos = positive.bool().reshape(-1).cpu()
    m, n = int(is_pos.sum()), int((~is_pos).sum())
    if m < 2 or n < 2:
        return None
    v10, v01 = [], []
    for s in (network_scores, baseline_scores):
        s = s.detach().double().reshape(-1).cpu()
        pos, neg = s[is_pos], s[~is_pos]
        neg_sorted, pos_sorted = neg.sort().values, pos.sort().values
        # per positive: the share of negatives scored below it (ties half); per negative: of positives above
        below = torch.searchsorted(neg_sorted, pos, right=False) + torch.searchsorted(neg_sorted, pos, right=True)
        above = 2 * m - torch.searchsorted(pos_sorted, neg, right=True) - torch.searchsorted(pos_sorted, neg)
        v10.append(below.double() / (2 * n))
        v01.append(above.double() / (2 * m))
    auc = [float(v.mean()) for v in v10]
    s10, s01 = torch.cov(torch.stack(v10)), torch.cov(torch.stack(v01))
    var = float((s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n)
    diff = auc[0] - auc[1]
    p = 1.0 if var <= 0 else math.erfc(abs(diff) / math.sqrt(2 * var))
    if var <= 0 and diff != 0:
        p = 0.0
    return {"metric": "roc_auc", "network": auc[0], "baseline": auc[1], "p_value": p}


def outcome(comparison: dict) -> str:
    """``"weaker"``, ``"better"`` (the network against the baseline) or ``"on_par"``: clearly means a
    p-value under ``ALPHA`` and a difference of at least ``MIN_GAP``."""
    diff = comparison["network"] - comparison["baseline"]
    if comparison["p_value"] < ALPHA and abs(diff) >= MIN_GAP:
        return "better" if diff > 0 else "weaker"
    return "on_par"


def run_baseline(X_train: Tensor, y_train: Tensor, X_val: Tensor, y_val: Tensor, *, labels: list[str],
                 positive: int | None, network_correct: Tensor, network_scores: Tensor | None,
                 class_weights: Tensor | None = None) -> dict:
    """Fit, score and compare: the ``baseline`` section of a run's metrics (see docs/findings.md)."""
    num_classes = len(labels)
    if len(X_train) > MAX_ROWS:   # a linear model of a few dozen weights is settled long before this
        rows = torch.randperm(len(X_train), generator=torch.Generator().manual_seed(0))[:MAX_ROWS]
        X_train, y_train = X_train[rows.to(X_train.device)], y_train[rows.to(y_train.device)]
    model = fit_logistic(X_train, y_train, num_classes, class_weights=class_weights)
    metrics, correct, scores = score_baseline(model, X_val, y_val, labels=labels, positive=positive)
    comparison = None
    if num_classes == 2 and network_scores is not None and scores is not None:
        counts = metrics["confusion_matrix"]
        rarer = min(sum(counts[0]), sum(counts[1])) / max(metrics["num_samples"], 1)
        if rarer < RARE_SHARE:
            comparison = compare_auc(network_scores, scores, y_val.reshape(-1) == positive)
    if comparison is None:
        comparison = compare_accuracy(network_correct, correct)
    comparison["difference"] = comparison["network"] - comparison["baseline"]
    comparison["outcome"] = outcome(comparison)
    keep = ("loss", "accuracy", "balanced_accuracy", "precision", "recall", "f1", "average_precision", "roc_auc")
    return {"model": DESCRIPTION, "ran": True, **comparison,
            "metrics": {k: metrics[k] for k in keep if k in metrics},
            "iterations": model.iterations, "train_rows": int(len(X_train))}
