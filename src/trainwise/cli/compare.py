"""`trainwise compare DATA --target COL --optimizers sgd,adam [--lrs ...]`: one run per optimizer from the
same initial weights and the same batches, side by side, and a winner with reasons."""

from __future__ import annotations

import sys
from argparse import Namespace

from rich.console import Console
from rich.table import Table
from rich.text import Text

from trainwise.callbacks import Callback, TrainState
from trainwise.cli.output import console, emit, exit_code, out_dir
from trainwise.cli.training import prepare_data, progress, run_settings, shared_settings
from trainwise.compare import Comparison, compare, display_name, parse_lrs, parse_optimizers, plan_runs
from trainwise.io import write_json
from trainwise.models import mlp
from trainwise.report import write_report
from trainwise.runfolder import write_run


def run(args: Namespace) -> int:
    optimizers = parse_optimizers(args.optimizers)
    lrs = parse_lrs(args.lrs) if args.lrs else None
    names = list(plan_runs(optimizers, lrs))          # fails here, before any data is read
    settings = shared_settings(args, schedule=args.schedule, warmup_epochs=args.warmup_epochs,
                               grad_clip=args.grad_clip)
    folder = out_dir(args.out, overwrite=args.overwrite, inputs=(args.data, args.val))
    data = prepare_data(args)
    if folder is not None:
        settings["checkpoint_dir"] = str(folder)       # compare gives each run its own subfolder
    callbacks = [] if args.quiet else [_RunHeader(names), *progress(args)]
    result = compare(lambda: mlp(data.X_train.shape[1], len(data.labels), hidden=args.hidden, dropout=args.dropout),
                     (data.X_train, data.y_train), (data.X_val, data.y_val), optimizers=optimizers, lrs=lrs,
                     epochs=args.epochs, batch_size=args.batch_size, callbacks=callbacks,
                     labels=data.labels, positive=data.positive, data_info=data.describe(), progress=False,
                     **settings)
    summary = result.summary()
    if folder is not None:
        for name, trained in result.runs.items():
            write_run(folder / name, trained, settings=run_settings(args, data))
        write_json(folder / "comparison.json", summary)
        if summary["winner"]:                          # one report for the whole comparison, led by the winner
            write_report(folder, summary["runs"][summary["winner"]], comparison=summary,
                         title=f"Optimizer comparison: {', '.join(names)}")
    if args.json:
        emit(args, summary)
    else:
        out = console(args)
        print_comparison(result, out)
        if folder is not None:
            out.print(f"Comparison and run folders: {folder}")
    # --fail-on judges the winner, the run one would go on with; with no winner, every run
    runs = summary["runs"]
    judged = [runs[summary["winner"]]] if summary["winner"] else list(runs.values())
    return exit_code([f for judged_run in judged for f in judged_run["findings"]], args.fail_on)


def print_comparison(result: Comparison, console: Console) -> None:
    """The comparison table, each run's findings, then the winner, its rule and the sentence."""
    table = Table(title="Runs side by side: same initial weights, same batches, same epochs", title_justify="left",
                  box=None, pad_edge=False, padding=(0, 1), header_style="bold underline")
    columns = (("run", None), ("best", ".4f"), ("epoch", "d"), ("to 5%", "d"), ("acc", ".3f"), ("prec", ".3f"),
               ("recall", ".3f"), ("F1", ".3f"), ("bounce", ".1%"), ("verdict", None))
    for header, spec in columns:
        table.add_column(header, justify="left" if spec is None else "right", no_wrap=True)
    for row in result.table:
        values = (row["name"], row["best_val_loss"], row["best_epoch"], row["epochs_to_target"], row["accuracy"],
                  row["precision"], row["recall"], row["f1"], row["bounce"], row["verdict"])
        cells = [_cell(value, spec) for value, (_, spec) in zip(values, columns, strict=True)]
        table.add_row(*cells, style="bold" if row["name"] == result.winner else None)
    console.print(table)
    starts = sorted(set(result.initial_val_loss.values()))
    console.print(f"Validation loss before training: {', '.join(f'{v:.4f}' for v in starts)}"
                  + (" in every run." if len(starts) == 1 else " (the runs did not start alike)."))
    if result.target_val_loss is not None:
        console.print(f"to 5%: the first epoch within 5% of the best validation loss of any run "
                      f"(<= {result.target_val_loss:.4f}); bounce: the mean rise of the validation loss from "
                      "one epoch to the next, relative to its level.")
    # every run's finding codes on one line; the winner's findings in full, since it is the one to use
    for name, trained in result.runs.items():
        if trained.findings:
            codes = ", ".join(f"{f.code} ({f.severity})" for f in trained.findings)
            console.print(Text(f"{name}: {codes}"))
    if result.winner is not None:
        console.print(Text.assemble("Winner: ", (result.winner, "bold"), f" ({result.rule})."))
        for finding in result.runs[result.winner].findings:
            console.print(Text(f"  {finding.severity}: {finding.message} {finding.advice}".rstrip()))
    console.print(Text(result.sentence, style="bold"))


def _cell(value: object, spec: str | None) -> str:
    if value is None:
        return "-"
    return str(value) if spec is None else format(value, spec)


class _RunHeader(Callback):
    """One line on stderr as each run starts (compare trains the runs in the order `plan_runs` lists them)."""

    def __init__(self, names: list[str]) -> None:
        self.names = list(names)
        self.index = 0

    def on_fit_start(self, state: TrainState) -> None:
        name = self.names[self.index] if self.index < len(self.names) else "run"
        self.index += 1
        sys.stderr.write(f"-- {display_name(name)} ({self.index} of {len(self.names)})\n")
        sys.stderr.flush()
