"""The one training loop: `Trainer.fit` and `Trainer.evaluate`.

Each epoch: ``model.train()``; per batch ``zero_grad`` -> forward -> loss -> ``backward`` ->
(gradient clipping) -> ``step``; the LR schedule steps; then validation under ``model.eval()`` and
``torch.inference_mode()``. The loop feeds a `Monitor` -- the same engine a hand-written loop can
drive -- which keeps the sums, the history, the best epoch and, at the end, the findings and verdict.

Nothing in a step reads a value back to the host: loss sums, counts and gradient norms accumulate in
device tensors and are read once per epoch. This is what keeps trainwise as fast as a hand-written loop.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainwise import distributed
from trainwise.assessment import assess
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
from trainwise.errors import InputError
from trainwise.monitor import VAL_KEYS, Monitor
from trainwise.optim import build_optimizer, build_scheduler
from trainwise.run import Run, data_facts, environment
from trainwise.task import (
    Task,
    batch_mean,
    check_loss,
    check_trainable,
    forward,
    loss_terms,
    probe,
    weighted_mean,
)
from trainwise.tracking import Best, step_grad

log = logging.getLogger(__name__)

BEST_WEIGHTS = "best.safetensors"
FINAL_WEIGHTS = "model.safetensors"
RESUMABLE_CHANGES = {"epochs", "checkpoint_dir", "checkpoint_every",   # may differ when a run is resumed
                     "baseline", "calibrate"}
FIXED_LENGTH_SCHEDULES = {"step", "cosine", "onecycle"}   # their shape is drawn over the run's epochs
RECORDED = ("train_loss", "train_accuracy", "lr", "grad_norm_mean", "grad_norm_max")

__all__ = ["Run", "Trainer", "TrainingDiverged"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf and the run was asked to raise (``on_nan="raise"``)."""


@dataclass
class _Fit:
    """Everything one fit holds between its phases."""

    model: nn.Module
    device: torch.device
    world: distributed.World
    train: Any
    val: Any
    task: Task
    mon: Monitor
    optimizer: torch.optim.Optimizer
    scheduler: Any
    schedule_every: str | None
    state: TrainState
    step_loss: Any                 # (outputs, targets) -> the batch's mean loss
    terms: Any                     # (outputs, targets) -> per-sample losses (weighted batches)
    forward: Any                   # the training forward (DDP and/or compiled)
    evaluate: Any                  # the evaluation forward (compiled or the model)
    autocast: Any
    folder: Path | None            # the checkpoint folder (every rank reads)
    writer: Path | None            # the same, on rank 0 only (the one that writes)
    may_change_grads: bool
    partial: dict | None = None    # a resumed epoch's saved sums
    diverged: bool = False
    scored: bool = False           # whether the metrics in hand came from a pass with scores


class Trainer:
    """Train and evaluate a classifier.

    >>> trainer = Trainer(optimizer="adam", lr=1e-3, epochs=20, batch_size=256, seed=0)
    >>> run = trainer.fit(model, (X_train, y_train), (X_val, y_val))   # doctest: +SKIP

    ``train``/``val`` are (X, y) tensors or arrays, a ``Dataset`` or a ``DataLoader``; a Dataset or
    DataLoader may yield ``(inputs, targets)``, ``(inputs, targets, sample_weight)`` or a dict with the
    targets under ``labels`` (see `trainwise.batching`). Binary models may output one score per row
    (``[N]`` or ``[N, 1]``) or two; multiclass models C; multi-label models (``[N, L]`` 0/1 targets) L.
    Outputs may be logits or probabilities (a final sigmoid or softmax; see `trainwise.task`).

    ``loss_fn`` receives, for one-output models, ``(outputs [N] float, targets [N] float)``; for C
    outputs ``(logits [N, C], targets [N] long)``; multi-label ``(logits [N, L], targets [N, L] float)``,
    and returns the batch mean or one loss per sample. ``batch``: a function mapping each raw batch of a
    Dataset or DataLoader to ``(inputs, targets)`` (or with ``sample_weight``). ``collate_fn``,
    ``num_workers``, ``pin_memory``: for the DataLoader built from a Dataset. ``progress``: a live
    progress display on stderr; None (the default) shows it when stderr is a terminal.
    """

    def __init__(self, *, callbacks: Sequence[Callback] = (), loss_fn: Any = None,
                 labels: Sequence[str] | None = None, positive: int | None = None,
                 batch: Callable[[Any], Any] | None = None, collate_fn: Callable | None = None,
                 num_workers: int = 0, pin_memory: bool | None = None, progress: bool | None = None,
                 config: TrainConfig | None = None, **settings: Any) -> None:
        self.config = config if config is not None else TrainConfig(**settings)
        self.callbacks = list(callbacks)
        self.loss_fn = loss_fn
        self.labels = [str(label) for label in labels] if labels is not None else None
        self.positive = positive
        if batch is not None and not callable(batch):
            raise InputError(f"Expected `batch` to be a function mapping a batch to (inputs, targets), but got "
                             f"{batch!r}.")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise InputError(f"Expected `num_workers` to be an int >= 0, but got {num_workers!r}.")
        self.loader_options = {"hook": batch, "collate_fn": collate_fn, "num_workers": num_workers,
                               "pin_memory": pin_memory}
        self.progress = progress
        self._running: list[Callback] = self.callbacks
        self._identity: dict = {}

    # ------------------------------------------------------------------ fit
    def fit(self, model: nn.Module, train: Any, val: Any = None, *, data_info: dict | None = None,
            resume: bool | str | Path = False, identity: dict | None = None) -> Run:
        """Train ``model``; with ``resume`` (True: the config's checkpoint_dir, or a folder) continue from
        the last complete checkpoint and end exactly as a run never interrupted would have.

        ``identity`` is what defines the run beyond this Trainer's settings (the CLI passes the data's
        fingerprint, the target, the model's shape, ...): checkpoints keep it, and resuming with another
        is refused, as is resuming with other settings (beyond `RESUMABLE_CHANGES`)."""
        self._identity = dict(identity or {})
        fit = self._set_up(model, train, val)
        self._running = self.callbacks + self._progress_display(fit.world)
        start = self._restore(fit, resume) if resume else 1
        state = fit.state
        self._call("on_fit_start", state)
        for epoch in range(start, self.config.epochs + 1):
            if state.stop_reason is not None:      # a resumed run that had already stopped
                break
            started = self._train_epoch(fit, epoch)
            record = self._validate_epoch(fit, epoch, started)
            self._end_epoch(fit, record)
            if state.should_stop:
                log.info("stopping at epoch %d: %s", epoch, state.stop_reason)
                break
        self._call("on_fit_end", state)
        return self._finish(fit, data_info)

    def _set_up(self, model: nn.Module, train: Any, val: Any) -> _Fit:
        """Device, batches, task, loss, optimizer, schedule, monitor and checkpoint folder of one fit."""
        cfg = self.config
        check_trainable(model)
        world = distributed.setup(cfg.device)   # a world of one unless started by torchrun
        device = resolve_device(world.device(cfg.device))
        torch.manual_seed(cfg.seed)          # dropout and any other randomness of the model
        model.to(device)
        shard = {"rank": world.rank, "world_size": world.size, **self.loader_options}
        train_batches = make_batches(train, cfg.batch_size, shuffle=True, seed=cfg.seed, device=device, name="train",
                                     **shard)
        val_batches = None if val is None else make_batches(val, cfg.eval_batch_size, shuffle=False, seed=cfg.seed,
                                                            device=device, name="val", **shard)
        found = probe(model, train_batches, val_batches, labels=self.labels, positive=self.positive,
                      rule=cfg.threshold_rule)
        task = found.task
        terms = loss_terms(task, loss_fn=self.loss_fn, class_weights=cfg.class_weights, train=train_batches,
                           device=device)
        loss_on = check_loss(found, terms)
        del found                            # the probe's graph
        optimizer = build_optimizer(cfg.optimizer, model, cfg.resolved_optimizer(),
                                    no_decay_on_bias_and_norm=cfg.no_decay_on_bias_and_norm)
        scheduler, schedule_every = build_scheduler(cfg.schedule, optimizer, epochs=cfg.epochs,
                                                    steps_per_epoch=len(train_batches),
                                                    warmup_epochs=cfg.warmup_epochs)
        state = TrainState(model=model, optimizer=optimizer, scheduler=scheduler, epochs=cfg.epochs,
                           steps_per_epoch=len(train_batches))
        # gradients may be held until the sums' next flush unless something can change them in place first
        may_change_grads = cfg.grad_clip is not None or not isinstance(cfg.optimizer, str) or world.distributed
        mon = self._monitor(task, device, model, terms, may_change_grads, world)
        mon.loss_input = loss_on
        state.history = mon.history
        folder = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
        writer = folder if world.is_main else None       # rank 0 alone writes; every rank can read
        _prepare_folder(writer)
        _check_monitor(cfg.monitor, has_val=val_batches is not None)
        # state dicts always come from `model`; training steps go through DDP under torchrun
        trained = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                      else None) if world.distributed else model
        return _Fit(model=model, device=device, world=world, train=train_batches, val=val_batches, task=task,
                    mon=mon, optimizer=optimizer, scheduler=scheduler, schedule_every=schedule_every, state=state,
                    step_loss=batch_mean(terms), terms=terms,
                    forward=torch.compile(trained) if cfg.compile else trained,
                    evaluate=torch.compile(model) if cfg.compile else model,
                    autocast=_autocast(device, cfg.precision), folder=folder, writer=writer,
                    may_change_grads=may_change_grads)

    def _monitor(self, task: Task, device: torch.device, model: nn.Module, terms: Any, may_change_grads: bool,
                 world: distributed.World) -> Monitor:
        cfg = self.config
        mon = Monitor(task.labels, task.positive, loss_fn=self.loss_fn, threshold=cfg.threshold_rule,
                      target_recall=cfg.target_recall, target_precision=cfg.target_precision,
                      monitor=cfg.monitor, min_delta=cfg.min_delta)
        mon.best = Best(cfg.monitor, cfg.min_delta, keep_weights=cfg.keeps_best)
        named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        mon.start(task, device, named_params=named, terms=terms, eager_norms=may_change_grads, world=world)
        return mon

    def _train_epoch(self, fit: _Fit, epoch: int) -> float:
        """One epoch of steps; the sums stay on the device. Returns the epoch's start time."""
        cfg, state, mon = self.config, fit.state, fit.mon
        state.epoch, state.batch = epoch, 0
        started = time.perf_counter()
        state.lr = fit.optimizer.param_groups[0]["lr"]
        sums = mon.new_epoch_sums()
        if fit.partial is not None:                # resuming mid-epoch: carry the epoch's sums over
            # rank 0's checkpoint holds the interrupted epoch's sums over all ranks: only rank 0 takes them
            sums.load_state_dict(fit.partial["sums"], fit.device, summed_part=fit.world.is_main)
            state.batch, state.lr = fit.partial["batch"], fit.partial["lr"]
            started -= fit.partial["seconds"]
            fit.partial = None
        self._call("on_epoch_start", state)
        fit.model.train()
        params = mon.params
        state.train_loss_sum, state.train_sums = sums.loss, sums
        for batch in fit.train.epoch(epoch, start_batch=state.batch):
            xb, yb = batch[0], batch[1]      # inputs (a tensor, tuple or dict), targets[, sample weights]
            fit.optimizer.zero_grad(set_to_none=True)
            with fit.autocast:
                out = forward(fit.forward, xb)
                loss = fit.step_loss(out, yb) if len(batch) == 2 else weighted_mean(fit.terms, out, yb, batch[2])
            loss.backward()
            grads = [step_grad(p) for p in params]
            if not sums.defer_norms:         # measured now, before clipping or anything else changes them
                grads = torch._foreach_norm(grads)
            if cfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            fit.optimizer.step()
            if fit.schedule_every == "batch":
                fit.scheduler.step()
            mon.train_step(loss, out, yb, grads)        # references only: see EpochSums
            state.step += 1
            state.batch += 1
            state.train_count = sums.seen
            self._call("on_batch_end", state)
            if (fit.folder is not None and cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0
                    and state.batch < state.steps_per_epoch):
                self._checkpoint(fit, sums=sums.summed(fit.world), seconds=time.perf_counter() - started)
        return started

    def _validate_epoch(self, fit: _Fit, epoch: int, started: float) -> dict:
        """The epoch's record: one host read of the training sums, then validation -- unless training
        diverged: a model that outputs NaN has nothing to measure."""
        mon = fit.mon
        record = mon.read_train()
        fit.diverged = not math.isfinite(record["train_loss"])
        if fit.val is not None and not fit.diverged:
            fit.scored = epoch == self.config.epochs     # score histograms only in the last epoch's pass
            measured = self._measure(fit, scored=fit.scored, diverged_ok=True)
            fit.diverged = measured is None           # the epoch's last steps broke the weights
            mon.add_validation(record, measured)
        record.update(mon.closing_fields(fit.state.lr, {"steps": fit.state.step,
                                                        "seconds": time.perf_counter() - started}))
        return record

    def _end_epoch(self, fit: _Fit, record: dict) -> None:
        """Schedule per epoch; record the epoch and its best; NaN guard; early stopping; callbacks; checkpoint."""
        cfg, state, mon = self.config, fit.state, fit.mon
        self._schedule_epoch(fit, record)
        mon.close_epoch(record, model=fit.model, judge=not fit.diverged)
        if fit.diverged:
            self._stop_diverged(fit, record)
        elif mon.improved and fit.writer is not None:
            save_weights(fit.writer / BEST_WEIGHTS, fit.model)
        best = mon.best
        if cfg.early_stopping is not None and best.wait >= cfg.early_stopping and not state.should_stop:
            state.should_stop = True
            state.stop_reason = (f"early stopping: {cfg.monitor} did not improve by more than {cfg.min_delta} "
                                 f"for {best.wait} epochs after epoch {best.epoch}")
        self._call("on_epoch_end", state, record)
        state.should_stop = fit.world.agree(state.should_stop, fit.device)   # no rank may wait for another
        if state.should_stop and state.stop_reason is None:
            state.stop_reason = f"stopped by a callback on another rank at epoch {record['epoch']}"
        if fit.folder is not None and not fit.diverged:
            self._checkpoint(fit)

    def _schedule_epoch(self, fit: _Fit, record: dict) -> None:
        if fit.schedule_every == "epoch" and fit.scheduler is not None:
            fit.scheduler.step()
        elif fit.schedule_every == "plateau":
            monitored = record.get("val_loss", record["train_loss"])
            if monitored is not None and math.isfinite(monitored):
                fit.scheduler.step(monitored)

    def _stop_diverged(self, fit: _Fit, record: dict) -> None:
        """The NaN guard: stop (or raise, with ``on_nan="raise"``) saying where the run broke."""
        state, epoch, train_loss = fit.state, record["epoch"], record["train_loss"]
        state.should_stop = True
        state.stop_reason = (f"training loss became {train_loss} at epoch {epoch}" if not math.isfinite(train_loss)
                             else f"the outputs became NaN or Inf after the last steps of epoch {epoch}")
        if self.config.on_nan == "raise":
            raise TrainingDiverged(f"{state.stop_reason}; lower the learning rate or clip gradients "
                                   "(the last good checkpoint is kept).")

    def _finish(self, fit: _Fit, data_info: dict | None) -> Run:
        """End with the best weights when kept; one final scored pass when the metrics in hand lack scores;
        thresholds (a rule chosen on validation is measured there); findings and verdict."""
        mon, history = fit.mon, fit.mon.history
        restored = None
        best = mon.best
        if best.weights is not None and history and best.epoch != history[-1]["epoch"]:
            fit.model.load_state_dict(best.weights)    # end with the best epoch's weights, stopped early or not
            restored = best.epoch
            fit.scored = False                        # measured again below, with scores
        # stopped early, restored, or resumed after the end: one final pass with scores (none on NaN weights)
        if fit.val is not None and history and not fit.scored and (restored is not None or not fit.diverged):
            self._measure(fit, scored=True)
        if fit.writer is not None:
            save_weights(fit.writer / FINAL_WEIGHTS, fit.model)
        thresholds = mon.threshold_choices()
        if thresholds is not None:
            applied = mon.resolve_threshold(thresholds)
            if applied is not None and mon.rule.fixed is None and applied["threshold"] is not None:
                fit.task.threshold = applied["threshold"]       # chosen on validation: measure there
                self._measure(fit, scored=True)
        if fit.val is not None and mon.metrics is not None and (restored is not None or not fit.diverged):
            # calibration and the logistic-regression baseline of the final model (trainwise.assessment)
            cfg = self.config
            mon.metrics.update(assess(fit.evaluate, fit.task, fit.train, fit.val, baseline=cfg.baseline,
                                      calibrate=cfg.calibrate, autocast=fit.autocast, world=fit.world,
                                      device=fit.device,
                                      class_weights=cfg.class_weights if self.loss_fn is None else None))
        data = data_facts(fit.task, n_train=_total(fit.train), n_val=_total(fit.val) if fit.val is not None else 0,
                          class_counts=_class_counts(fit.task.num_classes, fit.train, fit.val), extra=data_info,
                          loss=mon.loss_input)
        device = next(iter(fit.model.parameters()), torch.empty(0)).device
        return mon.finish(thresholds=thresholds, data=data, config=self.config.to_dict(), model=fit.model,
                          stop_reason=fit.state.stop_reason, restored_epoch=restored,
                          environment=environment(device))

    def _measure(self, fit: _Fit, *, scored: bool, diverged_ok: bool = False) -> dict | None:
        """One validation pass through the monitor; under torchrun each rank sees its own rows once."""
        return validation_pass(fit.evaluate, fit.val, fit.mon, fit.autocast, scored=scored, diverged_ok=diverged_ok)

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint(self, fit: _Fit, *, sums: Any = None, seconds: float = 0.0) -> None:
        """Everything needed to continue exactly: weights, optimizer, schedule, counters, RNG, history.
        Ranks other than 0 write nothing."""
        state = fit.state
        if fit.writer is None:
            return
        partial = None
        if sums is not None:                       # mid-epoch: never save weights from a diverged step
            if not math.isfinite(float(sums.loss)):
                return
            partial = {"sums": sums.state_dict(), "batch": state.batch, "lr": state.lr, "seconds": seconds}
        save_checkpoint(fit.writer, {
            "format": "trainwise-checkpoint-1",
            "config": self.config.to_dict(),
            "model": state.model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
            "epoch": state.epoch,
            "partial": partial,                    # None: the epoch is complete
            "step": state.step,
            "history": state.history,
            "best": fit.mon.best.state_dict(),
            "stop_reason": state.stop_reason,
            "rng": rng_state(),
            "identity": self._identity,
        })

    def _restore(self, fit: _Fit, resume: bool | str | Path) -> int:
        """Load the last complete checkpoint into the live objects; return the epoch to start at."""
        folder = fit.folder if resume is True else Path(resume)
        payload, path = load_checkpoint(folder)
        self._check_same_run(fit, payload, path)
        state = fit.state
        state.model.load_state_dict(payload["model"])
        state.optimizer.load_state_dict(payload["optimizer"])
        if state.scheduler is not None and payload["scheduler"] is not None:
            state.scheduler.load_state_dict(payload["scheduler"])
        state.step, state.stop_reason = payload["step"], payload["stop_reason"]
        fit.mon.history[:] = payload["history"]
        fit.mon.best.load_state_dict(payload["best"])
        set_rng_state(payload["rng"])
        log.info("resuming from %s (epoch %d, step %d)", path, payload["epoch"], payload["step"])
        fit.partial = payload["partial"]
        return payload["epoch"] if fit.partial is not None else payload["epoch"] + 1

    def _check_same_run(self, fit: _Fit, payload: dict, path: Path) -> None:
        """Refuse, in one line naming the change, to continue a run with other data, settings or model."""
        saved_identity = payload.get("identity") or {}
        changed = [k for k in sorted(set(saved_identity) | set(self._identity))
                   if _same(saved_identity.get(k)) != _same(self._identity.get(k))]
        if "data" in changed:
            raise InputError(f"{path}: the training data changed since the run started (its fingerprint differs); "
                             "resume with the same data file(s), or start a new run with --overwrite.")
        saved, current = payload["config"], self.config.to_dict()
        changed += [k for k in current if k not in RESUMABLE_CHANGES and _same(saved.get(k)) != _same(current[k])]
        if changed:
            shown = ", ".join(f"{k}: {_short(saved_identity.get(k, saved.get(k)))} -> "
                              f"{_short(self._identity.get(k, current.get(k)))}" for k in changed)
            raise InputError(f"{path}: the run was started with other settings ({shown}); resume with the same "
                             "settings, or start a new run in another folder.")
        if saved["epochs"] != current["epochs"] and current["schedule"] in FIXED_LENGTH_SCHEDULES:
            raise InputError(f"{path}: --schedule {current['schedule']} spans the run's {saved['epochs']} epochs; "
                             f"resume with --epochs {saved['epochs']}, or start a new run for {current['epochs']}.")
        ours = {k: tuple(v.shape) for k, v in fit.state.model.state_dict().items()}
        theirs = {k: tuple(v.shape) for k, v in payload["model"].items()}
        if ours != theirs:
            diff = next((k for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)), "?")
            raise InputError(f"{path}: the checkpoint's model has other shapes ({diff}: {theirs.get(diff)} saved, "
                             f"{ours.get(diff)} now); resume with the same model, data and settings.")

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, model: nn.Module, data: Any, *, train: Any = None) -> dict:
        """Metrics of one pass over ``data`` (the model is left in eval mode). With ``train``, balanced
        class weights are counted on it, as ``fit`` counts them, so the loss is the one ``fit`` reports."""
        cfg = self.config
        check_trainable(model, training=False)
        device = resolve_device(cfg.device)
        model.to(device)
        options = self.loader_options
        batches = make_batches(data, cfg.eval_batch_size, shuffle=False, seed=cfg.seed, device=device, name="data",
                               **options)
        train_batches = None if train is None else make_batches(train, cfg.batch_size, shuffle=True, seed=cfg.seed,
                                                                device=device, name="train", **options)
        found = probe(model, train_batches or batches, batches if train is not None else None,
                      labels=self.labels, positive=self.positive, rule=cfg.threshold_rule,
                      train_name="train" if train is not None else "data")
        task = found.task
        terms = loss_terms(task, loss_fn=self.loss_fn, class_weights=cfg.class_weights, train=train_batches,
                           device=device)
        check_loss(found, terms)
        mon = Monitor(task.labels, task.positive, loss_fn=self.loss_fn)
        mon.start(task, device, terms=terms)
        return validation_pass(model, batches, mon, _autocast(device, cfg.precision),
                               scored=task.binary or task.multilabel)

    # ------------------------------------------------------------------ helpers
    def _call(self, hook: str, state: TrainState, *args: Any) -> None:
        for callback in self._running:
            getattr(callback, hook)(state, *args)

    def _progress_display(self, world: distributed.World) -> list[Callback]:
        """A `RichProgress` for this fit: with ``progress=True``, or by default when stderr is a terminal
        (rank 0 only; not when a callback already shows progress)."""
        from trainwise.callbacks import EpochLines
        from trainwise.report.progress import RichProgress

        wanted = self.progress if self.progress is not None else _is_terminal(sys.stderr)
        shown = any(isinstance(c, (RichProgress, EpochLines)) for c in self.callbacks)
        return [RichProgress()] if wanted and world.is_main and not shown else []


def validation_pass(model: nn.Module, batches: Any, mon: Monitor, autocast: Any = None, *, scored: bool,
                    diverged_ok: bool = False) -> dict | None:
    """Feed one pass over ``batches`` to ``mon`` under ``model.eval()`` and inference mode; its metrics."""
    autocast = autocast if autocast is not None else contextlib.nullcontext()
    model.eval()
    mon.begin_validation(scored)
    with torch.inference_mode():
        for batch in batches.epoch(0):
            with autocast:
                out = forward(model, batch[0])
            mon.val_step(None, out, batch[1], sample_weight=batch[2] if len(batch) > 2 else None)
    return mon.end_validation(diverged_ok=diverged_ok)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _prepare_folder(writer: Path | None) -> None:
    if writer is None:
        return
    try:
        writer.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{writer}: cannot create the checkpoint folder ({exc.strerror}); choose another "
                         "checkpoint_dir (--out).") from None
    remove_temp_files(writer)


def _same(value: Any) -> Any:
    """A setting as saved and compared: tuples and lists alike (a checkpoint keeps lists)."""
    if isinstance(value, (list, tuple)):
        return [_same(v) for v in value]
    if isinstance(value, dict):
        return {k: _same(v) for k, v in value.items()}
    return value


def _short(value: Any) -> str:
    text = repr(_same(value))
    return text if len(text) <= 40 else text[:37] + "..."


def _autocast(device: torch.device, precision: str) -> Any:
    """bf16 autocast for forward and loss; a no-op context in fp32. Reusable across steps."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _check_monitor(monitor: str, *, has_val: bool) -> None:
    """Refuse, before training, a `monitor` this run will not record."""
    keys = list(RECORDED) + ([f"val_{k}" for k in VAL_KEYS] if has_val else [])
    if monitor not in keys and not (monitor == "val_loss" and not has_val):
        raise InputError(f"`monitor` {monitor!r} is not a key this run records; available: {', '.join(keys)}.")



def _class_counts(num_classes: int, train: Any, val: Any) -> list[int] | None:
    """Rows per class over training and validation data, when their labels are known without a pass."""
    parts = [b.label_counts(num_classes) for b in (train, val) if b is not None]
    return None if any(p is None for p in parts) else sum(parts).tolist()


def _total(batches: Any) -> int | None:
    """Rows in the whole data set, over all ranks."""
    return getattr(batches, "total_samples", batches.num_samples)
