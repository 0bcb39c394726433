"""trainwise inside the Hugging Face Trainer::

    callback = TrainwiseCallback(out="runs/bert")
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val,
                      compute_metrics=callback.compute_metrics, callbacks=[callback])

What it reads (docs/integrations.md):

* **per evaluation**, the predictions and labels the Trainer hands to ``compute_metrics``
  (``EvalPrediction``): they give the confusion matrix, precision/recall/F1, the accuracy paradox and the
  threshold advice, and ``compute_metrics`` returns accuracy, precision, recall, F1 and balanced accuracy
  for the Trainer to log as ``eval_*``. A ``compute_metrics`` of your own goes to the callback
  (``compute_metrics=``): its results are merged in;
* **the Trainer's log** (``state.log_history``): training loss, gradient norm and learning rate, and the
  evaluation's ``eval_loss``. The callback sets ``control.should_log`` at each epoch's end, so every epoch
  has its training loss (one extra log line per epoch).

One history record per evaluation: per epoch with ``eval_strategy="epoch"``; per evaluation with
``"steps"``. Without evaluation, one record per epoch with the training loss alone.

Cost: with ``compute_metrics`` the Trainer gathers all evaluation logits on the host (it does so for any
``compute_metrics``); ``batch_eval_metrics=True`` avoids that: each batch is then measured on the device.
Under torchrun the Trainer gathers predictions and averages losses over processes already; process 0 alone
prints and writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainwise.integrations.common import Session, SessionOwner
from trainwise.monitor import VAL_KEYS, Monitor

try:
    from transformers import TrainerCallback
    from transformers import __version__ as _VERSION
except ImportError:
    from trainwise.integrations.common import missing_framework

    raise missing_framework("transformers", "transformers") from None

IGNORE_INDEX = -100          # Hugging Face's label for "no label here"


class TrainwiseCallback(TrainerCallback, SessionOwner):
    """trainwise's history, findings and verdict for a Hugging Face Trainer run; ``callback.run`` afterwards.

    Pass ``compute_metrics=callback.compute_metrics`` to the Trainer for the validation predictions.
    ``out``: a folder for the run files and report.html (process 0). ``verbose``: print the verdict to
    stderr at the end. ``compute_metrics``: your own, called too (its keys win). ``labels``,
    ``positive``, ``threshold``, ``target_recall``, ``target_precision``, ``monitor``: as `trainwise.Monitor`.
    """

    def __init__(self, out: str | Path | None = None, *, verbose: bool = True, labels: Sequence[Any] | None = None,
                 positive: int | None = None, threshold: float | str | None = None,
                 target_recall: float | None = 0.8, target_precision: float | None = None,
                 monitor: str = "val_loss", compute_metrics: Callable[..., dict] | None = None,
                 title: str | None = None) -> None:
        self.session = Session("transformers", out, verbose=verbose, labels=labels, positive=positive,
                               threshold=threshold, target_recall=target_recall,
                               target_precision=target_precision, monitor=monitor, title=title)
        self.user_compute_metrics = compute_metrics
        self._training = False
        self._read = 0                    # entries of state.log_history already read
        self._last_step = 0               # the step of the last training-loss entry read
        self._evaluated = False           # an evaluation closed a record during this epoch
        self._in_pass = False             # a batched evaluation (batch_eval_metrics) is under way
        self._scratch: Monitor | None = None      # measures evaluations outside training

    # ------------------------------------------------------------------ the Trainer's compute_metrics
    def compute_metrics(self, eval_pred: Any, compute_result: bool | None = None) -> dict[str, float]:
        """``Trainer(compute_metrics=callback.compute_metrics)``: measure the evaluation's predictions.

        Called once per evaluation with all predictions, or per batch with ``compute_result`` (the Trainer's
        ``batch_eval_metrics=True``). During training the predictions feed the run; outside it (a later
        ``trainer.evaluate()``) they are measured apart and leave the run as it is."""
        logits, labels = _logits_and_labels(eval_pred)
        starting = not self._in_pass
        self._in_pass = compute_result is False           # more batches of this evaluation to come
        if self._training:
            if starting:
                self.session.new_validation()
            self.session.val_step(None, logits, labels)
            monitor = self.monitor
        else:
            if starting or self._scratch is None:
                self._scratch = Monitor(self.monitor.labels, self.monitor.positive)
            self._scratch.val_step(None, logits, labels)
            monitor = self._scratch
        if self._in_pass:
            return self._user(eval_pred, compute_result)
        measured = monitor.end_validation(diverged_ok=True)
        metrics = {key: measured[key] for key in VAL_KEYS if key != "loss"} if measured is not None else {}
        return {**metrics, **self._user(eval_pred, compute_result)}

    def _user(self, eval_pred: Any, compute_result: bool | None) -> dict[str, float]:
        if self.user_compute_metrics is None:
            return {}
        if compute_result is None:
            return dict(self.user_compute_metrics(eval_pred) or {})
        return dict(self.user_compute_metrics(eval_pred, compute_result=compute_result) or {})

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._training = True
        self._read = len(state.log_history)
        self._last_step = state.global_step
        self.session.begin(main=state.is_world_process_zero)

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self._evaluated:
            self._close_train_only(state)
        self._evaluated = False

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        control.should_log = True          # the epoch's training loss, logged by the Trainer right after
        return control

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict | None = None, **kwargs: Any) -> None:
        if not self._training:
            return
        logged = {**self._read_train_logs(state), **(metrics or {})}
        record = self.session.measure_epoch(steps=state.global_step)
        self.session.close_epoch(record, logged)
        self._evaluated = True

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._close_train_only(state)
        self._training = False
        model = kwargs.get("model")
        device = next(model.parameters()).device if model is not None else args.device
        stop = (f"stopped at step {state.global_step} of {state.max_steps} (control.should_training_stop)"
                if state.max_steps and state.global_step < state.max_steps else None)
        config = {"transformers": _VERSION, "num_train_epochs": args.num_train_epochs,
                  "learning_rate": args.learning_rate, "eval_strategy": str(getattr(args, "eval_strategy", None)),
                  "per_device_train_batch_size": args.per_device_train_batch_size}
        self.session.finish(config=config, device=device, model=model, stop_reason=stop)

    # ------------------------------------------------------------------ the log
    def _close_train_only(self, state: Any) -> None:
        """An epoch that ended without an evaluation: a record with its training loss, if one was logged."""
        logged = self._read_train_logs(state)
        if logged:
            self.session.close_epoch(self.session.measure_epoch(steps=self._last_step), logged)

    def _read_train_logs(self, state: Any) -> dict[str, float]:
        """The training entries logged since the last read, as one: the loss averaged over the steps each
        entry covers, gradient norms' mean and max, the last learning rate."""
        entries = state.log_history[self._read:]
        self._read = len(state.log_history)
        losses, weights, norms, lr = [], [], [], None
        for entry in entries:
            if "loss" not in entry or "train_runtime" in entry:       # not a training-loss entry
                continue
            step = entry.get("step", self._last_step + 1)
            losses.append(float(entry["loss"]))
            weights.append(max(step - self._last_step, 1))
            self._last_step = step
            if entry.get("grad_norm") is not None:
                norms.append(float(entry["grad_norm"]))
            lr = entry.get("learning_rate", lr)
        if not losses:
            return {}
        logged = {"loss": sum(v * w for v, w in zip(losses, weights, strict=True)) / sum(weights)}
        if norms:
            logged["grad_norm_mean"], logged["grad_norm_max"] = sum(norms) / len(norms), max(norms)
        if lr is not None:
            logged["learning_rate"] = lr
        return logged


def _logits_and_labels(eval_pred: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits among what the model returned (the first element of a tuple: hidden states may follow) and
    the labels; samples labelled ``-100`` (no label) are left out of host arrays."""
    predictions, labels = eval_pred.predictions, eval_pred.label_ids
    while isinstance(predictions, (tuple, list)):
        predictions = predictions[0]
    if isinstance(labels, (tuple, list)):
        labels = labels[0]
    if isinstance(predictions, torch.Tensor):          # batch_eval_metrics: tensors on the device, kept there
        return predictions, labels
    logits, labels = torch.as_tensor(np.asarray(predictions)), torch.as_tensor(np.asarray(labels))
    if labels.dim() == 1:
        keep = labels != IGNORE_INDEX
        if not bool(keep.all()):
            logits, labels = logits[keep], labels[keep]
    return logits, labels
