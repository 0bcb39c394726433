"""`trainwise fit DATA.parquet --stream`: train on a Parquet file larger than memory.

The file is read row group by row group (see :mod:`trainwise.data.stream`): one pass computes the
preprocessing statistics of the training rows, then every epoch streams the rows in bounded memory.
Without ``--val`` the validation rows are those whose seeded row hash falls under ``--val-fraction``
(not stratified). Like `commands_optim`, this module imports `cli` inside its functions only.
"""

from __future__ import annotations

import argparse
from argparse import Namespace
from collections.abc import Sequence

import torch

from trainwise import distributed
from trainwise.callbacks import Callback
from trainwise.config import TrainConfig, resolve_device
from trainwise.data.stream import SHUFFLE_ROWS, StreamData, prepare_stream
from trainwise.errors import InputError
from trainwise.loop import Run, Trainer
from trainwise.models import mlp


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stream`` and ``--shuffle-rows``, for `trainwise fit`."""
    from trainwise import cli

    parser.add_argument("--stream", action="store_true",
                        help="read the Parquet file a row group at a time instead of loading it (tables larger "
                             "than memory); --val-fraction then holds out rows by a seeded hash, not stratified")
    parser.add_argument("--shuffle-rows", type=cli._positive_int, default=SHUFFLE_ROWS,
                        help=f"with --stream: training rows shuffled together, held in memory as features "
                             f"(default {SHUFFLE_ROWS})")


def prepare_data(args: Namespace) -> StreamData:
    """The training and validation streams of ``args.data`` (and ``args.val``), on the device the run uses."""
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, but got {args.seed}.")
    if not 0 <= args.dropout < 1:
        raise InputError(f"--dropout must be in [0, 1), but got {args.dropout}.")
    world = distributed.setup()
    return prepare_stream(args.data, args.target, val_path=args.val, val_fraction=args.val_fraction, seed=args.seed,
                          batch_size=args.batch_size, positive=args.positive, shuffle_rows=args.shuffle_rows,
                          device=resolve_device(world.device(args.device)), rank=world.rank,
                          world_size=world.size, source=args.data, val_source=args.val)


def fit_stream_table(data: StreamData, config: TrainConfig, *, hidden: Sequence[int] = (64, 32),
                     dropout: float = 0.1, callbacks: Sequence[Callback] = (), resume: bool = False) -> Run:
    """Seed, build the MLP (the seed fixes its initial weights), and fit on the streams: `fit_table`'s twin."""
    torch.manual_seed(config.seed)
    model = mlp(data.train.num_features, len(data.labels), hidden=hidden, dropout=dropout)
    trainer = Trainer(config=config, callbacks=callbacks, labels=data.labels, positive=data.positive)
    return trainer.fit(model, data.train, data.val, data_info=data.describe(), resume=resume)
