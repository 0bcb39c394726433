"""trainwise inside Lightning: ``trainer = L.Trainer(callbacks=[TrainwiseCallback(out="runs/a")])``.

What it reads (docs/integrations.md):

* **per training step**, what ``training_step`` returns (Lightning hands it to ``on_train_batch_end``):
  its loss, and its logits when it returns ``{"loss": loss, "logits": logits}`` (training accuracy);
* **per validation batch**, what ``validation_step`` returns: logits (a tensor) or a dict with ``logits``
  (and ``loss``, else the task's own cross-entropy is measured). Targets come from the batch: ``(x, y)``,
  ``(x, y, w)`` or a dict with ``labels`` (``label``, ``target``, ``y``). These give the confusion matrix,
  precision/recall/F1, the accuracy paradox and the threshold advice;
* **per epoch**, ``trainer.callback_metrics``: what the module logged with ``self.log`` (``train_loss``,
  ``val_loss``, ``val_acc``...), read after the module's own ``on_train_epoch_end``.

Cost: per step, a reference to the loss (and the logits) is kept; per validation batch, the logits are
held until 65k values are measured together; per epoch, one host read. Under DDP, sums are all-reduced
once per epoch and rank 0 alone prints and writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from trainwise import distributed
from trainwise.errors import InputError
from trainwise.integrations.common import Session, SessionOwner

try:
    from lightning.pytorch import Callback
    from lightning.pytorch import __version__ as _VERSION
except ImportError:                      # the standalone `pytorch_lightning` package, when it alone is there
    try:
        from pytorch_lightning import Callback
        from pytorch_lightning import __version__ as _VERSION
    except ImportError:
        from trainwise.integrations.common import missing_framework

        raise missing_framework("lightning", "lightning") from None

TARGET_KEYS = ("labels", "label", "target", "targets", "y")
LOGIT_KEYS = ("logits", "preds", "outputs")


class TrainwiseCallback(Callback, SessionOwner):
    """trainwise's history, findings and verdict for a Lightning fit; ``callback.run`` afterwards.

    ``out``: a folder for the run files and report.html (rank 0). ``verbose``: print the verdict to stderr at
    the end. ``labels``, ``positive``, ``threshold``, ``target_recall``, ``target_precision``, ``monitor``:
    as `trainwise.Monitor`. ``grad_norms``: record gradient norms at each step whose logits are handed over
    (one ``_foreach_norm`` per step).
    """

    def __init__(self, out: str | Path | None = None, *, verbose: bool = True, labels: Sequence[Any] | None = None,
                 positive: int | None = None, threshold: float | str | None = None,
                 target_recall: float | None = 0.8, target_precision: float | None = None,
                 monitor: str = "val_loss", grad_norms: bool = False, title: str | None = None) -> None:
        super().__init__()
        self.session = Session("lightning", out, verbose=verbose, labels=labels, positive=positive,
                               threshold=threshold, target_recall=target_recall,
                               target_precision=target_precision, monitor=monitor, title=title)
        self.grad_norms = grad_norms
        self._pending: dict[str, Any] | None = None     # the last epoch's measured record, closed at the next hook
        self._loss_scale = 1                            # Lightning hands over loss / accumulate_grad_batches

    # ------------------------------------------------------------------ hooks
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._loss_scale = trainer.accumulate_grad_batches if pl_module.automatic_optimization else 1
        self.session.begin(main=trainer.is_global_zero, world=distributed.current(),
                           model=pl_module if self.grad_norms else None)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._close_pending(trainer)
        self.session.start_epoch()

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        loss, logits = _loss_and_logits(outputs)
        if loss is None:                                  # training_step returned None: Lightning skipped the step
            return
        if self._loss_scale != 1:
            loss = loss * self._loss_scale
        targets = batch_targets(batch, required=logits is not None)
        self.session.train_step(loss, logits, targets)

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if _fitting(trainer):
            self.session.new_validation()

    def on_validation_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        if not _fitting(trainer) or dataloader_idx != 0:
            return
        loss, logits = _loss_and_logits(outputs)
        if logits is None:
            return
        self.session.val_step(loss, logits, batch_targets(batch, required=True))

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        # Measured now (one host read); closed at the next epoch's start or the end of training, once the
        # module's own on_train_epoch_end has logged what it logs.
        self._pending = self.session.measure_epoch(lr=_lr(trainer), steps=trainer.global_step)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._close_pending(trainer)
        stop = f"stopped at epoch {len(self.monitor.history)} (trainer.should_stop)" if trainer.should_stop else None
        config = {"lightning": _VERSION, "max_epochs": trainer.max_epochs, "world_size": trainer.world_size,
                  "optimizer": type(trainer.optimizers[0]).__name__ if trainer.optimizers else None}
        self.session.finish(config=config, device=pl_module.device, model=pl_module, stop_reason=stop)

    def _close_pending(self, trainer: Any) -> None:
        if self._pending is not None:
            self.session.close_epoch(self._pending, trainer.callback_metrics)
            self._pending = None


def _fitting(trainer: Any) -> bool:
    """Validation inside ``fit`` (not ``trainer.validate``), past the sanity check."""
    return not trainer.sanity_checking and str(getattr(trainer.state.fn, "value", trainer.state.fn)) == "fit"


def _lr(trainer: Any) -> float | None:
    if not trainer.optimizers:
        return None
    return float(trainer.optimizers[0].param_groups[0]["lr"])


def _loss_and_logits(outputs: Any) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """A step's output: a tensor of logits (validation) or loss (training), or a dict with ``loss`` and/or
    ``logits`` (also ``preds``, ``outputs``), or an object with ``logits`` (a Hugging Face ModelOutput)."""
    if isinstance(outputs, torch.Tensor):
        return (outputs, None) if outputs.dim() == 0 else (None, outputs)
    if isinstance(outputs, Mapping):
        loss = outputs.get("loss")
        logits = outputs.get("logits")
        if logits is None:
            logits = next((outputs[k] for k in LOGIT_KEYS if isinstance(outputs.get(k), torch.Tensor)), None)
    else:
        loss, logits = getattr(outputs, "loss", None), getattr(outputs, "logits", None)
    return (loss if isinstance(loss, torch.Tensor) else None), (logits if isinstance(logits, torch.Tensor) else None)


def batch_targets(batch: Any, *, required: bool) -> torch.Tensor | None:
    """The targets of a batch: ``(x, y)`` or ``(x, y, w)``, or a dict holding ``labels`` (``label``,
    ``target``, ``y``)."""
    if isinstance(batch, Mapping):
        found = next((batch[k] for k in TARGET_KEYS if isinstance(batch.get(k), torch.Tensor)), None)
    elif isinstance(batch, (tuple, list)) and len(batch) in (2, 3) and isinstance(batch[1], torch.Tensor):
        found = batch[1]
    else:
        found = None
    if found is None and required:
        kind = f"a dict with keys {', '.join(map(str, batch))}" if isinstance(batch, Mapping) else type(batch).__name__
        raise InputError(f"trainwise cannot find the targets in a batch of {kind}: use (x, y), (x, y, weights) "
                         f"or a dict with a `labels` key.")
    if found is not None and found.dim() == 2 and found.shape[1] == 1:
        found = found.reshape(-1)
    return found
