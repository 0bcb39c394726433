"""`trainwise compare` and `trainwise lr-find`: their arguments and what they do.

`cli.py` imports this module and `commands.py` imports `cli.py`, so the CLI helpers are imported inside
the functions here, once both modules are loaded: no import cycle, whichever side imports first.
"""

from __future__ import annotations

import argparse
import sys
from argparse import Namespace

import torch
from rich.console import Console
from rich.table import Table
from rich.text import Text

from trainwise.callbacks import Callback, TrainState
from trainwise.compare import Comparison, compare, display_name, parse_lrs, parse_optimizers, plan_runs
from trainwise.config import TrainConfig, resolve_device
from trainwise.data import TabularData
from trainwise.io import write_json
from trainwise.lrfind import METHODS, LRFindResult, lr_find
from trainwise.models import mlp
from trainwise.report import write_report
from trainwise.runfolder import write_run


# ---------------------------------------------------------------------- compare
def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `trainwise compare DATA --target COL --optimizers ... [--lrs ...]`."""
    from trainwise import cli

    _add_table(parser)
    parser.add_argument("--optimizers", default="sgd,adam",
                        help='optimizers and their settings: "sgd,adam" or "sgd:lr=0.1,momentum=0.9;adam:lr=1e-3" '
                             "(default sgd,adam, each at its own default LR)")
    parser.add_argument("--lrs", help="run every optimizer at each of these LRs, e.g. 0.001,0.01,0.1 "
                                      "(the honest way to compare SGD with Adam)")
    parser.add_argument("--schedule", default="none", help="none, step, cosine, onecycle or plateau")
    parser.add_argument("--warmup-epochs", type=int, default=0, help="linear warmup before cosine")
    parser.add_argument("--grad-clip", type=cli._positive_float, help="clip the global gradient norm to this")
    parser.add_argument("--epochs", type=cli._positive_int, default=20)
    parser.add_argument("--out", help="write comparison.json and one run folder per run here")
    parser.add_argument("--fail-on", choices=["warning", "error"],
                        help="exit 1 when the winner has a finding this severe")
    cli._add_common(parser)


def run_compare(args: Namespace) -> int:
    from trainwise.cli import emit, exit_code, out_dir
    from trainwise.commands import _console, _progress

    optimizers = parse_optimizers(args.optimizers)
    lrs = parse_lrs(args.lrs) if args.lrs else None
    names = list(plan_runs(optimizers, lrs))          # fails here, before any data is read
    settings = _shared_settings(args, schedule=args.schedule, warmup_epochs=args.warmup_epochs,
                                grad_clip=args.grad_clip)
    folder = out_dir(args.out)
    data = _prepare(args)
    if folder is not None:
        settings["checkpoint_dir"] = str(folder)       # compare gives each run its own subfolder
    callbacks = [] if args.quiet else [_RunHeader(names), *_progress(args)]
    result = compare(lambda: mlp(data.X_train.shape[1], len(data.labels), hidden=args.hidden, dropout=args.dropout),
                     (data.X_train, data.y_train), (data.X_val, data.y_val), optimizers=optimizers, lrs=lrs,
                     epochs=args.epochs, batch_size=args.batch_size, callbacks=callbacks,
                     labels=data.labels, positive=data.positive, data_info=data.describe(), progress=False,
                     **settings)
    summary = result.summary()
    if folder is not None:
        for name, run in result.runs.items():
            write_run(folder / name, run, settings={"data": args.data, "val": args.val, "target": args.target,
                                                    "hidden": list(args.hidden), "dropout": args.dropout,
                                                    "preprocessor": data.preprocessor.to_dict()})
        write_json(folder / "comparison.json", summary)
        if summary["winner"]:                          # one report for the whole comparison, led by the winner
            write_report(folder, summary["runs"][summary["winner"]], comparison=summary,
                         title=f"Optimizer comparison: {', '.join(names)}")
    if args.json:
        emit(args, summary)
    else:
        console = _console(args)
        print_comparison(result, console)
        if folder is not None:
            console.print(f"Comparison and run folders: {folder}")
    # --fail-on judges the winner, the run one would go on with; with no winner, every run
    runs = summary["runs"]
    judged = [runs[summary["winner"]]] if summary["winner"] else list(runs.values())
    return exit_code([f for run in judged for f in run["findings"]], args.fail_on)


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
    for name, run in result.runs.items():
        if run.findings:
            codes = ", ".join(f"{f.code} ({f.severity})" for f in run.findings)
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


# ---------------------------------------------------------------------- lr-find
def add_lrfind_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `trainwise lr-find DATA --target COL [...]`."""
    from trainwise import cli

    _add_table(parser)
    parser.add_argument("--optimizer", default="adam", help="sgd, adam, adamw or rmsprop (default adam)")
    parser.add_argument("--momentum", type=float, help="SGD/RMSprop momentum (SGD default 0.9)")
    parser.add_argument("--nesterov", action="store_true", help="SGD with Nesterov momentum")
    parser.add_argument("--weight-decay", type=float, help="weight decay (AdamW default 0.01, others 0)")
    parser.add_argument("--start-lr", type=cli._positive_float, default=1e-7, help="first LR of the sweep (1e-7)")
    parser.add_argument("--end-lr", type=cli._positive_float, default=10.0, help="last LR of the sweep (10)")
    parser.add_argument("--num-steps", type=cli._positive_int, default=100, help="mini-batches in the sweep (100)")
    parser.add_argument("--method", choices=METHODS, default="steepest",
                        help="steepest: fastest fall of the smoothed loss (default); valley: middle of the longest "
                             "fall (safer on noisy curves); minimum/10: a tenth of the LR at the lowest loss")
    cli._add_common(parser)


def run_lr_find(args: Namespace) -> int:
    from trainwise.cli import emit
    from trainwise.commands import _console

    options = {"momentum": args.momentum, "weight_decay": args.weight_decay, "nesterov": args.nesterov or None}
    config = TrainConfig(optimizer=args.optimizer, batch_size=args.batch_size,
                         optimizer_options={k: v for k, v in options.items() if v is not None},
                         **_shared_settings(args))
    data = _prepare(args)
    options = {k: v for k, v in config.resolved_optimizer().items() if k != "lr"}
    torch.manual_seed(config.seed)                    # the MLP's initial weights, as `fit` builds them
    model = mlp(data.X_train.shape[1], len(data.labels), hidden=args.hidden, dropout=args.dropout)
    model.to(resolve_device(config.device))
    result = lr_find(model, (data.X_train, data.y_train), optimizer=config.optimizer, optimizer_options=options,
                     start_lr=args.start_lr, end_lr=args.end_lr, num_steps=args.num_steps,
                     batch_size=config.batch_size, seed=config.seed, class_weights=config.class_weights,
                     method=args.method)
    if args.json:
        emit(args, result.to_dict())
    else:
        print_lr_find(result, _console(args))
    return 0


def print_lr_find(result: LRFindResult, console: Console, *, rows: int = 15) -> None:
    """The curve at about ``rows`` evenly spaced steps (the suggestion's step included), then the suggestion."""
    n = len(result.lrs)
    picks = sorted({round(i * (n - 1) / max(rows - 1, 1)) for i in range(rows)} if n else set())
    suggested = None
    if result.suggestion is not None and n:
        suggested = min(range(n), key=lambda i: abs(result.lrs[i] - result.suggestion))
        picks = sorted(set(picks) | {suggested})
    table = Table(title=f"LR range test ({n} steps)", title_justify="left")
    for header in ("step", "lr", "loss", "smoothed"):
        table.add_column(header, justify="right")
    for i in picks:
        mark = "  <- suggestion" if i == suggested and result.method != "minimum/10" else ""
        table.add_row(str(i + 1), f"{result.lrs[i]:.3g}", f"{result.losses[i]:.4f}",
                      f"{result.smoothed[i]:.4f}{mark}", style="bold" if mark else None)
    console.print(table)
    if result.stop_reason:
        console.print(f"Stopped early: {result.stop_reason}.")
    if result.suggestion is None:
        console.print("No suggestion: the loss never fell. Raise --end-lr or check the data and the model.",
                      style="bold yellow")
        return
    others = ", ".join(f"{name} {lr:.3g}" for name, lr in result.alternatives.items()
                       if name != result.method and lr is not None)
    console.print(f"Suggested learning rate: [bold]{result.suggestion:.3g}[/bold] ({result.method}"
                  + (f"; also {others}" if others else "") + ").")


# ---------------------------------------------------------------------- shared
def _add_table(parser: argparse.ArgumentParser) -> None:
    """The data and model arguments `fit`, `compare` and `lr-find` share."""
    from trainwise import cli

    parser.add_argument("data", help="training table: .csv, .csv.gz or .parquet")
    parser.add_argument("--target", required=True, help="the column holding the class label")
    val = parser.add_mutually_exclusive_group()
    val.add_argument("--val", help="a validation table with the same columns")
    val.add_argument("--val-fraction", type=cli._fraction, default=0.2,
                     help="share of rows held out for validation, stratified (default 0.2)")
    parser.add_argument("--class-weights", choices=["balanced"], help="weight classes inversely to their frequency")
    parser.add_argument("--batch-size", type=cli._positive_int, default=256)
    parser.add_argument("--hidden", type=cli._hidden, default=(64, 32), help="MLP layer sizes (default 64,32)")
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--positive", help="the positive class label in a binary task")


def _shared_settings(args: Namespace, **more: object) -> dict:
    """TrainConfig settings from the arguments `_add_table` defines, validated once by TrainConfig.

    (`commands._config` reads `fit`'s own flags too — early stopping, checkpoints, --on-nan — which
    these commands do not take: every compared run trains all its epochs.)
    """
    settings = {"seed": args.seed, "device": args.device, "class_weights": args.class_weights, **more}
    TrainConfig(batch_size=args.batch_size, **settings)
    return settings


def _prepare(args: Namespace) -> TabularData:
    from trainwise.commands import prepare_data
    return prepare_data(args)

