"""``trainwise.load``: a run folder (or a finished :class:`~trainwise.Run`) back as a :class:`Predictor`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from trainwise.checkpoint import load_weights
from trainwise.config import resolve_device
from trainwise.data.preprocess import TablePreprocessor
from trainwise.errors import InputError, shown_name
from trainwise.models import mlp
from trainwise.run import Run
from trainwise.serve.predictor import Predictor
from trainwise.serve.runinfo import read_run, run_info


def load(run: str | os.PathLike[str] | Run, *, model: torch.nn.Module | None = None,
         preprocessor: TablePreprocessor | dict | None = None, device: str = "cpu") -> Predictor:
    """A trained run, ready to predict.

    ``run``: a folder written by ``trainwise fit --out`` (the network is rebuilt from ``config.json`` and
    its weights read from ``model.safetensors``), or by ``Trainer(checkpoint_dir=...)`` in Python -- then
    pass ``model``, the network to load the weights into (in place); or a :class:`~trainwise.Run` just
    returned by ``fit`` (its network as it is). ``preprocessor``: the fitted
    :class:`~trainwise.data.TablePreprocessor` (or its dict) when the run did not save one. ``device``:
    where the network runs (``cpu``, ``cuda``, ``auto``).

    >>> model = load("runs/first")                    # doctest: +SKIP
    >>> model.predict_proba("new.csv"); model.threshold, model.labels, model.positive   # doctest: +SKIP
    """
    try:
        target_device = resolve_device(device)
    except (RuntimeError, TypeError) as exc:            # torch.device("tpu")
        raise InputError(f"unknown device {device!r} ({exc}); use auto, cpu or cuda.") from None
    if isinstance(preprocessor, dict):
        preprocessor = TablePreprocessor.from_dict(preprocessor)
    if isinstance(run, Run):
        summary = run.summary()
        info = run_info(Path(run.config.get("checkpoint_dir") or "(in memory)"), summary, run.config, preprocessor)
        return Predictor(model if model is not None else run.model, info, device=target_device)
    if not isinstance(run, (str, os.PathLike)):
        raise TypeError(f"Expected a run folder or a trainwise Run, but got {type(run).__name__}")
    info = read_run(run)
    if preprocessor is not None:
        info.preprocessor = preprocessor
    if model is None:
        model = _network(info)
    try:
        load_weights(info.weights, model)
    except RuntimeError as exc:              # load_state_dict: missing or unexpected keys, other shapes
        detail = " ".join(str(exc).split())[:200]
        raise InputError(f"{shown_name(info.weights)}: the weights do not fit the network ({detail}); pass the "
                         "network the run was trained with.") from None
    return Predictor(model, info, device=target_device)


def _network(info: Any) -> torch.nn.Module:
    shape = info.network
    if shape is None:
        raise InputError(f"{shown_name(info.folder)}: the run saved no network description (it was trained with the "
                         "Python API); pass the network: trainwise.load(RUN, model=net).")
    return mlp(shape["in_features"], shape["num_classes"], hidden=shape["hidden"], dropout=shape["dropout"])
