"""Per-epoch history records: write them, read them back, and import other tools' training logs.

A record is one epoch in the Keras key convention (docs/architecture.md): ``epoch``, ``train_loss``,
``val_loss``, ``val_accuracy``, ``lr``, ``grad_norm_mean``, ... Missing values are ``None``.

``read_history`` reads a trainwise run folder or ``history.jsonl``/``history.csv`` and every other
tool's log that :mod:`trainwise.logs` reads (one reader per format there). It returns the records and
the mapping it used (which column became which key), so that a user can check the reading. Epochs
keep the file's own numbering (Lightning and Keras count from 0, trainwise from 1).

Non-finite numbers survive the round trip: CSV cells hold ``nan``/``inf``/``-inf`` (pandas reads them
as is), JSON lines hold the strings ``"NaN"``/``"Infinity"``/``"-Infinity"`` (strict JSON, which a
browser can parse, unlike a bare ``NaN``). A diverged run must still read as diverged.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from trainwise.io import atomic_write
from trainwise.logs import RECORD_KEYS, canonical_key, read_log

Record = dict[str, Any]
LOSS_KEYS = ("train_loss", "val_loss")

__all__ = ["LOSS_KEYS", "RECORD_KEYS", "Record", "canonical_key", "read_history", "write_history_csv",
           "write_history_jsonl"]


# ---------------------------------------------------------------------------------------------------
# Reading


def read_history(path: str | Path) -> tuple[list[Record], dict[str, Any]]:
    """Read per-epoch records from a run folder or any log :func:`trainwise.logs.read_log` reads;
    return ``(records, mapping_info)``.

    ``mapping_info`` is :meth:`trainwise.logs.Reading.info`: ``path`` (the file read), ``format``,
    ``columns`` (source column -> record key), ``ignored`` (columns not used), ``granularity``,
    ``epoch`` (where epoch numbers came from), ``rows``, ``epochs``, ``validation``, ``best_epoch``,
    ``best_key`` and ``notes``.

    Raises :class:`~trainwise.errors.InputError` (one line naming the file) when the path does not
    exist, the file is empty or unreadable, a cell holds text where a number belongs, or no column holds a loss.
    """
    reading = read_log(path)
    return reading.records, reading.info()


# ---------------------------------------------------------------------------------------------------
# Writing


def write_history_jsonl(records: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write one strict-JSON object per line; non-finite floats as ``"NaN"``/``"Infinity"``/``"-Infinity"``."""
    lines = [json.dumps({k: _json_value(v) for k, v in r.items()}, allow_nan=False) + "\n" for r in records]
    return atomic_write(path, lambda fh: fh.writelines(lines))


def write_history_csv(records: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write a CSV that pandas reads as is: one row per epoch, empty cells for missing values.

    Columns are the known record keys in their usual order, then any other keys in first-seen order.
    Non-finite floats are written ``nan``/``inf``/``-inf``.
    """
    records = list(records)
    seen: dict[str, None] = {}
    for record in records:
        seen.update(dict.fromkeys(record))
    columns = [k for k in RECORD_KEYS if k in seen] + [k for k in seen if k not in RECORD_KEYS]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_csv_value(record.get(k)) for k in columns])
    return atomic_write(path, lambda fh: fh.write(buffer.getvalue()))


def _json_value(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy or torch scalar
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _csv_value(value: Any) -> Any:
    value = _json_value(value)
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if value in ("NaN", "Infinity", "-Infinity"):
        return {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}[value]
    return value
