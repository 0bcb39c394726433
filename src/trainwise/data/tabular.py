"""From a table and a target column to training and validation tensors: the one call the CLI makes.

:func:`prepare_tabular` validates the input (each problem is one :class:`InputError` naming the file,
the column or the value), encodes the labels, splits off a stratified validation set unless one is
given, measures train/validation duplicates, fits the preprocessor on the training rows only and
returns a :class:`TabularData`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwise.data.fingerprint import duplicate_rows
from trainwise.data.preprocess import (
    MAX_CATEGORIES,
    TablePreprocessor,
    _is_numeric,
    _refuse_numbers_with_typos,
    _text_codes,
    encode_labels,
    nested_message,
    positive_index,
)
from trainwise.data.split import stratified_split
from trainwise.data.tables import name_list, row_list, shown_name
from trainwise.errors import InputError

MAX_CLASSES_OF_NUMBERS = 20   # a numeric target with more classes, most rows a class of its own, is a quantity

__all__ = ["TabularData", "check_flat", "prepare_tabular"]


@dataclass
class TabularData:
    """Tensors ready for :class:`trainwise.Trainer`, and the facts the report and the findings need.

    ``X_*`` are float32 ``[rows, features]``, ``y_*`` int64 class codes indexing :attr:`labels`.
    ``positive`` is the positive class's index in binary tasks, ``None`` in multiclass ones.
    ``class_counts`` counts each class over training and validation rows together.
    ``train_rows`` / ``val_rows`` are the 0-based positions, in the input table, of the rows that went
    to each side of a split (``None`` when a validation table was given). ``leakage`` is
    :func:`~trainwise.data.fingerprint.duplicate_rows`' dict; its example row numbers are 0-based
    positions in the input table after a split, and in the training and validation tables otherwise.
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    labels: list[str]
    positive: int | None
    feature_names: list[str]
    preprocessor: TablePreprocessor
    class_counts: list[int]
    leakage: dict[str, Any]
    target: str
    source: str
    val_source: str | None = None
    val_fraction: float | None = None
    seed: int | None = None
    train_rows: np.ndarray | None = None
    val_rows: np.ndarray | None = None

    @property
    def n_train(self) -> int:
        return int(self.y_train.shape[0])

    @property
    def n_val(self) -> int:
        return int(self.y_val.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts about the data for the report and the findings."""
        if self.val_source is None:
            validation = {"kind": "split", "stratified": True, "fraction": self.val_fraction, "seed": self.seed}
        else:
            validation = {"kind": "file", "source": self.val_source}
        return data_facts(source=self.source, target=self.target, validation=validation,
                          rows={"train": self.n_train, "val": self.n_val}, preprocessor=self.preprocessor,
                          labels=self.labels, positive=self.positive, leakage=self.leakage,
                          train_counts=np.bincount(self.y_train.numpy(), minlength=self.num_classes),
                          val_counts=np.bincount(self.y_val.numpy(), minlength=self.num_classes))


def data_facts(*, source: str, target: str, validation: dict, rows: dict[str, int], preprocessor: Any,
               labels: list[str], positive: int | None, leakage: dict | None, train_counts: Any,
               val_counts: Any) -> dict[str, Any]:
    """The data-facts dict the report and the findings read (one builder for tables and streams): source,
    target, how validation rows were chosen, rows, columns, features, classes with shares, leakage."""
    counts = [int(t) + int(v) for t, v in zip(train_counts, val_counts, strict=True)]
    total = sum(counts)
    return {
        "source": source,
        "target": target,
        "validation": validation,
        "rows": {**rows, "total": total},
        "columns": len(preprocessor.input_columns),
        "features": len(preprocessor.feature_names),
        "classes": [{"label": label, "count": c, "share": c / total, "train": int(t), "val": int(v)}
                    for label, c, t, v in zip(labels, counts, train_counts, val_counts, strict=True)],
        "positive_label": None if positive is None else labels[positive],
        "leakage": leakage,
    }


def prepare_tabular(
    train_df: pd.DataFrame,
    target: str,
    *,
    val_df: pd.DataFrame | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    positive: object = None,
    source: str = "data.csv",
    val_source: str = "validation table",
) -> TabularData:
    """Validate, encode, split (stratified, seeded) unless ``val_df`` is given, and preprocess.

    ``source`` and ``val_source`` name the two tables in error messages (the CLI passes file names).
    Labels come from the training table; a validation label it lacks is an error. The preprocessor is
    fitted on the training rows only (after the split), so no statistic sees a validation row.
    """
    source, val_source = shown_name(source), shown_name(val_source)  # file names with a line break stay one line
    features = _checked_features(train_df, val_df, target, source, val_source)
    codes, labels = encode_labels(train_df[target], source=source)
    if len(labels) < 2:
        raise InputError(
            f"{source}: target column {target!r} has one class only ({labels[0]!r}); "
            "a classifier needs at least two."
        )
    _refuse_regression_target(train_df[target], len(labels), source)
    _check_features(train_df, features, source)
    val_codes = None
    if val_df is not None:
        val_codes, _ = encode_labels(val_df[target], labels=labels, source=val_source)
        _check_features(val_df, features, val_source)
    class_counts = np.bincount(codes if val_codes is None else np.concatenate([codes, val_codes]),
                               minlength=len(labels))
    pos = _positive(labels, class_counts, positive, target, source)

    train_rows = val_rows = None
    if val_df is None:
        train_rows, val_rows = _split_rows(train_df, target, codes, labels, val_fraction, seed, source)
        train_part, val_part = train_df.iloc[train_rows], train_df.iloc[val_rows]
        y_train, y_val = codes[train_rows], codes[val_rows]
        fit_source = f"{source} (training rows)"
    else:
        train_part, val_part = train_df, val_df
        y_train, y_val = codes, val_codes
        fit_source = source

    leakage = duplicate_rows(train_part, val_part, features)
    if train_rows is not None:  # report rows of the user's file, not of the split halves
        for example in leakage["examples"]:
            example["val_row"] = int(val_rows[example["val_row"]])
            example["train_row"] = int(train_rows[example["train_row"]])

    preprocessor = TablePreprocessor().fit(train_part, features, source=fit_source)
    X_train = preprocessor.transform(train_part, source=fit_source)
    X_val = preprocessor.transform(val_part, source=source if val_df is None else val_source)

    return TabularData(
        X_train=torch.from_numpy(X_train),
        y_train=torch.from_numpy(y_train),
        X_val=torch.from_numpy(X_val),
        y_val=torch.from_numpy(y_val),
        labels=labels,
        positive=pos,
        feature_names=preprocessor.feature_names,
        preprocessor=preprocessor,
        class_counts=[int(c) for c in class_counts],
        leakage=leakage,
        target=target,
        source=source,
        val_source=None if val_df is None else val_source,
        val_fraction=float(val_fraction) if val_df is None else None,
        seed=seed if val_df is None else None,
        train_rows=train_rows,
        val_rows=val_rows,
    )


def _checked_features(train_df: pd.DataFrame, val_df: pd.DataFrame | None, target: str, source: str,
                      val_source: str) -> list[str]:
    """The feature columns, after checking both tables hold the target, the features and flat cells."""
    _check_table(train_df, source)
    if target not in train_df.columns:
        raise InputError(_no_target_message(train_df, target, source))
    features = [c for c in train_df.columns if c != target]
    if not features:
        raise InputError(f"{source}: no feature columns besides the target {target!r}; add some.")
    if val_df is not None:
        _check_table(val_df, val_source)
        absent = [c for c in [*features, target] if c not in val_df.columns]
        if absent:
            raise InputError(
                f"{val_source}: missing columns of the training file {source}: {name_list(absent)}; add them."
            )
    check_flat(train_df, [*features, target], source)
    if val_df is not None:
        check_flat(val_df, [*features, target], val_source)
    return features


def _positive(labels: list[str], class_counts: np.ndarray, positive: object, target: str, source: str) -> int | None:
    """The positive class of a binary target (trainwise.policy's rule); None for multiclass."""
    if len(labels) == 2:
        try:
            return positive_index(labels, class_counts.tolist(), positive)
        except InputError as exc:  # name the table and the column too
            raise InputError(f"{source}: target column {target!r}: {exc}") from None
    if positive is not None:
        raise InputError(
            f"{source}: --positive applies to binary targets; {target!r} has {len(labels)} classes "
            f"({name_list(labels)}). Leave it out: multiclass metrics are macro averages."
        )
    return None


def _split_rows(train_df: pd.DataFrame, target: str, codes: np.ndarray, labels: list[str], val_fraction: float,
                seed: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded training and validation row indices, or why there are too few rows."""
    train_rows, val_rows = stratified_split(codes, val_fraction, seed)
    if val_rows.size == 0:
        if len(labels) == len(train_df) >= 20:  # every row its own class: numbers to predict, or ids
            binned = " (or bin the numbers into classes)" if _is_numeric(train_df[target]) else ""
            raise InputError(
                f"{source}: target column {target!r} has a different value in each of its {len(labels)} "
                "rows, so no class has 2 rows to split; trainwise trains classifiers: pass a column of "
                f"class labels with --target{binned}."
            )
        raise InputError(
            f"{source}: too few rows to split off a validation set ({len(train_df)} rows, no class with "
            "2 or more); add rows or pass a validation file with --val."
        )
    return train_rows, val_rows


def _refuse_regression_target(series: pd.Series, classes: int, source: str) -> None:
    """Numbers with a distinct value in most rows are a quantity to predict, not classes: a model of one
    class per value, judged on a handful of validation rows, would answer nothing. (A distinct value in
    every row is `_split_rows`' message.)"""
    rows = len(series)
    if _is_numeric(series) and classes > MAX_CLASSES_OF_NUMBERS and 2 * classes > rows and classes < rows:
        raise InputError(
            f"{source}: target column {series.name!r} has {classes} distinct numbers in {rows} rows: it looks "
            "like a regression target; trainwise trains classifiers: pass a column of class labels with --target "
            "(or bin the numbers into classes)."
        )


def _check_table(df: pd.DataFrame, source: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"Expected a pandas DataFrame for {source}, but got {type(df).__name__}")
    duplicated = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if duplicated:
        raise InputError(f"{source}: duplicate column names {name_list(duplicated)}; rename them so each is unique.")
    if len(df) == 0:
        raise InputError(f"{source}: the table is empty (0 rows); add data rows.")


def check_flat(df: pd.DataFrame, columns: list[str], source: str) -> None:
    """Refuse cells that are lists, dicts or arrays (nested Parquet columns) before anything hashes them."""
    for name in columns:
        series = df[name]
        if series.dtype != object:  # numbers, text ("str"), bools, dates, categoricals: flat by type
            continue
        try:
            pd.factorize(series, use_na_sentinel=True)
        except TypeError:
            raise InputError(nested_message(series, source)) from None


def _no_target_message(df: pd.DataFrame, target: str, source: str) -> str:
    columns = [str(c) for c in df.columns]
    folded = {c.casefold(): c for c in reversed(columns)}  # first column of each case-folded name
    close = difflib.get_close_matches(str(target).casefold(), list(folded), n=1)  # 'Y' is close to 'y'
    hint = f" Did you mean {folded[close[0]]!r}?" if close else ""
    return f"{source}: no column {target!r} (columns: {name_list(columns)}). Pass one of them with --target.{hint}"


def _check_features(df: pd.DataFrame, features: list[str], source: str) -> None:
    """Refuse all-empty feature columns, infinities and numbers with typos, naming rows of the whole table
    (before a split: a typo that lands among the validation rows would otherwise leave the training rows
    all numbers, and the column would be one-hot encoded as 50 arbitrary numbers)."""
    for name in features:
        series = df[name]
        missing = series.isna().to_numpy()
        if missing.all():
            raise InputError(
                f"{source}: column {name!r} is empty in every row; drop it, it carries no information."
            )
        if not _is_numeric(series):  # the preprocessor's rule, on every row of the file
            codes, values = _text_codes(series, source=source)
            if len(values) > MAX_CATEGORIES:
                counts = np.bincount(codes[codes >= 0], minlength=len(values))
                _refuse_numbers_with_typos(name, codes, values, counts, source)
        if pd.api.types.is_float_dtype(series):
            infinite = np.isinf(series.to_numpy(dtype=np.float64, na_value=np.nan))
            if infinite.any():
                raise InputError(
                    f"{source}: column {name!r} has {int(infinite.sum())} infinite values "
                    f"({row_list(np.flatnonzero(infinite))}); replace them with finite numbers or empty cells."
                )
