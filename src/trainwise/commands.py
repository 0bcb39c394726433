"""What each subcommand does, once its arguments are parsed (see `cli.py` for the parsing)."""

from __future__ import annotations

import sys
from argparse import Namespace
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console

from trainwise import distributed
from trainwise.callbacks import Callback
from trainwise.cli import TrainingFailed, emit, exit_code, out_dir
from trainwise.commands_optim import run_compare as compare  # noqa: F401 - the `compare` subcommand
from trainwise.commands_optim import run_lr_find as lr_find  # noqa: F401 - the `lr-find` subcommand
from trainwise.config import TrainConfig
from trainwise.data import (
    TRANSACTIONS_TARGET,
    TabularData,
    encode_labels,
    load_transactions,
    positive_index,
    prepare_tabular,
    read_table,
)
from trainwise.data.stream import StreamData
from trainwise.diagnostics import diagnose as run_detectors
from trainwise.diagnostics import diagnose_path, verdict
from trainwise.errors import InputError
from trainwise.io import read_json
from trainwise.loop import TrainingDiverged
from trainwise.metrics import MetricAccumulator
from trainwise.report import RichProgress, TensorBoardLogger, print_summary, write_report
from trainwise.runfolder import write_run
from trainwise.tabular import fit_table


def _console(args: Namespace) -> Console:
    """The summary goes to stdout, or to stderr when stdout is reserved for JSON."""
    return Console(file=sys.stderr if args.json else sys.stdout, highlight=False)


def _progress(args: Namespace, label: str = "") -> list[Callback]:
    """A live bar on a terminal, one line per epoch elsewhere; nothing with --quiet."""
    return [] if args.quiet else [RichProgress(console=Console(file=sys.stderr), label=label)]


def _tensorboard(args: Namespace, folder: Any) -> TensorBoardLogger | None:
    if not getattr(args, "tensorboard", False):
        return None
    if folder is None:
        raise InputError("--tensorboard needs --out: the event files go to OUT/tensorboard.")
    return TensorBoardLogger(folder / "tensorboard")


def _config(args: Namespace) -> TrainConfig:
    options = {"momentum": args.momentum, "weight_decay": args.weight_decay}
    if args.nesterov:
        options["nesterov"] = True
    return TrainConfig(
        optimizer=args.optimizer, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
        device=args.device, optimizer_options={k: v for k, v in options.items() if v is not None},
        schedule=args.schedule, warmup_epochs=args.warmup_epochs, grad_clip=args.grad_clip,
        class_weights=args.class_weights, early_stopping=args.early_stopping, min_delta=args.min_delta,
        monitor=args.monitor, on_nan=args.on_nan, checkpoint_dir=args.out, checkpoint_every=args.checkpoint_every,
        precision=args.precision, compile=args.compile, threshold=args.threshold,
        target_recall=args.target_recall, target_precision=args.target_precision,
    )


def fit(args: Namespace) -> int:
    world = distributed.setup(args.device)    # under torchrun: join the group; rank 0 alone prints and writes
    if not world.is_main:
        args.quiet, args.json = True, False
    if args.resume and not args.out:
        raise InputError("--resume needs --out, the run folder to continue.")
    config = _config(args)
    folder = out_dir(args.out) if world.is_main else None
    data = prepare_data(args)
    tensorboard = _tensorboard(args, folder)
    callbacks = _progress(args) + ([tensorboard] if tensorboard is not None else [])
    try:
        run = fit_table(data, config, hidden=args.hidden, dropout=args.dropout, callbacks=callbacks,
                        resume=args.resume)
    except TrainingDiverged as exc:
        raise TrainingFailed(str(exc)) from exc
    summary = run.summary()
    if tensorboard is not None and world.is_main:
        tensorboard.log_summary(summary)
    if not world.is_main:
        return exit_code(summary["findings"], args.fail_on)
    if folder is not None:
        write_run(folder, run, settings={"data": args.data, "val": args.val, "target": args.target,
                                         "hidden": list(args.hidden), "dropout": args.dropout,
                                         "preprocessor": data.preprocessor.to_dict()})
    if args.json:
        emit(args, summary)
    else:
        print_summary(summary, _console(args))
        if folder is not None:
            _console(args).print(f"Run folder: {folder} (open {folder / 'report.html'} in a browser)")
    return exit_code(summary["findings"], args.fail_on)


def report(args: Namespace) -> int:
    """Rebuild report.html (and the PNG figures) from a run folder's summary.json."""
    from pathlib import Path
    folder = Path(args.run_dir)
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise InputError(f"{folder}: no summary.json here; pass a run folder written by `trainwise fit --out`.")
    summary = read_json(summary_path)
    comparison_path = folder / "comparison.json"
    comparison = read_json(comparison_path) if comparison_path.is_file() else None
    path = write_report(folder, summary, comparison=comparison)
    print(path)
    return 0


def prepare_data(args: Namespace) -> TabularData | StreamData:
    """Read the table(s) and split them (preprocessing fitted on training rows only): `fit`, `compare`
    and `lr-find` share this."""
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, but got {args.seed}.")
    if not 0 <= args.dropout < 1:
        raise InputError(f"--dropout must be in [0, 1), but got {args.dropout}.")
    if getattr(args, "stream", False):
        from trainwise.commands_stream import prepare_stream_data
        return prepare_stream_data(args)
    table = read_table(args.data)
    val_table = read_table(args.val) if args.val else None
    return prepare_tabular(table, args.target, val_df=val_table, val_fraction=args.val_fraction, seed=args.seed,
                           positive=args.positive, source=args.data, val_source=args.val or "validation table")


def demo(args: Namespace) -> int:
    """The mission's story on the built-in transactions table (about 2% fraud): SGD and Adam from the same
    start, the curves and findings, why 98% accuracy is not good, and the threshold that catches most frauds."""
    from trainwise.commands_optim import print_comparison
    from trainwise.compare import compare as compare_optimizers
    from trainwise.models import mlp

    data = prepare_tabular(load_transactions(), TRANSACTIONS_TARGET, seed=0, source="transactions (built-in)")
    folder = out_dir(args.out)
    console = _console(args)
    counts = data.class_counts
    console.print(f"Built-in transactions table: {sum(counts)} rows, {counts[data.positive]} frauds "
                  f"({counts[data.positive] / sum(counts):.1%}). Training the same MLP with SGD and with Adam "
                  f"for {args.epochs} epochs, from the same initial weights.")
    result = compare_optimizers(lambda: mlp(data.X_train.shape[1], len(data.labels)),
                                (data.X_train, data.y_train), (data.X_val, data.y_val),
                                optimizers={"sgd": {}, "adam": {}}, epochs=args.epochs, batch_size=256,
                                labels=data.labels, positive=data.positive, data_info=data.describe(),
                                callbacks=_progress(args), progress=False)
    comparison = result.summary()
    winner = result.winner or "adam"
    summary = comparison["runs"][winner]
    if folder is not None:
        for name, run in result.runs.items():
            write_run(folder / name, run, settings={"data": "transactions (built-in)", "target": TRANSACTIONS_TARGET})
        write_report(folder, summary, comparison=comparison, title="trainwise demo: SGD vs Adam on transactions")
    if args.json:
        emit(args, comparison)
        return 0
    print_comparison(result, console)
    print_summary(summary, console, title=f"The {winner} run, judged")
    console.print(threshold_story(summary))
    if folder is not None:
        console.print(f"Report: {folder / 'report.html'} (open it in a browser)")
    return 0


def threshold_story(summary: dict) -> str:
    """What moving the decision threshold buys, in numbers from the validation scores."""
    metrics, thresholds = summary["metrics"], summary.get("thresholds") or {}
    at_recall = next((v for k, v in thresholds.items() if k.startswith("recall@") and v), None)
    best = thresholds.get("best_f1")
    lines = [f"At the default threshold 0.5 the model finds {metrics['recall']:.0%} of class "
             f"{metrics['positive_label']} at {metrics['precision']:.0%} precision."]
    if at_recall:
        lines.append(f"Lowering the threshold to {at_recall['threshold']:.3g} finds {at_recall['recall']:.0%} of them "
                     f"at {at_recall['precision']:.0%} precision ({at_recall['fp']} false alarms).")
    if best:
        lines.append(f"The best F1 ({best['f1']:.2f}) is at threshold {best['threshold']:.3g}. Choose with "
                     "`trainwise fit ... --threshold recall=0.8` (or best_f1), and confirm on held-out data.")
    return " ".join(lines)


def evaluate(args: Namespace) -> int:
    table = read_table(args.file)
    column = args.prediction or args.score
    _require_columns(args.file, table, [args.label, column])
    _require_no_missing(args.file, table, [args.label, column])
    if args.threshold is not None and not args.score:
        raise InputError("--threshold applies to --score; with --prediction the classes are already decided.")
    if args.prediction:
        for name in (args.label, args.prediction):      # each column checked alone, so errors name it
            encode_labels(table[name], source=args.file)
        # then one encoding for both, so a class has the same index in each
        codes, labels = encode_labels(pd.concat([table[args.label], table[args.prediction]], ignore_index=True),
                                      source=args.file)
        target, preds = codes[:len(table)], codes[len(table):]
        scores = None
    else:
        target, labels = encode_labels(table[args.label], source=args.file)
        if len(labels) != 2:
            raise InputError(f"{args.file}: --score needs a binary label, but column {args.label!r} has "
                             f"{len(labels)} classes; use --prediction for multiclass tasks.")
        scores = _scores(args.file, table[args.score])
    if len(labels) < 2:
        raise InputError(f"{args.file}: column {args.label!r} has one class only ({labels[0]!r}); "
                         "metrics need at least two.")
    counts = np.bincount(target, minlength=len(labels))
    if args.positive is not None and len(labels) != 2:
        raise InputError(f"--positive applies to binary tasks, but {args.file} has {len(labels)} classes "
                         f"({', '.join(labels[:5])}); metrics are macro averages. Leave it out.")
    positive = positive_index(labels, counts, args.positive) if len(labels) == 2 else None
    target_t = torch.as_tensor(target)
    if scores is not None:
        threshold = 0.5 if args.threshold is None else args.threshold
        scores_t = torch.tensor(scores, dtype=torch.float64)
        preds_t = torch.where(scores_t >= threshold, positive, 1 - positive)
    else:
        scores_t, preds_t = None, torch.as_tensor(preds)
    acc = MetricAccumulator(len(labels), binary_scores=scores is not None)
    acc.update(preds_t, target_t, scores=scores_t)
    metrics = acc.compute(labels=labels, positive=positive)
    thresholds = acc.thresholds(target_recall=0.8) if scores is not None else None
    if thresholds is not None and args.threshold is not None:
        thresholds["applied"] = {"rule": f"{args.threshold:g}", "threshold": args.threshold}
    findings = run_detectors([], metrics=metrics, data={"class_counts": counts.tolist(), "labels": labels},
                             thresholds=thresholds)
    summary: dict[str, Any] = {"verdict": verdict(findings), "findings": [f.to_dict() for f in findings],
                               "metrics": metrics, "thresholds": thresholds}
    if args.json:
        emit(args, summary)
    else:
        print_summary(summary, _console(args))
    return exit_code(summary["findings"], args.fail_on)


def diagnose(args: Namespace) -> int:
    findings, mapping, records = diagnose_path(args.path)
    summary = {"verdict": verdict(findings), "findings": [f.to_dict() for f in findings], "mapping": mapping,
               "history": records}
    if args.json:
        emit(args, summary)
    else:
        console = _console(args)
        console.print(f"Read {len(records)} epochs from {args.path}")
        if mapping:
            console.print("Columns: " + ", ".join(f"{k} <- {v}" for k, v in _mapping_items(mapping)))
        print_summary(summary, console)
    return exit_code(summary["findings"], args.fail_on)


def _mapping_items(mapping: Any) -> list[tuple[str, str]]:
    columns = mapping.get("columns", mapping) if isinstance(mapping, dict) else {}
    return [(str(v), str(k)) for k, v in columns.items()] if isinstance(columns, dict) else []   # key <- column


def _require_columns(path: str, table: pd.DataFrame, columns: list[str]) -> None:
    for column in columns:
        if column not in table.columns:
            raise InputError(f"{path}: no column {column!r} (columns: {', '.join(map(str, table.columns))}).")


def _require_no_missing(path: str, table: pd.DataFrame, columns: list[str]) -> None:
    for column in columns:
        missing = int(table[column].isna().sum())
        if missing:
            raise InputError(f"{path}: column {column!r} has {missing} empty value(s); fill or drop those rows.")


def _scores(path: str, column: pd.Series) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce")
    bad = column[values.isna()]
    if len(bad):
        raise InputError(f"{path}: column {column.name!r} holds a non-numeric score ({bad.iloc[0]!r}); "
                         "scores must be numbers, e.g. probabilities.")
    values = values.to_numpy(dtype=np.float64)
    outside = values[(values < 0) | (values > 1) | ~np.isfinite(values)]
    if len(outside):
        raise InputError(f"{path}: column {column.name!r} holds the score {float(outside[0])!r}; scores must be "
                         "probabilities of the positive class in [0, 1] (apply a sigmoid to raw logits).")
    return values
