"""The answer of ``trainwise diagnose``: what was read, the best epoch, the findings, the verdict.

Plain text and plain data from a :class:`trainwise.logs.Reading` and its findings; imports no torch, so
diagnosing a CSV stays a fraction of a second. The text fits a screen whatever the log's size: a few
epochs of the table (the first, around the best, the last), every finding, the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from trainwise.diagnostics.findings import Finding, verdict
from trainwise.logs import Reading
from trainwise.report.terminal import VERDICT_WORDS

TABLE_KEYS = ("epoch", "step", "train_loss", "val_loss", "val_accuracy", "val_precision", "val_recall",
              "val_f1", "val_roc_auc", "lr")
MAX_IGNORED_SHOWN = 12
UNITS = {"epoch": "epoch", "evaluation": "evaluation", "row": "row (each row an epoch)", "window": "window of rows"}


def diagnosis_summary(findings: Sequence[Finding], reading: Reading) -> dict[str, Any]:
    """The ``--json`` object: ``verdict``, ``best_epoch`` (and the key it was chosen by), ``findings``,
    ``mapping`` (what was read: columns, ignored columns, granularity...) and ``history`` (one object
    per record: per epoch or per evaluation, never per row of a step log)."""
    return {"verdict": verdict(findings), "best_epoch": reading.best_epoch, "best_key": reading.best_key,
            "findings": [f.to_dict() for f in findings], "mapping": reading.info(), "history": reading.records}


def diagnosis_text(reading: Reading, findings: Sequence[Finding]) -> str:
    """A screenful: what was read and how, the best epoch, a short table, the findings, the verdict."""
    lines = _what_was_read(reading)
    lines += _table(reading)
    if findings:
        lines.append("Findings:")
        for f in findings:
            lines.append(f"  {f.severity.value.upper():<8}{f.code}: {f.message}")
            if f.advice:
                lines.append(f"  {'':8}-> {f.advice}")
    lines.append(_verdict_line(reading, findings))
    return "\n".join(lines)


def _what_was_read(reading: Reading) -> list[str]:
    unit = UNITS.get(reading.granularity, reading.granularity)
    lines = [f"Read {reading.path} as {reading.format}: {reading.rows} rows -> {len(reading.records)} records, "
             f"one per {unit}; numbered by {reading.epoch}."]
    if reading.columns:
        lines.append("Columns: " + ", ".join(f"{key} <- {col}" for col, key in reading.columns.items()))
    if reading.ignored:
        shown = ", ".join(reading.ignored[:MAX_IGNORED_SHOWN])
        more = len(reading.ignored) - MAX_IGNORED_SHOWN
        lines.append("Ignored: " + shown + (f" and {more} more" if more > 0 else ""))
    lines += [f"Note: {note}" for note in reading.notes]
    if reading.best_epoch is None:
        lines.append("Best epoch: none (no validation value to choose it by)")
    else:
        how = "lowest" if reading.best_key == "val_loss" else "highest"
        lines.append(f"Best epoch: {reading.best_epoch} ({how} {reading.best_key}, {_num(reading.best_value)})")
    return lines


def _table(reading: Reading) -> list[str]:
    records = reading.records
    keys = [k for k in TABLE_KEYS if any(r.get(k) is not None for r in records)]
    if not records or len(keys) < 2:
        return []
    best = next((i for i, r in enumerate(records) if r.get("epoch") == reading.best_epoch), None)
    n = len(records)
    keep = {0, 1, n - 3, n - 2, n - 1} | ({best - 1, best, best + 1} if best is not None else set())
    keep = sorted(i for i in keep if 0 <= i < n)
    widths = [max(len(k), 9) for k in keys]
    lines = ["  " + "  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True))]
    previous = -1
    for i in keep:
        if i > previous + 1:
            lines.append(f"  {'...':>{widths[0]}}")
        mark = "  <- best" if i == best else ""
        cells = [_num(records[i].get(k)).rjust(w) for k, w in zip(keys, widths, strict=True)]
        lines.append("  " + "  ".join(cells) + mark)
        previous = i
    return lines


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or (math.isfinite(value) and value == int(value) and abs(value) < 1e6):
        return str(int(value)) if isinstance(value, int) else f"{value:.4g}"
    return f"{value:.4g}"


def _verdict_line(reading: Reading, findings: Sequence[Finding]) -> str:
    word = verdict(findings)
    worst = [f for f in findings if f.severity.value == "error"] or [f for f in findings
                                                                       if f.severity.value == "warning"]
    if worst:
        message = worst[0].message
        first = message.split(". ")[0].split(": ")[0]
        return f"Verdict: {VERDICT_WORDS[word]} -- {worst[0].code}: {first}."
    checked = ", ".join(reading.validation)
    return f"Verdict: {VERDICT_WORDS[word]} -- checked {checked} and the training curve: no warning signs."
