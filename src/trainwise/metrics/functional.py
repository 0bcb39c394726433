"""Classification metrics as pure tensor functions of one confusion matrix.

Conventions, the same everywhere in trainwise:

* ``cm[i, j]`` counts the samples of true class ``i`` predicted as class ``j``: rows are true
  classes, columns predictions (as in scikit-learn).
* **Zero division gives 0.** A class never predicted has precision 0, a class absent from the
  targets has recall 0, an F-score with a zero denominator is 0, and so is the accuracy of an empty
  matrix. No epsilon is added anywhere: a class that is never predicted reads exactly 0, which is
  the signal the accuracy-paradox check looks for. This is scikit-learn's ``zero_division=0``.
* ``average``: ``"binary"`` is the ``positive`` class's own (one-vs-rest) value; ``"macro"`` the
  plain mean over **all** C classes of the matrix, including classes with no support (scikit-learn
  with ``labels=range(C)``); ``"weighted"`` the mean weighted by support; ``"micro"`` the value of
  the summed counts, which for single-label classification equals accuracy; ``None`` one value per
  class.
* Results are float64 tensors on the matrix's device, 0-dim for averages and ``[C]`` per class:
  counts are exact in float64 up to 2**53 and the values match scikit-learn's to the last bits.

The scores derived from the matrix live in :mod:`trainwise.metrics.derived` (re-exported here), which
takes NumPy arrays as well and does not import torch.
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from trainwise.errors import InputError
from trainwise.metrics.derived import (
    AVERAGES,
    Average,
    accuracy,
    balanced_accuracy,
    check_beta,
    f1,
    fbeta,
    fbeta_from_counts,
    precision,
    recall,
    safe_divide,
    support,
)

# Inferring C from the largest label allocates C*C counts: 10,000 classes are 800 MB. A larger label is
# far more often a bug (a raw id, a score cast to int) than a task; pass num_classes to mean it.
MAX_INFERRED_CLASSES = 10_000

__all__ = ["AVERAGES", "Average", "accuracy", "balanced_accuracy", "check_beta", "confusion_matrix", "f1",
           "fbeta", "fbeta_from_counts", "precision", "recall", "safe_divide", "support"]


# --------------------------------------------------------------------------- the confusion matrix
def confusion_matrix(preds: Tensor, target: Tensor, num_classes: int | None = None, *,
                     validate: bool = True) -> Tensor:
    """The ``[C, C]`` int64 confusion matrix: rows are true classes, columns predictions.

    ``preds`` and ``target`` hold class indices (any integer or bool dtype, any shape, the same
    shape). The matrix is one ``bincount`` of ``target * C + preds`` and stays on the inputs'
    device. ``num_classes=None`` infers ``C = max label + 1`` (at least 2, at most
    ``MAX_INFERRED_CLASSES``), which reads the labels' range back to the host once.

    With ``num_classes`` given, ``validate=True`` checks every label lies in ``[0, C)`` and raises
    naming the first offender; that check reads one count back to the host. ``validate=False``
    never syncs: labels out of range are then left out of the matrix (``MetricAccumulator`` counts
    them and raises in ``compute()``).
    """
    preds = _as_labels(preds, "preds")
    target = _as_labels(target, "target")
    if preds.shape != target.shape:
        raise ValueError(f"Expected `preds` and `target` to have the same shape, but got "
                         f"{tuple(preds.shape)} and {tuple(target.shape)}")
    if preds.device != target.device:
        raise ValueError(f"Expected `preds` and `target` on the same device, but got {preds.device} "
                         f"and {target.device}")
    preds, target = preds.reshape(-1), target.reshape(-1)
    if num_classes is None:
        num_classes = _infer_num_classes(preds, target)  # validates too: labels are now in range
        validate = False
    else:
        check_num_classes(num_classes)
    counts = pair_counts(preds, target, num_classes)
    if validate and counts[-1] > 0:  # the one host sync of validation
        _raise_out_of_range(preds, target, num_classes)
    return counts[:-1].view(num_classes, num_classes)


def pair_counts(preds: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """``C*C + 1`` int64 counts: the flattened confusion matrix, then the number of pairs with a
    label outside ``[0, C)`` (left out of the matrix). Never syncs with the host."""
    c = num_classes
    in_range = (preds >= 0) & (preds < c) & (target >= 0) & (target < c)
    index = torch.where(in_range, target * c + preds, c * c)
    return count_indices(index, c * c + 1)


def count_indices(index: Tensor, length: int) -> Tensor:
    """``torch.bincount(index, minlength=length)`` for int64 indices known to lie in ``[0, length)``.

    On CPU this is ``bincount``. On CUDA ``bincount`` reads the input's min and max back to the
    host to size its output (two syncs per call), so accelerators get the same counts from a
    ``scatter_add_`` into a zero tensor of the known length, which never syncs (and is
    deterministic for 1-D integer inputs).
    """
    if index.device.type == "cpu":
        return torch.bincount(index, minlength=length)
    counts = torch.zeros(length, dtype=torch.long, device=index.device)
    return counts.scatter_add_(0, index, torch.ones_like(index))


def check_num_classes(num_classes: object) -> None:
    """Raise unless ``num_classes`` is an int >= 2."""
    if (not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool)
            or num_classes < 2):
        raise ValueError(f"Expected `num_classes` to be an int >= 2, but got {num_classes!r}")


def _as_labels(x: Tensor, name: str) -> Tensor:
    x = torch.as_tensor(x)
    if x.dtype == torch.bool:
        return x.long()
    if x.is_floating_point() or x.is_complex():
        raise ValueError(f"Expected `{name}` to hold integer class indices, but got dtype {x.dtype}"
                         + ("; take `logits.argmax(dim=1)` first" if name == "preds" else ""))
    return x.long()


def _infer_num_classes(preds: Tensor, target: Tensor) -> int:
    if preds.numel() == 0:
        raise ValueError("Expected labels to infer `num_classes` from, but `preds` and `target` are "
                         "empty; pass num_classes")
    lowest, highest = torch.stack([torch.minimum(preds.min(), target.min()),
                                   torch.maximum(preds.max(), target.max())]).tolist()
    if lowest < 0:
        _raise_out_of_range(preds, target, highest + 1)
    if highest >= MAX_INFERRED_CLASSES:
        raise InputError(f"Expected labels below {MAX_INFERRED_CLASSES} to infer `num_classes` from, but the "
                         f"largest is {highest} (a {highest + 1} x {highest + 1} matrix); pass num_classes "
                         "if that many classes is meant, else map the labels to 0..C-1")
    return max(highest + 1, 2)


def _raise_out_of_range(preds: Tensor, target: Tensor, num_classes: int) -> None:
    for name, x in (("target", target), ("preds", preds)):
        bad = x[(x < 0) | (x >= num_classes)]
        if bad.numel():
            raise InputError(f"Expected `{name}` to hold class indices in [0, {num_classes}), but got "
                             f"{bad[0].item()} ({bad.numel()} of {x.numel()} labels are out of range)")
