"""`trainwise lr-find DATA --target COL`: the LR range test, sweeping the learning rate over mini-batches
of the table, and a suggestion."""

from __future__ import annotations

from argparse import Namespace

import torch
from rich.console import Console
from rich.table import Table

from trainwise.cli.output import console, emit
from trainwise.cli.training import optimizer_options, prepare_data, shared_settings
from trainwise.config import TrainConfig, resolve_device
from trainwise.lrfind import LRFindResult, lr_find
from trainwise.models import mlp


def run(args: Namespace) -> int:
    config = TrainConfig(optimizer=args.optimizer, batch_size=args.batch_size,
                         optimizer_options=optimizer_options(args), **shared_settings(args))
    data = prepare_data(args)
    settings = {k: v for k, v in config.resolved_optimizer().items() if k != "lr"}
    torch.manual_seed(config.seed)                    # the MLP's initial weights, as `fit` builds them
    model = mlp(data.X_train.shape[1], len(data.labels), hidden=args.hidden, dropout=args.dropout)
    model.to(resolve_device(config.device))
    result = lr_find(model, (data.X_train, data.y_train), optimizer=config.optimizer, optimizer_options=settings,
                     start_lr=args.start_lr, end_lr=args.end_lr, num_steps=args.num_steps,
                     batch_size=config.batch_size, seed=config.seed, class_weights=config.class_weights,
                     method=args.method)
    if args.json:
        emit(args, result.to_dict())
    else:
        print_lr_find(result, console(args))
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
