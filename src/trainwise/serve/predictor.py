"""A trained run, ready to predict: the saved preprocessing, the network and the run's decision threshold.

One pass over the rows (:class:`PredictionPass`) encodes a chunk, runs the network on it once, decides the
classes with the loop's own rule (``trainwise.task.predict``: the positive class's probability against the
threshold in binary tasks, the most probable class otherwise) and, on the way, checks the rows against the
training data (:class:`~trainwise.serve.check.DataCheck`) and -- where the rows hold the target column --
accumulates held-out metrics in the loop's :class:`~trainwise.metrics.MetricAccumulator`. The findings and
the verdict come from :func:`trainwise.diagnose`, as for ``fit`` and ``evaluate``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwise.data.preprocess import encode_labels
from trainwise.data.tables import read_table
from trainwise.diagnostics import diagnose, verdict
from trainwise.errors import InputError, name_list, shown_name
from trainwise.metrics import MetricAccumulator
from trainwise.serve.check import DataCheck
from trainwise.serve.runinfo import RunInfo, choose_threshold
from trainwise.serve.sources import Source, chunk_rows, open_source
from trainwise.task import Task, infer_task, loss_terms, predict


@dataclass
class Chunk:
    """One chunk of a pass: its input rows (``None`` for feature arrays), each row's probabilities
    (binary: ``[n]``, the positive class's; else ``[n, C]``) and predicted class index."""

    rows: pd.DataFrame | None
    proba: np.ndarray
    classes: np.ndarray


@dataclass
class Predictions:
    """What :meth:`Predictor.predictions` returns: per-row arrays and the pass's summary (the object
    ``trainwise predict --json`` prints: ``verdict``, ``findings``, ``metrics``, ``data_check``, ...)."""

    proba: np.ndarray
    predicted: np.ndarray
    summary: dict[str, Any]

    @property
    def verdict(self) -> str:
        return self.summary["verdict"]

    @property
    def findings(self) -> list[dict[str, Any]]:
        return self.summary["findings"]

    @property
    def metrics(self) -> dict[str, Any] | None:
        """Held-out metrics when the rows held the target (or ``y`` was given), else None."""
        return self.summary["metrics"]

    @property
    def check(self) -> dict[str, Any] | None:
        """The rows checked against the training data (see :mod:`trainwise.diagnostics.drift`)."""
        return self.summary["data_check"]


class Predictor:
    """A trained run, ready to predict (build it with :func:`trainwise.load`).

    ``X`` everywhere is a DataFrame holding the training table's feature columns (others are ignored and
    listed), a path to a ``.csv``, ``.csv.gz`` or ``.parquet`` file, or a 2-D array of raw feature values in
    training column order. For a run made with the Python API (no saved preprocessing) ``X`` is the
    network's input: an array or tensor of features, or a table of numeric columns.

    ``predict_proba`` gives, in binary tasks, the positive class's probability per row (shape ``[N]``,
    what the CSV calls ``score``), else one column per class (``[N, C]``, columns in :attr:`labels` order).
    ``predict`` gives the predicted labels, as numbers when every label is a whole number, else as text.
    """

    def __init__(self, module: torch.nn.Module, info: RunInfo, *, device: torch.device) -> None:
        self.module = module.to(device).eval()
        self.info, self.device = info, device
        self._task: Task | None = None

    # ---- what the run says -----------------------------------------------------------------------
    @property
    def labels(self) -> list[str] | None:
        """Class names in index order (``None`` before the first prediction for a network whose run named
        none: they become ``0..C-1``)."""
        return self.info.labels

    @property
    def positive_index(self) -> int | None:
        return self.info.positive

    @property
    def positive(self) -> str | None:
        """The positive class's label in binary tasks, else None."""
        labels, index = self.info.labels, self.info.positive
        return None if labels is None or index is None else labels[index]

    @property
    def threshold(self) -> float | None:
        """The decision threshold on the positive class's probability (binary), else None: the one the fit
        applied (``--threshold``), else the configured number, else 0.5."""
        labels = self.info.labels
        return None if labels is not None and len(labels) != 2 else self.info.threshold

    @property
    def target(self) -> str | None:
        return self.info.target

    @property
    def preprocessor(self) -> Any:
        return self.info.preprocessor

    @property
    def feature_columns(self) -> list[str] | None:
        """The table columns the model reads, in training order (None without saved preprocessing)."""
        return None if self.preprocessor is None else self.preprocessor.input_columns

    def __repr__(self) -> str:
        return (f"Predictor({str(self.info.folder)!r}, labels={self.labels}, positive={self.positive!r}, "
                f"threshold={self.threshold})")

    # ---- predicting --------------------------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        return self.predictions(X).proba

    def predict(self, X: Any, *, threshold: object = None) -> np.ndarray:
        """Predicted labels; ``threshold`` (binary) overrides the run's: a number, or ``best_f1``,
        ``recall=0.8``, ``precision=0.9`` as the run recorded them on its validation set."""
        return self.predictions(X, threshold=threshold).predicted

    def predictions(self, X: Any, *, y: Any = None, threshold: object = None) -> Predictions:
        """Probabilities, labels, the data check and -- where ``X`` holds the target column, or ``y`` the
        true labels -- held-out metrics, findings and a verdict."""
        run = self.start(X, y=y, threshold=threshold)
        chunks = list(run)
        proba = np.concatenate([c.proba for c in chunks])
        classes = np.concatenate([c.classes for c in chunks])
        return Predictions(proba=proba, predicted=label_values(self.labels)[classes], summary=run.summary())

    def transform(self, X: Any) -> np.ndarray:
        """The network's float32 input for ``X``: the saved preprocessing applied (for ONNX Runtime)."""
        if self.preprocessor is None:
            raise InputError("this run saved no preprocessing: its network takes the features as they are.")
        source = open_source(X, columns=self.feature_columns)
        DataCheck(self.preprocessor, source.columns, target=self.target, source=source.name)   # columns
        return np.concatenate([self.preprocessor.transform(c, source=source.name) for c in source.chunks()])

    def start(self, X: Any, *, y: Any = None, threshold: object = None) -> PredictionPass:
        """A pass over ``X``, ready to iterate (see :class:`PredictionPass`)."""
        if threshold is None:
            chosen = (self.info.threshold, self.info.threshold_source)
        else:
            chosen = choose_threshold(threshold, self.info)
        return PredictionPass(self, X, y=y, threshold=chosen)

    # ---- the network ------------------------------------------------------------------------------
    def forward(self, features: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, Task]:
        """The network's outputs for a float32 feature matrix, and the task they describe."""
        x = torch.as_tensor(features, dtype=torch.float32).to(self.device)
        try:
            with torch.inference_mode():
                out = self.module(x)
        except (RuntimeError, TypeError, ValueError, IndexError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"the network cannot run on features of shape [N, {x.shape[1]}] ({reason}); pass "
                             "the columns it was trained on.") from None
        return out, self._task_of(out)

    def _task_of(self, out: torch.Tensor) -> Task:
        if self._task is not None:
            return self._task
        shape = infer_task(out, probabilities=False)      # the loop's rule: [N]/[N, 1] binary, [N, C] C classes
        classes, single = shape.num_classes, shape.single_logit
        if self.info.labels is None:
            self.info.labels = [str(i) for i in range(classes)]
            self.info.positive = 1 if classes == 2 else None
        if len(self.info.labels) != classes:
            raise InputError(f"{shown_name(self.info.folder)}: the network has {classes} outputs but the run names "
                             f"{len(self.info.labels)} classes; pass the network the run was trained with.")
        self._task = Task(classes, single, self.info.labels, self.info.positive)
        return self._task


class PredictionPass:
    """One pass over the rows: iterate it for :class:`Chunk`s, in the rows' order; then :meth:`summary`."""

    def __init__(self, predictor: Predictor, X: Any, *, y: Any, threshold: tuple[float, str]) -> None:
        self.predictor, self.threshold, self.threshold_source = predictor, threshold[0], threshold[1]
        pre = predictor.preprocessor
        self.source: Source | None = None
        self.features: torch.Tensor | None = None
        if pre is not None:
            self.source = open_source(X, columns=pre.input_columns, chunk_rows=chunk_rows(len(pre.feature_names)))
            self.check: DataCheck | None = DataCheck(pre, self.source.columns, target=predictor.target,
                                                     source=self.source.name)
            self.name = self.source.name
        else:
            self.features, self.name = _features(X, predictor.target), "X"
            self.check = None
        self.held_out = (self.source is not None and predictor.target in self.source.columns) or y is not None
        self.y = None if y is None else np.asarray(y).reshape(-1)
        if self.y is not None and len(self.y) != self.rows:
            raise InputError(f"y has {len(self.y)} labels for {self.rows} rows of X; pass one label per row.")
        self.accumulator: MetricAccumulator | None = None
        self.class_counts: np.ndarray | None = None
        self.done = 0

    @property
    def rows(self) -> int | None:
        return self.source.rows if self.source is not None else len(self.features)

    def __iter__(self) -> Iterator[Chunk]:
        pred = self.predictor
        if self.source is not None:
            pieces = self._encoded()
        else:
            rows = chunk_rows(self.features[0].numel())
            pieces = ((None, self.features[i:i + rows]) for i in range(0, len(self.features), rows))
        for rows, features in pieces:
            out, task = pred.forward(features)
            binary = task.binary
            task = Task(task.num_classes, task.single_logit, task.labels, task.positive,
                        self.threshold if binary else None)
            classes, scores = predict(out, task)          # the loop's decision rule, threshold applied
            proba = scores if binary else torch.softmax(out.float(), dim=1)
            if self.held_out:
                self._measure(out, task, classes, scores, rows)
            self.done += len(classes)
            yield Chunk(rows, proba.cpu().numpy(), classes.cpu().numpy())

    def _encoded(self) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        for rows in self.source.chunks():
            features = self.predictor.preprocessor.transform(rows, source=self.name)
            self.check.add(rows, features)
            yield rows, features

    def _measure(self, out: torch.Tensor, task: Task, classes: torch.Tensor, scores: torch.Tensor | None,
                 rows: pd.DataFrame | None) -> None:
        """Held-out metrics, with the loop's loss and accumulator."""
        if self.y is not None:
            truth = pd.Series(self.y[self.done:self.done + len(classes)], name="y")
            source = "y"
        else:
            truth, source = rows[self.predictor.target], self.name
        codes, _ = encode_labels(truth, labels=task.labels, source=source)
        target = torch.from_numpy(codes).to(out.device)
        if self.accumulator is None:
            self.accumulator = MetricAccumulator(task.num_classes, device=out.device, binary_scores=task.binary)
            self.class_counts = np.zeros(task.num_classes, dtype=np.int64)
            self.loss = loss_terms(task, device=out.device)     # the loop's per-sample loss, unweighted
        self.accumulator.update(classes, target, loss_sum=self.loss(out.float(), target).sum(), scores=scores)
        self.class_counts += np.bincount(codes, minlength=task.num_classes)

    def summary(self) -> dict[str, Any]:
        """The pass's JSON object (call it after iterating): rows, threshold, data check, held-out metrics,
        findings and verdict."""
        pred, task = self.predictor, self.predictor._task
        binary = task is not None and task.binary
        check = self.check.result() if self.check is not None else None
        metrics = thresholds = None
        data: dict[str, Any] = {"check": check} if check is not None else {}
        if self.accumulator is not None:
            metrics = self.accumulator.compute(labels=task.labels, positive=task.positive)
            if binary:
                thresholds = self.accumulator.thresholds(target_recall=0.8)
                thresholds["applied"] = {"threshold": self.threshold, "source": self.threshold_source}
            data.update(class_counts=self.class_counts.tolist(), labels=task.labels)
        findings = diagnose([], metrics=metrics, data=data, thresholds=thresholds)
        return {"verdict": verdict(findings), "findings": [f.to_dict() for f in findings], "metrics": metrics,
                "thresholds": thresholds, "held_out": metrics is not None, "rows": self.done,
                "data": self.name, "run": str(pred.info.folder), "target": pred.target,
                "labels": pred.labels, "positive_label": pred.positive,
                "threshold": {"value": self.threshold, "source": self.threshold_source} if binary else None,
                "data_check": check}


def label_values(labels: list[str]) -> np.ndarray:
    """Labels as a user's table held them: whole numbers as int64, ``True``/``False`` as bools, else text."""
    try:
        numbers = [int(label) for label in labels]
    except ValueError:
        pass
    else:
        return np.array(numbers, dtype=np.int64)
    if set(labels) <= {"True", "False"}:
        return np.array([label == "True" for label in labels])
    return np.array(labels, dtype=object)


def _features(X: Any, target: str | None) -> torch.Tensor:
    """The network's input for a run without saved preprocessing: an array or tensor, or a table's columns."""
    if isinstance(X, (pd.DataFrame, str, os.PathLike)):
        frame = X if isinstance(X, pd.DataFrame) else read_table(X)
        frame = frame.drop(columns=[target]) if target in frame.columns else frame
        try:
            X = frame.to_numpy(dtype=np.float32)
        except (TypeError, ValueError):
            text = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
            raise InputError(f"columns {name_list(text)} are not numbers, and this run saved no preprocessing to "
                             "encode them; pass the features the network was trained on.") from None
    x = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X).float()
    if x.dim() < 2 or len(x) == 0:
        raise InputError(f"X has shape {tuple(x.shape)}; pass one row per sample (at least one row).")
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x.reshape(len(x), -1))).any(dim=1).nonzero().reshape(-1)
        raise InputError(f"X holds NaN or infinite values in {len(bad)} rows (first: row {int(bad[0]) + 1}); fill "
                         "or drop them.")
    return x
