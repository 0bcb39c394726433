"""TensorBoard event files for a run, written with ``torch.utils.tensorboard.SummaryWriter``.

What lands where (tags):

- ``epoch/<key>`` at step = epoch: every number of the epoch's history record (``train_loss``,
  ``val_loss``, ``val_accuracy``, ``val_precision``, ``val_recall``, ``val_f1``, ``lr``, gradient norms,
  ``seconds``, ...), exactly the values of ``history.jsonl``;
- ``step/lr`` at step = optimizer step: the first parameter group's learning rate after each step
  (a Python float read from ``optimizer.param_groups``, so no device sync);
- ``pr_curve`` (binary tasks, from `TensorBoardLogger.log_summary`): the validation PR curve, when the
  summary recorded one; ``verdict`` as text: the verdict and the findings.

TensorBoard is an optional extra: ``pip install 'trainwise[tensorboard]'``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from trainwise.callbacks import Callback, TrainState
from trainwise.errors import InputError

MAX_PR_POINTS = 127          # TensorBoard's PR-curve plugin caps the number of thresholds here


def _summary_writer() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise InputError("TensorBoard logging needs the tensorboard package; install it with "
                         "pip install 'trainwise[tensorboard]' (or pip install tensorboard).") from None
    return SummaryWriter


class TensorBoardLogger(Callback):
    """Write TensorBoard event files under ``log_dir`` while training.

    >>> tb = TensorBoardLogger("runs/exp1/tensorboard")                  # doctest: +SKIP
    >>> run = Trainer(callbacks=[tb]).fit(model, train, val)             # doctest: +SKIP
    >>> tb.log_summary(run.summary())        # PR curve and verdict, then closes   # doctest: +SKIP

    Raises `InputError` at construction when tensorboard is not installed, before any training.
    """

    def __init__(self, log_dir: str | os.PathLike) -> None:
        self._writer_class = _summary_writer()
        self.log_dir = Path(log_dir)
        self._writer: Any = None

    @property
    def writer(self) -> Any:
        """The open ``SummaryWriter`` (opened on first use; a closed logger reopens, adding a file)."""
        return self.open()

    def open(self) -> Any:
        if self._writer is None:
            self._writer = self._writer_class(log_dir=str(self.log_dir))
        return self._writer

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, state: TrainState) -> None:
        self.open()   # create the folder and the event file now, not at the first step

    def on_batch_end(self, state: TrainState) -> None:
        lr = state.optimizer.param_groups[0]["lr"]
        if isinstance(lr, (int, float)):          # a tensor LR would need a device read: logged per epoch only
            self.writer.add_scalar("step/lr", float(lr), state.step)

    def on_epoch_end(self, state: TrainState, record: dict) -> None:
        epoch = record.get("epoch", state.epoch)
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"epoch/{key}", value, epoch)
        self.writer.flush()                      # a running TensorBoard sees each epoch as it ends

    def on_fit_end(self, state: TrainState) -> None:
        self.writer.flush()

    # ------------------------------------------------------------------ after the run
    def log_summary(self, summary: dict) -> None:
        """Add what only the finished run knows (the PR curve, the verdict), then close the files."""
        history = summary.get("history") or []
        step = history[-1].get("epoch", len(history)) if history else 0
        curve = pr_curve_counts(summary.get("metrics") or {}, summary.get("thresholds"))
        if curve is not None:
            self.writer.add_pr_curve_raw("pr_curve", *curve, global_step=step, num_thresholds=len(curve[0]))
        lines = [f"**verdict: {summary.get('verdict')}**", ""]
        lines += [f"- {f.get('severity')} `{f.get('code')}`: {f.get('message')}" for f in summary.get("findings") or []]
        self.writer.add_text("verdict", "\n".join(lines), global_step=step)
        self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def pr_curve_counts(metrics: dict, thresholds: dict | None) -> tuple[list[float], ...] | None:
    """``(tp, fp, tn, fn, precision, recall)`` lists, threshold rising, from the recorded PR curve
    (``thresholds["curve"]``) and the positive/negative totals of the confusion matrix; ``None`` when
    either is missing. Counts come back from precision and recall: TP = recall·P, FP = TP·(1-p)/p."""
    curve = thresholds.get("curve") if isinstance(thresholds, dict) else None
    counts = [metrics.get(k) for k in ("tp", "fp", "tn", "fn")]
    if not isinstance(curve, dict) or not all(isinstance(c, int) for c in counts):
        return None
    tp0, fp0, tn0, fn0 = counts
    positives, negatives = tp0 + fn0, tn0 + fp0
    pairs = [(float(p), float(r)) for p, r in zip(curve.get("precision") or [], curve.get("recall") or [], strict=False)
             if isinstance(p, (int, float)) and isinstance(r, (int, float)) and math.isfinite(p) and math.isfinite(r)]
    if len(pairs) < 2 or positives == 0:
        return None
    pairs.sort(key=lambda pr: (-pr[1], pr[0]))      # recall falling = threshold rising, as TensorBoard wants
    if len(pairs) > MAX_PR_POINTS:
        last = len(pairs) - 1
        pairs = [pairs[round(i * last / (MAX_PR_POINTS - 1))] for i in range(MAX_PR_POINTS)]
    tp = [r * positives for _, r in pairs]
    fp = [t * (1 - p) / p if p > 0 else float(negatives) for t, (p, _) in zip(tp, pairs, strict=True)]
    return (tp, fp, [negatives - f for f in fp], [positives - t for t in tp],
            [p for p, _ in pairs], [r for _, r in pairs])
