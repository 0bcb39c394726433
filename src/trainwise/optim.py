"""Optimizers and LR schedules by name, with defaults that suit each.

SGD and Adam want very different learning rates: SGD with momentum commonly trains well around
0.01-0.1, Adam-family optimizers around 1e-3. Each name therefore carries its own default LR, used
when the user gives none.

| name | default settings |
|---|---|
| ``sgd`` | lr 0.01, momentum 0.9, nesterov False, weight_decay 0 |
| ``adam`` | lr 1e-3, betas (0.9, 0.999), weight_decay 0 |
| ``adamw`` | lr 1e-3, weight_decay 0.01 (decoupled) |
| ``rmsprop`` | lr 1e-3, alpha 0.99, momentum 0 |

``no_decay_on_bias_and_norm=True`` puts biases and normalization weights into a parameter group
without weight decay (common practice for AdamW; it changes nothing when weight decay is 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from trainwise.errors import InputError

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]

OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any]]] = {
    "sgd": (torch.optim.SGD, {"lr": 0.01, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0}),
    "adam": (torch.optim.Adam, {"lr": 1e-3, "weight_decay": 0.0}),
    "adamw": (torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 0.01}),
    "rmsprop": (torch.optim.RMSprop, {"lr": 1e-3, "alpha": 0.99, "momentum": 0.0, "weight_decay": 0.0}),
}

SCHEDULES = ("none", "step", "cosine", "onecycle", "plateau")


def optimizer_settings(name: str, **overrides: Any) -> dict[str, Any]:
    """The resolved settings of a named optimizer: its defaults updated by ``overrides``."""
    if name not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}, "
                         "or pass a callable params -> torch.optim.Optimizer.")
    cls, defaults = OPTIMIZERS[name]
    settings = dict(defaults)
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in defaults and key not in _extra_keys(cls):
            raise InputError(f"optimizer {name!r} has no setting {key!r}; "
                             f"it takes: {', '.join(sorted(set(defaults) | _extra_keys(cls)))}.")
        settings[key] = value
    if settings.get("nesterov") and not settings.get("momentum"):
        raise InputError("nesterov=True needs momentum > 0 (e.g. momentum=0.9).")
    _check_ranges(settings)
    return settings


def _check_ranges(settings: dict[str, Any]) -> None:
    """Range checks torch would otherwise make with a traceback, or not make at all (NaN)."""
    def number(key: str) -> float | None:
        value = settings.get(key)
        if value is None or isinstance(value, bool):
            return None
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"Expected `{key}` to be a finite number, but got {value!r}.")
        return float(value)

    lr = settings.get("lr")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise InputError(f"Expected `lr` to be a finite number > 0, but got {lr!r}.")
    for key in ("momentum", "weight_decay", "alpha"):
        value = number(key)
        if value is not None and value < 0:
            raise InputError(f"Expected `{key}` to be >= 0, but got {value!r}.")
    eps = number("eps")
    if eps is not None and not eps > 0:
        raise InputError(f"Expected `eps` to be > 0, but got {eps!r}.")
    betas = settings.get("betas")
    if betas is not None:
        if (not isinstance(betas, (tuple, list)) or len(betas) != 2
                or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
            raise InputError(f"Expected `betas` to be two numbers in [0, 1), such as 0.9/0.999, but got {betas!r}.")


def _extra_keys(cls: type[torch.optim.Optimizer]) -> set[str]:
    return {"sgd": set(), "adam": {"betas", "eps", "amsgrad"}, "adamw": {"betas", "eps", "amsgrad"},
            "rmsprop": {"eps", "centered"}}.get(_name_of(cls), set())


def _name_of(cls: type[torch.optim.Optimizer]) -> str:
    return next((n for n, (c, _) in OPTIMIZERS.items() if c is cls), "")


def parameter_groups(model: nn.Module, weight_decay: float, no_decay_on_bias_and_norm: bool) -> list[dict]:
    """Split parameters so biases and normalization weights skip weight decay when asked."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not no_decay_on_bias_and_norm or not weight_decay:
        return [{"params": params}]
    norm_types = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase, nn.Embedding)
    no_decay: set[int] = set()
    for module in model.modules():
        for pname, p in module.named_parameters(recurse=False):
            if pname.endswith("bias") or isinstance(module, norm_types):
                no_decay.add(id(p))
    return [{"params": [p for p in params if id(p) not in no_decay]},
            {"params": [p for p in params if id(p) in no_decay], "weight_decay": 0.0}]


def build_optimizer(optimizer: str | OptimizerFactory, model: nn.Module, settings: dict[str, Any], *,
                    no_decay_on_bias_and_norm: bool = False) -> torch.optim.Optimizer:
    """An optimizer over ``model``'s trainable parameters."""
    if callable(optimizer) and not isinstance(optimizer, str):
        opt = optimizer(model.parameters())
        if not isinstance(opt, torch.optim.Optimizer):
            raise InputError(f"the optimizer callable returned {type(opt).__name__}, not a torch.optim.Optimizer.")
        return opt
    cls, _ = OPTIMIZERS[optimizer]
    groups = parameter_groups(model, settings.get("weight_decay", 0.0), no_decay_on_bias_and_norm)
    return cls(groups, **settings)


def build_scheduler(name: str, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int,
                    warmup_epochs: int = 0, step_size: int | None = None, gamma: float = 0.1,
                    patience: int = 2) -> tuple[Any, str]:
    """A scheduler and when to step it: ``"epoch"``, ``"batch"`` or ``"plateau"`` (epoch, with val loss)."""
    if name == "none":
        return None, "epoch"
    if name == "step":
        size = step_size or max(1, epochs // 3)
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=size, gamma=gamma), "epoch"
    if name == "cosine":
        total = epochs * steps_per_epoch
        warmup = warmup_epochs * steps_per_epoch
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total - warmup))
        if not warmup:
            return cosine, "batch"
        linear = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1e-3, total_iters=warmup)
        return torch.optim.lr_scheduler.SequentialLR(optimizer, [linear, cosine], milestones=[warmup]), "batch"
    if name == "onecycle":
        max_lrs = [g["lr"] for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lrs,
                                                   total_steps=epochs * steps_per_epoch), "batch"
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=gamma, patience=patience), "plateau"
    raise InputError(f"unknown schedule {name!r}; choose one of: {', '.join(SCHEDULES)}.")
