"""What the model predicts: the task inferred from its outputs, predictions and scores from outputs, the loss.

**Outputs.** A model may return a tensor, a tuple or list (its first element), a dict (its ``logits``, else
its one tensor) or an object with ``.logits`` (Hugging Face's ``SequenceClassifierOutput``):
:func:`model_output` takes the tensor out, for the Trainer and the Monitor alike.

**Tasks.** ``[N]`` or ``[N, 1]`` outputs: binary, one score per row (class 1's). ``[N, C]``: C classes.
``[N, L]`` outputs with ``[N, L]`` targets of 0/1: multi-label, L independent yes/no labels. The positive
class of a binary task follows :func:`trainwise.policy.positive_index`; scores are always the positive
class's probability (never a silent flip: ``positive`` says which class that is).

**Logits or probabilities.** Outputs are judged probabilities when the model's last operation was a
sigmoid or a softmax (read from the autograd graph of the first training outputs, through reshapes and
dtype casts only) and every value is in [0, 1]. Without a graph (outputs detached, or computed under
``no_grad``) the values decide: C > 1 single-label outputs are probabilities when every value is in
[0, 1] and every row sums to 1 (within 1e-3); one output, or multi-label outputs, when every value is in
[0, 1]. Probabilities are thresholded at 0.5 and used as scores as they are (no second sigmoid);
logits at 0 (``sigmoid(0) = 0.5``).

**The loss.** The default is cross-entropy over C logits, binary cross-entropy with logits for one
output, and per-label binary cross-entropy with logits (averaged over the labels) for multi-label.
A user's ``loss_fn`` receives, for one-output models ``(outputs [N] float, targets [N] float)``; for C
outputs ``(logits [N, C], targets [N] long)``; for multi-label ``(logits [N, L], targets [N, L] float)``.
It returns the batch mean (one number) or one loss per sample (``[N]``, ``reduction="none"``, which
sample weights need). Per-sample losses are what every average in trainwise is built from, so a short
last batch weighs what it holds.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trainwise.decision import ThresholdRule
from trainwise.errors import InputError, name_list
from trainwise.policy import DEFAULT_THRESHOLD, positive_index

LossTerms = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]   # (outputs, targets) -> per-sample losses

LOSS_CONTRACT = ("trainwise calls loss_fn(outputs [N] float, targets [N] float) for one-output models, "
                 "(logits [N, C], targets [N] long) for C outputs and (logits [N, L], targets [N, L] float) "
                 "for multi-label; it returns the batch mean or one loss per sample")


@dataclass
class Task:
    """What the model predicts: how many classes (labels, when multi-label), one output or C, which class is
    positive, and whether the outputs are logits or already probabilities."""

    num_classes: int               # classes; in a multi-label task, labels
    single_logit: bool
    labels: list[str]
    positive: int | None           # binary tasks only
    threshold: float | None = None
    multilabel: bool = False
    probabilities: bool = False    # the outputs passed a final sigmoid/softmax

    @property
    def binary(self) -> bool:
        return self.num_classes == 2 and not self.multilabel

    @property
    def kind(self) -> str:
        return "multilabel" if self.multilabel else "binary" if self.binary else "multiclass"


# ---------------------------------------------------------------------- outputs
def model_output(out: Any) -> torch.Tensor:
    """The tensor of a model's output: a tensor as it is; a tuple or list's first element; a dict's
    ``logits`` (else its one tensor); an object's ``.logits`` (Hugging Face's model outputs)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping):
        if isinstance(out.get("logits"), torch.Tensor):
            return out["logits"]
        tensors = [key for key, value in out.items() if isinstance(value, torch.Tensor)]
        if len(tensors) == 1:
            return out[tensors[0]]
        raise InputError(f"the model returned a dict with keys {name_list(out.keys())} and no 'logits'; return "
                         "the class scores under 'logits' (or return them as a tensor).")
    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise InputError(f"the model returned {type(out).__name__}; return the class scores as a tensor, a tuple "
                     "whose first element they are, a dict with 'logits' or an object with .logits.")


def forward(model: Any, inputs: Any) -> torch.Tensor:
    """Call ``model`` on a batch's inputs -- a tensor: ``model(x)``; a dict: ``model(**inputs)``; a tuple or
    list: ``model(*inputs)`` -- and return its output tensor (see :func:`model_output`)."""
    if isinstance(inputs, torch.Tensor):
        out = model(inputs)
    elif isinstance(inputs, Mapping):
        out = model(**inputs)
    else:
        out = model(*inputs)
    return out if isinstance(out, torch.Tensor) else model_output(out)


# Autograd nodes an output may pass after its final activation and still be that activation's values.
_SHAPE_NODES = {"View", "UnsafeView", "Reshape", "ReshapeAlias", "Squeeze", "Unsqueeze", "Select", "Slice",
                "Clone", "ToCopy", "T", "Permute", "Transpose", "Expand", "Alias", "Contiguous"}
_REDUCE_NODES = _SHAPE_NODES | {"Mean", "Sum", "Div", "Mul"}
_NODE_SUFFIX = re.compile(r"Backward\d*$")


def _node_kind(node: Any) -> str:
    return _NODE_SUFFIX.sub("", type(node).__name__)


def _origin(node: Any, through: set[str]) -> Any:
    """The first autograd node, from ``node`` back along first inputs, that is not one of ``through``."""
    while node is not None and _node_kind(node) in through and node.next_functions:
        node = node.next_functions[0][0]
    return node


def are_probabilities(out: torch.Tensor, *, multilabel: bool = False) -> bool:
    """Whether outputs are probabilities rather than logits (the rule is in the module docstring)."""
    values = out.detach()
    if values.numel() == 0 or not bool(((values >= 0) & (values <= 1)).all()):
        return False
    if out.grad_fn is not None:
        return _node_kind(_origin(out.grad_fn, _SHAPE_NODES)) in ("Sigmoid", "Softmax")
    if values.dim() == 2 and values.shape[1] > 1 and not multilabel:
        return bool(((values.float().sum(dim=1) - 1).abs() <= 1e-3).all())
    return True


def loss_input(loss: torch.Tensor) -> str | None:
    """What a loss was computed on, read from its autograd graph: ``"logits"`` (cross-entropy, BCE with
    logits), ``"probabilities"`` (BCE), or None (another loss, or no graph)."""
    node = _origin(loss.grad_fn, _REDUCE_NODES)
    kind = _node_kind(node) if node is not None else None
    if kind == "BinaryCrossEntropyWithLogits":
        return "logits"
    if kind == "BinaryCrossEntropy":
        return "probabilities"
    if kind == "NllLoss" and node.next_functions and _node_kind(node.next_functions[0][0]) == "LogSoftmax":
        return "logits"
    return None


def check_trainable(model: nn.Module, *, training: bool = True) -> None:
    """A model on the meta device (no weights yet), or one with nothing to train, is bad input."""
    if not isinstance(model, nn.Module):
        raise InputError(f"Expected `model` to be a torch.nn.Module, but got {type(model).__name__}.")
    tensors = itertools.chain(model.parameters(), model.buffers())
    if any(t.is_meta for t in tensors):
        raise InputError("the model's weights are on the meta device (shapes only, no values); build it on a real "
                         "device, or call model.to_empty(device='cpu') and initialize or load its weights.")
    if not training:
        return
    params = list(model.parameters())
    if not params:
        raise InputError("the model has no parameters to train; give it layers with weights (e.g. nn.Linear).")
    if not any(p.requires_grad for p in params):
        raise InputError(f"all {len(params)} parameter tensors of the model are frozen (requires_grad=False); "
                         "unfreeze the ones to train, e.g. model.classifier.requires_grad_(True).")


# ---------------------------------------------------------------------- the task
def infer_task(out: torch.Tensor, targets: torch.Tensor | None = None, *, labels: Sequence[str] | None = None,
               positive: int | None = None, rule: ThresholdRule | None = None,
               probabilities: bool | None = None) -> Task:
    """The task a model's output (and, when given, its targets) implies: ``[N]``/``[N, 1]`` binary with one
    output; ``[N, C]`` C classes; ``[N, L]`` with ``[N, L]`` targets multi-label. ``probabilities``: None
    judges the outputs by :func:`are_probabilities`."""
    if not out.is_floating_point():
        raise InputError(f"the model returned {out.dtype} outputs; a classifier returns float scores (logits or "
                         "probabilities), before any argmax or rounding.")
    multilabel = targets is not None and targets.dim() == 2 and targets.shape[1] > 1
    if multilabel:
        if out.dim() != 2 or out.shape[1] != targets.shape[1]:
            shape = "[N, " + ", ".join(str(d) for d in out.shape[1:]) + "]" if out.dim() else "a scalar"
            raise InputError(f"the targets are [N, {targets.shape[1]}] (multi-label: one 0/1 column per label) but "
                             f"the model returned {shape}; return [N, {targets.shape[1]}] logits, one per label (or "
                             "pass one class index per row, shape [N]).")
        num_classes, single = out.shape[1], False
    elif out.dim() == 1 or (out.dim() == 2 and out.shape[1] == 1):
        num_classes, single = 2, True
    elif out.dim() == 2 and out.shape[1] >= 2:
        num_classes, single = out.shape[1], False
    else:
        raise InputError(f"the model returned shape {tuple(out.shape)}; a classifier returns [N, C] logits "
                         "(or [N] / [N, 1] for a binary task).")
    what = "labels" if multilabel else "classes"
    names = [str(label) for label in labels] if labels is not None else [str(i) for i in range(num_classes)]
    if len(names) != num_classes:
        raise InputError(f"{len(names)} labels were given for a model with {num_classes} {what}.")
    pos = None
    if num_classes == 2 and not multilabel:
        pos = positive_index(["0", "1"], positive=None) if positive is None else positive
        if pos not in (0, 1):
            raise InputError(f"positive class index must be 0 or 1, but got {positive!r}.")
    elif rule is not None:
        raise InputError("a decision threshold applies to binary tasks only.")
    if probabilities is None:
        probabilities = are_probabilities(out, multilabel=multilabel)
    fixed = rule.fixed if rule is not None else None       # rules are resolved at the end of a fit
    return Task(num_classes, single, names, pos, fixed, multilabel=multilabel, probabilities=probabilities)


@dataclass
class Probe:
    """The task, and the first training batch's outputs (with their graph), targets and sample weights."""

    task: Task
    out: torch.Tensor
    targets: torch.Tensor
    weights: torch.Tensor | None


def probe(model: nn.Module, train: Any, val: Any = None, *, labels: Sequence[str] | None = None,
          positive: int | None = None, rule: ThresholdRule | None = None, train_name: str = "train") -> Probe:
    """Infer the task from one forward pass on the first training batch, before any training, and check
    the validation data runs too and the labels fit the model's output. The pass keeps its autograd graph
    (in eval mode), which shows whether the model ends in a sigmoid or softmax. ``train_name`` names
    ``train`` in messages (`Trainer.evaluate` probes on the data it measures)."""
    was_training = model.training
    model.eval()
    try:
        out, targets, weights = _probe(model, train, train_name, graph=True)
        if val is not None:
            _probe(model, val, "val", graph=False)
    finally:
        model.train(was_training)
    task = infer_task(out, targets, labels=labels, positive=positive, rule=rule)
    for name, batches in ((train_name, train), ("val", val)):
        counts = batches.label_counts(task.num_classes) if batches is not None and not task.multilabel else None
        if counts is not None and len(counts) > task.num_classes:
            top = getattr(batches, "top_label", len(counts) - 1)
            outputs = "one output (a binary task)" if task.single_logit else f"{task.num_classes} outputs"
            raise InputError(f"{name}: label {top} is out of range for a model with {outputs}; labels must be "
                             f"0..{task.num_classes - 1}, or give the model one output per class.")
    return Probe(task, out, targets, weights)


def probe_task(model: nn.Module, train: Any, val: Any = None, *, labels: Sequence[str] | None = None,
               positive: int | None = None, rule: ThresholdRule | None = None, train_name: str = "train") -> Task:
    """The task of :func:`probe`."""
    return probe(model, train, val, labels=labels, positive=positive, rule=rule, train_name=train_name).task


def _probe(model: nn.Module, batches: Any, name: str, *,
           graph: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The model's output on the first batch (two rows of it when the inputs are one tensor and the output
    will have a graph; without one, the values decide logits or probabilities, on the whole batch); a model
    that cannot take the data is bad input."""
    batch = next(iter(batches.epoch(0)), None)
    if batch is None:
        raise InputError(f"{name}: the data yielded no batches; pass at least one sample.")
    inputs, targets = batch[0], batch[1]
    weights = batch[2] if len(batch) > 2 else None
    if isinstance(inputs, torch.Tensor) and (not graph or any(p.requires_grad for p in model.parameters())):
        inputs, targets = inputs[:2], targets[:2]
        weights = None if weights is None else weights[:2]
    try:
        with torch.enable_grad() if graph else torch.inference_mode():
            return forward(model, inputs), targets, weights
    except (RuntimeError, TypeError, ValueError, IndexError, NotImplementedError) as exc:
        if isinstance(exc, InputError):
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(inputs, torch.Tensor):
            shape = "[N, " + ", ".join(str(d) for d in inputs.shape[1:]) + "]"
            raise InputError(f"{name}: the model cannot run on X of dtype {inputs.dtype} and shape {shape} "
                             f"({reason}); pass float features with the same columns as the training data.") from None
        raise InputError(f"{name}: the model cannot run on the batch's inputs, {describe(inputs)} ({reason}); "
                         "tuple inputs are passed as model(*inputs), dict inputs as model(**inputs).") from None


def describe(value: Any) -> str:
    """A batch's structure in a few words: ``tuple(tensor [8] int64, tensor [2] int64)``."""
    if isinstance(value, torch.Tensor):
        return f"tensor {list(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    if isinstance(value, Mapping):
        return "dict(" + ", ".join(f"{k}: {describe(v)}" for k, v in value.items()) + ")"
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__}(" + ", ".join(describe(v) for v in value) + ")"
    return type(value).__name__


# ---------------------------------------------------------------------- predictions and scores
def predict(out: torch.Tensor, task: Task, *, with_scores: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Predicted class indices ([N, L] 0/1 in a multi-label task), and the positive class's probability in
    binary tasks (each label's probability in multi-label ones)."""
    cut = DEFAULT_THRESHOLD if task.probabilities else 0.0     # sigmoid(0) = 0.5
    if task.multilabel:
        scores = None
        if with_scores:
            scores = out.float() if task.probabilities else torch.sigmoid(out.float())
        return (out >= cut).long(), scores
    if task.threshold is None and not with_scores:     # the cheap path of training steps
        if task.single_logit:
            return (out.reshape(-1) >= cut).long(), None     # the output is class 1's
        return argmax(out), None
    if task.single_logit:
        p1 = out.reshape(-1).float()
        if not task.probabilities:
            p1 = torch.sigmoid(p1)
        scores = p1 if task.positive == 1 else 1 - p1
    elif task.binary:
        if task.probabilities:
            scores = out[:, task.positive].float()
        else:                # the softmax of two logits, 20x cheaper on the CPU than torch.softmax
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
    """Per-sample losses: cross-entropy over C logits, BCE with logits for one output or per label (the mean
    over labels); a user's ``loss_fn`` receives the shapes of the module docstring and gives a batch mean,
    spread over the batch's samples, or one loss per sample."""
    if loss_fn is not None:
        return _custom_terms(task, loss_fn)
    if task.multilabel:
        if class_weights is not None:
            raise InputError("class_weights apply to single-label tasks; in a multi-label task pass "
                             "loss_fn=nn.BCEWithLogitsLoss(pos_weight=...) with one weight per label.")

        def bce_per_label(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return F.binary_cross_entropy_with_logits(out, y.to(out.dtype), reduction="none").mean(dim=1)

        return bce_per_label
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


def _custom_terms(task: Task, loss_fn: Any) -> LossTerms:
    """A user's loss, handed the contract's shapes and dtypes; its batch mean spread over the samples."""
    if task.single_logit:
        def adapt(out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = out.reshape(-1)
            return out, y.to(out.dtype)
    elif task.multilabel:
        def adapt(out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return out, y.to(out.dtype)
    else:
        def adapt(out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return out, y.long()

    def custom(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss_fn(*adapt(out, y)).reshape(-1).expand(len(y))    # a batch mean, weighted per sample

    custom.adapt = adapt  # type: ignore[attr-defined]
    custom.loss_fn = loss_fn  # type: ignore[attr-defined]
    return custom


def check_loss(found: Probe, terms: LossTerms) -> str | None:
    """Run the loss once on the probe batch: a ``loss_fn`` that cannot take the contract's shapes, returns
    neither one number nor one per sample, or cannot weight samples is bad input. Returns what the loss
    is computed on (see :func:`loss_input`)."""
    out, y, weights = found.out, found.targets, found.weights
    loss_fn = getattr(terms, "loss_fn", None)
    try:
        raw = loss_fn(*terms.adapt(out, y)) if loss_fn is not None else terms(out, y)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        if isinstance(exc, InputError):
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if loss_fn is None:
            raise InputError(f"the {task_loss_name(found.task)} cannot take outputs {_shape(out)} and targets "
                             f"{_shape(y)} ({reason}); targets are one class index per row ([N] int64) for C "
                             "outputs, 0/1 per row for one output, 0/1 per label ([N, L]) for multi-label.") from None
        shown = terms.adapt(out.detach(), y)
        raise InputError(f"loss_fn failed on outputs {_shape(shown[0])} and targets {_shape(shown[1])} "
                         f"({reason}); {LOSS_CONTRACT}: write loss_fn for those shapes.") from None
    if not isinstance(raw, torch.Tensor) or raw.numel() not in (1, len(y)) or not raw.is_floating_point():
        got = _shape(raw) if isinstance(raw, torch.Tensor) else type(raw).__name__
        raise InputError(f"loss_fn returned {got} for {len(y)} samples; return the batch mean (one number) "
                         "or one loss per sample ([N], reduction='none').")
    if weights is not None and loss_fn is not None and (raw.numel() == 1 < len(y)):
        raise InputError("the batches carry sample weights but loss_fn returns one number per batch; return "
                         "one loss per sample (reduction='none') so each can be weighted.")
    return loss_input(raw)


def task_loss_name(task: Task) -> str:
    """The default loss of a task, in words."""
    if task.multilabel:
        return "default loss (binary cross-entropy with logits per label)"
    return "default loss (binary cross-entropy with logits)" if task.single_logit else "default loss (cross-entropy)"


def _shape(t: torch.Tensor) -> str:
    return f"[{', '.join(str(d) for d in t.shape)}] {str(t.dtype).removeprefix('torch.')}"


def batch_mean(terms: LossTerms) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The training step's loss: the mean of the per-sample losses. Plain cross-entropy takes the fused
    mean (one kernel fewer per step); weighted or custom losses average their per-sample terms."""
    return getattr(terms, "batch_mean", None) or (lambda out, y: terms(out, y).mean())


def weighted_mean(terms: LossTerms, out: torch.Tensor, y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The mean over the batch of each sample's loss times its weight (Keras' ``sample_weight``)."""
    return (terms(out, y) * weights.reshape(-1).to(out.dtype)).mean()


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


def check_class_weights(class_weights: Any) -> None:
    """``None``, ``"balanced"``, or finite numbers >= 0 of which at least one is > 0."""
    if class_weights is None or isinstance(class_weights, str):
        return
    try:
        values = [float(w) for w in class_weights]
    except (TypeError, ValueError):
        raise InputError(f"Expected `class_weights` to be 'balanced' or a list of numbers, but got "
                         f"{class_weights!r}.") from None
    bad = [w for w in values if not (math.isfinite(w) and w >= 0)]
    if bad or not any(values):
        shown = bad[0] if bad else values
        raise InputError(f"Expected `class_weights` to be finite numbers >= 0 (not all 0), but got {shown!r} in "
                         f"{values!r}; give each class a weight such as 1.0, or class_weights='balanced'.")
