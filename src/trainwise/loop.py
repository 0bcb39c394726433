"""The one training loop: `Trainer.fit` and `Trainer.evaluate`.

Each epoch: ``model.train()``; per batch ``zero_grad`` -> forward -> loss -> ``backward`` ->
(gradient clipping) -> ``step``; the LR schedule steps; then validation under ``model.eval()`` and
``torch.inference_mode()``. Losses are averaged per sample, so a short last batch weighs what it holds.

Nothing in a step reads a value back to the host: loss sums, counts and gradient norms accumulate in
device tensors and are read once per epoch. This is what keeps trainwise as fast as a hand-written loop.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trainwise import decision, distributed
from trainwise.batching import make_batches
from trainwise.callbacks import Callback, TrainState
from trainwise.checkpoint import (
    load_checkpoint,
    remove_temp_files,
    rng_state,
    save_checkpoint,
    save_weights,
    set_rng_state,
)
from trainwise.config import TrainConfig, resolve_device
from trainwise.diagnostics import diagnose, verdict
from trainwise.errors import InputError
from trainwise.metrics import MetricAccumulator
from trainwise.optim import build_optimizer, build_scheduler
from trainwise.tracking import Best, EpochSums

log = logging.getLogger(__name__)

VAL_KEYS = ("loss", "accuracy", "precision", "recall", "f1", "balanced_accuracy")
BEST_WEIGHTS = "best.safetensors"
FINAL_WEIGHTS = "model.safetensors"
EVAL_FOLD_ELEMENTS = 1 << 16     # validation logits measured together (256 kB in float32)
RESUMABLE_CHANGES = {"epochs", "checkpoint_dir", "checkpoint_every"}   # may differ when a run is resumed


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf and the run was asked to raise (``on_nan="raise"``)."""


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
    restored_epoch: int | None = None    # the epoch whose weights the model ends with, when not the last
    environment: dict = field(default_factory=dict)

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
            "restored_epoch": self.restored_epoch,
            "environment": self.environment,
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
    def fit(self, model: nn.Module, train: Any, val: Any = None, *, data_info: dict | None = None,
            resume: bool | str | Path = False) -> Run:
        """Train ``model``; with ``resume`` (True: the config's checkpoint_dir, or a folder) continue from
        the last complete checkpoint and end exactly as a run never interrupted would have."""
        cfg = self.config
        world = distributed.setup(cfg.device)   # a world of one unless started by torchrun
        device = resolve_device(world.device(cfg.device))
        torch.manual_seed(cfg.seed)          # dropout and any other randomness of the model
        model.to(device)
        shard = {"rank": world.rank, "world_size": world.size}
        train_batches = make_batches(train, cfg.batch_size, shuffle=True, seed=cfg.seed, device=device, name="train",
                                     **shard)
        val_batches = None
        if val is not None:
            val_batches = make_batches(val, cfg.eval_batch_size, shuffle=False,
                                       seed=cfg.seed, device=device, name="val", **shard)
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
        # gradients may be held until the sums' next flush unless something can change them in place first
        may_change_grads = cfg.grad_clip is not None or not isinstance(cfg.optimizer, str) or world.distributed
        best = Best(cfg.monitor, cfg.min_delta, keep_weights=cfg.keeps_best)
        folder = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
        writer = folder if world.is_main else None       # rank 0 alone writes; every rank can read
        if writer is not None:
            try:
                writer.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"{writer}: cannot create the checkpoint folder ({exc.strerror}); choose another "
                                 "checkpoint_dir (--out).") from None
            remove_temp_files(writer)
        _check_monitor(cfg.monitor, has_val=val_batches is not None)
        start_epoch, partial = 1, None
        if resume:
            start_epoch, partial = self._restore(Path(folder if resume is True else resume), state, best)
        val_metrics: dict | None = None
        # score histograms (thresholds, AP, ROC AUC) are read once per fit: only the final pass keeps them
        val_acc = MetricAccumulator(task.num_classes, device=device, binary_scores=task.binary)
        epoch_acc = MetricAccumulator(task.num_classes, device=device, binary_scores=False)
        batch_mean = _batch_mean(loss_terms)
        scored = diverged = False                 # whether val_metrics came from a pass with scores
        # state dicts always come from `model`; training steps go through DDP under torchrun
        trained = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                      else None) if world.distributed else model
        forward = torch.compile(trained) if cfg.compile else trained
        evaluate = torch.compile(model) if cfg.compile else model
        autocast = _autocast(device, cfg.precision)

        self._call("on_fit_start", state)
        for epoch in range(start_epoch, cfg.epochs + 1):
            if state.stop_reason is not None:      # a resumed run that had already stopped
                break
            state.epoch, state.batch = epoch, 0
            started = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            sums = EpochSums.for_params(device, [p for _, p in params], may_change_grads=may_change_grads,
                                        predict=lambda out: self._predict(out, task, with_scores=False)[0])
            if partial is not None:                # resuming mid-epoch: carry the epoch's sums over
                # rank 0's checkpoint holds the interrupted epoch's sums over all ranks: only rank 0 takes them
                sums.load_state_dict(partial["sums"], device, summed_part=world.is_main)
                state.batch, lr = partial["batch"], partial["lr"]
                started -= partial["seconds"]
                partial = None
            self._call("on_epoch_start", state)

            # -- train one epoch; sums stay on the device
            model.train()
            state.train_loss_sum, state.train_sums = sums.loss, sums
            for xb, yb in train_batches.epoch(epoch, start_batch=state.batch):
                optimizer.zero_grad(set_to_none=True)
                with autocast:
                    out = forward(xb)
                    loss = batch_mean(out, yb)
                loss.backward()
                grads = [_grad(p) for _, p in params]
                if not sums.defer_norms:         # measured now, before clipping or anything else changes them
                    grads = torch._foreach_norm(grads)
                if cfg.grad_clip is not None:
                    nn.utils.clip_grad_norm_([p for _, p in params], cfg.grad_clip)
                optimizer.step()
                if schedule_every == "batch":
                    scheduler.step()
                sums.add(loss.detach(), out.detach(), yb, grads)        # references only: see EpochSums
                state.step += 1
                state.batch += 1
                state.train_count = sums.seen
                self._call("on_batch_end", state)
                if (folder is not None and cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0
                        and state.batch < state.steps_per_epoch):
                    self._checkpoint(writer, state, best, sums=sums.summed(world), lr=lr,
                                     seconds=time.perf_counter() - started)

            # -- one host read for the whole epoch (and one all-reduce under torchrun)
            train_loss, train_accuracy, grad_mean, grad_max, top = sums.summed(world).read()
            record: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_accuracy}

            # -- validate, unless training diverged: a model that outputs NaN has nothing to measure
            diverged = not math.isfinite(train_loss)
            if val_batches is not None and not diverged:
                scored = epoch == cfg.epochs
                measured = self._evaluate(evaluate, val_batches, task, loss_terms, val_acc if scored else epoch_acc,
                                          autocast, world, diverged_ok=True)
                if measured is None:                 # the epoch's last steps broke the weights
                    diverged = True
                    record["val_loss"] = math.nan
                else:
                    val_metrics = measured
                    record.update({f"val_{key}": val_metrics[key] for key in VAL_KEYS})
            record.update({
                "lr": lr,
                "grad_norm_mean": grad_mean,
                "grad_norm_max": grad_max,
                "grad_top_layer": params[top][0] if params else None,
                "steps": state.step,
                "seconds": time.perf_counter() - started,
            })
            state.history.append(record)

            # -- schedule per epoch; NaN guard; best epoch and early stopping; callbacks; checkpoint
            if schedule_every == "epoch" and scheduler is not None:
                scheduler.step()
            elif schedule_every == "plateau":
                monitored = record.get("val_loss", record["train_loss"])
                if monitored is not None and math.isfinite(monitored):
                    scheduler.step(monitored)
            if diverged:
                state.should_stop = True
                state.stop_reason = (f"training loss became {train_loss} at epoch {epoch}"
                                     if not math.isfinite(train_loss)
                                     else f"the outputs became NaN or Inf after the last steps of epoch {epoch}")
                if cfg.on_nan == "raise":
                    raise TrainingDiverged(f"{state.stop_reason}; lower the learning rate or clip gradients "
                                           "(the last good checkpoint is kept).")
            elif best.update(record, model) and writer is not None:
                save_weights(writer / BEST_WEIGHTS, model)
            if cfg.early_stopping is not None and best.wait >= cfg.early_stopping and not state.should_stop:
                state.should_stop = True
                state.stop_reason = (f"early stopping: {cfg.monitor} did not improve by more than {cfg.min_delta} "
                                     f"for {best.wait} epochs after epoch {best.epoch}")
            self._call("on_epoch_end", state, record)
            state.should_stop = world.agree(state.should_stop, device)   # no rank may wait for another
            if state.should_stop and state.stop_reason is None:
                state.stop_reason = f"stopped by a callback on another rank at epoch {epoch}"
            if folder is not None and not diverged:
                self._checkpoint(writer, state, best)
            if state.should_stop:
                log.info("stopping at epoch %d: %s", epoch, state.stop_reason)
                break

        self._call("on_fit_end", state)
        restored = None
        if best.weights is not None and state.history and best.epoch != state.history[-1]["epoch"]:
            model.load_state_dict(best.weights)    # end with the best epoch's weights, stopped early or not
            restored = best.epoch
            scored = False                        # measured again below, with scores
        # stopped early, restored, or resumed after the end: one final pass with scores (none on NaN weights)
        if val_batches is not None and state.history and not scored and (restored is not None or not diverged):
            val_metrics = self._evaluate(evaluate, val_batches, task, loss_terms, val_acc, autocast, world)
        if writer is not None:
            save_weights(writer / FINAL_WEIGHTS, model)
        thresholds = None
        if val_metrics is not None and task.binary:
            thresholds = self._thresholds(val_acc)
            rule = cfg.threshold_rule
            if rule is not None:
                thresholds["applied"] = applied = decision.resolve(rule, thresholds, val_acc)
                if rule.fixed is None and applied["threshold"] is not None:   # chosen on validation: measure there
                    task.threshold = applied["threshold"]
                    val_metrics = self._evaluate(evaluate, val_batches, task, loss_terms, val_acc, autocast, world)
        run = self._finish(model, state, task, val_metrics, thresholds, train_batches, val_batches, data_info,
                           restored)
        run.best_epoch = best.epoch
        return run

    def _checkpoint(self, folder: Path | None, state: TrainState, best: Best, *, sums: EpochSums | None = None,
                    lr: float | None = None, seconds: float = 0.0) -> None:
        """Everything needed to continue exactly: weights, optimizer, schedule, counters, RNG, history.
        ``folder`` is None on ranks other than 0, which write nothing."""
        if folder is None:
            return
        partial = None
        if sums is not None:                       # mid-epoch: never save weights from a diverged step
            if not math.isfinite(float(sums.loss)):
                return
            partial = {"sums": sums.state_dict(), "batch": state.batch, "lr": lr, "seconds": seconds}
        save_checkpoint(folder, {
            "format": "trainwise-checkpoint-1",
            "config": self.config.to_dict(),
            "model": state.model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
            "epoch": state.epoch,
            "partial": partial,                    # None: the epoch is complete
            "step": state.step,
            "history": state.history,
            "best": best.state_dict(),
            "stop_reason": state.stop_reason,
            "rng": rng_state(),
        })

    def _restore(self, folder: Path, state: TrainState, best: Best) -> tuple[int, dict | None]:
        """Load the last complete checkpoint into the live objects; return where to start."""
        payload, path = load_checkpoint(folder)
        saved, current = payload["config"], self.config.to_dict()
        differ = [k for k in current if k not in RESUMABLE_CHANGES and saved.get(k) != current[k]]
        if differ:
            raise InputError(f"{path}: the run was started with other settings ({', '.join(differ)}); "
                             "resume with the same settings, or start a new run in another folder.")
        state.model.load_state_dict(payload["model"])
        state.optimizer.load_state_dict(payload["optimizer"])
        if state.scheduler is not None and payload["scheduler"] is not None:
            state.scheduler.load_state_dict(payload["scheduler"])
        state.step, state.history, state.stop_reason = payload["step"], payload["history"], payload["stop_reason"]
        best.load_state_dict(payload["best"])
        set_rng_state(payload["rng"])
        log.info("resuming from %s (epoch %d, step %d)", path, payload["epoch"], payload["step"])
        partial = payload["partial"]
        return (payload["epoch"], partial) if partial is not None else (payload["epoch"] + 1, None)

    def _thresholds(self, acc: MetricAccumulator) -> dict:
        """Best-F1 and target-recall/precision thresholds on the validation scores, and the PR curve."""
        cfg = self.config
        thresholds = acc.thresholds(target_recall=cfg.target_recall, target_precision=cfg.target_precision)
        thresholds["curve"] = acc.pr_curve()
        return thresholds

    def _finish(self, model: nn.Module, state: TrainState, task: Task, val_metrics: dict | None,
                thresholds: dict | None, train_batches: Any, val_batches: Any, data_info: dict | None,
                restored_epoch: int | None) -> Run:
        history = state.history
        data = {"labels": task.labels, "num_classes": task.num_classes, "positive": task.positive,
                "n_train": _total(train_batches), "n_val": _total(val_batches) if val_batches is not None else 0}
        counts = _class_counts(task.num_classes, train_batches, val_batches)
        if counts is not None:
            data["class_counts"] = counts
        if data_info:
            data.update(data_info)
        findings = diagnose(history, metrics=val_metrics, data=data, restored_epoch=restored_epoch,
                            thresholds=thresholds)
        return Run(history=history, metrics=val_metrics, findings=findings, verdict=verdict(findings),
                   best_epoch=None, thresholds=thresholds, config=self.config.to_dict(), data=data,
                   model=model, stop_reason=state.stop_reason, restored_epoch=restored_epoch, environment=environment(next(iter(
                       model.parameters()), torch.empty(0)).device))

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, model: nn.Module, data: Any) -> dict:
        """Metrics of one pass over ``data`` (the model is left in eval mode)."""
        cfg = self.config
        device = resolve_device(cfg.device)
        model.to(device)
        batches = make_batches(data, cfg.eval_batch_size, shuffle=False, seed=cfg.seed,
                               device=device, name="data")
        task = self._task(model, batches, None)
        acc = MetricAccumulator(task.num_classes, device=device, binary_scores=task.binary)
        return self._evaluate(model, batches, task, self._loss(task, None, device), acc)

    def _evaluate(self, model: nn.Module, batches: Any, task: Task, loss_terms: Any, acc: MetricAccumulator,
                  autocast: Any = None, world: distributed.World | None = None,
                  diverged_ok: bool = False) -> dict | None:
        """One pass; under torchrun each rank sees its own rows once and one all-reduce sums the counts.
        A model whose outputs are NaN gives None with ``diverged_ok``, else an InputError."""
        autocast = autocast if autocast is not None else contextlib.nullcontext()
        model.eval()
        acc.reset()
        # outputs are measured a fold at a time (up to EVAL_FOLD_ELEMENTS logits): the per-batch metric
        # work would cost more than the forward pass of a small model; a custom loss sees each batch
        limit = 0 if self.loss_fn is not None else EVAL_FOLD_ELEMENTS
        outs: list[torch.Tensor] = []
        targets: list[torch.Tensor] = []

        def fold() -> None:
            out, y = (outs[0], targets[0]) if len(outs) == 1 else (torch.cat(outs), torch.cat(targets))
            preds, scores = self._predict(out, task, with_scores=acc.binary_scores)
            acc.update(preds, y, loss_sum=loss_terms(out, y).sum(), scores=scores if acc.binary_scores else None)
            outs.clear()
            targets.clear()

        with torch.inference_mode():
            held = 0
            for xb, yb in batches.epoch(0):
                with autocast:
                    out = model(xb)
                outs.append(out)
                targets.append(yb)
                held += out.numel()
                if held >= limit:
                    fold()
                    held = 0
            if outs:
                fold()
        if world is not None and world.distributed:
            world.all_reduce(acc.state())
        if acc.diverged():
            if diverged_ok:
                return None
            raise InputError("the model's outputs are NaN or Inf on this data: its weights have blown up "
                             "(train with a lower learning rate) or the inputs hold huge values.")
        return acc.compute(labels=task.labels, positive=task.positive)

    # ------------------------------------------------------------------ helpers
    def _call(self, hook: str, state: TrainState, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(state, *args)

    def _task(self, model: nn.Module, train: Any, val: Any) -> Task:
        """Infer the task from one forward pass on a training batch (and check the validation data runs
        too) before any training, and check the labels fit the model's output."""
        was_training = model.training
        model.eval()
        out = _probe(model, train, "train")
        if val is not None:
            _probe(model, val, "val")
        model.train(was_training)
        if out.dim() == 1 or (out.dim() == 2 and out.shape[1] == 1):
            num_classes, single = 2, True
        elif out.dim() == 2:
            num_classes, single = out.shape[1], False
        else:
            raise InputError(f"the model returned shape {tuple(out.shape)}; a classifier returns [N, C] logits "
                             "(or [N] / [N, 1] for a binary task).")
        for name, batches in (("train", train), ("val", val)):
            counts = batches.label_counts(num_classes) if batches is not None else None
            if counts is not None and len(counts) > num_classes:
                top = len(counts) - 1
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
        rule = self.config.threshold_rule
        fixed = rule.fixed if rule is not None else None       # rules wait for the end of the fit
        return Task(num_classes, single, labels, positive, fixed)

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

        if weights is None:                      # unweighted: the fused mean equals the per-sample mean
            cross_entropy.batch_mean = F.cross_entropy  # type: ignore[attr-defined]
        return cross_entropy

    def _class_weights(self, task: Task, train: Any, device: torch.device) -> torch.Tensor | None:
        cw = self.config.class_weights
        if cw is None or train is None:
            return None
        if cw == "balanced":
            counts = train.label_counts(task.num_classes)
            if counts is None:
                raise InputError("class_weights='balanced' needs the training labels counted (in-memory or "
                                 "streamed data); with a DataLoader, pass one weight per class instead.")
            counts = counts.to(torch.float32)
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
            return _argmax(out), None
        if task.single_logit:
            p1 = torch.sigmoid(out.reshape(-1).float())
            scores = p1 if task.positive == 1 else 1 - p1
        elif task.binary:        # the softmax of two logits, 20x cheaper on the CPU than torch.softmax
            logits = out.float()
            scores = torch.sigmoid(logits[:, task.positive] - logits[:, 1 - task.positive])
        else:
            return out.argmax(dim=1), None
        threshold = 0.5 if task.threshold is None else task.threshold
        if task.threshold is None and not task.single_logit:
            return _argmax(out), scores
        is_positive = scores >= threshold
        return torch.where(is_positive, task.positive, 1 - task.positive), scores


def _argmax(out: torch.Tensor) -> torch.Tensor:
    """``out.argmax(dim=1)``; of two logits by one comparison (ties go to class 0 in both), which the CPU
    does 5x faster than an argmax over a dimension of two (benchmarks/run.py --only kernels)."""
    if out.shape[1] == 2:
        return (out[:, 1] > out[:, 0]).long()
    return out.argmax(dim=1)


def _probe(model: nn.Module, batches: Any, name: str) -> torch.Tensor:
    """The model's output on two rows of the first batch; a model that cannot take the data is bad input."""
    xb, _ = next(iter(batches.epoch(0)))
    try:
        with torch.inference_mode():
            return model(xb[:2])
    except (RuntimeError, TypeError, ValueError, IndexError) as exc:
        shape = "[N, " + ", ".join(str(d) for d in xb.shape[1:]) + "]"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{name}: the model cannot run on X of dtype {xb.dtype} and shape {shape} ({reason}); "
                         "pass float features with the same columns as the training data.") from None


def _batch_mean(loss_terms: Any) -> Any:
    """The training step's loss: the mean of the per-sample losses. Plain cross-entropy takes the fused
    mean (one kernel fewer per step); weighted or custom losses average their per-sample terms."""
    return getattr(loss_terms, "batch_mean", None) or (lambda out, y: loss_terms(out, y).mean())


def environment(device: torch.device) -> dict:
    """Versions and device, so a run can be repeated."""
    import platform

    from trainwise import __version__
    env = {"python": platform.python_version(), "torch": torch.__version__, "trainwise": __version__,
           "platform": platform.platform(), "device": str(device),
           "world_size": distributed.current().size}
    if device.type == "cuda":
        env["device_name"] = torch.cuda.get_device_name(device)
    return env


def _autocast(device: torch.device, precision: str) -> Any:
    """bf16 autocast for forward and loss; a no-op context in fp32. Reusable across steps."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


RECORDED = ("train_loss", "train_accuracy", "lr", "grad_norm_mean", "grad_norm_max")


def _check_monitor(monitor: str, *, has_val: bool) -> None:
    """Refuse, before training, a `monitor` this run will not record."""
    keys = list(RECORDED) + ([f"val_{k}" for k in VAL_KEYS] if has_val else [])
    if monitor not in keys and not (monitor == "val_loss" and not has_val):
        raise InputError(f"`monitor` {monitor!r} is not a key this run records; available: {', '.join(keys)}.")


def _grad(p: torch.Tensor) -> torch.Tensor:
    return p.grad if p.grad is not None else torch.zeros((), device=p.device)


def _class_counts(num_classes: int, train: Any, val: Any) -> list[int] | None:
    """Rows per class over training and validation data, when their labels are known without a pass."""
    parts = [b.label_counts(num_classes) for b in (train, val) if b is not None]
    return None if any(p is None for p in parts) else sum(parts).tolist()


def _total(batches: Any) -> int | None:
    """Rows in the whole data set, over all ranks."""
    return getattr(batches, "total_samples", batches.num_samples)
