"""The run's settings, validated once, with errors that name the option and the fix."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from trainwise.decision import ThresholdRule, parse_threshold
from trainwise.errors import InputError
from trainwise.optim import OPTIMIZERS, SCHEDULES, optimizer_settings
from trainwise.policy import check_seed, eval_batch_size
from trainwise.task import check_class_weights


@dataclass
class TrainConfig:
    """Everything that decides a run. ``optimizer_options`` holds settings such as momentum or betas."""

    optimizer: str | Callable[..., torch.optim.Optimizer] = "adam"
    lr: float | None = None                 # None: the optimizer's own default (see trainwise.optim)
    epochs: int = 10
    batch_size: int = 256
    val_batch_size: int | None = None        # None: 4 x batch_size (no gradients, so bigger fits)
    seed: int = 0
    device: str = "auto"                     # "auto" picks CUDA when present, else CPU
    optimizer_options: dict[str, Any] = field(default_factory=dict)
    schedule: str = "none"
    warmup_epochs: int = 0
    grad_clip: float | None = None           # max global gradient norm; None: no clipping
    class_weights: str | Sequence[float] | None = None   # None, "balanced" or one weight per class
    no_decay_on_bias_and_norm: bool = False
    threshold: float | str | ThresholdRule | None = None   # binary: 0.37, or on validation: best_f1, recall=0.8, precision=0.9
    target_recall: float | None = 0.8        # binary: report the threshold that reaches this recall
    target_precision: float | None = None    # binary: ... and the one that reaches this precision
    early_stopping: int | None = None        # patience in epochs; None: train all epochs
    min_delta: float = 0.0                   # the least change of `monitor` that counts as better
    monitor: str = "val_loss"                # a history key; losses are minimized, other metrics maximized
    restore_best: bool | None = None         # end with the best epoch's weights (default: when early stopping)
    on_nan: str = "stop"                     # a non-finite loss: "stop" the run, or "raise" an error
    checkpoint_dir: str | None = None        # write last.ckpt here after every epoch (and every N steps)
    checkpoint_every: int | None = None      # also checkpoint every N optimizer steps, mid-epoch
    precision: str = "fp32"                  # "bf16": forward and loss under autocast (CPU or CUDA)
    compile: bool = False                    # run the forward pass through torch.compile
    baseline: bool = True                    # fit a logistic regression on the same rows to compare (2-D tables)
    calibrate: bool = False                  # fit a temperature on the validation logits (trainwise.assessment)

    def __post_init__(self) -> None:
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        if self.val_batch_size is not None:
            _positive_int("val_batch_size", self.val_batch_size)
        check_seed(self.seed)
        if isinstance(self.warmup_epochs, bool) or not isinstance(self.warmup_epochs, int) or self.warmup_epochs < 0:
            raise InputError(f"Expected `warmup_epochs` to be an int >= 0, but got {self.warmup_epochs!r}.")
        if isinstance(self.optimizer, str):
            if self.optimizer not in OPTIMIZERS:
                raise InputError(f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}, "
                                 "or pass a callable params -> torch.optim.Optimizer.")
            optimizer_settings(self.optimizer, lr=self.lr, **self.optimizer_options)
        elif not callable(self.optimizer):
            raise InputError(f"Expected `optimizer` to be a name or a callable, but got {self.optimizer!r}.")
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and 0 < self.lr < float("inf")):
            raise InputError(f"Expected `lr` to be a finite number > 0, but got {self.lr!r}.")
        if self.schedule not in SCHEDULES:
            raise InputError(f"unknown schedule {self.schedule!r}; choose one of: {', '.join(SCHEDULES)}.")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise InputError(f"Expected `grad_clip` to be > 0, but got {self.grad_clip!r}.")
        if isinstance(self.class_weights, str) and self.class_weights != "balanced":
            raise InputError(f"Expected `class_weights` to be 'balanced' or a list of numbers, "
                             f"but got {self.class_weights!r}.")
        check_class_weights(self.class_weights)
        if self.threshold is not None:
            self.threshold = parse_threshold(self.threshold)
        for name in ("target_recall", "target_precision"):
            goal = getattr(self, name)
            if goal is not None and not (isinstance(goal, (int, float)) and 0 < goal <= 1):
                raise InputError(f"Expected `{name}` to be in (0, 1], but got {goal!r}.")
        if self.early_stopping is not None:
            _positive_int("early_stopping", self.early_stopping)
        if not (isinstance(self.min_delta, (int, float)) and self.min_delta >= 0):
            raise InputError(f"Expected `min_delta` to be a number >= 0, but got {self.min_delta!r}.")
        if not self.monitor.startswith(("val_", "train_")):
            raise InputError(f"Expected `monitor` to name a history key such as 'val_loss' or 'val_f1', "
                             f"but got {self.monitor!r}.")
        if self.on_nan not in ("stop", "raise"):
            raise InputError(f"Expected `on_nan` to be 'stop' or 'raise', but got {self.on_nan!r}.")
        if self.checkpoint_every is not None:
            _positive_int("checkpoint_every", self.checkpoint_every)
            if self.checkpoint_dir is None:
                raise InputError("`checkpoint_every` needs a `checkpoint_dir` (--out on the command line).")
        for name in ("baseline", "calibrate"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"Expected `{name}` to be True or False, but got {getattr(self, name)!r}.")
        if self.precision not in ("fp32", "bf16"):
            raise InputError(f"Expected `precision` to be 'fp32' or 'bf16', but got {self.precision!r}.")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError) as exc:
                raise InputError(f"unknown device {self.device!r} ({exc}); use auto, cpu or cuda.") from None

    @property
    def threshold_rule(self) -> ThresholdRule | None:
        """``threshold`` as parsed in ``__post_init__``."""
        return self.threshold  # type: ignore[return-value]

    @property
    def eval_batch_size(self) -> int:
        """The batch size of validation and evaluation passes (see trainwise.policy)."""
        return eval_batch_size(self.batch_size, self.val_batch_size)

    @property
    def keeps_best(self) -> bool:
        return self.restore_best if self.restore_best is not None else self.early_stopping is not None

    def optimizer_name(self) -> str:
        return self.optimizer if isinstance(self.optimizer, str) else getattr(self.optimizer, "__name__", "custom")

    def resolved_optimizer(self) -> dict[str, Any]:
        """The optimizer's settings as used: defaults, then the user's."""
        if not isinstance(self.optimizer, str):
            return {}
        return optimizer_settings(self.optimizer, lr=self.lr, **self.optimizer_options)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["optimizer"] = self.optimizer_name()
        out["optimizer_settings"] = self.resolved_optimizer()
        out["threshold"] = None if self.threshold is None else self.threshold_rule.to_json()
        if out["class_weights"] is not None and not isinstance(out["class_weights"], str):
            out["class_weights"] = [float(w) for w in out["class_weights"]]
        return out


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"Expected `{name}` to be an int >= 1, but got {value!r}.")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} was asked for but CUDA is not available; use --device cpu or auto.")
    return device
