"""A log's rows as numbers, checked: what every reader hands to the record builder.

Each used column becomes ``values`` (float64; NaN where the cell is empty *or* NaN) and ``present``
(the cell holds something), so that an empty cell (Lightning writes many) is never mistaken for a
NaN loss (a diverged run). A cell that holds text where a number belongs is an
:class:`~trainwise.errors.InputError` naming the line and the key; a number written as a string
(``"0.5"``, ``"NaN"``, ``"Infinity"``, as strict-JSON writers do) is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trainwise.errors import InputError


@dataclass
class Table:
    """Columns of a log, by source name: numbers with a mask of filled cells, or text."""

    rows: int
    values: dict[str, np.ndarray] = field(default_factory=dict)
    present: dict[str, np.ndarray] = field(default_factory=dict)
    text: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, name: str, values: np.ndarray, present: np.ndarray) -> None:
        self.values[name] = values
        self.present[name] = present


def shown(name: object) -> str:
    """A path or a name as a one-line message shows it: as it is, or its repr when it holds unprintables."""
    text = str(name)
    return text if text.isprintable() else repr(text)


def from_frame(frame: pd.DataFrame, source: object, *, numeric: Iterable[str], text: Iterable[str] = (),
               where: Callable[[int], str]) -> Table:
    """Convert the ``numeric`` columns of ``frame`` to checked numbers, keep the ``text`` ones as they are.

    ``where(i)`` names row ``i`` for a message (``line 7``). Raises InputError on a cell that is not a number.
    """
    table = Table(rows=len(frame))
    for name in numeric:
        table.add(name, *numbers(frame[name], name, source, where))
    for name in text:
        column = frame[name].to_numpy(dtype=object)
        table.text[name] = [None if _missing(v) else v for v in column]
    return table


def numbers(series: pd.Series, name: str, source: object,
            where: Callable[[int], str]) -> tuple[np.ndarray, np.ndarray]:
    """``(values, present)`` of one column; garbage raises InputError naming the row and the column."""
    dtype = series.dtype
    if isinstance(dtype, pd.ArrowDtype) and pd.api.types.is_numeric_dtype(dtype) \
            and not pd.api.types.is_bool_dtype(dtype):
        present = ~series.isna().to_numpy(dtype=bool)        # Arrow: null only; a NaN cell is present
        return series.to_numpy(dtype="float64", na_value=np.nan), present
    cells = series.to_numpy(dtype=object)
    values = np.full(len(cells), np.nan)
    present = np.zeros(len(cells), dtype=bool)
    for i, cell in enumerate(cells):
        if _missing(cell):
            continue
        number = _number(cell)
        if number is None:
            raise InputError(
                f"{shown(source)}: {where(i)}, key {shown(name)!r}: {_short(cell)} is not a number; this "
                "column must hold numbers (nan and inf are fine) or nothing")
        values[i] = number
        present[i] = True
    return values, present


def _missing(cell: Any) -> bool:
    if cell is None or cell is pd.NA:
        return True
    return isinstance(cell, str) and not cell.strip()


def _number(cell: Any) -> float | None:
    """A float for a number or a numeric string (``"0.5"``, ``"NaN"``, ``"Infinity"``), else ``None``."""
    if isinstance(cell, (bool, np.bool_)):
        return None
    if isinstance(cell, (int, float, np.integer, np.floating)):
        return float(cell)
    if isinstance(cell, str):
        try:
            return float(cell.strip())
        except ValueError:
            return None
    return None


def _short(cell: Any) -> str:
    text = repr(cell)
    return text if len(text) <= 40 else text[:37] + "..."


def object_frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """A frame of Python objects, ``None`` where a row has no value: no dtype guessing, no NaN for empty."""
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})


def _row(i: int) -> str:
    return f"row {i + 1}"


@dataclass
class Raw:
    """What a reader found, before mapping: the columns in file order and either a frame of cells
    (to be checked) or a table of numbers (already numbers, as in TensorBoard)."""

    source: Any                                  # the file (or folder) read
    format: str
    columns: list[str]
    frame: pd.DataFrame | None = None
    table: Table | None = None
    where: Callable[[int], str] = _row           # names row i for a message
    first: int = 1                               # number of the first row when there is no epoch column
    bare_metrics: str = "train"                  # phase of unprefixed metric names (fastai: "val")
    epoch_col: str | None = None                 # None: found by name
    skip: list[str] = field(default_factory=list)     # columns the reader has dealt with
    notes: list[str] = field(default_factory=list)
