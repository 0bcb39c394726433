"""The Hugging Face Trainer's ``trainer_state.json`` and its output folder.

``log_history`` holds one entry per ``log()`` call: training entries (``loss``, ``grad_norm``,
``learning_rate``, a fractional ``epoch``, ``step``) every ``logging_steps``, evaluation entries
(``eval_loss``, ``eval_<metric>``) at each evaluation, and one summary entry at the end
(``train_runtime``, ``train_loss`` averaged over the whole run), which is not a point of any curve and is
left out. The records are per evaluation (records.py): each evaluation with the training loss of the
steps since the previous one, labelled with the Trainer's own epoch (``2`` at the end of epoch 2, ``2.4``
for an evaluation inside epoch 3).

An output folder holds ``trainer_state.json`` (after ``trainer.save_state()``) or, per checkpoint,
``checkpoint-<step>/trainer_state.json``: the one of the latest step is read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from trainwise.logs.table import Raw, object_frame

SUMMARY_KEYS = ("train_runtime", "total_flos")


def from_state(file: Path, state: dict[str, Any]) -> Raw:
    entries = [e for e in state["log_history"] if isinstance(e, dict)]
    summary = [e for e in entries if any(k in e for k in SUMMARY_KEYS)]
    rows = [e for e in entries if not any(k in e for k in SUMMARY_KEYS)]
    columns: dict[str, list[Any]] = {}
    for i, row in enumerate(rows):
        for key in row:
            columns.setdefault(key, [None] * i)
        for key, cells in columns.items():
            cells.append(row.get(key))
    index = [entries.index(row) for row in rows] if len(rows) < 10_000 else list(range(len(rows)))
    raw = Raw(file, "huggingface", list(columns), frame=object_frame(columns),
              where=lambda i: f"log_history[{index[i]}]")
    for entry in summary:
        keys = ", ".join(sorted(entry))
        raw.notes.append(f"the run's summary entry ({keys}) is not a point of the curves and was left out")
    return raw


def state_in_folder(folder: Path) -> Path | None:
    """``trainer_state.json`` of a Trainer output folder: its own, else the latest checkpoint's."""
    if (folder / "trainer_state.json").is_file():
        return folder / "trainer_state.json"
    checkpoints = []
    for path in folder.glob("checkpoint-*/trainer_state.json"):
        match = re.fullmatch(r"checkpoint-(\d+)", path.parent.name)
        if match:
            checkpoints.append((int(match.group(1)), path))
    return max(checkpoints)[1] if checkpoints else None
