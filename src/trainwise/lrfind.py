"""The LR range test: sweep the learning rate exponentially over mini-batches and suggest one.

How it works (Smith 2017, "Cyclical Learning Rates"; the fastai and Lightning finders):

1. Step ``i`` of ``num_steps`` trains one mini-batch at ``lr_i = start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))``,
   with the loss the training loop uses (same task inference, same per-sample loss, class weights).
2. The raw batch losses are noisy, so they are smoothed by an exponential moving average with bias
   correction: ``avg_i = (1 - s) * avg_{i-1} + s * loss_i`` and ``smoothed_i = avg_i / (1 - (1 - s) ** (i + 1))``,
   ``s = smoothing`` (0.05: about the last 20 batches count). Without the correction the first points
   would be pulled towards 0.
3. The sweep stops early when the smoothed loss exceeds ``diverge_factor`` x its lowest value so far
   (or a loss is NaN/Inf): past that point the curve says nothing more.
4. The suggestion is a pure function of the recorded curve (:func:`suggest_lr`):

   - ``"steepest"`` (returned by default): the LR where the smoothed loss falls fastest per decade of
     LR, i.e. the most negative ``d smoothed / d log10(lr)``, searched between the first 10% of the
     steps (at most 10; the moving average is still settling there) and the lowest point of the curve
     (past the minimum the loss rises, so no descent there). It is the classic rule: the LR at which
     training makes the most progress per step while still being stable.
   - ``"valley"`` (after fastai's default): the middle of the longest run of consecutive steps over which
     the smoothed loss keeps falling. It looks at the whole descent rather than at one point of it, so a
     single sharp dip does not move it; it usually lands below ``steepest``, a more cautious pick.
   - ``"minimum/10"``: a tenth of the LR at the lowest smoothed loss, a common quick rule.

   All three are in ``LRFindResult.alternatives``; ``method`` says which one ``suggestion`` holds.

The model and optimizer are left exactly as found: every parameter and buffer, each parameter's
``.grad``, train/eval mode, the optimizer's ``state_dict()`` (its state tensors and every param-group
setting, LR included), and the global RNG states (torch CPU and CUDA, NumPy, ``random``). fastai and
Lightning users have reported finders that leave the optimizer's momentum or a changed LR behind; this
one snapshots before the sweep and restores in a ``finally`` block, and sets the LR on the param groups
directly, so no scheduler leaves an ``initial_lr`` behind either.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from trainwise.batching import Batch, make_batches
from trainwise.config import TrainConfig
from trainwise.errors import InputError
from trainwise.optim import OptimizerFactory, build_optimizer, optimizer_settings
from trainwise.task import check_loss, check_trainable, forward, loss_terms, probe, weighted_mean

METHODS = ("steepest", "valley", "minimum/10")


@dataclass
class LRFindResult:
    """The recorded sweep and the suggestion. ``lrs``, ``losses`` (raw batch losses) and ``smoothed``
    are aligned, one entry per step taken; ``suggestion`` is ``None`` when the loss never fell."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float | None
    method: str
    stopped_early: bool
    alternatives: dict[str, float | None] = field(default_factory=dict)
    stop_reason: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "suggestion": self.suggestion,
            "method": self.method,
            "alternatives": dict(self.alternatives),
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "settings": dict(self.settings),
            "lrs": list(self.lrs),
            "losses": list(self.losses),
            "smoothed": list(self.smoothed),
        }


def lr_find(model: nn.Module, train: Any, *, optimizer: str | OptimizerFactory | torch.optim.Optimizer = "adam",
            optimizer_options: dict[str, Any] | None = None, start_lr: float = 1e-7, end_lr: float = 10.0,
            num_steps: int = 100, batch_size: int = 256, seed: int = 0, smoothing: float = 0.05,
            diverge_factor: float = 4.0, loss_fn: Any = None, class_weights: Any = None,
            method: str = "steepest") -> LRFindResult:
    """Run the LR range test on ``model`` over ``train`` and leave everything as it was.

    ``train`` takes what ``Trainer.fit`` takes. ``optimizer`` is a name (``sgd``, ``adam``, ``adamw``,
    ``rmsprop``, with ``optimizer_options`` such as ``{"momentum": 0.9}``), a callable
    ``params -> Optimizer``, or an optimizer already built over ``model``'s parameters (its state is
    restored afterwards; param groups keep their LR ratios during the sweep). Use the batch size you will
    train with: the best LR depends on it. The model stays on its device. Deterministic under ``seed``.
    """
    _check_settings(start_lr, end_lr, num_steps, smoothing, diverge_factor, method)
    check_trainable(model)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    batches = make_batches(train, batch_size, shuffle=True, seed=seed, device=device, name="train")
    config = TrainConfig(batch_size=batch_size, seed=seed, class_weights=class_weights)   # validates them

    snapshot = _Snapshot(model, optimizer if isinstance(optimizer, torch.optim.Optimizer) else None)
    try:
        torch.manual_seed(seed)          # dropout during the sweep
        found = probe(model, batches)
        terms = loss_terms(found.task, loss_fn=loss_fn, class_weights=config.class_weights, train=batches,
                           device=device)
        check_loss(found, terms)
        del found
        opt = _optimizer(optimizer, model, optimizer_options, start_lr)
        lrs, losses, smoothed, stop_reason = _sweep(model, opt, batches, terms, start_lr=start_lr,
                                                    end_lr=end_lr, num_steps=num_steps, smoothing=smoothing,
                                                    diverge_factor=diverge_factor)
    finally:
        snapshot.restore()

    alternatives = {name: suggest_lr(lrs, smoothed, method=name) for name in METHODS}
    settings = {"optimizer": optimizer if isinstance(optimizer, str) else type(opt).__name__,
                "optimizer_options": dict(optimizer_options or {}), "start_lr": start_lr, "end_lr": end_lr,
                "num_steps": num_steps, "batch_size": batch_size, "seed": seed, "smoothing": smoothing,
                "diverge_factor": diverge_factor}
    return LRFindResult(lrs=lrs, losses=losses, smoothed=smoothed, suggestion=alternatives[method], method=method,
                        stopped_early=stop_reason is not None, alternatives=alternatives, stop_reason=stop_reason,
                        settings=settings)


def _sweep(model: nn.Module, opt: torch.optim.Optimizer, batches: Any, loss_terms: Any, *, start_lr: float,
           end_lr: float, num_steps: int, smoothing: float,
           diverge_factor: float) -> tuple[list[float], list[float], list[float], str | None]:
    """The sweep itself: one optimizer step per LR, the loss recorded before each step."""
    base = [group["lr"] for group in opt.param_groups]
    scales = [b / base[0] if base[0] else 1.0 for b in base]    # keep the groups' LR ratios
    growth = (end_lr / start_lr) ** (1 / (num_steps - 1))
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    avg, best = 0.0, math.inf
    model.train()
    for step, batch in enumerate(itertools.islice(_forever(batches), num_steps)):
        lr = start_lr * growth ** step
        for group, scale in zip(opt.param_groups, scales, strict=True):
            group["lr"] = lr * scale
        opt.zero_grad(set_to_none=True)
        out = forward(model, batch[0])
        loss = loss_terms(out, batch[1]).mean() if len(batch) == 2 else weighted_mean(loss_terms, out, *batch[1:])
        loss.backward()
        opt.step()
        # .item() once per step: the sweep must stop at the step the loss diverges (num_steps syncs in all)
        value = loss.item()
        if not math.isfinite(value):
            return lrs, losses, smoothed, f"the loss became {value} at lr {lr:.3g}"
        avg = (1 - smoothing) * avg + smoothing * value
        smooth = avg / (1 - (1 - smoothing) ** (step + 1))
        lrs.append(lr)
        losses.append(value)
        smoothed.append(smooth)
        best = min(best, smooth)
        if smooth > diverge_factor * best:
            return lrs, losses, smoothed, (f"the smoothed loss {smooth:.4g} passed {diverge_factor:g} x its lowest "
                                           f"value {best:.4g} at lr {lr:.3g}")
    return lrs, losses, smoothed, None


def _forever(batches: Any) -> Iterator[Batch]:
    """Batches of epoch 1, 2, ... in the training order (a pure function of the seed and the epoch)."""
    epoch = 1
    while True:
        empty = True
        for batch in batches.epoch(epoch):
            empty = False
            yield batch
        if empty:
            raise InputError("train: the data yielded no batches; pass at least one sample.")
        epoch += 1


# ---------------------------------------------------------------------- suggestions (pure functions)
def suggest_lr(lrs: list[float], smoothed: list[float], *, method: str = "steepest") -> float | None:
    """The suggested LR of a recorded curve, or ``None`` when the loss never fell. See the module docstring."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}.")
    if len(lrs) != len(smoothed):
        raise ValueError(f"Expected as many losses as LRs, but got {len(smoothed)} and {len(lrs)}")
    if len(lrs) < 3:
        return None
    loss = np.asarray(smoothed, dtype=np.float64)
    lowest = int(loss.argmin())
    if lowest == 0:
        return None                                      # the loss never fell below its first value
    if method == "minimum/10":
        return float(lrs[lowest]) / 10
    index = steepest_index(lrs, smoothed) if method == "steepest" else valley_index(smoothed)
    return None if index is None else float(lrs[index])


def steepest_index(lrs: list[float], smoothed: list[float]) -> int | None:
    """Index of the most negative slope of the smoothed loss against log10(LR), before the curve's lowest point."""
    loss = np.asarray(smoothed, dtype=np.float64)
    if len(loss) < 3:
        return None
    lowest = int(loss.argmin())
    slope = np.gradient(loss, np.log10(np.asarray(lrs, dtype=np.float64)))
    skip = min(10, len(loss) // 10)
    if skip >= lowest:            # the minimum comes early: search all the way from the start
        skip = 0
    window = slope[skip:lowest + 1]
    if len(window) == 0 or window.min() >= 0:
        return None
    return skip + int(window.argmin())


def valley_index(smoothed: list[float]) -> int | None:
    """Index halfway along the longest run of consecutive steps over which the smoothed loss keeps falling."""
    loss = np.asarray(smoothed, dtype=np.float64)
    if len(loss) < 3:
        return None
    best_start, best_end, start = 0, 0, 0
    for i in range(1, len(loss)):
        if not loss[i] < loss[i - 1]:
            start = i                      # the fall broke off: a new run may start here
        elif i - start > best_end - best_start:
            best_start, best_end = start, i
    if best_end == best_start:
        return None
    return best_start + (best_end - best_start) // 2


# ---------------------------------------------------------------------- snapshot and restore
class _Snapshot:
    """Everything the sweep may disturb, copied before it and put back after it."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None) -> None:
        self.model = model
        self.optimizer = optimizer
        self.weights = copy.deepcopy(model.state_dict())
        self.grads = {name: None if p.grad is None else p.grad.detach().clone()
                      for name, p in model.named_parameters()}
        self.modes = {name: m.training for name, m in model.named_modules()}
        self.optimizer_state = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
        self.torch_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        self.numpy_rng = np.random.get_state()
        self.python_rng = random.getstate()

    def restore(self) -> None:
        self.model.load_state_dict(self.weights)       # copies in place: the parameters keep their identity
        for name, p in self.model.named_parameters():
            grad = self.grads[name]
            p.grad = None if grad is None else grad.clone()
        for name, module in self.model.named_modules():
            module.training = self.modes[name]
        if self.optimizer is not None:
            self.optimizer.load_state_dict(self.optimizer_state)
        torch.set_rng_state(self.torch_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        np.random.set_state(self.numpy_rng)
        random.setstate(self.python_rng)


def _optimizer(optimizer: Any, model: nn.Module, options: dict[str, Any] | None,
               start_lr: float) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        if options:
            raise InputError("optimizer_options apply to an optimizer given by name; "
                             "this optimizer is already built with its own settings.")
        return optimizer
    if isinstance(optimizer, str):
        settings = optimizer_settings(optimizer, **{**(options or {}), "lr": start_lr})
        return build_optimizer(optimizer, model, settings)
    if callable(optimizer):
        return build_optimizer(optimizer, model, {})
    raise InputError(f"Expected `optimizer` to be a name, a callable or a torch.optim.Optimizer, "
                     f"but got {optimizer!r}.")


def _check_settings(start_lr: float, end_lr: float, num_steps: int, smoothing: float, diverge_factor: float,
                    method: str) -> None:
    if not (isinstance(start_lr, (int, float)) and start_lr > 0):
        raise InputError(f"Expected `start_lr` to be a number > 0, but got {start_lr!r}.")
    if not (isinstance(end_lr, (int, float)) and end_lr > start_lr):
        raise InputError(f"Expected `end_lr` to be a number > start_lr ({start_lr:g}), but got {end_lr!r}.")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 3:
        raise InputError(f"Expected `num_steps` to be an int >= 3, but got {num_steps!r}.")
    if not (isinstance(smoothing, (int, float)) and 0 < smoothing <= 1):
        raise InputError(f"Expected `smoothing` to be in (0, 1], but got {smoothing!r} (1 means no smoothing).")
    if not (isinstance(diverge_factor, (int, float)) and diverge_factor > 1):
        raise InputError(f"Expected `diverge_factor` to be a number > 1, but got {diverge_factor!r}.")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}.")
