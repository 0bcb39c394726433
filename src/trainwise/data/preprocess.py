"""Turning a table's feature columns into a float32 matrix, with statistics from training rows only.

:class:`TablePreprocessor` learns everything it knows in :meth:`~TablePreprocessor.fit`, which sees
the training rows and nothing else; :meth:`~TablePreprocessor.transform` applies those frozen
statistics to any table. Fitting on all rows and splitting afterwards would leak the validation rows'
means, medians and categories into training: the classic preprocessing leak.

Rules, column by column (the kind is decided by the training table's dtype):

* **numeric** (int or float, not bool): standardized with the training mean and standard deviation
  (``ddof=0``). A constant column (std 0) becomes all zeros rather than NaN. Missing values are filled
  with the training median, and a ``"<name>:missing"`` indicator column (1.0 where the value was
  missing) is added for every column that has missing values in the training rows: missingness is
  often informative (a merchant that hides its location), and median filling alone would erase that
  signal. Columns complete in training get no indicator (it would be constantly 0); their rare missing
  values at transform time are filled with the median all the same.
* **categorical** (strings, bools, anything else): one-hot, one column ``"<name>=<value>"`` per
  category seen in training, sorted by value. A column with more than ``max_categories`` (50) distinct
  training values keeps only the 50 most frequent (ties broken by value). A value that is missing,
  unseen in training, or one of the dropped rare levels is encoded as all zeros: with one column per
  level and no level dropped, all-zeros is itself a distinct input, so the model can still learn from it.

Saved with the statistics for checking new data (``trainwise predict``, :mod:`trainwise.serve`): each
numeric column's training range (``minimum``/``maximum``) and each categorical column's share of
training rows outside its kept categories (``other_share``; 0 unless the column was capped). Both are
``None`` in preprocessors saved before they were recorded; such dicts still load.

Labels are encoded separately by :func:`encode_labels`; :func:`positive_index` picks the binary task's
positive class.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from trainwise.data.tables import name_list, row_list
from trainwise.errors import InputError
from trainwise.policy import label_text, positive_index

__all__ = [
    "MAX_CATEGORIES",
    "CategoricalColumn",
    "CategoryCounts",
    "NumericColumn",
    "TablePreprocessor",
    "encode_labels",
    "positive_index",
]

log = logging.getLogger(__name__)

MAX_CATEGORIES = 50
_FORMAT = "trainwise.TablePreprocessor"


@dataclass(frozen=True)
class NumericColumn:
    """Training statistics of one numeric column."""

    name: str
    mean: float
    std: float
    median: float
    missing_indicator: bool
    kind: str = "numeric"
    minimum: float | None = None        # the training range, for drift checks on new data (None in
    maximum: float | None = None        # preprocessors saved before it was recorded)


@dataclass(frozen=True)
class CategoricalColumn:
    """The categories one-hot encoded for one column, and how many distinct values training had."""

    name: str
    categories: tuple[str, ...]
    levels_seen: int
    kind: str = "categorical"
    other_share: float | None = None    # share of training rows holding a value outside ``categories``
                                        # (0 unless capped; None in preprocessors saved before it was recorded)


@dataclass(frozen=True)
class CategoryCounts:
    """Rows per category of one column, counted elsewhere (e.g. in one pass over a file too big for memory).

    ``counts`` maps each value's text (as :meth:`TablePreprocessor.fit` writes it) to its rows;
    ``levels_seen`` is the number of distinct values when ``counts`` does not hold them all; ``rows``
    the rows counted, missing ones included (without it ``other_share`` stays unknown).
    """

    name: str
    counts: Mapping[str, int]
    levels_seen: int | None = None
    rows: int | None = None             # rows counted, missing values included (for ``other_share``)


class TablePreprocessor:
    """Standardize numbers, one-hot categories; fitted on training rows only (see the module docstring).

    ``fit(df)`` then ``transform(df) -> np.ndarray`` (float32, one row per table row, columns in
    :attr:`feature_names` order). ``source`` names the table in error messages (a file name).
    """

    def __init__(self, *, max_categories: int = MAX_CATEGORIES) -> None:
        if max_categories < 1:
            raise ValueError(f"Expected `max_categories` to be an int >= 1, but got {max_categories!r}")
        self.max_categories = max_categories
        self.columns: list[NumericColumn | CategoricalColumn] | None = None

    # ---- fitting ---------------------------------------------------------------------------------
    def fit(
        self, df: pd.DataFrame, columns: Sequence[str] | None = None, *, source: str = "training table"
    ) -> TablePreprocessor:
        """Learn the statistics of ``columns`` (default: all of ``df``'s) from ``df``'s rows."""
        columns = list(df.columns) if columns is None else list(columns)
        absent = [c for c in columns if c not in df.columns]
        if absent:
            raise InputError(f"{source}: no columns {name_list(absent)} (columns: {name_list(df.columns)}).")
        if not columns:
            raise InputError(f"{source}: no feature columns; a classifier needs at least one.")
        if len(df) == 0:
            raise InputError(f"{source}: the table is empty (0 rows); add data rows.")
        fitted: list[NumericColumn | CategoricalColumn] = []
        for name in columns:
            series = df[name]
            if series.isna().all():
                raise InputError(
                    f"{source}: column {name!r} is empty in every row; drop it, it carries no information."
                )
            if _is_numeric(series):
                fitted.append(self._fit_numeric(name, series, source))
            else:
                fitted.append(self._fit_categorical(name, series, source))
        self.columns = fitted
        return self

    def _fit_numeric(self, name: str, series: pd.Series, source: str) -> NumericColumn:
        values = _numbers(series, name, source)
        observed = values[~np.isnan(values)]
        mean, std = _mean_std(observed)
        return NumericColumn(
            name=name,
            mean=mean,
            std=std,
            median=float(np.median(observed)),
            missing_indicator=bool(observed.size < values.size),
            minimum=float(observed.min()),
            maximum=float(observed.max()),
        )

    def _fit_categorical(self, name: str, series: pd.Series, source: str) -> CategoricalColumn:
        codes, values = _text_codes(series, source=source)
        counts = np.bincount(codes[codes >= 0], minlength=len(values))
        if len(values) > self.max_categories:
            _refuse_numbers_with_typos(name, codes, values, counts, source)
            log.info(
                "%s: column %r has %d distinct values; one-hot encoding the %d most frequent",
                source, name, len(values), self.max_categories,
            )
        # Most frequent first, ties by value, so the kept set does not depend on row order.
        ranked = sorted(zip(values, counts, strict=True), key=lambda item: (-item[1], item[0]))
        kept = sorted(str(value) for value, _ in ranked[: self.max_categories])
        return CategoricalColumn(name=name, categories=tuple(kept), levels_seen=len(values),
                                 other_share=_other_share(ranked, self.max_categories, len(series)))

    @classmethod
    def from_statistics(
        cls, columns: Sequence[NumericColumn | CategoryCounts], *, max_categories: int = MAX_CATEGORIES
    ) -> TablePreprocessor:
        """A fitted preprocessor from statistics gathered without a DataFrame (see
        :func:`trainwise.data.stream.fit_stream`). Numeric columns are used as given; categories are kept
        from their counts by :meth:`fit`'s rule: the ``max_categories`` most frequent, ties by value."""
        pre = cls(max_categories=max_categories)
        fitted: list[NumericColumn | CategoricalColumn] = []
        for col in columns:
            if isinstance(col, NumericColumn):
                fitted.append(col)
            elif isinstance(col, CategoryCounts):
                ranked = sorted(col.counts.items(), key=lambda item: (-item[1], item[0]))  # as in fit
                kept = sorted(str(value) for value, _ in ranked[:max_categories])
                seen = len(col.counts) if col.levels_seen is None else col.levels_seen
                other = None if col.rows is None else _other_share(ranked, max_categories, col.rows)
                fitted.append(CategoricalColumn(name=col.name, categories=tuple(kept), levels_seen=seen,
                                                other_share=other))
            else:
                raise TypeError(f"Expected NumericColumn or CategoryCounts, but got {type(col).__name__}")
        if not fitted:
            raise ValueError("Expected statistics of at least one column, but got none")
        pre.columns = fitted
        return pre

    # ---- applying --------------------------------------------------------------------------------
    def transform(self, df: pd.DataFrame, *, source: str = "table") -> np.ndarray:
        """Encode ``df`` with the fitted statistics; returns a C-contiguous float32 array."""
        columns = self._fitted()
        absent = [c.name for c in columns if c.name not in df.columns]
        if absent:
            raise InputError(f"{source}: missing columns of the training table: {name_list(absent)}; add them.")
        # Filled column by column, so column-major (3x faster to write); made row-major at the end
        # because training indexes rows.
        out = np.zeros((len(df), len(self.feature_names)), dtype=np.float32, order="F")
        j = 0
        for col in columns:
            if isinstance(col, NumericColumn):
                values = _numbers(df[col.name], col.name, source)
                missing = np.isnan(values)
                scale = col.std if col.std > 0 else 1.0  # a constant column encodes as 0, not NaN
                with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused just below
                    out[:, j] = (np.where(missing, col.median, values) - col.mean) / scale
                if not np.isfinite(out[:, j]).all():
                    raise InputError(
                        f"{source}: column {col.name!r} has values too large for float32 after "
                        "standardizing; rescale it (e.g. to thousands instead of units)."
                    )
                j += 1
                if col.missing_indicator:
                    out[:, j] = missing
                    j += 1
            else:
                codes, values = _text_codes(df[col.name], source=source)
                # category of each distinct value; -1 (unseen, capped away) and a final -1 for missing
                category = np.append(pd.Index(col.categories).get_indexer(values), -1)
                codes = category[codes]
                known = codes >= 0  # missing, unseen and capped-away values stay all zeros
                out[np.flatnonzero(known), j + codes[known]] = 1.0
                j += len(col.categories)
        return np.ascontiguousarray(out)

    def fit_transform(
        self, df: pd.DataFrame, columns: Sequence[str] | None = None, *, source: str = "training table"
    ) -> np.ndarray:
        return self.fit(df, columns, source=source).transform(df, source=source)

    @property
    def input_columns(self) -> list[str]:
        """The table columns the preprocessor reads, in order."""
        return [c.name for c in self._fitted()]

    @property
    def feature_names(self) -> list[str]:
        """One name per output column: ``amount``, ``amount:missing``, ``country=DE``, ..."""
        names: list[str] = []
        for col in self._fitted():
            if isinstance(col, NumericColumn):
                names.append(str(col.name))
                if col.missing_indicator:
                    names.append(f"{col.name}:missing")
            else:
                names.extend(f"{col.name}={value}" for value in col.categories)
        return names

    # ---- saving ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fitted statistics; :meth:`from_dict` restores an identical preprocessor."""
        return {
            "format": _FORMAT,
            "version": 1,
            "max_categories": self.max_categories,
            "columns": [_column_dict(c) for c in self._fitted()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TablePreprocessor:
        if data.get("format") != _FORMAT or data.get("version") != 1:
            raise ValueError(
                f"Expected a {_FORMAT} version 1 dict, but got format={data.get('format')!r} "
                f"version={data.get('version')!r}"
            )
        pre = cls(max_categories=int(data["max_categories"]))
        columns: list[NumericColumn | CategoricalColumn] = []
        for entry in data["columns"]:
            fields = {k: v for k, v in entry.items() if k != "kind"}
            if entry["kind"] == "numeric":
                columns.append(NumericColumn(**fields))
            elif entry["kind"] == "categorical":
                columns.append(CategoricalColumn(**{**fields, "categories": tuple(fields["categories"])}))
            else:
                raise ValueError(f"Expected column kind 'numeric' or 'categorical', but got {entry['kind']!r}")
        pre.columns = columns
        return pre

    def _fitted(self) -> list[NumericColumn | CategoricalColumn]:
        if self.columns is None:
            raise RuntimeError("TablePreprocessor is not fitted: call fit(train_df) first")
        return self.columns

    def __repr__(self) -> str:
        if self.columns is None:
            return "TablePreprocessor(unfitted)"
        return f"TablePreprocessor({len(self.columns)} columns -> {len(self.feature_names)} features)"


def _other_share(ranked: Sequence[tuple[str, Any]], kept: int, rows: int) -> float:
    """Share of ``rows`` whose value is not among the ``kept`` most frequent of ``ranked`` (value, count)."""
    other = sum(int(count) for _, count in ranked[kept:])
    return other / rows if rows else 0.0


def _column_dict(col: NumericColumn | CategoricalColumn) -> dict[str, Any]:
    data = asdict(col)
    if isinstance(col, CategoricalColumn):
        data["categories"] = list(col.categories)
    return data


# ---- labels ---------------------------------------------------------------------------------------
def encode_labels(
    series: pd.Series, *, labels: Sequence[str] | None = None, source: str = "table"
) -> tuple[np.ndarray, list[str]]:
    """Class codes (int64, 0..C-1) and class names for a target column.

    Names are the values as text (``0``/``1``, ``False``/``True``, ``cat``); float labels that are whole
    numbers print as integers, so ``1.0`` and ``1`` are the same class. Without ``labels`` the classes
    are the column's distinct values, sorted numerically for a numeric column and as text otherwise.
    With ``labels`` (the training classes) a value outside them raises :class:`InputError`, as does a
    missing value.
    """
    name = series.name
    missing = series.isna().to_numpy()
    if missing.any():
        raise InputError(
            f"{source}: target column {name!r} is empty in {int(missing.sum())} rows "
            f"({row_list(np.flatnonzero(missing))}); drop those rows or fill them."
        )
    if _is_numeric(series):
        infinite = np.flatnonzero(np.isinf(series.to_numpy(dtype=np.float64, na_value=np.nan)))
        if infinite.size:
            raise InputError(
                f"{source}: target column {name!r} holds inf in {infinite.size} rows ({row_list(infinite)}); "
                "a class label is a finite value: drop those rows or fix them."
            )
    codes, values = _text_codes(series, label_text, source=source)
    if labels is None:
        labels = sorted(values, key=float) if _is_numeric(series) else list(values)
    labels = list(labels)
    position = pd.Index(labels).get_indexer(values)
    unseen = np.flatnonzero(position < 0)
    if unseen.size:
        counts = np.bincount(codes, minlength=len(values))
        found = ", ".join(f"{values[i]!r} ({counts[i]} rows)" for i in unseen[:5])
        raise InputError(
            f"{source}: target column {name!r} holds labels the training table lacks: {found}; "
            f"known labels: {name_list(labels)}. Drop those rows or add examples of them to training."
        )
    return position[codes].astype(np.int64), labels


# ---- column helpers -------------------------------------------------------------------------------
def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _text_codes(
    series: pd.Series, to_text: Callable[[object], str] = str, *, source: str = "table"
) -> tuple[np.ndarray, list[str]]:
    """``(codes, values)``: each row's index into ``values`` (-1 where missing), ``values`` the distinct
    texts, sorted. Only distinct values are turned into text (``pandas.factorize`` first), which keeps a
    million-row column fast; values with the same text (``1`` and ``"1"`` in a mixed column) merge.
    Cells that are lists, dicts or arrays raise :class:`InputError` (see :func:`nested_message`).
    """
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable cells: lists, dicts, arrays (a nested Parquet column)
        raise InputError(nested_message(series, source)) from None
    text = np.array([to_text(v) for v in uniques], dtype=object)
    values, inverse = np.unique(text, return_inverse=True)
    return np.append(inverse, -1)[codes].astype(np.int64), [str(v) for v in values]


def _numbers(series: pd.Series, name: str, source: str) -> np.ndarray:
    """A column as float64 with NaN for missing; refuses text cells and infinities."""
    if not pd.api.types.is_numeric_dtype(series):  # text where training had numbers (bools pass as 0/1)
        coerced = pd.to_numeric(series.astype(object).where(series.notna(), None), errors="coerce")
        bad = (coerced.isna() & series.notna()).to_numpy()
        if bad.any():
            first = series[bad].iloc[0]
            raise InputError(
                f"{source}: column {name!r} should hold numbers but has text in {int(bad.sum())} rows "
                f"(e.g. {str(first)!r} in {row_list(np.flatnonzero(bad)[:1])}); fix or empty those cells."
            )
        series = coerced
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        raise InputError(
            f"{source}: column {name!r} has {int(infinite.sum())} infinite values "
            f"({row_list(np.flatnonzero(infinite))}); replace them with finite numbers or empty cells."
        )
    return values



def _mean_std(observed: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation (``ddof=0``) of finite values, without overflow.

    Squares of values beyond ~1e154 overflow float64, which would make the std infinite and the
    standardized column silently all zeros; such columns are computed on values divided by their
    largest magnitude, then scaled back (every other column takes the plain, bit-identical path).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = float(observed.mean()), float(observed.std())
    if math.isfinite(mean) and math.isfinite(std):
        return mean, std
    peak = float(np.abs(observed).max())
    scaled = observed / peak
    return float(scaled.mean()) * peak, float(scaled.std()) * peak


def nested_message(series: pd.Series, source: str) -> str:
    """The one-line error for a column whose cells are lists, dicts or arrays (not one value per cell)."""
    example = next((v for v in series if not isinstance(v, Hashable)), None)
    shown = " ".join(repr(example).split())
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return (
        f"{source}: column {series.name!r} holds nested values (e.g. {shown}), "
        "not one number or text per cell; flatten it into columns of their own, or drop it."
    )

def _refuse_numbers_with_typos(
    name: str, codes: np.ndarray, values: list[str], counts: np.ndarray, source: str
) -> None:
    """A many-valued text column whose values are nearly all numbers is a numeric column with typos.

    Read as text it would silently become 50 one-hot columns; refuse it and point at the bad cells.
    """
    is_text = np.isnan(pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float))
    text_rows = int(counts[is_text].sum())
    if text_rows == 0 or text_rows > 0.1 * counts.sum():
        return
    bad = np.flatnonzero(np.isin(codes, np.flatnonzero(is_text)))
    raise InputError(
        f"{source}: column {name!r} holds numbers except in {bad.size} rows "
        f"(e.g. {values[codes[bad[0]]]!r} in {row_list(bad[:1])}); "
        "fix or empty those cells so it is read as numbers."
    )

