"""What the model predicts: the task inferred from its outputs, predictions and scores from outputs, the loss.

A model returns ``[N]`` or ``[N, 1]`` (one logit: a binary task, the logit is class 1's) or ``[N, C]``
(C logits). The positive class of a binary task follows :func:`trainwise.policy.positive_index`; scores
are the positive class's probability. Per-sample losses are what every average in trainwise is built
from, so a short last batch weighs what it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trainwise.decision import ThresholdRule
from trainwise.errors import InputError
from trainwise.policy import DEFAULT_THRESHOLD, positive_index

LossTerms = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]   # (outputs, targets) -> per-sample losses


@dataclass
class Task:
    """What the model predicts: how many classes, one logit or C, which class is positive."""

    num_classes: int
    single_logit: bool
    labels: list[str]
    positive: int | None          # binary tasks only
    threshold: float | None = None

    @property
    def binary(self) -> bool:
        return self.num_classes == 2


def infer_task(out: torch.Tensor, *, labels: Sequence[str] | None = None, positive: int | None = None,
               rule: ThresholdRule | None = None) -> Task:
    """The task a model's output implies (``[N]``/``[N, 1]``: binary with one logit; ``[N, C]``: C classes)."""
    if out.dim() == 1 or (out.dim() == 2 and out.shape[1] == 1):
        num_classes, single = 2, True
    elif out.dim() == 2 and out.shape[1] >= 2:
        num_classes, single = out.shape[1], False
    else:
        raise InputError(f"the model returned shape {tuple(out.shape)}; a classifier returns [N, C] logits "
                         "(or [N] / [N, 1] for a binary task).")
    names = [str(label) for label in labels] if labels is not None else [str(i) for i in range(num_classes)]
    if len(names) != num_classes:
        raise InputError(f"{len(names)} labels were given for a model with {num_classes} classes.")
    pos = None
    if num_classes == 2:
        pos = positive_index(["0", "1"], positive=None) if positive is None else positive
        if pos not in (0, 1):
            raise InputError(f"positive class index must be 0 or 1, but got {positive!r}.")
    elif rule is not None:
        raise InputError("a decision threshold applies to binary tasks only.")
    fixed = rule.fixed if rule is not None else None       # rules are resolved at the end of a fit
    return Task(num_classes, single, names, pos, fixed)


def probe_task(model: nn.Module, train: Any, val: Any = None, *, labels: Sequence[str] | None = None,
               positive: int | None = None, rule: ThresholdRule | None = None, train_name: str = "train") -> Task:
    """Infer the task from one forward pass on a training batch (and check the validation data runs too)
    before any training, and check the labels fit the model's output. ``train_name`` names ``train`` in
    messages (`Trainer.evaluate` probes on the data it measures)."""
    was_training = model.training
    model.eval()
    out = _probe(model, train, train_name)
    if val is not None:
        _probe(model, val, "val")
    model.train(was_training)
    task = infer_task(out, labels=labels, positive=positive, rule=rule)
    for name, batches in ((train_name, train), ("val", val)):
        counts = batches.label_counts(task.num_classes) if batches is not None else None
        if counts is not None and len(counts) > task.num_classes:
            top = len(counts) - 1
            outputs = "one output (a binary task)" if task.single_logit else f"{task.num_classes} outputs"
            raise InputError(f"{name}: label {top} is out of range for a model with {outputs}; labels must be "
                             f"0..{task.num_classes - 1}, or give the model one output per class.")
    return task


def _probe(model: nn.Module, batches: Any, name: str) -> torch.Tensor:
    """The model's output on two rows of the first batch; a model that cannot take the data is bad input."""
    xb, _ = next(iter(batches.epoch(0)))
    try:
        with torch.inference_mode():
            return model(xb[:2])
    except (RuntimeError, TypeError, ValueError, IndexError) as exc:
        shape = "[N, " + ", ".join(str(d) for d in xb.shape[1:]) + "]"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{name}: the model cannot run on X of dtype {xb.dtype} and shape {shape} ({reason}); "
                         "pass float features with the same columns as the training data.") from None


# ---------------------------------------------------------------------- predictions and scores
def predict(out: torch.Tensor, task: Task, *, with_scores: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Predicted class indices, and the positive class's probability in binary tasks."""
    if task.threshold is None and not with_scores:     # the cheap path of training steps
        if task.single_logit:
            return (out.reshape(-1) >= 0).long(), None     # the logit is class 1's
        return argmax(out), None
    if task.single_logit:
        p1 = torch.sigmoid(out.reshape(-1).float())
        scores = p1 if task.positive == 1 else 1 - p1
    elif task.binary:        # the softmax of two logits, 20x cheaper on the CPU than torch.softmax
        logits = out.float()
        scores = torch.sigmoid(logits[:, task.positive] - logits[:, 1 - task.positive])
    else:
        return out.argmax(dim=1), None
    if task.threshold is None and not task.single_logit:
        return argmax(out), scores
    threshold = DEFAULT_THRESHOLD if task.threshold is None else task.threshold
    is_positive = scores >= threshold
    return torch.where(is_positive, task.positive, 1 - task.positive), scores


def argmax(out: torch.Tensor) -> torch.Tensor:
    """``out.argmax(dim=1)``; of two logits by one comparison (ties go to class 0 in both), which the CPU
    does 5x faster than an argmax over a dimension of two (benchmarks/run.py --only kernels)."""
    if out.shape[1] == 2:
        return (out[:, 1] > out[:, 0]).long()
    return out.argmax(dim=1)


# ---------------------------------------------------------------------- the loss
def loss_terms(task: Task, *, loss_fn: Any = None, class_weights: Any = None, train: Any = None,
               device: torch.device | None = None) -> LossTerms:
    """Per-sample losses: cross-entropy over C logits, or BCE with logits for one logit; a user's
    ``loss_fn`` gives a batch mean, spread over the batch's samples."""
    if loss_fn is not None:
        def custom(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return loss_fn(out, y).reshape(1).expand(len(y))   # a batch mean, weighted per sample

        return custom
    weights = class_weight_tensor(class_weights, task, train, device)
    if task.single_logit:
        pos_weight = None if weights is None else (weights[1] / weights[0]).reshape(1)

        def bce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            logits = out.reshape(-1)
            return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), pos_weight=pos_weight,
                                                      reduction="none")

        return bce

    def cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out, y, weight=weights, reduction="none")

    if weights is None:                      # unweighted: the fused mean equals the per-sample mean
        cross_entropy.batch_mean = F.cross_entropy  # type: ignore[attr-defined]
    return cross_entropy


def batch_mean(terms: LossTerms) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The training step's loss: the mean of the per-sample losses. Plain cross-entropy takes the fused
    mean (one kernel fewer per step); weighted or custom losses average their per-sample terms."""
    return getattr(terms, "batch_mean", None) or (lambda out, y: terms(out, y).mean())


def class_weight_tensor(class_weights: Any, task: Task, train: Any, device: torch.device | None) -> torch.Tensor | None:
    """``None``, ``"balanced"`` (inverse class frequency over the training labels) or one weight per class."""
    if class_weights is None or train is None:
        return None
    if isinstance(class_weights, str):       # "balanced" (the config has checked the name)
        counts = train.label_counts(task.num_classes)
        if counts is None:
            raise InputError("class_weights='balanced' needs the training labels counted (in-memory or "
                             "streamed data); with a DataLoader, pass one weight per class instead.")
        counts = counts.to(torch.float32)
        return (counts.sum() / (task.num_classes * counts.clamp(min=1))).to(device)
    if len(class_weights) != task.num_classes:
        raise InputError(f"class_weights has {len(class_weights)} values for {task.num_classes} classes.")
    return torch.tensor([float(w) for w in class_weights], device=device)
