"""`trainwise diagnose PATH`: findings from the curves of any training log (torch-free)."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path
from typing import Any

from trainwise.cli.output import console, emit, exit_code, summary_of
from trainwise.diagnostics import diagnose_path
from trainwise.errors import InputError
from trainwise.report.terminal import print_summary

HTML_STARTS = (b"<!doctype html", b"<html")


def run(args: Namespace) -> int:
    refuse_html(args.path)
    findings, mapping, records = diagnose_path(args.path)
    summary = summary_of(findings, mapping=mapping, history=records)
    if args.json:
        emit(args, summary)
    else:
        out = console(args)
        out.print(f"Read {len(records)} epochs from {args.path}")
        if mapping:
            out.print("Columns: " + ", ".join(f"{k} <- {v}" for k, v in _mapping_items(mapping)))
        print_summary(summary, out)
    return exit_code(summary["findings"], args.fail_on)


def refuse_html(path: str) -> None:
    """An HTML page is no log; trainwise's own report.html sits next to the history it was made from."""
    file = Path(path)
    try:
        with file.open("rb") as fh:
            head = fh.read(4096).lstrip().lower()
    except OSError:
        return                                 # not a readable file: diagnose_path says what it is
    if not head.startswith(HTML_STARTS):
        return
    if (file.parent / "history.jsonl").is_file():
        raise InputError(f"{path}: this is trainwise's HTML report; pass the run folder {file.parent} "
                         "(or its history.jsonl).")
    if b"trainwise" in head:
        raise InputError(f"{path}: this is trainwise's HTML report; pass the run folder it was written to "
                         "(or its history.jsonl).")
    raise InputError(f"{path}: this is an HTML page, not a training log; pass a CSV or JSON-lines log, or a "
                     "trainwise run folder.")


def _mapping_items(mapping: Any) -> list[tuple[str, str]]:
    columns = mapping.get("columns", mapping) if isinstance(mapping, dict) else {}
    return [(str(v), str(k)) for k, v in columns.items()] if isinstance(columns, dict) else []   # key <- column
