"""Predicted rows out: the input rows plus ``prediction`` and ``score`` (binary) or ``proba_<label>``.

The format follows the file name (``.csv``, ``.csv.gz``, ``.parquet``/``.pq``); without a file, CSV on
stdout. Rows are written a chunk at a time, in the order they came, through
:func:`trainwise.io.atomic_write`: the file appears complete or not at all, so a failure half way
(a bad value in the last row group) leaves nothing behind. Output for stdout is gathered in a temporary
file first, for the same reason.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from trainwise.errors import InputError, name_list, shown_name
from trainwise.io import atomic_write

OUT_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


def output_columns(labels: Sequence[str], binary: bool) -> list[str]:
    return ["prediction", "score"] if binary else ["prediction", *(f"proba_{label}" for label in labels)]


def added_columns(predicted: np.ndarray, proba: np.ndarray, labels: Sequence[str]) -> dict[str, np.ndarray]:
    """The columns appended to a chunk: the predicted label, then P(positive) or one probability per class."""
    if proba.ndim == 1:
        return {"prediction": predicted, "score": proba}
    return {"prediction": predicted, **{f"proba_{label}": proba[:, i] for i, label in enumerate(labels)}}


def check_out(path: str | None, data: str | None = None) -> Path | None:
    """Refuse, before any work, an output file trainwise cannot write or should not: an unknown suffix, a
    missing or unwritable folder, a folder, or the input file itself."""
    if path is None:
        return None
    if not path.strip():
        raise InputError("--out is empty; pass the file for the predictions, e.g. --out preds.csv.")
    out = Path(path)
    shown = shown_name(out)
    if not out.name.lower().endswith(OUT_SUFFIXES):
        raise InputError(f"{shown}: unsupported output type; --out writes {', '.join(OUT_SUFFIXES)}.")
    if out.is_dir():
        raise InputError(f"{shown}: is a folder; pass a file name, e.g. {shown}/preds.csv.")
    folder = out.parent
    if not folder.is_dir():
        raise InputError(f"{shown}: no folder {shown_name(folder)}; create it first.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{shown}: cannot write in {shown_name(folder)} (permission denied); choose another --out.")
    if data is not None and out.exists() and Path(data).exists() and out.resolve() == Path(data).resolve():
        raise InputError(f"{shown}: is the input file; write the predictions to another file.")
    return out


def write_rows(path: Path | None, chunks: Iterable[pd.DataFrame], *, schema: Callable[[], Any]) -> int:
    """Write ``chunks`` (input rows with the added columns) to ``path``, or as CSV to stdout; the rows
    written. ``schema`` gives the input rows' Arrow schema (called for Parquet only)."""
    written = 0

    def count(stream: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
        nonlocal written
        for chunk in stream:
            written += len(chunk)
            yield chunk

    if path is None:
        with tempfile.TemporaryFile() as tmp:        # nothing reaches stdout unless every row could be made
            _write_csv(tmp, count(chunks), compress=False)
            tmp.seek(0)
            sys.stdout.flush()
            binary = getattr(sys.stdout, "buffer", None)         # None when stdout was replaced by a text stream
            if binary is not None:
                shutil.copyfileobj(tmp, binary)
                binary.flush()
            else:
                text = io.TextIOWrapper(tmp, encoding="utf-8", newline="")
                shutil.copyfileobj(text, sys.stdout)
                text.detach()                                    # tmp is closed by its own `with`
        return written
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        atomic_write(path, lambda fh: _write_parquet(fh, count(chunks), schema), binary=True, kind="predictions file")
    else:
        atomic_write(path, lambda fh: _write_csv(fh, count(chunks), compress=name.endswith(".gz")), binary=True,
                     kind="predictions file")
    return written


def _write_csv(fh: IO[bytes], chunks: Iterable[pd.DataFrame], *, compress: bool) -> None:
    raw: IO[bytes] = gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) if compress else fh
    text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    for i, chunk in enumerate(chunks):
        chunk.to_csv(text, header=i == 0, index=False)
    text.flush()
    text.detach()
    if compress:
        raw.close()                                   # the gzip trailer; fh stays open for atomic_write


def _write_parquet(fh: IO[bytes], chunks: Iterable[pd.DataFrame], schema: Callable[[], Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    base = None
    try:
        for chunk in chunks:
            if writer is None:
                base = schema()
                added = [c for c in chunk.columns if c not in base.names]
                extra = pa.Table.from_pandas(chunk[added], preserve_index=False).schema
                full = pa.schema([*base, *extra])
                writer = pq.ParquetWriter(fh, full)
            table = pa.Table.from_pandas(chunk, schema=full, preserve_index=False)
            writer.write_table(table)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"cannot write the rows as Parquet ({' '.join(str(exc).split())[:160]}); write CSV "
                         "(--out preds.csv) instead.") from None
    finally:
        if writer is not None:
            writer.close()


def clashing(columns: Iterable[object], added: Sequence[str], source: str) -> None:
    """Refuse input columns named like the columns predictions add."""
    taken = [c for c in added if c in set(map(str, columns))]
    if taken:
        raise InputError(f"{source}: already has columns {name_list(taken)}, which the predictions add; rename or "
                         "drop them.")
