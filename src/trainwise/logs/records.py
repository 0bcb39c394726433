"""From checked rows to the records the detectors judge: one per epoch, per evaluation, or per window.

- **per epoch**: an epoch column of whole numbers (Keras, Lightning, fastai, trainwise): the rows of an
  epoch are averaged per column (Lightning writes training and validation values on separate rows; a
  row without an epoch but with a step -- Lightning's LearningRateMonitor -- joins the first epoch that
  reaches its step).
- **per evaluation**: fractional epochs (the Hugging Face Trainer) or, without an epoch column, a
  validation value on only some rows (a step log): each row holding a validation value closes a
  record, and the training values of the rows since the previous one are averaged into it. So each
  evaluation is paired with the training loss of its own steps, never floored into another epoch.
  A record is labelled with the epoch the file gives at that evaluation (2, or 2.4), else numbered from 1.
- **per row**: otherwise each row is an epoch, numbered from ``first``; more rows than
  ``MAX_RECORDS`` are judged in ``WINDOWS`` windows of consecutive rows, numbered from 1.

Averages use ``numpy.bincount``: a million rows take milliseconds and no copy per row. A NaN in an
epoch makes the epoch's mean NaN (a diverged step must stay visible); empty cells are skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainwise.logs.columns import TEXT_KEYS
from trainwise.logs.table import Table

Record = dict[str, Any]

RECORD_KEYS = (
    "epoch", "step", "train_loss", "train_accuracy", "train_precision", "train_recall", "train_f1",
    "val_loss", "val_accuracy", "val_precision", "val_recall", "val_f1", "val_balanced_accuracy",
    "val_roc_auc", "val_average_precision", "lr", "grad_norm_mean", "grad_norm_max", "grad_top_layer",
    "steps", "seconds",
)
MAX_RECORDS = 2000   # more rows than this, without epochs or evaluations, are judged in windows
WINDOWS = 200


@dataclass
class Built:
    records: list[Record]
    granularity: str          # "epoch" | "evaluation" | "row" | "window"
    epoch_note: str           # where the record numbers come from, in words
    averaged: list[str]       # source columns with several values per record


def build(table: Table, mapping: dict[str, str], *, epoch_col: str | None, step_col: str | None,
          first: int = 1) -> Built:
    """The records of ``table``; ``mapping`` is source column -> record key (epoch and step excluded)."""
    val_cols = [c for c, k in mapping.items() if k.startswith("val_")]
    epochs = table.values[epoch_col] if epoch_col else None
    has_epoch = table.present[epoch_col] if epoch_col else None
    if epochs is not None and has_epoch.any() and _whole(epochs[has_epoch]):
        group, labels = _by_epoch(table, epoch_col, step_col)
        note = f"column {epoch_col!r}, numbered as in the file (first epoch {labels[0]})" if labels else ""
        return _finish(table, mapping, group, labels, "epoch", note, step_col=None)
    is_eval = np.zeros(table.rows, dtype=bool)
    for col in val_cols:
        is_eval |= table.present[col]
    fractional = epochs is not None and has_epoch.any()
    train_rows = _any_present(table, [c for c in mapping if c not in val_cols])
    sparse = is_eval.any() and is_eval.sum() < 0.5 * max(1, train_rows.sum())
    if is_eval.any() and (fractional or sparse):
        group, labels = _by_evaluation(is_eval, epochs, has_epoch)
        note = (f"column {epoch_col!r} at each evaluation, as in the file" if fractional
                else "evaluations numbered from 1 (the file has no epoch column)")
        return _finish(table, mapping, group, labels, "evaluation", note, step_col=step_col)
    if fractional:   # fractional epochs without any evaluation: epoch k holds (k - 1, k], as the HF Trainer counts
        ok = has_epoch & np.isfinite(epochs)
        upper = np.ceil(epochs[ok] - 1e-9)
        labels = sorted({int(u) for u in upper})
        group = np.full(table.rows, -1, dtype=np.int64)
        group[ok] = np.searchsorted(np.array(labels, dtype=float), upper)
        return _finish(table, mapping, group, labels, "epoch",
                       f"column {epoch_col!r} rounded up: epoch k holds (k-1, k]", step_col=None)
    if table.rows > MAX_RECORDS:
        group = (np.arange(table.rows) * WINDOWS) // table.rows
        size = math.ceil(table.rows / WINDOWS)
        return _finish(table, mapping, group, list(range(1, WINDOWS + 1)), "window",
                       f"windows of about {size} rows, numbered from 1 (the file has no epoch column)",
                       step_col=None)
    return _finish(table, mapping, np.arange(table.rows), list(range(first, first + table.rows)), "row",
                   f"row number, from {first} (the file has no epoch column)", step_col=None)


def _whole(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return bool(len(finite)) and bool(np.all(finite == np.round(finite)))


def _any_present(table: Table, cols: list[str]) -> np.ndarray:
    mask = np.zeros(table.rows, dtype=bool)
    for col in cols:
        if col in table.present:
            mask |= table.present[col]
    return mask


def _by_epoch(table: Table, epoch_col: str, step_col: str | None) -> tuple[np.ndarray, list[int]]:
    """Group index per row (-1: no epoch) and the epoch numbers, in order."""
    present = table.present[epoch_col] & np.isfinite(table.values[epoch_col])
    epoch = np.where(present, table.values[epoch_col], np.nan)
    if step_col is not None and not present.all():
        step, has_step = table.values[step_col], table.present[step_col]
        known = present & has_step
        if known.any():
            order = np.unique(epoch[known])
            last = np.array([step[known & (epoch == e)].max() for e in order])
            last = np.maximum.accumulate(last)
            orphans = ~present & has_step
            at = np.searchsorted(last, step[orphans], side="left")
            epoch[orphans] = np.where(at < len(order), order[np.minimum(at, len(order) - 1)], np.nan)
    labels = sorted({int(e) for e in epoch[np.isfinite(epoch)]})
    group = np.full(table.rows, -1, dtype=np.int64)
    ok = np.isfinite(epoch)
    group[ok] = np.searchsorted(np.array(labels, dtype=float), epoch[ok])
    return group, labels


def _by_evaluation(is_eval: np.ndarray, epochs: np.ndarray | None,
                   has_epoch: np.ndarray | None) -> tuple[np.ndarray, list[int | float]]:
    """Each evaluation row closes a group holding the rows since the previous one."""
    group = np.cumsum(is_eval) - is_eval          # evaluations strictly before the row
    n_eval = int(is_eval.sum())
    labels: list[int | float] = []
    rows = np.flatnonzero(is_eval)
    for k, row in enumerate(rows):
        if epochs is not None and has_epoch[row] and math.isfinite(epochs[row]):
            labels.append(_label(epochs[row]))
        else:
            labels.append(k + 1)
    if group[-1] == n_eval:                       # rows after the last evaluation: training only
        last = len(is_eval) - 1
        labels.append(_label(epochs[last]) if epochs is not None and has_epoch[last] else n_eval + 1)
    return group.astype(np.int64), labels


def _label(epoch: float) -> int | float:
    rounded = round(float(epoch), 4)
    return int(rounded) if rounded == int(rounded) else rounded


def _finish(table: Table, mapping: dict[str, str], group: np.ndarray, labels: list, granularity: str,
            note: str, *, step_col: str | None) -> Built:
    n = len(labels)
    ok = group >= 0
    columns: dict[str, list[Any]] = {}
    averaged: list[str] = []
    for col, key in mapping.items():
        if key in TEXT_KEYS:
            columns[key] = _last_text(table.text.get(col, []), group, n)
            continue
        mask = ok & table.present[col]
        counts = np.bincount(group[mask], minlength=n)
        sums = np.bincount(group[mask], weights=table.values[col][mask], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts
        columns[key] = [float(m) if c else None for m, c in zip(means, counts, strict=True)]
        if (counts > 1).any():
            averaged.append(col)
    if step_col is not None and granularity == "evaluation":
        mask = ok & table.present[step_col]
        last = np.full(n, -np.inf)
        np.maximum.at(last, group[mask], table.values[step_col][mask])
        columns["step"] = [int(s) if math.isfinite(s) else None for s in last]
    keys = [k for k in RECORD_KEYS if k in columns] + sorted(set(columns) - set(RECORD_KEYS))
    records = []
    for i, label in enumerate(labels):
        record: Record = {"epoch": label}
        record.update({k: columns[k][i] for k in keys})
        if any(record[k] is not None for k in keys if k != "step"):
            records.append(record)
    return Built(records, granularity, note, averaged)


def _last_text(cells: list[Any], group: np.ndarray, n: int) -> list[Any]:
    out: list[Any] = [None] * n
    for cell, g in zip(cells, group, strict=False):
        if cell is not None and g >= 0:
            out[g] = cell
    return out
