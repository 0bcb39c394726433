"""What `fit`, `compare`, `lr-find` and `demo` share: reading and splitting the table, the run's settings
from the flags, and the progress display."""

from __future__ import annotations

import sys
from argparse import Namespace
from pathlib import Path
from typing import Any

from rich.console import Console

from trainwise import distributed
from trainwise.callbacks import Callback
from trainwise.config import TrainConfig, resolve_device
from trainwise.data import TabularData, prepare_tabular, read_table
from trainwise.data.stream import StreamData, prepare_stream
from trainwise.defaults import MAX_BATCH, Defaults, choose_defaults
from trainwise.errors import InputError
from trainwise.report import RichProgress, TensorBoardLogger


def prepare_data(args: Namespace) -> TabularData | StreamData:
    """Read the table(s) and split them (preprocessing fitted on training rows only). The flags were
    checked as they were parsed (trainwise.cli.options)."""
    if getattr(args, "stream", False):
        return prepare_stream_data(args)
    table = read_table(args.data)
    val_table = read_table(args.val) if args.val else None
    return prepare_tabular(table, args.target, val_df=val_table, val_fraction=args.val_fraction, seed=args.seed,
                           positive=args.positive, source=args.data, val_source=args.val or "validation table")


def prepare_stream_data(args: Namespace) -> StreamData:
    """``fit --stream``: the training and validation streams of ``args.data`` (and ``args.val``), read a
    row group at a time, on the device the run uses. Without ``--val`` the validation rows are those
    whose seeded row hash falls under ``--val-fraction`` (not stratified)."""
    world = distributed.setup(args.device)
    return prepare_stream(args.data, args.target, val_path=args.val, val_fraction=args.val_fraction, seed=args.seed,
                          batch_size=args.batch_size or MAX_BATCH, positive=args.positive,
                          shuffle_rows=args.shuffle_rows,
                          device=resolve_device(world.device(args.device)), rank=world.rank,
                          world_size=world.size, source=args.data, val_source=args.val)


def optimizer_options(args: Namespace) -> dict[str, Any]:
    """``--momentum``, ``--weight-decay`` and ``--nesterov``, as far as given."""
    options = {"momentum": args.momentum, "weight_decay": args.weight_decay, "nesterov": args.nesterov or None}
    return {k: v for k, v in options.items() if v is not None}


def table_settings(args: Namespace) -> dict[str, Any]:
    """The TrainConfig settings of the flags every training command takes (``options.table``)."""
    return {"seed": args.seed, "device": args.device, "class_weights": args.class_weights}


def shared_settings(args: Namespace, **more: object) -> dict[str, Any]:
    """``table_settings`` and ``more``, checked by TrainConfig before any data is read: `compare` passes
    them to each run, `lr-find` to its sweep."""
    settings = {**table_settings(args), **more}
    TrainConfig(batch_size=args.batch_size, **settings)
    return settings


def fit_config(args: Namespace, defaults: Defaults | None = None) -> TrainConfig:
    """`fit`'s settings: the shared ones, its optimizer and schedule, early stopping, checkpoints, the
    threshold rule, the end-of-fit assessment. Batch size, epochs and early stopping come from
    ``defaults`` (chosen from the data, explicit flags winning); without it, the flags or placeholders,
    so that every other setting is checked before the data is read."""
    chosen = defaults.settings() if defaults is not None else {
        "batch_size": args.batch_size or 1, "epochs": args.epochs or 1, "early_stopping": args.early_stopping or None}
    return TrainConfig(
        optimizer=args.optimizer, lr=args.lr, **chosen, baseline=args.baseline, calibrate=args.calibrate,
        optimizer_options=optimizer_options(args), schedule=args.schedule, warmup_epochs=args.warmup_epochs,
        grad_clip=args.grad_clip, min_delta=args.min_delta,
        monitor=args.monitor, on_nan=args.on_nan, checkpoint_dir=args.out, checkpoint_every=args.checkpoint_every,
        precision=args.precision, compile=args.compile, threshold=args.threshold,
        target_recall=args.target_recall, target_precision=args.target_precision,
        **table_settings(args),
    )


def data_defaults(args: Namespace, data: TabularData | StreamData) -> Defaults:
    """Batch size, epochs and early stopping for this table (trainwise.defaults), explicit flags winning."""
    if isinstance(data, TabularData):
        n_train, has_val, batch_size = data.n_train, data.n_val > 0, args.batch_size
    else:   # a stream batches as it reads: its batch size is fixed before the rows are counted
        n_train, has_val = sum(data.train.class_counts), sum(data.val.class_counts) > 0
        batch_size = args.batch_size or MAX_BATCH
    return choose_defaults(n_train, batch_size=batch_size, epochs=args.epochs,
                           early_stopping=args.early_stopping, has_validation=has_val)


def run_settings(args: Namespace, data: TabularData | StreamData) -> dict[str, Any]:
    """What config.json keeps of the data and the model, beyond the TrainConfig."""
    return {"data": args.data, "val": args.val, "target": args.target, "hidden": list(args.hidden),
            "dropout": args.dropout, "preprocessor": data.preprocessor.to_dict()}


def run_identity(args: Namespace, data: TabularData | StreamData) -> dict[str, Any]:
    """What a checkpoint keeps to refuse resuming another run: the data files' fingerprint (SHA-256 of their
    bytes) and every data and model setting (`--resume` may change only the epochs and checkpointing)."""
    from trainwise.io import file_digest

    files = [args.data] + ([args.val] if args.val else [])
    return {"data": [file_digest(f) for f in files], "target": args.target, "hidden": list(args.hidden),
            "dropout": args.dropout, "val_fraction": None if args.val else args.val_fraction,
            "positive": args.positive, "stream": bool(getattr(args, "stream", False)),
            "shuffle_rows": getattr(args, "shuffle_rows", None) if getattr(args, "stream", False) else None,
            "labels": [str(label) for label in data.labels]}


def progress(args: Namespace, label: str = "") -> list[Callback]:
    """A live bar on a terminal, one line per epoch elsewhere; nothing with --quiet."""
    return [] if args.quiet else [RichProgress(console=Console(file=sys.stderr), label=label)]


def tensorboard(args: Namespace, folder: Path | None) -> TensorBoardLogger | None:
    if not getattr(args, "tensorboard", False):
        return None
    if folder is None:
        raise InputError("--tensorboard needs --out: the event files go to OUT/tensorboard.")
    return TensorBoardLogger(folder / "tensorboard")
