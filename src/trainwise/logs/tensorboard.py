"""TensorBoard event files: the scalars, by tag.

Read with the ``tensorboard`` package's event-file reader (imported here, when a TensorBoard log is
read: it imports no torch). Scalars are ``simple_value`` summaries (``torch.utils.tensorboard``, Lightning,
the Hugging Face Trainer) or scalar tensors (TensorBoard's own summary API).

- trainwise's own ``TensorBoardLogger`` writes ``epoch/<key>`` at step = epoch: one record per epoch
  under its own key names; its ``step/lr`` (per optimizer step) is not needed.
- Any other writer: one row per step holding the tags logged at that step (the last value when a tag
  is logged twice at one step), then the same mapping as a CSV: Lightning's ``epoch``,
  ``train_loss_epoch``, ``val_loss``, ``lr-Adam``; the HF Trainer's ``train/loss``, ``eval/loss``,
  ``train/epoch``, ``train/learning_rate``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from trainwise.errors import InputError
from trainwise.logs.table import Raw, Table, shown

OWN_PREFIX = "epoch/"


def is_event_file(path: Path) -> bool:
    return "tfevents" in path.name


def read_events(source: Path, files: Iterable[Path]) -> Raw:
    scalars = _scalars(source, files)
    if not scalars:
        raise InputError(f"{shown(source)}: TensorBoard events without any scalar; log the losses with "
                         "add_scalar (or self.log in Lightning)")
    own = [t for t in scalars if t.startswith(OWN_PREFIX)]
    if own:
        raw = _wide(source, {t[len(OWN_PREFIX):]: scalars[t] for t in own}, step_name="epoch")
        raw.notes.append("trainwise TensorBoard tags epoch/<key> at step = epoch")
        other = sorted(t for t in scalars if t not in own)
        if other:
            raw.notes.append(f"per-step tags not needed: {', '.join(other)}")
        return raw
    return _wide(source, scalars, step_name="step")


def _scalars(source: Path, files: Iterable[Path]) -> dict[str, tuple[list[int], list[float]]]:
    try:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
        from tensorboard.util import tensor_util
    except ImportError:
        raise InputError(f"{shown(source)}: reading TensorBoard event files needs the tensorboard package; "
                         "pip install tensorboard") from None
    scalars: dict[str, tuple[list[int], list[float]]] = {}
    for file in sorted(files):
        try:
            events = list(EventFileLoader(str(file)).Load())
        except Exception as exc:   # a damaged file: the loader raises whatever its parser raises
            raise InputError(f"{shown(file)}: not a readable TensorBoard event file ({exc})") from exc
        for event in events:
            for value in event.summary.value:
                number = _scalar(value, tensor_util)
                if number is not None:
                    steps, values = scalars.setdefault(value.tag, ([], []))
                    steps.append(int(event.step))
                    values.append(number)
    return scalars


def _scalar(value, tensor_util) -> float | None:
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind == "tensor":
        plugin = value.metadata.plugin_data.plugin_name
        if plugin not in ("", "scalars"):
            return None
        array = tensor_util.make_ndarray(value.tensor)
        if array.size == 1 and array.dtype.kind in "fiu":
            return float(array.reshape(()))
    return None


def _wide(source: Path, scalars: dict[str, tuple[list[int], list[float]]], *, step_name: str) -> Raw:
    """One row per step; per tag, its value at that step (the last one logged there)."""
    steps = np.unique(np.concatenate([np.asarray(s, dtype=np.int64) for s, _ in scalars.values()]))
    table = Table(rows=len(steps))
    table.add(step_name, steps.astype(float), np.ones(len(steps), dtype=bool))
    for tag, (tag_steps, tag_values) in scalars.items():
        at = np.searchsorted(steps, np.asarray(tag_steps, dtype=np.int64))
        values = np.full(len(steps), np.nan)
        present = np.zeros(len(steps), dtype=bool)
        values[at] = tag_values            # in file order: the last value at a step wins
        present[at] = True
        table.add(tag, values, present)
    columns = [step_name, *scalars]
    return Raw(source, "tensorboard", columns, table=table, where=lambda i: f"step {int(steps[i])}")
