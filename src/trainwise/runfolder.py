"""The run folder: `history.jsonl`, `history.csv`, `summary.json`, `config.json`, `report.html` and its
figures as PNG (the loop itself writes the checkpoints and `model.safetensors` / `best.safetensors`).

Every file is written atomically (temp file, fsync, rename), so a folder never holds half a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainwise.history import write_history_csv, write_history_jsonl
from trainwise.io import write_json
from trainwise.report import write_report
from trainwise.run import Run


def write_run(folder: Path, run: Run, *, settings: dict[str, Any] | None = None, report: bool = True,
              title: str | None = None) -> Path:
    """Write what a person (or `trainwise diagnose`/`report`) needs to read the run again."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = run.summary()
    write_history_jsonl(run.history, folder / "history.jsonl")
    write_history_csv(run.history, folder / "history.csv")
    write_json(folder / "config.json", {**run.config, **(settings or {})})
    write_json(folder / "summary.json", summary)
    if report:
        write_report(folder, summary, title=title)
    return folder
