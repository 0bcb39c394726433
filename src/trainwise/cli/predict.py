"""`trainwise predict RUN DATA`: use the model a run trained on new rows.

Writes DATA's rows plus ``prediction`` and ``score`` (binary: the positive class's probability) or
``proba_<label>`` per class, to ``--out`` (``.csv``, ``.csv.gz``, ``.parquet``) or as CSV on stdout.
Where DATA holds the run's target column it also judges the model on those rows: held-out metrics,
findings, a verdict, exit code 1 with ``--fail-on``. The rows are always checked against the training
data (unseen categories, drifted columns). With ``--json`` stdout holds one JSON object; the rows go to
``--out``, and without ``--out`` are not written (the object's ``output`` is null).
"""

from __future__ import annotations

import sys
from argparse import Namespace

from trainwise.cli.output import emit, exit_code
from trainwise.errors import InputError, name_list, shown_name


def run(args: Namespace) -> int:
    from trainwise.serve import load
    from trainwise.serve.output import added_columns, check_out, clashing, output_columns, write_rows
    from trainwise.serve.predictor import label_values

    out = check_out(args.out, args.data)
    model = load(args.run, device=args.device)
    if model.preprocessor is None:
        raise InputError(f"{shown_name(args.run)}: the run saved no preprocessing (it was trained with the Python "
                         "API); predict in Python: trainwise.load(RUN, model=net).predict_proba(X).")
    run = model.start(args.data, threshold=None if args.threshold is None else str(args.threshold))
    labels = model.labels
    clashing(run.source.columns, output_columns(labels, len(labels) == 2), run.name)
    values = label_values(labels)
    frames = (chunk.rows.assign(**added_columns(values[chunk.classes], chunk.proba, labels)) for chunk in run)
    to_stdout = out is None and not args.json
    if out is not None or to_stdout:
        write_rows(out, frames, schema=run.source.arrow_schema)
    else:
        for _ in run:                                          # --json without --out: judged, not written
            pass
    summary = run.summary()
    summary["output"] = str(out) if out is not None else "stdout" if to_stdout else None
    if args.json:
        emit(args, summary)
    elif not args.quiet:
        print_prediction(summary, stderr=to_stdout)
    return exit_code(summary["findings"], args.fail_on)


def print_prediction(summary: dict, *, stderr: bool) -> None:
    """The terminal summary: what was predicted with which threshold, the data check, the held-out verdict."""
    from rich.console import Console
    from rich.text import Text

    from trainwise.report.terminal import confusion_table, findings_text, metrics_table, verdict_text

    console = Console(file=sys.stderr if stderr else sys.stdout, highlight=False)
    threshold = summary["threshold"]
    how = f": threshold {threshold['value']:.4g} ({threshold['source']})" if threshold else ""
    console.print(f"Predicted {summary['rows']:,} rows of {summary['data']} with the run {summary['run']}{how}.")
    check = summary["data_check"] or {}
    ignored = (check.get("columns") or {}).get("ignored")
    if ignored:
        console.print(f"Columns not used by the model (left as they are): {name_list(ignored)}.")
    for note in check.get("notes") or []:
        console.print(f"Note: {note}")
    if summary["held_out"]:
        table = metrics_table(summary["metrics"])
        table.title = "Held-out metrics"
        console.print(table)
        console.print(confusion_table(summary["metrics"]))
    if summary["findings"]:
        console.print(Text("Findings", style="bold underline"))
        console.print(findings_text(summary["findings"]))
    if summary["held_out"]:
        console.print(verdict_text(summary["verdict"], summary["findings"]))
    else:
        console.print(f"No column {summary['target']!r} in the data: predictions only, no held-out verdict.")
    if summary["output"] not in (None, "stdout"):
        console.print(f"Wrote {summary['rows']:,} rows to {summary['output']}.")
