"""`trainwise report RUN_DIR`: rebuild report.html (and the PNG figures) from a run folder's summary.json."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from trainwise.cli.output import emit
from trainwise.errors import InputError
from trainwise.io import first_line, read_json
from trainwise.report import write_report

FIX = "make the run folder writable, or copy it somewhere writable and run `trainwise report` there"
SHAPES = {"verdict": str, "findings": list, "metrics": dict, "history": list}


def checked_summary(summary: object, path: Path) -> dict:
    """A run's summary.json as `report` reads it, or one line saying what in it is wrong."""
    if not isinstance(summary, dict):
        raise InputError(f"{path}: not a run summary (a JSON {type(summary).__name__}, not an object with verdict, "
                         "findings, metrics and history); write it again with `trainwise fit --out`.")
    for key, kind in SHAPES.items():
        if key in summary and summary[key] is not None and not isinstance(summary[key], kind):
            raise InputError(f"{path}: `{key}` is a {type(summary[key]).__name__}, not a {kind.__name__}; "
                             "write it again with `trainwise fit --out`.")
    for key in ("findings", "history"):
        bad = next((i for i, item in enumerate(summary.get(key) or []) if not isinstance(item, dict)), None)
        if bad is not None:
            raise InputError(f"{path}: `{key}` item {bad + 1} is not an object; write it again with `trainwise fit "
                             "--out`.")
    return summary


def run(args: Namespace) -> int:
    folder = Path(args.run_dir)
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise InputError(f"{folder}: no summary.json here; pass a run folder written by `trainwise fit --out`.")
    summary = checked_summary(read_json(summary_path), summary_path)
    comparison_path = folder / "comparison.json"
    comparison = read_json(comparison_path) if comparison_path.is_file() else None
    if comparison is not None and not (isinstance(comparison, dict) and isinstance(comparison.get("runs"), dict)):
        raise InputError(f"{comparison_path}: not a trainwise comparison (a JSON object with `runs`); remove it or "
                         "write it again with `trainwise compare --out`.")
    try:
        path = write_report(folder, summary, comparison=comparison, fix=FIX)
    except InputError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(f"{summary_path}: cannot build a report from it ({type(exc).__name__}: {first_line(exc)}); "
                         "write it again with `trainwise fit --out`.") from None
    if args.json:                              # the run's --json object, and where its report now is
        emit(args, {**summary, "report": str(path)})
    else:
        print(path)
    return 0
