"""`trainwise diagnose PATH`: findings from the curves of any training log (torch-free)."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from trainwise.cli.output import console, emit, exit_code
from trainwise.diagnostics import diagnose_log
from trainwise.errors import InputError
from trainwise.report.diagnosis import diagnosis_summary, diagnosis_text

HTML_STARTS = (b"<!doctype html", b"<html")


def run(args: Namespace) -> int:
    refuse_html(args.path)
    findings, reading = diagnose_log(args.path)
    summary = diagnosis_summary(findings, reading)
    if args.json:
        emit(args, summary)
    else:   # what was read and how (mapping, ignored columns, granularity), best epoch, findings, verdict
        console(args).print(diagnosis_text(reading, findings), markup=False, highlight=False, soft_wrap=True)
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
