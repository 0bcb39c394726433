"""Rows to predict, a chunk at a time and in their order: a DataFrame, a table file, or an array.

Parquet files are read a record batch at a time (``pyarrow``'s ``iter_batches``, as ``fit --stream``
reads them), so a file larger than memory is predicted in bounded memory; CSV and CSV.gz files are read
whole by :func:`trainwise.data.read_table` (the fastest parser, and its one-line errors), then cut.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainwise.data.stream import PARQUET_SUFFIXES, _open, _table_columns
from trainwise.data.tables import read_table
from trainwise.errors import InputError, name_list, shown_name
from trainwise.io import first_line

CHUNK_ROWS = 262_144     # rows encoded and predicted together, at most ...
CHUNK_BYTES = 32 << 20   # ... and no more than this much encoded float32 input per chunk
# Fewer, larger chunks cost less: encoding 1M rows of the transactions table took 0.98 s of CPU in chunks
# of 16,384 rows, 0.53 s in chunks of 65,536, 0.37 s in chunks of 262,144 and 0.29 s at once (2-core dev
# machine, best of 3; cProfile puts most of the difference in laying out each chunk's matrix).


def chunk_rows(width: int) -> int:
    """Rows per chunk for an encoded width of ``width`` features: ``CHUNK_ROWS``, fewer for wide tables."""
    return max(1, min(CHUNK_ROWS, CHUNK_BYTES // (4 * max(width, 1))))


@dataclass
class Source:
    """Where the rows come from: ``name`` for messages, ``columns`` in order, ``rows`` when known up front."""

    name: str
    columns: list[str]
    rows: int | None
    _frame: pd.DataFrame | None = None
    _parquet: Any = None
    chunk_rows: int = CHUNK_ROWS

    def chunks(self) -> Iterator[pd.DataFrame]:
        """The rows in order, ``chunk_rows`` at a time (a file's record batches for Parquet)."""
        if self._frame is not None:
            for start in range(0, len(self._frame), self.chunk_rows):
                yield self._frame.iloc[start:start + self.chunk_rows]
            return
        batches = self._parquet.iter_batches(batch_size=self.chunk_rows, columns=self.columns)
        while True:
            try:
                batch = next(batches, None)
            except Exception as exc:  # pyarrow raises many types for a damaged row group
                raise InputError(f"{self.name}: cannot read as Parquet: {first_line(exc)}; the file is damaged: "
                                 "export it again.") from None
            if batch is None:
                return
            yield batch.to_pandas()

    def arrow_schema(self) -> Any:
        """The rows' Arrow schema, so every chunk written to Parquet gets the same column types."""
        import pyarrow as pa

        if self._frame is not None:
            return pa.Schema.from_pandas(self._frame, preserve_index=False)
        schema = self._parquet.schema_arrow
        return pa.schema([schema.field(name) for name in self.columns])


def open_source(data: Any, *, columns: Sequence[str] | None = None, chunk_rows: int | None = None) -> Source:
    """A :class:`Source` for a DataFrame, a path (``.csv``, ``.csv.gz``, ``.parquet``, ...), or a 2-D array of
    raw feature values in the order of ``columns`` (the training table's feature columns); ``chunk_rows``
    rows at a time (default ``CHUNK_ROWS``)."""
    chunk_rows = chunk_rows or CHUNK_ROWS
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.name.lower().endswith(PARQUET_SUFFIXES):
            return _parquet_source(path, chunk_rows)
        return _frame_source(read_table(path), shown_name(path), chunk_rows)
    if isinstance(data, pd.DataFrame):
        return _frame_source(data, "DataFrame", chunk_rows)
    if columns is None:
        raise TypeError(f"Expected a DataFrame or a path to a table, but got {type(data).__name__}")
    values = np.asarray(data.detach().cpu() if hasattr(data, "detach") else data)
    if values.ndim != 2 or values.shape[1] != len(columns):
        shape = "x".join(str(d) for d in values.shape)
        raise InputError(f"X has shape {shape}; pass one row per sample and the {len(columns)} raw feature columns "
                         f"in training order ({name_list(columns)}), or a DataFrame with those columns.")
    frame = pd.DataFrame(values, columns=list(columns))
    if values.dtype == object:        # mixed rows: each column gets the type of its values
        frame = frame.infer_objects()
    return _frame_source(frame, "X", chunk_rows)


def _frame_source(frame: pd.DataFrame, name: str, chunk_rows: int) -> Source:
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise InputError(f"{name}: duplicate column names {name_list(duplicated)}; rename them so each is unique.")
    if len(frame) == 0:
        raise InputError(f"{name}: the table is empty (0 rows); nothing to predict.")
    return Source(name=name, columns=list(frame.columns), rows=len(frame), _frame=frame, chunk_rows=chunk_rows)


def _parquet_source(path: Path, chunk_rows: int) -> Source:
    name = shown_name(path)
    file = _open(path, name)
    if file.metadata.num_rows == 0:
        raise InputError(f"{name}: the table is empty (0 rows); nothing to predict.")
    return Source(name=name, columns=_table_columns(file), rows=file.metadata.num_rows, _parquet=file,
                  chunk_rows=chunk_rows)
