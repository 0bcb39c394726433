"""The one training loop: `Trainer.fit` and `Trainer.evaluate`.

Each epoch: ``model.train()``; per batch ``zero_grad`` -> forward -> loss -> ``backward`` ->
(gradient clipping) -> ``step``; the LR schedule steps; then validation under ``model.eval()`` and
``torch.inference_mode()``. Losses are averaged per sample, so a short last batch weighs what it holds.

Nothing in a step reads a value back to the host: loss sums, counts and gradient norms accumulate in
device tensors and are read once per epoch. This is what keeps trainwise as fast as a hand-written loop.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trainwise.callbacks import Callback, TrainState
from trainwise.config import TrainConfig, resolve_device
from trainwise.data.batching import LoaderBatches, TensorBatches, make_batches
from trainwise.diagnostics import diagnose, verdict
from trainwise.errors import InputError
from trainwise.metrics import MetricAccumulator
from trainwise.optim import build_optimizer, build_scheduler

log = logging.getLogger(__name__)


@dataclass
class Task:
    """What the model predicts: how many classes, one logit or C, which class is positive."""

    num_classes: int
    single_logit: bool
    labels: list[str]
    positive: int | None          # binary tasks only
    threshold: float | None = None

    @property
    def binary(self) -> bool:
        return self.num_classes == 2


@dataclass
class Run:
    """The outcome of `Trainer.fit`: plain data that diagnostics, report and CLI consume."""

    history: list[dict]
    metrics: dict | None
    findings: list
    verdict: str
    best_epoch: int | None
    thresholds: dict | None
    config: dict
    data: dict
    model: nn.Module = field(repr=False)
    stop_reason: str | None = None

    def summary(self) -> dict:
        """The `--json` object of the CLI contract."""
        return {
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "metrics": self.metrics,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "thresholds": self.thresholds,
            "stop_reason": self.stop_reason,
            "data": self.data,
            "config": self.config,
        }


class Trainer:
    """Train and evaluate a classifier.

    >>> trainer = Trainer(optimizer="adam", lr=1e-3, epochs=20, batch_size=256, seed=0)
    >>> run = trainer.fit(model, (X_train, y_train), (X_val, y_val))   # doctest: +SKIP

    ``train``/``val`` are (X, y) tensors or arrays, a ``Dataset`` or a ``DataLoader``. Binary models may
    output one logit per row (``[N]`` or ``[N, 1]``) or two; multiclass models output C logits.
    """

    def __init__(self, *, callbacks: Sequence[Callback] = (), loss_fn: Any = None,
                 labels: Sequence[str] | None = None, positive: int | None = None,
                 config: TrainConfig | None = None, **settings: Any) -> None:
        self.config = config if config is not None else TrainConfig(**settings)
        self.callbacks = list(callbacks)
        self.loss_fn = loss_fn
        self.labels = [str(label) for label in labels] if labels is not None else None
        self.positive = positive

    # ------------------------------------------------------------------ fit
    def fit(self, model: nn.Module, train: Any, val: Any = None, *, data_info: dict | None = None) -> Run:
        cfg = self.config
        device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)          # dropout and any other randomness of the model
        model.to(device)
        train_batches = make_batches(train, cfg.batch_size, shuffle=True, seed=cfg.seed, device=device, name="train")
        val_batches = None
        if val is not None:
            val_batches = make_batches(val, cfg.val_batch_size or 4 * cfg.batch_size, shuffle=False,
                                       seed=cfg.seed, device=device, name="val")
        task = self._task(model, train_batches, val_batches)
        loss_terms = self._loss(task, train_batches, device)

        settings = cfg.resolved_optimizer()
        optimizer = build_optimizer(cfg.optimizer, model, settings,
                                    no_decay_on_bias_and_norm=cfg.no_decay_on_bias_and_norm)
        scheduler, schedule_every = build_scheduler(cfg.schedule, optimizer, epochs=cfg.epochs,
                                                    steps_per_epoch=len(train_batches),
                                                    warmup_epochs=cfg.warmup_epochs)
        state = TrainState(model=model, optimizer=optimizer, scheduler=scheduler, epochs=cfg.epochs,
                           steps_per_epoch=len(train_batches))
        params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        val_metrics: dict | None = None
        val_acc = MetricAccumulator(task.num_classes, device=device, binary_scores=task.binary)

        self._call("on_fit_start", state)
        for epoch in range(1, cfg.epochs + 1):
            state.epoch, state.batch = epoch, 0
            started = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            self._call("on_epoch_start", state)

            # -- train one epoch; sums stay on the device
            model.train()
            loss_sum = torch.zeros((), device=device, dtype=torch.float64)
            correct = torch.zeros((), device=device, dtype=torch.long)
            grad_sum = torch.zeros((), device=device)
            grad_max = torch.zeros((), device=device)
            layer_max = torch.zeros(len(params), device=device)
            state.train_loss_sum, state.train_count = loss_sum, 0
            seen = 0
            for xb, yb in train_batches.epoch(epoch):
                optimizer.zero_grad(set_to_none=True)
                out = model(xb)
                per_sample = loss_terms(out, yb)
                per_sample.mean().backward()
                norms = torch.stack(torch._foreach_norm([_grad(p) for _, p in params]))
                total = torch.linalg.vector_norm(norms)
                if cfg.grad_clip is not None:
                    nn.utils.clip_grad_norm_([p for _, p in params], cfg.grad_clip)
                optimizer.step()
                if schedule_every == "batch":
                    scheduler.step()
                with torch.no_grad():
                    loss_sum += per_sample.detach().sum()
                    correct += (self._predict(out.detach(), task, with_scores=False)[0] == yb).sum()
                    grad_sum += total
                    torch.maximum(grad_max, total, out=grad_max)
                    torch.maximum(layer_max, norms, out=layer_max)
                seen += len(yb)
                state.step += 1
                state.batch += 1
                state.train_count = seen
                self._call("on_batch_end", state)

            # -- one host read for the whole epoch: .tolist() forces a device sync
            top = layer_max.argmax().to(torch.float64)
            train_loss_total, n_correct, g_sum, g_max, top_idx = torch.stack(
                [loss_sum, correct.to(torch.float64), grad_sum.to(torch.float64),
                 grad_max.to(torch.float64), top]).tolist()
            steps = max(state.batch, 1)
            record: dict[str, Any] = {
                "epoch": epoch,
                "train_loss": train_loss_total / seen,
                "train_accuracy": n_correct / seen,
            }

            # -- validate, unless training diverged: a model that outputs NaN has nothing to measure
            diverged = not math.isfinite(record["train_loss"])
            if val_batches is not None and not diverged:
                val_metrics = self._evaluate(model, val_batches, task, loss_terms, val_acc)
                record.update({
                    "val_loss": val_metrics["loss"],
                    "val_accuracy": val_metrics["accuracy"],
                    "val_precision": val_metrics["precision"],
                    "val_recall": val_metrics["recall"],
                    "val_f1": val_metrics["f1"],
                    "val_balanced_accuracy": val_metrics["balanced_accuracy"],
                })
            record.update({
                "lr": lr,
                "grad_norm_mean": g_sum / steps,
                "grad_norm_max": g_max,
                "grad_top_layer": params[int(top_idx)][0] if params else None,
                "steps": state.step,
                "seconds": time.perf_counter() - started,
            })
            state.history.append(record)

            # -- schedule per epoch, then callbacks, then stop?
            if schedule_every == "epoch" and scheduler is not None:
                scheduler.step()
            elif schedule_every == "plateau":
                monitored = record.get("val_loss", record["train_loss"])
                if monitored is not None and math.isfinite(monitored):
                    scheduler.step(monitored)
            if diverged:
                state.should_stop = True
                state.stop_reason = f"training loss became {record['train_loss']} at epoch {epoch}"
            self._call("on_epoch_end", state, record)
            if state.should_stop:
                log.info("stopping at epoch %d: %s", epoch, state.stop_reason)
                break

        self._call("on_fit_end", state)
        return self._finish(model, state, task, val_metrics, val_acc, train_batches, val_batches, data_info)

    def _finish(self, model: nn.Module, state: TrainState, task: Task, val_metrics: dict | None,
                val_acc: MetricAccumulator, train_batches: Any, val_batches: Any, data_info: dict | None) -> Run:
        history = state.history
        best_epoch = _best_epoch(history)
        thresholds = None
        if val_metrics is not None and task.binary:
            thresholds = val_acc.thresholds()
        data = {"labels": task.labels, "num_classes": task.num_classes, "positive": task.positive,
                "n_train": train_batches.num_samples,
                "n_val": val_batches.num_samples if val_batches is not None else 0}
        counts = _class_counts(task.num_classes, train_batches, val_batches)
        if counts is not None:
            data["class_counts"] = counts
        if data_info:
            data.update(data_info)
        findings = diagnose(history, metrics=val_metrics, data=data)
        return Run(history=history, metrics=val_metrics, findings=findings, verdict=verdict(findings),
                   best_epoch=best_epoch, thresholds=thresholds, config=self.config.to_dict(), data=data,
                   model=model, stop_reason=state.stop_reason)

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, model: nn.Module, data: Any) -> dict:
        """Metrics of one pass over ``data`` (the model is left in eval mode)."""
        cfg = self.config
        device = resolve_device(cfg.device)
        model.to(device)
        batches = make_batches(data, cfg.val_batch_size or 4 * cfg.batch_size, shuffle=False, seed=cfg.seed,
                               device=device, name="data")
        task = self._task(model, batches, None)
        acc = MetricAccumulator(task.num_classes, device=device, binary_scores=task.binary)
        return self._evaluate(model, batches, task, self._loss(task, None, device), acc)

    def _evaluate(self, model: nn.Module, batches: Any, task: Task, loss_terms: Any,
                  acc: MetricAccumulator) -> dict:
        model.eval()
        acc.reset()
        with torch.inference_mode():
            for xb, yb in batches.epoch(0):
                out = model(xb)
                preds, scores = self._predict(out, task)
                acc.update(preds, yb, loss_sum=loss_terms(out, yb).sum(), scores=scores)
        return acc.compute(labels=task.labels, positive=task.positive)

    # ------------------------------------------------------------------ helpers
    def _call(self, hook: str, state: TrainState, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(state, *args)

    def _task(self, model: nn.Module, train: Any, val: Any) -> Task:
        """Infer the task from one forward pass and check the labels fit the model's output."""
        xb, _ = next(iter(train.epoch(0)))
        was_training = model.training
        model.eval()
        with torch.inference_mode():
            out = model(xb[:2])
        model.train(was_training)
        if out.dim() == 1 or (out.dim() == 2 and out.shape[1] == 1):
            num_classes, single = 2, True
        elif out.dim() == 2:
            num_classes, single = out.shape[1], False
        else:
            raise InputError(f"the model returned shape {tuple(out.shape)}; a classifier returns [N, C] logits "
                             "(or [N] / [N, 1] for a binary task).")
        for name, batches in (("train", train), ("val", val)):
            if isinstance(batches, TensorBatches):
                top = int(batches.y.max())
                if top >= num_classes:
                    raise InputError(f"{name}: label {top} is out of range for a model with {num_classes} "
                                     f"outputs; labels must be 0..{num_classes - 1}.")
        labels = self.labels or [str(i) for i in range(num_classes)]
        if len(labels) != num_classes:
            raise InputError(f"{len(labels)} labels were given for a model with {num_classes} classes.")
        positive = None
        if num_classes == 2:
            positive = 1 if self.positive is None else self.positive
            if positive not in (0, 1):
                raise InputError(f"positive class index must be 0 or 1, but got {positive!r}.")
        elif self.config.threshold is not None:
            raise InputError("a decision threshold applies to binary tasks only.")
        return Task(num_classes, single, labels, positive, self.config.threshold)

    def _loss(self, task: Task, train: Any, device: torch.device):
        """Per-sample losses: cross-entropy over C logits, or BCE with logits for one logit."""
        if self.loss_fn is not None:
            user_loss = self.loss_fn

            def custom(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                return user_loss(out, y).reshape(1).expand(len(y))   # a batch mean, weighted per sample

            return custom
        weights = self._class_weights(task, train, device)
        if task.single_logit:
            pos_weight = None if weights is None else (weights[1] / weights[0]).reshape(1)

            def bce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                logits = out.reshape(-1)
                return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), pos_weight=pos_weight,
                                                          reduction="none")

            return bce

        def cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(out, y, weight=weights, reduction="none")

        return cross_entropy

    def _class_weights(self, task: Task, train: Any, device: torch.device) -> torch.Tensor | None:
        cw = self.config.class_weights
        if cw is None or train is None:
            return None
        if cw == "balanced":
            if not isinstance(train, TensorBatches):
                raise InputError("class_weights='balanced' needs in-memory training data; "
                                 "pass one weight per class instead.")
            counts = torch.bincount(train.y, minlength=task.num_classes).to(torch.float32)
            return (counts.sum() / (task.num_classes * counts.clamp(min=1))).to(device)
        if len(cw) != task.num_classes:
            raise InputError(f"class_weights has {len(cw)} values for {task.num_classes} classes.")
        return torch.tensor([float(w) for w in cw], device=device)

    @staticmethod
    def _predict(out: torch.Tensor, task: Task, *, with_scores: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Predicted class indices, and the positive class's probability in binary tasks."""
        if task.threshold is None and not with_scores:     # the cheap path of training steps
            if task.single_logit:
                return (out.reshape(-1) >= 0).long(), None     # the logit is class 1's
            return out.argmax(dim=1), None
        if task.single_logit:
            p1 = torch.sigmoid(out.reshape(-1).float())
            scores = p1 if task.positive == 1 else 1 - p1
        elif task.binary:
            scores = torch.softmax(out.float(), dim=1)[:, task.positive]
        else:
            return out.argmax(dim=1), None
        threshold = 0.5 if task.threshold is None else task.threshold
        if task.threshold is None and not task.single_logit:
            return out.argmax(dim=1), scores
        is_positive = scores >= threshold
        return torch.where(is_positive, task.positive, 1 - task.positive), scores


def _grad(p: torch.Tensor) -> torch.Tensor:
    return p.grad if p.grad is not None else torch.zeros((), device=p.device)


def _best_epoch(history: list[dict]) -> int | None:
    key = "val_loss" if any(r.get("val_loss") is not None for r in history) else "train_loss"
    scored = [(r[key], r["epoch"]) for r in history if r.get(key) is not None and math.isfinite(r[key])]
    return min(scored)[1] if scored else None


def _class_counts(num_classes: int, train: Any, val: Any) -> list[int] | None:
    """Rows per class over training and validation data held in memory (one read, after training)."""
    if not isinstance(train, TensorBatches) or isinstance(val, LoaderBatches):
        return None
    counts = torch.bincount(train.y, minlength=num_classes)
    if val is not None:
        counts = counts + torch.bincount(val.y, minlength=num_classes)
    return counts.tolist()
