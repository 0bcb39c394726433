"""Row fingerprints: validation rows that duplicate a training row (the ``data_leakage`` finding).

A validation row whose features equal those of some training row is not a test of generalization:
the model may simply remember it. Rows are compared on their raw feature values (before
preprocessing, target excluded), through one 64-bit hash per row
(:func:`pandas.util.hash_pandas_object`) and a hash-table membership test. Two different rows share a
hash with probability about 2**-64 per pair: ignored.

Most rows need no full hash. Twins agree on every column, so they agree on a few "probe" columns
(float first, then integer, then the rest: text is the slowest to hash): both tables are hashed on the
probe columns first, and only the rows whose probe hash occurs in the other table -- the candidates --
are hashed on the other columns too. A probe that keeps more than a quarter of either table's rows
(columns of few distinct values) saves little: then every row is hashed, its probe hash standing for
the probe columns. A table of 6 columns or fewer is hashed whole, without a probe.

Speed on the 2-core development machine, ``python benchmarks/run.py --only leakage`` (1,000,000 rows
split 800,000 / 200,000, 1% of the validation rows duplicated): 0.082 s for 19 float columns and 0.090 s
for 16 float, 2 int and 2 text columns, 2.2-2.4% of one training epoch on those rows (0.19-0.22 s,
5.2-6.0%, with whole-table hashing). Ad hoc timings while writing it (not in ``benchmarks/``): hashing the
4 probe columns is about 0.045 s of that, the membership tests about 0.025 s; a weak probe costs about
1.14 times whole-table hashing. The membership test is ``pd.Series.isin``, a hash table, O(n);
``numpy.isin`` sorts and took 0.61 s for 200,000 hashes in 800,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MAX_EXAMPLES", "duplicate_rows", "row_hashes"]

MAX_EXAMPLES = 5

_PROBE_COLUMNS = 4
_MAX_CANDIDATE_SHARE = 0.25  # of either table's rows; a probe that keeps more falls back to hashing every row
_PROBE_ORDER = {"f": 0, "i": 1, "u": 1}  # dtype kinds, cheap and distinctive first; any other kind ranks 2


def duplicate_rows(train_df: pd.DataFrame, val_df: pd.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """Validation rows whose ``columns`` equal those of a training row.

    Returns ``{"count", "share", "examples"}``: how many validation rows have a twin in training, their
    share of the validation rows (0.0 when there are none), and up to 5 examples
    ``{"val_row": i, "train_row": j}`` with 0-based positions in ``val_df`` and ``train_df`` (``j`` is the
    first matching training row). Missing values match missing values. A column that is numeric in both
    tables is compared as a number (``1 == 1.0``); otherwise, when the two tables' dtypes differ, as text.
    """
    train, val = _aligned(train_df, val_df, list(columns))
    train_rows, val_rows = np.arange(len(train)), np.arange(len(val))
    if train.shape[1] > _PROBE_COLUMNS + 2:  # with fewer columns, the probe would cost more than it saves
        train, val, candidates = _probed(train, val)
        if candidates is not None:
            train_rows, val_rows = candidates
            train, val = _take(train, train_rows), _take(val, val_rows)
    train_h, val_h = _hashes(train), _hashes(val)
    is_dup = pd.Series(val_h).isin(train_h).to_numpy()  # a hash table: O(n), no sort
    dups = np.flatnonzero(is_dup)
    # train_rows is ascending, so the first hit among the candidates is the first matching training row
    examples = [
        {"val_row": int(val_rows[i]), "train_row": int(train_rows[np.flatnonzero(train_h == val_h[i])[0]])}
        for i in dups[:MAX_EXAMPLES]
    ]
    count = int(dups.size)
    return {"count": count, "share": count / len(val_df) if len(val_df) else 0.0, "examples": examples}


def row_hashes(df: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """One uint64 hash per row of ``df[columns]``, independent of the index."""
    return _hashes(df[list(columns)])


def _hashes(data: pd.DataFrame | pd.Series) -> np.ndarray:
    return pd.util.hash_pandas_object(data, index=False).to_numpy()


def _aligned(
    train_df: pd.DataFrame, val_df: pd.DataFrame, columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``train_df[columns]`` and ``val_df[columns]``, each column given the same dtype on both sides.

    A column that is numeric on both sides becomes float64 where the dtypes differ; any other mismatch,
    text. The other columns are not copied. Both frames get a 0-based RangeIndex: labels do not matter.
    """
    train, val = {}, {}
    for c in columns:
        t, v = train_df[c], val_df[c]
        if t.dtype != v.dtype:
            if _is_number(t) and _is_number(v):
                t, v = t.astype(np.float64), v.astype(np.float64)
            else:
                t, v = _text(t), _text(v)
        train[c], val[c] = t.array, v.array
    return _frame(train, len(train_df)), _frame(val, len(val_df))


def _probed(
    train: pd.DataFrame, val: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[np.ndarray, np.ndarray] | None]:
    """Both frames with their probe columns replaced by one column, their row hash (rows are twins when their
    probe hashes and other columns are equal), and the candidates: ascending positions of the training and
    validation rows whose probe hash occurs in the other table -- only they can be twins. The candidates are
    None when they are more than a quarter of either table's rows: then every row is to be compared.
    """
    # sorted() is stable: among columns of one rank, the table's order
    probe = sorted(train.columns, key=lambda c: _PROBE_ORDER.get(train[c].dtype.kind, 2))[:_PROBE_COLUMNS]
    train_p = _hashes(_frame({c: train[c].array for c in probe}, len(train)))
    val_p = _hashes(_frame({c: val[c].array for c in probe}, len(val)))
    rest = [c for c in train.columns if c not in probe]
    train = _frame(dict(enumerate([train_p, *(train[c].array for c in rest)])), len(train))
    val = _frame(dict(enumerate([val_p, *(val[c].array for c in rest)])), len(val))
    # the training rows that meet some validation row's probe hash: the only ones a candidate can match
    # (asked this way round, the hash table is built on the smaller validation side)
    train_rows = np.flatnonzero(pd.Series(train_p).isin(val_p).to_numpy())
    if train_rows.size > _MAX_CANDIDATE_SHARE * len(train):
        return train, val, None
    val_rows = np.flatnonzero(pd.Series(val_p).isin(train_p[train_rows]).to_numpy())
    if val_rows.size > _MAX_CANDIDATE_SHARE * len(val):
        return train, val, None
    return train, val, (train_rows, val_rows)


def _take(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """The rows of ``frame`` at positions ``rows``, to hash: twins among them are twins in the whole frames.

    Pandas hashes an object column through its distinct values, and equal values of different types
    (``1``, ``1.0``, ``True``) are one distinct value that hashes as whichever comes first: hashed alone,
    some rows could get other hashes than in the whole column. So a column whose dtype does not hash value
    by value gives its hashes over the whole column (of each table, as hashing whole tables does), which are
    then hashed as numbers.
    """
    columns = {}
    for c in frame.columns:
        column = frame[c]
        columns[c] = column.array[rows] if _hashes_value_by_value(column.dtype) else _hashes(column)[rows]
    return _frame(columns, len(rows))


def _hashes_value_by_value(dtype: Any) -> bool:
    """Whether pandas hashes each value of a column of ``dtype`` by itself, whatever the other values."""
    return dtype.kind in "biufcmM" or isinstance(dtype, (pd.StringDtype, pd.CategoricalDtype))


def _frame(columns: dict[Any, Any], length: int) -> pd.DataFrame:
    """A frame of these columns (arrays of ``length`` values), without copying them."""
    return pd.DataFrame(columns, index=pd.RangeIndex(length), copy=False)


def _is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _text(series: pd.Series) -> pd.Series:
    return series.astype(str).astype(object).where(series.notna(), None)
