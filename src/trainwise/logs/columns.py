"""Column names -> record keys: ``val_acc``, ``Valid Loss``, ``eval/loss``, ``lr-Adam``, ``vl_acc``...

A name is lower-cased, its spaces, slashes, dots and dashes turned into ``_``, then read as
``<phase>_<metric>`` or ``<metric>_<phase>`` (``loss_val``), with an optional ``_epoch``/``_step``
suffix (Lightning) and an optional ``_<n>`` suffix (Keras names a second ``Precision`` ``precision_1``).
An unprefixed metric is the training one (Keras: ``loss``, ``accuracy``) unless the format says its
metrics are validation metrics (fastai). Test-set columns stand in for validation ones only when the
file has no validation column for that key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PHASES = {
    "train": "train", "training": "train", "trn": "train", "tr": "train",
    "val": "val", "valid": "val", "validation": "val", "eval": "val", "dev": "val", "vl": "val", "va": "val",
    "test": "test",
}
METRICS = {
    "loss": "loss",
    "acc": "accuracy", "accuracy": "accuracy", "categorical_accuracy": "accuracy", "accuracy_score": "accuracy",
    "sparse_categorical_accuracy": "accuracy", "binary_accuracy": "accuracy",
    "precision": "precision", "prec": "precision", "precision_score": "precision",
    "recall": "recall", "recall_score": "recall", "sensitivity": "recall",
    "f1": "f1", "f1_score": "f1", "f1score": "f1", "fscore": "f1",
    "balanced_accuracy": "balanced_accuracy", "bal_acc": "balanced_accuracy",
    "balanced_acc": "balanced_accuracy", "balanced_accuracy_score": "balanced_accuracy",
    "auc": "roc_auc", "roc_auc": "roc_auc", "auroc": "roc_auc", "roc_auc_score": "roc_auc",
    "average_precision": "average_precision", "ap": "average_precision",
    "average_precision_score": "average_precision",
}
OTHER = {
    "epoch": "epoch", "epochs": "epoch", "ep": "epoch",
    "lr": "lr", "learning_rate": "lr",
    "seconds": "seconds", "epoch_time": "seconds", "time": "seconds", "duration": "seconds",
    "grad_norm_mean": "grad_norm_mean", "grad_norm_max": "grad_norm_max", "grad_norm": "grad_norm_mean",
    "grad_top_layer": "grad_top_layer", "steps": "steps",
    # scikit-learn's MLP: loss_curve_, and validation_scores_ (accuracy, for a classifier)
    "loss_curve": "train_loss", "validation_scores": "val_accuracy",
}
STEP_NAMES = ("step", "global_step")
TEXT_KEYS = frozenset({"grad_top_layer"})  # every other key holds numbers
# Column-name levels: a value logged once per epoch beats a plain name, which beats a per-step value.
LEVEL_EPOCH, LEVEL_PLAIN, LEVEL_STEP = 0, 1, 2


def normalize(name: str) -> str:
    return re.sub(r"[\s/\-.]+", "_", str(name).strip().lower()).strip("_")


def level(column: str) -> int:
    name = normalize(column)
    if name.endswith("_epoch"):
        return LEVEL_EPOCH
    if name.endswith("_step"):
        return LEVEL_STEP
    return LEVEL_PLAIN


def parse(column: str, *, bare_metrics: str = "train") -> tuple[str, int] | None:
    """``(key, rank)`` for a column name, or ``None``; rank 1 marks a test-set column read as validation.

    ``bare_metrics``: the phase of an unprefixed metric name (``train`` for Keras, ``val`` for fastai).
    """
    name = normalize(column)
    if name in OTHER:
        return OTHER[name], 0
    if name.startswith("lr_"):
        return "lr", 0
    if name.startswith("train_") and name[6:] in OTHER:     # HF in TensorBoard: train/epoch, train/learning_rate
        return OTHER[name[6:]], 0
    for suffix in ("_epoch", "_step"):
        if name.endswith(suffix) and name != suffix.lstrip("_"):
            name = name[: -len(suffix)]
            break
    name = re.sub(r"(?<=[a-z])_\d+$", "", name)     # Keras: precision_1
    if name in OTHER:
        return (OTHER[name], 0) if OTHER[name] != "epoch" else None
    for token, phase in PHASES.items():
        rest = name[len(token) + 1:] if name.startswith(token + "_") else None
        if rest is None and name.endswith("_" + token):
            rest = name[: -len(token) - 1]
        if rest is None:
            continue
        if rest in METRICS:
            return (f"val_{METRICS[rest]}", 1) if phase == "test" else (f"{phase}_{METRICS[rest]}", 0)
    if name in METRICS:
        return f"{bare_metrics}_{METRICS[name]}", 0
    return None


def canonical_key(column: str) -> str | None:
    """The record key a column name stands for, or ``None``.

    ``train_loss_epoch`` -> ``train_loss``; ``loss`` and ``accuracy`` (Keras) -> ``train_loss`` and
    ``train_accuracy``; ``val_acc``/``valid_accuracy``/``val/acc``/``vl_acc``/``Val Loss`` ->
    ``val_*``; ``eval/loss`` (Hugging Face in TensorBoard) -> ``val_loss``; ``lr-Adam`` (Lightning's
    LearningRateMonitor) -> ``lr``; ``test_loss`` -> ``val_loss`` (used only where no validation
    column exists).
    """
    found = parse(column)
    return found[0] if found else None


def map_columns(columns: list[str], *, bare_metrics: str = "train",
                skip: Iterable[str] = ()) -> tuple[dict[str, str], list[str], list[str]]:
    """Pick one source column per record key: ``(mapping, ignored, notes)``.

    Validation beats test; per-epoch beats plain beats per-step; then file order. ``skip``: columns
    the reader has used already (epoch, step) and that are neither mapped nor ignored.
    """
    skip = set(skip)
    candidates: dict[str, list[tuple[int, int, int, str]]] = {}
    for order, col in enumerate(columns):
        if col in skip:
            continue
        found = parse(col, bare_metrics=bare_metrics)
        if found is not None and found[0] != "epoch":
            key, rank = found
            candidates.setdefault(key, []).append((rank, level(col), order, col))
    mapping: dict[str, str] = {}
    notes: list[str] = []
    for key, cols in candidates.items():
        rank, _, _, chosen = min(cols)
        mapping[chosen] = key
        others = [c for *_, c in cols if c != chosen]
        if others:
            notes.append(f"{key} taken from {chosen!r} rather than {', '.join(map(repr, others))}")
        if rank == 1:
            notes.append(f"{chosen!r} read as {key}: the file has no validation column for it")
    ignored = [c for c in columns if c not in mapping and c not in skip and normalize(c) not in STEP_NAMES]
    return mapping, ignored, notes


def find_column(columns: Iterable[str], names: Iterable[str]) -> str | None:
    """The first column whose normalized name is one of ``names``."""
    wanted = set(names)
    return next((c for c in columns if normalize(c) in wanted), None)
