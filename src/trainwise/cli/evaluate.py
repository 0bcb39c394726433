"""`trainwise evaluate FILE --label COL (--prediction COL | --score COL)`: metrics, findings and threshold
advice for predictions made by any model."""

from __future__ import annotations

from argparse import Namespace

import numpy as np
import pandas as pd

from trainwise.cli.output import console, emit, exit_code, summary_of
from trainwise.data.preprocess import encode_labels
from trainwise.data.tables import read_table
from trainwise.decision import default_threshold, resolve
from trainwise.diagnostics import diagnose
from trainwise.errors import InputError, name_list
from trainwise.metrics.arrays import measure
from trainwise.policy import positive_index
from trainwise.report.terminal import print_summary


def run(args: Namespace) -> int:
    table = read_table(args.file)
    column = args.prediction or args.score
    _require_columns(args.file, table, [args.label, column])
    _require_no_missing(args.file, table, [args.label, column])
    if args.threshold is not None and not args.score:
        raise InputError("--threshold applies to --score; with --prediction the classes are already decided.")
    target, preds, scores, labels = _encode(args, table)
    if len(labels) < 2:
        raise InputError(f"{args.file}: column {args.label!r} has one class only ({labels[0]!r}); "
                         "metrics need at least two.")
    counts = np.bincount(target, minlength=len(labels))
    if args.positive is not None and len(labels) != 2:
        raise InputError(f"--positive applies to binary tasks, but {args.file} has {len(labels)} classes "
                         f"({name_list(labels[:5])}); metrics are macro averages. Leave it out.")
    positive = positive_index(labels, counts, args.positive) if len(labels) == 2 else None
    if scores is not None:
        preds = np.where(scores >= default_threshold(args.threshold), positive, 1 - positive)
    metrics, thresholds = measure(target, preds, labels, 1 if positive is None else positive, scores=scores)
    if thresholds is not None and args.threshold is not None:
        thresholds["applied"] = resolve(args.threshold, thresholds, None)
    findings = diagnose([], metrics=metrics, data={"class_counts": counts.tolist(), "labels": labels},
                        thresholds=thresholds)
    summary = summary_of(findings, metrics=metrics, thresholds=thresholds)
    if args.json:
        emit(args, summary)
    else:
        print_summary(summary, console(args))
    return exit_code(summary["findings"], args.fail_on)


def _encode(args: Namespace, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, list]:
    """Class indices of the labels (and of the predictions, in the same encoding), or the scores."""
    if args.prediction:
        for name in (args.label, args.prediction):      # each column checked alone, so errors name it
            encode_labels(table[name], source=args.file)
        # then one encoding for both, so a class has the same index in each
        codes, labels = encode_labels(pd.concat([table[args.label], table[args.prediction]], ignore_index=True),
                                      source=args.file)
        return codes[:len(table)], codes[len(table):], None, labels
    target, labels = encode_labels(table[args.label], source=args.file)
    if len(labels) != 2:
        raise InputError(f"{args.file}: --score needs a binary label, but column {args.label!r} has "
                         f"{len(labels)} classes; use --prediction for multiclass tasks.")
    return target, None, _scores(args.file, table[args.score]), labels


def _require_columns(path: str, table: pd.DataFrame, columns: list[str]) -> None:
    for column in columns:
        if column not in table.columns:
            raise InputError(f"{path}: no column {column!r} (columns: {name_list(table.columns)}).")


def _require_no_missing(path: str, table: pd.DataFrame, columns: list[str]) -> None:
    for column in columns:
        missing = int(table[column].isna().sum())
        if missing:
            raise InputError(f"{path}: column {column!r} has {missing} empty value(s); fill or drop those rows.")


def _scores(path: str, column: pd.Series) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce")
    bad = column[values.isna()]
    if len(bad):
        raise InputError(f"{path}: column {column.name!r} holds a non-numeric score ({bad.iloc[0]!r}); "
                         "scores must be numbers, e.g. probabilities.")
    values = values.to_numpy(dtype=np.float64)
    outside = values[(values < 0) | (values > 1) | ~np.isfinite(values)]
    if len(outside):
        raise InputError(f"{path}: column {column.name!r} holds the score {float(outside[0])!r}; scores must be "
                         "probabilities of the positive class in [0, 1] (apply a sigmoid to raw logits).")
    return values
