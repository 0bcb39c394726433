"""`trainwise report RUN_DIR`: rebuild report.html (and the PNG figures) from a run folder's summary.json."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from trainwise.cli.output import emit
from trainwise.errors import InputError
from trainwise.io import read_json
from trainwise.report import write_report


def run(args: Namespace) -> int:
    folder = Path(args.run_dir)
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise InputError(f"{folder}: no summary.json here; pass a run folder written by `trainwise fit --out`.")
    summary = read_json(summary_path)
    comparison_path = folder / "comparison.json"
    comparison = read_json(comparison_path) if comparison_path.is_file() else None
    path = write_report(folder, summary, comparison=comparison)
    if args.json:                              # the run's --json object, and where its report now is
        emit(args, {**summary, "report": str(path)})
    else:
        print(path)
    return 0
