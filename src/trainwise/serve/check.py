"""New rows checked against what the preprocessor learned from the training rows, a chunk at a time.

:class:`DataCheck` refuses what the model cannot take (a missing column; an empty cell in a numeric
column that had none in training, which the model never learned to read) and measures, in bounded memory:

* per numeric column: how far the mean moved, in training standard deviations, and the share of values
  outside the training range;
* per categorical column: the rows whose value the model never saw (encoded as all zeros), with the most
  frequent such values.

Its :meth:`~DataCheck.result` is the check dict that :mod:`trainwise.diagnostics.drift` judges.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from trainwise.data.preprocess import (
    CategoricalColumn,
    NumericColumn,
    TablePreprocessor,
    _numbers,
    _text_codes,
)
from trainwise.data.tables import row_list
from trainwise.errors import InputError, name_list

EXAMPLES = 5             # unseen values kept as examples per column
TRACKED_VALUES = 1_000   # distinct unseen values counted per column; past that only the total grows


class DataCheck:
    """The columns of new data checked once, then each chunk of rows measured (see the module docstring).

    ``columns``: the table's columns, in order. ``target``: the training target column, neither a feature
    nor ignored. ``source`` names the table in messages.
    """

    def __init__(self, preprocessor: TablePreprocessor, columns: Sequence[object], *, target: str | None = None,
                 source: str = "table") -> None:
        self.preprocessor, self.source = preprocessor, source
        used = preprocessor.input_columns
        absent = [c for c in used if c not in columns]
        if absent:
            raise InputError(f"{source}: missing columns of the training table: {name_list(absent)}; add them "
                             f"(the model reads {name_list(used)}).")
        self.used = list(used)
        self.ignored = [str(c) for c in columns if c not in used and c != target]
        self.rows = 0
        self._numeric = {c.name: _NumericTally() for c in preprocessor.columns if isinstance(c, NumericColumn)}
        self._categorical = {c.name: _CategoryTally() for c in preprocessor.columns
                             if isinstance(c, CategoricalColumn)}

    def add(self, df: pd.DataFrame, features: np.ndarray) -> None:
        """Measure a chunk of rows, given their encoding ``features`` (``transform(df)``); the rows follow
        those added before (for row numbers in messages)."""
        j = 0
        for col in self.preprocessor.columns:
            if isinstance(col, NumericColumn):
                self._add_numeric(col, df[col.name])
                j += 1 + col.missing_indicator
            else:
                self._add_categorical(col, df[col.name], features[:, j:j + len(col.categories)])
                j += len(col.categories)
        self.rows += len(df)

    def _add_numeric(self, col: NumericColumn, series: pd.Series) -> None:
        values = _numbers(series, col.name, self.source)
        missing = np.isnan(values)
        if missing.any() and not col.missing_indicator:
            rows = np.flatnonzero(missing) + self.rows
            raise InputError(f"{self.source}: column {col.name!r} is empty in {row_list(rows)}, but it was never "
                             "empty in training, so the model never learned what an empty value means there; "
                             "fill those cells or drop those rows.")
        tally = self._numeric[col.name]
        observed = values[~missing] if missing.any() else values
        tally.missing += int(missing.sum())
        tally.count += observed.size
        with np.errstate(over="ignore", invalid="ignore"):
            tally.total += float(observed.sum(dtype=np.float64))
        if col.minimum is not None and col.maximum is not None:
            tally.outside += int(np.count_nonzero((observed < col.minimum) | (observed > col.maximum)))

    def _add_categorical(self, col: CategoricalColumn, series: pd.Series, block: np.ndarray) -> None:
        """Rows encoded as all zeros that are not missing hold a value outside the kept categories: only
        those are turned into text (the encoding already matched every other row)."""
        missing = series.isna().to_numpy()
        empty = int(missing.sum())
        tally = self._categorical[col.name]
        tally.missing += empty
        tally.count += len(series) - empty
        # one-hot rows hold one 1.0 each: the block's sum counts the encoded rows (a sum is 2-3x faster
        # than finding the all-zero rows, which only rows with unseen values need)
        count = len(series) - empty - int(block.sum(dtype=np.float64))
        if count == 0:
            return
        tally.unseen += count
        unseen = ~block.any(axis=1) & ~missing
        codes, values = _text_codes(series[unseen], source=self.source)
        for value, n in zip(values, np.bincount(codes, minlength=len(values)).tolist(), strict=True):
            if value in tally.values or len(tally.values) < TRACKED_VALUES:
                tally.values[value] = tally.values.get(value, 0) + n

    def result(self) -> dict[str, Any]:
        """The check dict (layout in :mod:`trainwise.diagnostics.drift`), plus ``columns`` and ``notes``."""
        numeric: dict[str, Any] = {}
        unranged = []
        for col in self.preprocessor.columns:
            if isinstance(col, NumericColumn):
                numeric[col.name] = self._numeric[col.name].result(col)
                if col.minimum is None:
                    unranged.append(col.name)
        categorical = {col.name: self._categorical[col.name].result(col, self.rows)
                       for col in self.preprocessor.columns if isinstance(col, CategoricalColumn)}
        notes = []
        if unranged:
            notes.append(f"the run folder holds no training range for {name_list(unranged)} (saved before "
                         "trainwise recorded it): values outside the training range cannot be measured there; "
                         "retrain to record it.")
        return {"rows": self.rows, "columns": {"used": self.used, "ignored": self.ignored},
                "numeric": numeric, "categorical": categorical, "notes": notes}


class _NumericTally:
    def __init__(self) -> None:
        self.count = self.missing = self.outside = 0
        self.total = 0.0

    def result(self, col: NumericColumn) -> dict[str, Any]:
        mean = self.total / self.count if self.count else None
        shift = None
        if mean is not None and col.std > 0 and math.isfinite(mean):
            shift = (mean - col.mean) / col.std
        ranged = col.minimum is not None and col.maximum is not None
        return {"rows": self.count, "missing": self.missing, "mean": mean, "train_mean": col.mean,
                "train_std": col.std, "shift_std": shift,
                "outside": self.outside if ranged else None,
                "outside_share": (self.outside / self.count if self.count else 0.0) if ranged else None,
                "train_range": [col.minimum, col.maximum] if ranged else None}


class _CategoryTally:
    def __init__(self) -> None:
        self.count = self.missing = self.unseen = 0
        self.values: dict[str, int] = {}

    def result(self, col: CategoricalColumn, rows: int) -> dict[str, Any]:
        examples = dict(sorted(self.values.items(), key=lambda item: (-item[1], item[0]))[:EXAMPLES])
        return {"rows": self.count, "missing": self.missing, "unseen": self.unseen,
                "unseen_share": self.unseen / rows if rows else 0.0, "examples": examples,
                "distinct_unseen": len(self.values), "capped": col.levels_seen > len(col.categories),
                "train_other_share": col.other_share}
