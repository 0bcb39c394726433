"""``read_log``: find the log in a path, pick its reader, map its columns, build the records."""

from __future__ import annotations

import logging
from pathlib import Path

from trainwise.errors import InputError
from trainwise.logs import hf
from trainwise.logs.columns import STEP_NAMES, TEXT_KEYS, find_column, map_columns, parse
from trainwise.logs.reading import Reading
from trainwise.logs.records import build
from trainwise.logs.table import Raw, Table, from_frame, numbers, shown
from trainwise.logs.tensorboard import is_event_file, read_events
from trainwise.logs.text import read_text

logger = logging.getLogger(__name__)

# Files looked for, in this order, when the path is a folder.
FOLDER_FILES = ("history.jsonl", "history.csv", "metrics.csv")
LOSS_KEYS = ("train_loss", "val_loss")
# Keys that only describe the run: a column of them holding text is ignored with a note, not an error.
AUXILIARY = ("lr", "seconds", "steps", "grad_norm_mean", "grad_norm_max")
SEARCH_DEPTH = 4     # how deep a folder is searched for event files or a metrics.csv


def read_log(path: str | Path) -> Reading:
    """Read any supported log (see docs/findings.md "What diagnose reads") into a :class:`Reading`.

    Raises :class:`~trainwise.errors.InputError` (one line naming the file, and the line and key where a
    cell is wrong) when the path does not exist, holds no log, cannot be parsed, or has no loss.
    """
    raw = _read(Path(path))
    return _assemble(raw)


def _read(path: Path) -> Raw:
    if not path.exists():
        raise InputError(f"{shown(path)}: no such file or folder; check the path")
    if path.is_file():
        return read_events(path, [path]) if is_event_file(path) else read_text(path)
    for name in FOLDER_FILES:
        if (path / name).is_file():
            return read_text(path / name)
    state = hf.state_in_folder(path)
    if state is not None:
        return read_text(state)
    events = _event_folder(path)
    if events is not None:
        folder, files, others = events
        raw = read_events(folder, files)
        if others:
            raw.notes.append(f"read the newest run's events ({shown(folder)}); {others} other event folder(s) "
                             "not read: pass one folder to read another")
        return raw
    metrics = sorted(path.glob("**/metrics.csv"), key=lambda p: p.stat().st_mtime)
    if metrics:
        return read_text(metrics[-1])
    raise InputError(
        f"{shown(path)}: folder holds none of {', '.join(FOLDER_FILES)}, no trainer_state.json and no "
        "TensorBoard event files; pass the log file itself"
    )


def _event_folder(path: Path) -> tuple[Path, list[Path], int] | None:
    """The folder of the newest event file under ``path``, its event files, and how many other folders had some."""
    found: dict[Path, list[Path]] = {}
    for depth in range(SEARCH_DEPTH + 1):
        for file in path.glob("/".join(["*"] * depth + ["*tfevents*"])):
            if file.is_file():
                found.setdefault(file.parent, []).append(file)
    if not found:
        return None
    newest = max(found, key=lambda folder: max(f.stat().st_mtime for f in found[folder]))
    return newest, found[newest], len(found) - 1


def _assemble(raw: Raw) -> Reading:
    source = raw.source
    if raw.frame is not None and not len(raw.frame):
        raise InputError(f"{shown(source)}: no rows; expected one row per epoch (or per step) with a loss column")
    epoch_col = raw.epoch_col or next((c for c in raw.columns if c not in raw.skip
                                       and (parse(c) or ("", 0))[0] == "epoch"), None)
    step_col = find_column([c for c in raw.columns if c != epoch_col], STEP_NAMES)
    used = [c for c in (epoch_col, step_col) if c is not None]
    mapping, ignored, notes = map_columns(raw.columns, bare_metrics=raw.bare_metrics, skip=[*raw.skip, *used])
    if not any(key in LOSS_KEYS for key in mapping.values()):
        names = ", ".join(shown(c) for c in raw.columns) or "(none)"
        raise InputError(f"{shown(source)}: no loss column; its columns are {names}; rename the loss column "
                         "to train_loss, loss, val_loss or valid_loss")
    table = _numbers(raw, mapping, used, ignored, notes)
    built = build(table, mapping, epoch_col=epoch_col, step_col=step_col, first=raw.first)
    if not built.records:
        names = ", ".join(shown(c) for c in mapping)
        raise InputError(f"{shown(source)}: no row holds a value in the mapped columns ({names})")
    if built.averaged:
        notes.append(f"several values per {_unit(built.granularity)} averaged: {', '.join(sorted(built.averaged))}")
    columns = {c: mapping[c] for c in raw.columns if c in mapping}
    reading = Reading(built.records, str(source), raw.format, columns, ignored, built.granularity,
                      built.epoch_note, table.rows, [*raw.notes, *notes])
    logger.debug("read %s as %s: %s", source, raw.format, columns)
    return reading


def _unit(granularity: str) -> str:
    return {"evaluation": "evaluation", "window": "window", "row": "row"}.get(granularity, "epoch")


def _numbers(raw: Raw, mapping: dict[str, str], used: list[str], ignored: list[str], notes: list[str]) -> Table:
    """The table of the used columns, checked. Text in an auxiliary column (a timestamp under ``time``)
    moves that column to ``ignored``; text in a loss or metric column is an InputError."""
    if raw.table is not None:
        return raw.table
    table = from_frame(raw.frame, raw.source, numeric=used, where=raw.where,
                       text=[c for c, k in mapping.items() if k in TEXT_KEYS])
    for col, key in list(mapping.items()):
        if key in TEXT_KEYS:
            continue
        try:
            table.add(col, *numbers(raw.frame[col], col, raw.source, raw.where))
        except InputError as exc:
            if key not in AUXILIARY:
                raise
            del mapping[col]
            ignored.append(col)
            notes.append(f"{col!r} ignored: {str(exc).split(': ', 1)[-1]}")
    return table
