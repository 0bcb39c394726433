"""`trainwise fit DATA.parquet --stream`: train on a Parquet file larger than memory.

The file is read row group by row group (see :mod:`trainwise.data.stream`): one pass computes the
preprocessing statistics of the training rows, then every epoch streams the rows in bounded memory.
Without ``--val`` the validation rows are those whose seeded row hash falls under ``--val-fraction``
(not stratified). Like `commands_optim`, this module imports `cli` inside its functions only.
"""

from __future__ import annotations

import argparse
from argparse import Namespace

from trainwise import distributed
from trainwise.config import resolve_device
from trainwise.data.stream import SHUFFLE_ROWS, StreamData, prepare_stream


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stream`` and ``--shuffle-rows``, for `trainwise fit`."""
    from trainwise import cli

    parser.add_argument("--stream", action="store_true",
                        help="read the Parquet file a row group at a time instead of loading it (tables larger "
                             "than memory); --val-fraction then holds out rows by a seeded hash, not stratified")
    parser.add_argument("--shuffle-rows", type=cli._positive_int, default=SHUFFLE_ROWS,
                        help=f"with --stream: training rows shuffled together, held in memory as features "
                             f"(default {SHUFFLE_ROWS})")


def prepare_stream_data(args: Namespace) -> StreamData:
    """The training and validation streams of ``args.data`` (and ``args.val``), on the device the run uses.
    `commands.prepare_data` checks the shared options and calls this for ``--stream``."""
    world = distributed.setup(args.device)
    return prepare_stream(args.data, args.target, val_path=args.val, val_fraction=args.val_fraction, seed=args.seed,
                          batch_size=args.batch_size, positive=args.positive, shuffle_rows=args.shuffle_rows,
                          device=resolve_device(world.device(args.device)), rank=world.rank,
                          world_size=world.size, source=args.data, val_source=args.val)
