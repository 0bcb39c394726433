"""trainwise inside Keras 3: ``model.fit(..., validation_data=(x_val, y_val), callbacks=[TrainwiseCallback()])``.

What it reads (docs/integrations.md):

* **per epoch**, the ``logs`` Keras hands to ``on_epoch_end``: ``loss``, ``accuracy``, ``val_loss``,
  ``val_accuracy``... mapped to trainwise's keys; the optimizer's learning rate;
* **per epoch**, the model's predictions on the validation data: ``validation_data=(x, y)`` given to the
  callback, else the fit's own (``validation_data``/``validation_split`` of ``fit``, read through a Keras
  internal, ``model._eval_epoch_iterator``). They give the confusion matrix, precision/recall/F1, the
  accuracy paradox and the threshold advice. Outputs of a final sigmoid or softmax are turned back into
  logits (``probabilities=`` overrides the guess); one-hot targets into class indices.

Cost: one more forward pass over the validation data per epoch (Keras' own validation pass does not hand
its predictions to callbacks). No batch hook is overridden, so Keras keeps dispatching batch callbacks
asynchronously and never converts batch logs for trainwise. Single process only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainwise.errors import InputError
from trainwise.integrations.common import Session, SessionOwner

try:
    import keras
except ModuleNotFoundError as exc:
    from trainwise.integrations.common import missing_framework

    if exc.name != "keras":
        raise ImportError(f"keras could not be imported ({exc}): set KERAS_BACKEND (e.g. torch) before "
                          "importing keras or trainwise.integrations.keras") from None
    raise missing_framework("keras", "keras") from None

PREDICT_BATCH = 1024


class TrainwiseCallback(keras.callbacks.Callback, SessionOwner):
    """trainwise's history, findings and verdict for a Keras ``fit``; ``callback.run`` afterwards.

    ``out``: a folder for the run files and report.html. ``verbose``: print the verdict to stderr at the end.
    ``validation_data``: ``(x, y)`` arrays (or an iterable of ``(x, y)`` batches) to predict on at each
    epoch's end; default: the fit's own. ``batch_size``: of those predictions. ``probabilities``: whether the
    model outputs probabilities (None: a final sigmoid or softmax says so). ``labels``, ``positive``,
    ``threshold``, ``target_recall``, ``target_precision``, ``monitor``: as `trainwise.Monitor`.
    """

    def __init__(self, out: str | Path | None = None, *, verbose: bool = True, labels: Sequence[Any] | None = None,
                 positive: int | None = None, validation_data: Any = None, batch_size: int = PREDICT_BATCH,
                 probabilities: bool | None = None, threshold: float | str | None = None,
                 target_recall: float | None = 0.8, target_precision: float | None = None,
                 monitor: str = "val_loss", title: str | None = None) -> None:
        super().__init__()
        self.session = Session("keras", out, verbose=verbose, labels=labels, positive=positive,
                               threshold=threshold, target_recall=target_recall,
                               target_precision=target_precision, monitor=monitor, title=title)
        self.validation_data = validation_data
        self.batch_size = batch_size
        self.probabilities = probabilities
        self._probabilities = False

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._probabilities = self.probabilities if self.probabilities is not None else ends_in_probabilities(self.model)
        self.session.begin()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.session.start_epoch()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        batches = self._validation_batches()
        if batches is not None:
            self.session.new_validation()
            for x, y in batches:
                self.session.val_step(None, self._logits(x), class_targets(y))
        steps = (self.params or {}).get("steps")
        record = self.session.measure_epoch(lr=_lr(self.model), steps=steps * (epoch + 1) if steps else None)
        self.session.close_epoch(record, logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        stop = f"stopped at epoch {len(self.monitor.history)} (model.stop_training)" if self.model.stop_training else None
        config = {"keras": keras.__version__, "backend": keras.backend.backend(),
                  "epochs": (self.params or {}).get("epochs"),
                  "optimizer": type(self.model.optimizer).__name__ if self.model.optimizer is not None else None}
        self.session.finish(config=config, device=_device(self.model), stop_reason=stop)

    # ------------------------------------------------------------------ predictions
    def _validation_batches(self) -> Iterable[tuple[Any, Any]] | None:
        if self.validation_data is not None:
            return _given_batches(self.validation_data, self.batch_size)
        return _fit_batches(self.model)

    def _logits(self, x: Any) -> torch.Tensor:
        with torch.no_grad():
            out = self.model(x, training=False)
        out = _as_torch(out).detach().float()
        if not self._probabilities:
            return out
        eps = keras.config.epsilon()                      # the clip Keras' own cross-entropy applies
        p = out.clamp(eps, 1 - eps)
        if out.dim() == 1 or out.shape[-1] == 1:
            return torch.log(p) - torch.log1p(-p)         # sigmoid probability -> logit
        return torch.log(p)                               # softmax probabilities -> log-probabilities


def ends_in_probabilities(model: Any) -> bool:
    """Whether the model's last layer applies a sigmoid or a softmax (its outputs are then probabilities)."""
    layers = getattr(model, "layers", None) or []
    if not layers:
        return False
    last = layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") in ("sigmoid", "softmax")


def class_targets(y: Any) -> torch.Tensor:
    """Targets as class indices: ``[N, 1]`` squeezed, one-hot ``[N, C]`` rows to their class."""
    y = _as_torch(y)
    if y.dim() == 2 and y.shape[1] == 1:
        return y.reshape(-1)
    if y.dim() == 2:
        return y.argmax(dim=1)
    return y


def _given_batches(data: Any, batch_size: int) -> Iterator[tuple[Any, Any]]:
    """``(x, y)`` or ``(x, y, sample_weight)`` arrays in slices, or an iterable of such batches."""
    if isinstance(data, (tuple, list)) and len(data) in (2, 3) and hasattr(data[1], "shape"):
        x, y = data[0], data[1]
        n = len(y)
        for start in range(0, n, batch_size):
            yield keras.tree.map_structure(lambda a, s=start: a[s:s + batch_size], x), y[start:start + batch_size]
        return
    for batch in data:
        x, y, _ = keras.utils.unpack_x_y_sample_weight(tuple(batch))
        if y is None:
            raise InputError("validation_data holds batches without targets; pass (x, y) arrays or (x, y) batches.")
        yield x, y


def _fit_batches(model: Any) -> Iterator[tuple[Any, Any]] | None:
    """The fit's own validation batches, from the iterator Keras 3 caches during ``fit`` (an internal: None
    where it is missing, e.g. a fit without validation data)."""
    iterator = getattr(model, "_eval_epoch_iterator", None)
    if iterator is None:
        return None

    def batches() -> Iterator[tuple[Any, Any]]:
        iterator.reset()
        for item in iterator:
            data = item[-1]
            steps = data if isinstance(data, list) and data and isinstance(data[0], (tuple, list, dict)) else [data]
            for batch in steps:
                x, y, _ = keras.utils.unpack_x_y_sample_weight(tuple(batch) if isinstance(batch, list) else batch)
                if y is not None:
                    yield x, y
        iterator.reset()

    return batches()


def _as_torch(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    return torch.as_tensor(np.asarray(keras.ops.convert_to_numpy(value)))


def _lr(model: Any) -> float | None:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        return None
    rate = optimizer.learning_rate
    return float(_as_torch(getattr(rate, "value", rate)))          # a Keras variable: its backend tensor


def _device(model: Any) -> str:
    weights = getattr(model, "weights", None) or []
    value = getattr(weights[0], "value", None) if weights else None
    return str(value.device) if isinstance(value, torch.Tensor) else "cpu"
