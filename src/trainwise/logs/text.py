"""Readers for text logs: CSV (pandas), JSON lines, and JSON documents.

- CSV: Keras ``CSVLogger``, Lightning ``CSVLogger`` (``metrics.csv``), fastai ``CSVLogger``
  (``epoch,train_loss,valid_loss,<metrics>,time``: its metrics are validation metrics), the pandas CSV of a
  Keras history (``pd.DataFrame(history.history).to_csv``: an unnamed index column that numbers epochs
  from 0), trainwise's ``history.csv``, any CSV with common column names. Read by pandas with the
  pyarrow engine, which keeps an empty cell (missing) apart from a ``nan`` cell (a diverged value).
- JSON lines: one object per line (trainwise's ``history.jsonl``, hand-written loops).
- JSON documents: a Keras history saved with ``json.dump(history.history)`` (a dict of lists, epochs
  from 0), a list of per-epoch objects, the Hugging Face Trainer's ``trainer_state.json``, and
  scikit-learn's ``loss_curve_``/``validation_scores_`` saved as ``{"loss_curve": [...],
  "validation_scores": [...]}`` (the trailing underscore may be kept).
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainwise.errors import InputError
from trainwise.logs import hf
from trainwise.logs.columns import normalize
from trainwise.logs.table import Raw, object_frame, shown

FASTAI_COLUMNS = {"epoch", "train_loss", "valid_loss", "time"}
SKLEARN_KEYS = ("loss_curve", "validation_scores")


def read_text(file: Path) -> Raw:
    """Read a CSV, JSON-lines or JSON log file (``.gz`` too)."""
    try:
        data = gzip.decompress(file.read_bytes()) if file.suffix == ".gz" else file.read_bytes()
        text = data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{shown(file)}: cannot read it as text ({exc}); expected a CSV or JSON-lines log, "
                         "a JSON history, a trainer_state.json or TensorBoard event files") from exc
    head = text.lstrip()[:1]
    if head in ("{", "["):
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            if head == "[":
                raise InputError(f"{shown(file)}: not valid JSON; expected a list of per-epoch objects") from None
            return _jsonl(file, text)
        return _document(file, document, text)
    return _csv(file, data)


# ------------------------------------------------------------------------------------------------ CSV


def _csv(file: Path, data: bytes) -> Raw:
    if not data.strip():
        return Raw(file, "csv", [], frame=pd.DataFrame())
    try:
        frame = pd.read_csv(io.BytesIO(data.removeprefix(b"\xef\xbb\xbf")), engine="pyarrow",
                            dtype_backend="pyarrow", keep_default_na=False, na_values=[""])
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{shown(file)}: cannot read it as CSV ({str(exc).splitlines()[0]}); "
                         "expected one row per epoch or step under one header line") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    names = {normalize(c) for c in frame.columns}
    raw = Raw(file, _csv_format(file, names), list(frame.columns), frame=frame, where=lambda i: f"line {i + 2}")
    if raw.format == "fastai":
        raw.bare_metrics = "val"
        time_col = next(c for c in frame.columns if normalize(c) == "time")
        raw.skip.append(time_col)
        raw.notes.append(f"fastai: metric columns are validation metrics; {time_col!r} (mm:ss) not read")
    index = frame.columns[0] if len(frame.columns) else None
    if index is not None and (index == "" or index.startswith("Unnamed: 0")) and _is_range(frame[index]):
        raw.epoch_col = index
        raw.notes.append("the unnamed first column (a pandas index) numbers the epochs, from 0 as Keras does")
        if "loss" in names:
            raw.format = "keras"
    return raw


def _csv_format(file: Path, names: set[str]) -> str:
    if file.name.startswith("history.") and {"epoch", "train_loss"} <= names:
        return "trainwise"
    if FASTAI_COLUMNS <= names:
        return "fastai"
    if "epoch" in names and "step" in names:
        return "lightning"
    if "epoch" in names and "loss" in names:
        return "keras"
    return "csv"


def _is_range(column: pd.Series) -> bool:
    try:
        values = pd.to_numeric(column, errors="coerce")
    except (TypeError, ValueError):
        return False
    return bool(len(values)) and values.notna().all() and bool((values.to_numpy() == np.arange(len(values))).all())


# ------------------------------------------------------------------------------------------------ JSON lines


def _jsonl(file: Path, text: str) -> Raw:
    fmt = "trainwise" if file.name.startswith("history.") else "jsonl"
    fast = _numeric_jsonl(text)
    if fast is not None:
        return Raw(file, fmt, list(fast.columns), frame=fast, where=_line_of(text))
    columns: dict[str, list[Any]] = {}
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{shown(file)}: line {number} is not valid JSON ({exc.msg}); expected one object per line"
            ) from exc
        if not isinstance(obj, dict):
            raise InputError(f"{shown(file)}: line {number} is not a JSON object; expected one object per epoch")
        _append_row(columns, obj, len(lines))
        lines.append(number)
    return Raw(file, fmt, list(columns), frame=object_frame(columns), where=lambda i: f"line {lines[i]}")


def _numeric_jsonl(text: str) -> pd.DataFrame | None:
    """A JSON-lines log of numbers only, read by pyarrow in one pass (a million-row step log in about a
    second, where Python's line-by-line read takes a minute); None for anything else -- text, nested values,
    NaN literals, a line that is no object -- which the line-by-line reader checks and names."""
    import pyarrow as pa
    import pyarrow.json as pj

    try:
        table = pj.read_json(io.BytesIO(text.encode("utf-8")))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        return None
    numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_null)
    if table.num_columns == 0 or not all(any(test(f.type) for test in numeric) for f in table.schema):
        return None
    return table.to_pandas(types_mapper=pd.ArrowDtype)      # null stays missing, apart from a NaN


def _line_of(text: str) -> Any:
    """Row i's line number, counted only when a message needs it (blank lines are not rows)."""
    def where(i: int) -> str:
        rows = (n for n, line in enumerate(text.splitlines(), start=1) if line.strip())
        return f"line {next(n for k, n in enumerate(rows) if k == i)}"

    return where


def _append_row(columns: dict[str, list[Any]], obj: dict, row: int) -> None:
    for key in obj:
        if key not in columns:
            columns[key] = [None] * row
    for key, cells in columns.items():
        cells.append(obj.get(key))


# ------------------------------------------------------------------------------------------------ JSON documents


def _document(file: Path, document: Any, text: str) -> Raw:
    if isinstance(document, dict) and isinstance(document.get("log_history"), list):
        return hf.from_state(file, document)
    if isinstance(document, dict) and any(k.rstrip("_") in SKLEARN_KEYS for k in document):
        return _sklearn(file, document)
    if isinstance(document, dict) and document and all(isinstance(v, list) for v in document.values()):
        return _dict_of_lists(file, document)
    if isinstance(document, dict):                      # one object: a JSON-lines file of one line
        return _jsonl(file, text)
    if isinstance(document, list) and all(isinstance(row, dict) for row in document):
        columns: dict[str, list[Any]] = {}
        for i, row in enumerate(document):
            _append_row(columns, row, i)
        return Raw(file, "json", list(columns), frame=object_frame(columns), where=lambda i: f"item {i}")
    raise InputError(f"{shown(file)}: a JSON document that is not a training log; expected a dict of lists "
                     "(Keras history.history), a list of per-epoch objects or a trainer_state.json")


def _dict_of_lists(file: Path, document: dict[str, list]) -> Raw:
    """``json.dump(history.history)``: one list per metric, one item per epoch, epochs from 0 (Keras)."""
    length = max(len(v) for v in document.values())
    columns = {k: list(v) + [None] * (length - len(v)) for k, v in document.items()}
    keras = "loss" in {normalize(k) for k in document}
    raw = Raw(file, "keras" if keras else "json", list(columns), frame=object_frame(columns),
              where=lambda i: f"item {i} of the list", first=0 if keras else 1)
    raw.notes.append("a dict of lists: one item per epoch, " + ("numbered from 0 as Keras does" if keras
                                                                 else "numbered from 1"))
    return raw


def _sklearn(file: Path, document: dict[str, Any]) -> Raw:
    """scikit-learn's MLP: ``loss_curve_`` (training loss per iteration) and, with early stopping,
    ``validation_scores_`` (the score on the held-out fraction: accuracy for a classifier)."""
    columns = {k: v for k, v in document.items() if k.rstrip("_") in SKLEARN_KEYS and isinstance(v, list)}
    used = list(columns)
    length = max(len(v) for v in columns.values())
    columns = {k: list(v) + [None] * (length - len(v)) for k, v in columns.items()}
    raw = Raw(file, "sklearn", list(columns), frame=object_frame(columns), where=lambda i: f"item {i} of the list")
    raw.notes.append(f"scikit-learn: {', '.join(used)}; iterations numbered from 1" +
                     ("; the validation score read as validation accuracy (what MLPClassifier.score returns)"
                      if any(k.rstrip("_") == "validation_scores" for k in used) else ""))
    raw.notes += [f"{key!r} not used" for key in document if key not in used]
    return raw
