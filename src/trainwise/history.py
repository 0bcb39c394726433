"""Per-epoch history records: write them, read them back, and import other tools' training logs.

A record is one epoch in the Keras key convention (docs/architecture.md): ``epoch``, ``train_loss``,
``val_loss``, ``val_accuracy``, ``lr``, ``grad_norm_mean``, ... Missing values are ``None``.

``read_history`` accepts a trainwise run folder or ``history.jsonl``/``history.csv``, Lightning's
``CSVLogger`` ``metrics.csv``, Keras's ``CSVLogger`` file, and generic per-epoch CSV or JSONL files whose
column names follow common conventions. It returns the records and the mapping it used (which column
became which key), so that a user can check the reading. Epochs keep the file's own numbering
(Lightning and Keras count from 0, trainwise from 1); a file without an epoch column is numbered from 1.

Non-finite numbers survive the round trip: CSV cells hold ``nan``/``inf``/``-inf`` (pandas reads them
as is), JSON lines hold the strings ``"NaN"``/``"Infinity"``/``"-Infinity"`` (strict JSON, which a
browser can parse, unlike a bare ``NaN``). A diverged run must still read as diverged.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from trainwise.errors import InputError
from trainwise.io import atomic_write

logger = logging.getLogger(__name__)

Record = dict[str, Any]

# The keys a trainwise record may hold, in the order they are written.
RECORD_KEYS = (
    "epoch", "train_loss", "train_accuracy", "train_precision", "train_recall", "train_f1",
    "val_loss", "val_accuracy", "val_precision", "val_recall", "val_f1", "val_balanced_accuracy",
    "val_roc_auc", "val_average_precision", "lr", "grad_norm_mean", "grad_norm_max", "grad_top_layer",
    "steps", "seconds",
)
LOSS_KEYS = ("train_loss", "val_loss")

# Files looked for, in this order, when the path is a folder.
FOLDER_FILES = ("history.jsonl", "history.csv", "metrics.csv")

_PHASES = {
    "train": "train", "training": "train", "trn": "train", "tr": "train",
    "val": "val", "valid": "val", "validation": "val", "eval": "val", "dev": "val",
}
_METRICS = {
    "loss": "loss",
    "acc": "accuracy", "accuracy": "accuracy", "categorical_accuracy": "accuracy",
    "sparse_categorical_accuracy": "accuracy", "binary_accuracy": "accuracy",
    "precision": "precision", "prec": "precision",
    "recall": "recall",
    "f1": "f1", "f1_score": "f1", "f1score": "f1", "fscore": "f1",
    "balanced_accuracy": "balanced_accuracy", "bal_acc": "balanced_accuracy",
    "balanced_acc": "balanced_accuracy",
    "auc": "roc_auc", "roc_auc": "roc_auc", "auroc": "roc_auc",
    "average_precision": "average_precision", "ap": "average_precision",
}
_OTHER = {
    "epoch": "epoch", "epochs": "epoch",
    "lr": "lr", "learning_rate": "lr",
    "seconds": "seconds", "epoch_time": "seconds", "time": "seconds", "duration": "seconds",
    "grad_norm_mean": "grad_norm_mean", "grad_norm_max": "grad_norm_max",
    "grad_top_layer": "grad_top_layer", "steps": "steps",
}
_STEP_COLUMNS = ("step", "global_step")
# Column-name levels: a value logged once per epoch beats a plain name, which beats a per-step value.
_LEVEL_EPOCH, _LEVEL_PLAIN, _LEVEL_STEP = 0, 1, 2

_NONFINITE = {"nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf,
              "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf}


# ---------------------------------------------------------------------------------------------------
# Reading


def read_history(path: str | Path) -> tuple[list[Record], dict[str, Any]]:
    """Read per-epoch records from a run folder or a log file; return ``(records, mapping_info)``.

    ``mapping_info`` holds ``path`` (the file read), ``format`` (``trainwise``, ``lightning``,
    ``keras``, ``csv`` or ``jsonl``), ``columns`` (source column -> record key), ``ignored`` (columns
    not used), ``epoch`` (where epoch numbers came from), ``rows`` and ``epochs``, and ``notes``.

    Raises :class:`~trainwise.errors.InputError` (one line naming the file) when the path does not
    exist, the file is empty or unreadable, or no column holds a loss.
    """
    file = _resolve(Path(path))
    columns, rows = _read_table(file)
    if not rows:
        raise InputError(f"{_shown(file)}: no rows; expected one row per epoch (or per step) with a loss column")

    mapping, ignored, notes = _map_columns(columns)
    if not any(key in LOSS_KEYS for key in mapping.values()):
        raise InputError(
            f"{_shown(file)}: no loss column; its columns are {_names(columns) or '(none)'}; "
            "rename the loss column to train_loss, loss, val_loss or valid_loss"
        )
    epoch_col = next((c for c, k in mapping.items() if k == "epoch"), None)
    step_col = next((c for c in columns if _normalize(c) in _STEP_COLUMNS), None)
    records, averaged = _to_records(rows, mapping, epoch_col, step_col)
    if not records:
        raise InputError(f"{_shown(file)}: no row holds a value in the mapped columns ({_names(mapping)})")

    fmt = _detect_format(file, columns, mapping, rows, epoch_col, step_col)
    if epoch_col is None:
        epoch_note = "row number, from 1 (the file has no epoch column)"
    else:
        start = records[0]["epoch"]
        epoch_note = f"column {epoch_col!r}, numbered as in the file (first epoch {start})"
    if averaged:
        cols = sorted(c for c, k in mapping.items() if k in averaged)
        notes.append(f"several values per epoch averaged: {', '.join(cols)}")
    info = {
        "path": str(file),
        "format": fmt,
        "columns": {c: mapping[c] for c in columns if c in mapping and mapping[c] != "epoch"},
        "ignored": ignored,
        "epoch": epoch_note,
        "rows": len(rows),
        "epochs": len(records),
        "notes": notes,
    }
    logger.debug("read %s as %s: %s", file, fmt, info["columns"])
    return records, info


def _names(columns: Iterable[str]) -> str:
    """Column names for a one-line message: a name with a line break or a tab is shown as its repr."""
    return ", ".join(_shown(c) for c in columns)


def _shown(name: object) -> str:
    """A path or a name as a one-line message shows it: as it is, or its repr when it holds unprintables."""
    text = str(name)
    return text if text.isprintable() else repr(text)


def _resolve(path: Path) -> Path:
    if path.is_dir():
        for name in FOLDER_FILES:
            if (path / name).is_file():
                return path / name
        raise InputError(
            f"{_shown(path)}: folder holds none of {', '.join(FOLDER_FILES)}; pass the log file itself"
        )
    if not path.exists():
        raise InputError(f"{_shown(path)}: no such file or folder; check the path")
    return path


def _read_table(file: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns (in file order) and the rows of a CSV or JSON-lines file, cells parsed."""
    try:
        raw = gzip.decompress(file.read_bytes()) if file.suffix == ".gz" else file.read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{_shown(file)}: cannot read it as text ({exc}); expected a CSV or JSON-lines log") from exc
    if text.lstrip().startswith("{"):
        return _read_jsonl(file, text)
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    rows = []
    for raw_row in reader:
        rows.append({c.strip(): _cell(v) for c, v in raw_row.items() if c is not None})
    return columns, rows


def _read_jsonl(file: Path, text: str) -> tuple[list[str], list[dict[str, Any]]]:
    columns: dict[str, None] = {}
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{_shown(file)}: line {n} is not valid JSON ({exc.msg}); expected one object per line"
            ) from exc
        if not isinstance(obj, dict):
            raise InputError(f"{_shown(file)}: line {n} is not a JSON object; expected one object per epoch")
        columns.update(dict.fromkeys(obj))
        rows.append({k: _cell(v) for k, v in obj.items()})
    return list(columns), rows


def _cell(value: Any) -> Any:
    """A number where the cell holds one (``nan``/``inf`` included), ``None`` when empty, else the text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    lowered = text.lower()
    if lowered in _NONFINITE:
        return _NONFINITE[lowered]
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if re.fullmatch(r"[+-]?\d+", text) else number


def _normalize(name: str) -> str:
    return re.sub(r"[\s/\-.]+", "_", name.strip().lower()).strip("_")


def _level(column: str) -> int:
    name = _normalize(column)
    if name.endswith("_epoch"):
        return _LEVEL_EPOCH
    if name.endswith("_step"):
        return _LEVEL_STEP
    return _LEVEL_PLAIN


def canonical_key(column: str) -> str | None:
    """The record key a column name stands for, or ``None``.

    ``train_loss_epoch`` -> ``train_loss``; ``loss`` and ``accuracy`` (Keras) -> ``train_loss`` and
    ``train_accuracy``; ``val_acc``/``valid_accuracy``/``val/acc`` -> ``val_accuracy``;
    ``lr-Adam`` (Lightning's LearningRateMonitor) -> ``lr``. Test-set columns are not mapped.
    """
    name = _normalize(column)
    if name in _OTHER:
        return _OTHER[name]
    if name.startswith("lr_"):
        return "lr"
    for suffix in ("_epoch", "_step"):
        if name.endswith(suffix) and name != suffix.lstrip("_"):
            name = name[: -len(suffix)]
            break
    if name in _OTHER:
        return _OTHER[name] if _OTHER[name] != "epoch" else None
    for token, phase in _PHASES.items():
        for head, tail in ((token + "_", None), (None, "_" + token)):
            if head and name.startswith(head) and name[len(head):] in _METRICS:
                return f"{phase}_{_METRICS[name[len(head):]]}"
            if tail and name.endswith(tail) and name[: -len(tail)] in _METRICS:
                return f"{phase}_{_METRICS[name[: -len(tail)]]}"
    if name in _METRICS:  # Keras: an unprefixed metric is the training one
        return f"train_{_METRICS[name]}"
    return None


def _map_columns(columns: list[str]) -> tuple[dict[str, str], list[str], list[str]]:
    """Pick one source column per record key: per-epoch beats plain beats per-step, then file order."""
    candidates: dict[str, list[str]] = {}
    for col in columns:
        key = canonical_key(col)
        if key is not None:
            candidates.setdefault(key, []).append(col)
    mapping: dict[str, str] = {}
    notes: list[str] = []
    for key, cols in candidates.items():
        chosen = min(cols, key=lambda c: (_level(c), columns.index(c)))
        mapping[chosen] = key
        others = [c for c in cols if c != chosen]
        if others:
            notes.append(f"{key} taken from {chosen!r} rather than {', '.join(map(repr, others))}")
    ignored = [c for c in columns if c not in mapping and _normalize(c) not in _STEP_COLUMNS]
    return mapping, ignored, notes


def _to_records(rows: list[dict[str, Any]], mapping: dict[str, str], epoch_col: str | None,
                step_col: str | None) -> list[Record]:
    """Group rows by epoch (several rows per epoch in Lightning) and average each column per epoch."""
    epochs = _row_epochs(rows, epoch_col, step_col)
    grouped: dict[int, dict[str, list[Any]]] = {}
    for row, epoch in zip(rows, epochs, strict=True):
        if epoch is None:
            continue
        slot = grouped.setdefault(epoch, {})
        for col, key in mapping.items():
            value = row.get(col)
            if key != "epoch" and value is not None:
                slot.setdefault(key, []).append(value)
    keys = [k for k in RECORD_KEYS if k in mapping.values() and k != "epoch"]
    keys += sorted(set(mapping.values()) - set(RECORD_KEYS))
    records = []
    averaged: set[str] = set()
    for epoch in sorted(grouped):
        values = grouped[epoch]
        if not values:
            continue
        record: Record = {"epoch": epoch}
        for key in keys:
            record[key] = _combine(values.get(key, []))
        averaged.update(k for k, v in values.items() if len(v) > 1)
        records.append(record)
    return records, averaged


def _row_epochs(rows: list[dict[str, Any]], epoch_col: str | None, step_col: str | None) -> list[int | None]:
    """The epoch of each row. Without an epoch column each row is an epoch, numbered from 1.

    A row with an empty epoch but a step (Lightning's LearningRateMonitor writes those) goes to the
    first epoch whose last step is at or after its step.
    """
    if epoch_col is None:
        return list(range(1, len(rows) + 1))
    epochs: list[int | None] = [_as_int(r.get(epoch_col)) for r in rows]
    if step_col is None or all(e is not None for e in epochs):
        return epochs
    last_step: dict[int, float] = {}
    for row, epoch in zip(rows, epochs, strict=True):
        step = row.get(step_col)
        if epoch is not None and isinstance(step, (int, float)):
            last_step[epoch] = max(last_step.get(epoch, -math.inf), step)
    ordered = sorted(last_step.items())
    for i, (row, epoch) in enumerate(zip(rows, epochs, strict=True)):
        step = row.get(step_col)
        if epoch is None and isinstance(step, (int, float)):
            epochs[i] = next((e for e, s in ordered if s >= step), None)
    return epochs


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value)


def _combine(values: list[Any]) -> Any:
    """One value per epoch: the value itself, the mean of several numbers (NaN stays NaN), or the last text."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) != len(values):
        return values[-1]
    return math.fsum(numbers) / len(numbers) if all(map(math.isfinite, numbers)) else _nonfinite(numbers)


def _nonfinite(numbers: list[float]) -> float:
    return math.nan if any(math.isnan(v) for v in numbers) else next(v for v in numbers if math.isinf(v))


def _detect_format(file: Path, columns: list[str], mapping: dict[str, str], rows: list[dict[str, Any]],
                   epoch_col: str | None, step_col: str | None) -> str:
    names = {_normalize(c) for c in columns}
    if file.name.startswith("history.") and {"epoch", "train_loss"} <= names:
        return "trainwise"
    if epoch_col and step_col:
        seen = [r.get(epoch_col) for r in rows if r.get(epoch_col) is not None]
        if len(seen) > len(set(seen)) or any(_level(c) != _LEVEL_PLAIN for c in mapping):
            return "lightning"
    if epoch_col and "loss" in names and not step_col and not _is_jsonl(file):
        return "keras"
    return "jsonl" if _is_jsonl(file) else "csv"


def _is_jsonl(file: Path) -> bool:
    return file.suffix in (".jsonl", ".ndjson", ".json") or file.name.endswith((".jsonl.gz", ".json.gz"))


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
