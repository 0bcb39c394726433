"""RichProgress: a live bar on a terminal, one line per epoch elsewhere, and the running loss read from
the device only at the refresh rate, never once per step."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest
import torch
from rich.console import Console

from trainwise import Trainer
from trainwise.callbacks import TrainState
from trainwise.report import RichProgress


class CountingLoss:
    """Stands in for the device tensor ``state.train_loss_sum``: counts host reads."""

    def __init__(self) -> None:
        self.value = 0.0
        self.reads = 0

    def item(self) -> float:
        self.reads += 1
        return self.value


@dataclass
class FakeClock:
    now: float = 0.0
    ticks: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now


def _state(epochs: int, steps: int) -> TrainState:
    model = torch.nn.Linear(2, 2)
    return TrainState(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), scheduler=None,
                      epochs=epochs, steps_per_epoch=steps)


def _drive(progress: RichProgress, *, epochs: int = 2, steps: int = 1000, seconds_per_step: float = 0.001,
           batch_size: int = 32) -> int:
    """Run the hooks as the loop does, with a fake clock and a fake device loss; return the loss reads."""
    state = _state(epochs, steps)
    clock = progress.clock
    reads = 0
    progress.on_fit_start(state)
    for epoch in range(1, epochs + 1):
        state.epoch, state.batch = epoch, 0
        loss = CountingLoss()                          # the loop starts fresh sums each epoch
        state.train_loss_sum, state.train_count = loss, 0
        progress.on_epoch_start(state)
        for _ in range(steps):
            clock.now += seconds_per_step
            loss.value += 0.5 * batch_size
            state.step += 1
            state.batch += 1
            state.train_count += batch_size
            progress.on_batch_end(state)
        progress.on_epoch_end(state, {"epoch": epoch, "train_loss": 0.5, "val_loss": 0.4, "val_accuracy": 0.9,
                                      "lr": 0.1, "seconds": steps * seconds_per_step})
        reads += loss.reads
    progress.on_fit_end(state)
    return reads


def test_terminal_bar_reads_the_loss_at_the_refresh_rate_only():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=150, color_system=None)
    progress = RichProgress(console=console, refresh_per_second=4, clock=FakeClock())
    reads = _drive(progress, epochs=2, steps=1000, seconds_per_step=0.001)
    # 2 epochs x 1 s each at 4 refreshes a second: about 8 reads for 2000 steps
    assert reads == progress.loss_reads
    assert 4 <= reads <= 10
    text = out.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text
    assert "loss 0.5000" in text                       # the running loss, read from the "device"
    assert "32,000 samples/s" in text                  # 32 samples per 1 ms step
    assert "750/1000 batches  32,000 samples/s  ETA 0:00  loss 0.5000" in text  # 0.25 s to go
    assert "loss 1." not in text and "loss 2." not in text
    assert "fit ETA 0:01" in text                      # second epoch starts: one epoch of 1 s to go
    assert text.count("epoch 1/2  loss 0.5000  val_loss 0.4000") == 1     # the finished-epoch line, once


def test_not_a_terminal_prints_one_plain_line_per_epoch():
    out = io.StringIO()
    progress = RichProgress(console=Console(file=out, force_terminal=False), clock=FakeClock(), label="sgd")
    reads = _drive(progress, epochs=3, steps=50)
    lines = out.getvalue().splitlines()
    assert lines == [f"sgd  epoch {e}/3  loss 0.5000  val_loss 0.4000  acc 0.900  lr 0.1  s 0.1" for e in (1, 2, 3)]
    assert reads == 0                                  # nothing live to show, nothing read
    assert "\x1b" not in out.getvalue()                # no escape codes in logs


def test_refresh_rate_must_be_positive():
    with pytest.raises(ValueError, match="refresh_per_second"):
        RichProgress(refresh_per_second=0)


def test_with_a_real_fit_on_a_terminal():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(512, 4, generator=g)
    y = (X[:, 0] > 0).long()
    out = io.StringIO()
    progress = RichProgress(console=Console(file=out, force_terminal=True, width=150, color_system=None),
                            refresh_per_second=1000)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    run = Trainer(epochs=2, batch_size=40, seed=0, callbacks=[progress]).fit(model, (X[:400], y[:400]), (X[400:], y[400:]))
    text = out.getvalue()
    assert "epoch 2/2" in text and "samples/s" in text
    assert f"loss {run.history[-1]['train_loss']:.4f}" in text
    assert 0 < progress.loss_reads <= 2 * 10           # at most once per step even at a silly refresh rate
    assert progress._progress is None                  # stopped: the cursor is back
