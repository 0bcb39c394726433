"""Train the built-in MLP on a prepared table: the piece `fit`, `compare` and `demo` share."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from trainwise.callbacks import Callback
from trainwise.config import TrainConfig
from trainwise.data import TabularData
from trainwise.data.stream import StreamData
from trainwise.loop import Trainer
from trainwise.models import mlp
from trainwise.run import Run


def fit_table(data: TabularData | StreamData, config: TrainConfig, *, hidden: Sequence[int] = (64, 32),
              dropout: float = 0.1, callbacks: Sequence[Callback] = (), resume: bool = False,
              identity: dict | None = None) -> Run:
    """Seed, build the MLP (the seed fixes its initial weights), and fit on the prepared split: a table
    in memory, or Parquet streams (``--stream``)."""
    if isinstance(data, StreamData):
        train, val, features = data.train, data.val, data.train.num_features
    else:
        train, val, features = (data.X_train, data.y_train), (data.X_val, data.y_val), data.X_train.shape[1]
    torch.manual_seed(config.seed)
    model = mlp(features, len(data.labels), hidden=hidden, dropout=dropout)
    trainer = Trainer(config=config, callbacks=callbacks, labels=data.labels, positive=data.positive,
                      progress=False)     # the caller's callbacks show progress (or not: --quiet)
    return trainer.fit(model, train, val, data_info=data.describe(), resume=resume, identity=identity)
