"""Reading a user's table (CSV, CSV.gz, TSV, Parquet) into a pandas DataFrame.

Every way a file can be unreadable ends in one :class:`~trainwise.errors.InputError` whose one-line
message names the file and says what to do; never a traceback from pandas or pyarrow.

Speed. CSV files are parsed with pandas' pyarrow engine, falling back to pandas' C engine when pyarrow
refuses a file (ragged rows, odd quoting) or keeps non-UTF-8 text as raw bytes; the C engine's error
names the offending line, so a file that neither can read gets the more useful message. Measured on
the 2-core development machine with ``time.perf_counter``, best of 3 to 5 runs, a 1,000,000-row x
20-column table (16 float, 2 int, 2 string columns; 135 MB as CSV, 61 MB gzipped, 40 MB as Parquet):

==============  =====================  =====================  ==============================
file            pyarrow engine (idle)  C engine (idle)        both, machine busy (load 4-8)
==============  =====================  =====================  ==============================
``.csv``        0.59 s                 0.57 s                 pyarrow 1.9-3.2 s, C 1.7-1.8 s
``.csv.gz``     1.09 s                 1.55 s                 pyarrow 4.8-5.2 s, C 3.4-4.2 s
``.parquet``    0.09 s                 n/a                    0.38 s
==============  =====================  =====================  ==============================

pyarrow parses with several threads: on an idle 2-core machine it ties the C engine on plain CSV and
wins on gzip; it loses when other processes hold the cores; with more idle cores it should pull ahead
(not measured here: this machine has two). pyarrow stays first for the common case, a laptop with idle
cores. Parquet is 6x faster than any CSV
path: suggest it for large tables.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from trainwise.errors import InputError, name_list, shown_name

__all__ = ["SUPPORTED_SUFFIXES", "read_table", "name_list", "row_list", "shown_name"]

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet", ".pq")


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``path`` into a DataFrame with a fresh 0-based ``RangeIndex``.

    The format comes from the file name: ``.csv``, ``.csv.gz``, ``.tsv``, ``.tsv.gz``, ``.parquet``,
    ``.pq``. A missing or unreadable file, an unknown suffix, an empty or header-only file, bytes that are
    not a table, a truncated Parquet file and duplicate column names each raise :class:`InputError`.
    """
    path = Path(path)
    name, shown = shown_name(path.name), shown_name(path)  # a line break in a path must not break the line
    suffix = _suffix(path)
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(
            f"{name}: unsupported file type {suffix or '(no extension)'!r}; "
            f"trainwise reads {', '.join(SUPPORTED_SUFFIXES)}."
        )
    if not path.exists():
        raise InputError(f"{shown}: no such file; check the path.")
    if path.is_dir():
        raise InputError(f"{shown}: is a folder, not a file; pass the table's file.")
    if not path.is_file():
        raise InputError(f"{shown}: not a regular file (a pipe, socket or device); save the table to a file and "
                         "pass that.")
    if path.stat().st_size == 0:
        raise InputError(
            f"{name}: the file is empty (0 bytes); export the table again, with a header row and data rows."
        )
    _check_readable(path)

    if suffix in (".parquet", ".pq"):
        df = _read_parquet(path)
    else:
        df = _read_delimited(path, sep="\t" if suffix.startswith(".tsv") else ",")

    if df.shape[1] == 0:
        raise InputError(f"{name}: the table has no columns.")
    # a header like "a;b;y" read as one column; a name that merely holds a ';' ("&amp;") is no sign of it
    for sep, called, fix in ((";", "';'", "save it as comma-separated CSV"),
                             ("\t", "tabs", "name it .tsv, or save it as comma-separated CSV")):
        if df.shape[1] == 1 and suffix not in (".parquet", ".pq") and sum(
            bool(part.strip()) for part in str(df.columns[0]).split(sep)
        ) >= 2:
            raise InputError(
                f"{name}: one column named {str(df.columns[0])[:60]!r}: the file looks separated by {called}; {fix}."
            )
    if suffix not in (".parquet", ".pq"):
        refuse_duplicate_columns(_header(path, "\t" if suffix.startswith(".tsv") else ","), name)  # before pandas' y.1
    refuse_duplicate_columns(df.columns, name)
    if len(df) == 0:
        raise InputError(f"{name}: the table is empty (0 rows); add data rows.")
    return df.reset_index(drop=True)


def _header(path: Path, sep: str) -> list[str]:
    """The header row's names as written (pandas renames a repeated name: ``y``, ``y.1``)."""
    import csv
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            return next(csv.reader(fh, delimiter=sep), [])
    except (OSError, EOFError, csv.Error):
        return []                          # the table itself was read: a header we cannot parse again is no sign


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) >= 2 and suffixes[-1] == ".gz":
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        refuse_duplicate_columns(names, shown_name(path.name))  # pyarrow's own error for them is cryptic
        return pd.read_parquet(path)
    except InputError:
        raise
    except Exception as exc:  # pyarrow raises many types (ArrowInvalid, OSError, ...) for a bad file
        raise InputError(
            f"{shown_name(path.name)}: cannot read as Parquet: {_reason(exc)}; the file is damaged or not Parquet: export it again."
        ) from exc


def _read_delimited(path: Path, *, sep: str) -> pd.DataFrame:
    kind = "CSV" if sep == "," else "TSV"
    empty = f"{shown_name(path.name)}: the file holds no header and no rows; export the table again."
    try:
        df = pd.read_csv(path, sep=sep, engine="pyarrow")
    except pd.errors.EmptyDataError as exc:
        raise InputError(empty) from exc
    except Exception as exc:  # pyarrow is stricter than the C engine: let the C engine try
        log.debug("pyarrow could not parse %s (%s); retrying with the C engine", path, exc)
    else:
        if not _has_bytes(df):
            return df
        # pyarrow keeps text that is not UTF-8 as raw bytes; the C engine refuses it with a clear error.
        log.debug("%s is not UTF-8; retrying with the C engine", path)
    try:
        return pd.read_csv(path, sep=sep, engine="c", low_memory=False)
    except pd.errors.EmptyDataError as exc:     # some pandas versions leave blank lines to the C engine
        raise InputError(empty) from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{shown_name(path.name)}: cannot read as {kind}: the file is not UTF-8 text ({_reason(exc)}); "
            "save it as UTF-8 CSV."
        ) from exc
    except Exception as exc:  # ParserError, EmptyDataError, OSError from a bad gzip stream, ...
        raise InputError(f"{shown_name(path.name)}: cannot read as {kind}: {_reason(exc)}; fix the file or export it again.") from exc


def _check_readable(path: Path) -> None:
    """Refuse a file the user may not read before any parser does (their messages blame the format)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except PermissionError:
        raise InputError(
            f"{shown_name(path)}: permission denied; make the file readable (e.g. chmod u+r) or copy it somewhere readable."
        ) from None
    except OSError as exc:
        raise InputError(f"{shown_name(path)}: cannot open it ({exc.strerror or exc}); check the path and the file.") from None
    os.close(fd)


def _has_bytes(df: pd.DataFrame) -> bool:
    for name in df.columns:
        if df[name].dtype != "object":  # pandas 3 "str" columns hold text, never bytes
            continue
        values = df[name].dropna()
        if len(values) and isinstance(values.iloc[0], bytes):
            return True
    return False


def refuse_duplicate_columns(columns: Iterable[object], source: str) -> None:
    """A table whose header names a column twice (pandas would rename the second ``y`` to ``y.1``)."""
    counts = Counter(str(c) for c in columns)
    duplicated = sorted(name for name, n in counts.items() if n > 1)
    if duplicated:
        raise InputError(f"{source}: duplicate column names {name_list(duplicated)}; rename them so each is unique.")


def _reason(exc: BaseException) -> str:
    """The first line of an exception's message, printable ASCII only, at most 160 characters."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = "".join(ch if " " <= ch <= "~" else "?" for ch in text).rstrip(".")
    return text if len(text) <= 160 else text[:157] + "..."




def row_list(positions: Iterable[int], *, limit: int = 5) -> str:
    """Rows for a message, counted from 1 for the first data row: ``rows 3, 17`` or ``row 3``."""
    rows = [int(p) + 1 for p in positions]
    head = ", ".join(str(r) for r in rows[:limit])
    if len(rows) > limit:
        head += ", ..."
    return f"row {head}" if len(rows) == 1 else f"rows {head}"
