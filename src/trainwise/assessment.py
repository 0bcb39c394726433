"""Is the model as good as it could be? The pass at the end of a fit that measures what the epochs do not:
calibration of the final model's probabilities (and, on request, a temperature that fixes them), and a
logistic-regression baseline on the same features (`trainwise.baseline`).

`Trainer.fit` calls `assess` once, with the weights the run ends with, after the decision threshold is
settled; its result goes into the run's validation metrics under ``calibration`` and ``baseline``, where
the findings (`trainwise.diagnostics.quality`), the summary and the report read it. One extra pass over
the validation rows: the calibration is streamed (bin sums, summed over processes under torchrun); the
baseline keeps one bool per row (and a score in binary tasks) for its paired test; ``calibrate`` keeps the
validation logits (``[N, C]``), which temperature fitting needs.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import torch
from torch import nn

from trainwise import baseline as lr_baseline
from trainwise.batching import TensorBatches
from trainwise.distributed import World
from trainwise.metrics.calibration import CalibrationAccumulator, apply_temperature, fit_temperature
from trainwise.task import Task, class_weight_tensor, forward, predict

log = logging.getLogger(__name__)

__all__ = ["assess", "baseline_applies", "probabilities", "stored_temperature"]


def probabilities(out: torch.Tensor, task: Task) -> torch.Tensor:
    """What calibration judges: the positive class's probability ``[N]`` (binary) or the class
    probabilities ``[N, C]`` (multiclass)."""
    if task.binary:
        return predict(out, task, with_scores=True)[1]
    return out.float() if task.probabilities else out.float().softmax(dim=1)


def baseline_applies(train: Any, val: Any, world: World | None = None) -> str | None:
    """None when the baseline can run on these batches; else why not, in words."""
    if world is not None and world.distributed:
        return "not run under torchrun (each process holds a share of the rows)"
    for name, batches in (("training", train), ("validation", val)):
        if not isinstance(batches, TensorBatches):
            return (f"not run: the {name} data is a Dataset, DataLoader or stream; the baseline needs (X, y) "
                    "tensors or arrays in memory")
        if batches.X.dim() != 2 or not batches.X.is_floating_point():
            return (f"not run: the features are not a 2-D float table (shape {tuple(batches.X.shape)}, "
                    f"{batches.X.dtype})")
    return None


def assess(model: nn.Module, task: Task, train: Any, val: Any, *, baseline: bool = True, calibrate: bool = False,
           class_weights: Any = None, autocast: Any = None, world: World | None = None,
           device: torch.device | None = None) -> dict:
    """``{"calibration": ..., "baseline": ...}`` for the model as it is now, on the validation batches.

    ``model``: the evaluation forward (compiled or not). ``train``/``val``: the fit's batches
    (`trainwise.batching`). ``baseline``: fit the logistic regression where it applies (2-D float
    tensors, one process). ``calibrate``: fit a temperature on the validation logits and report the
    calibration it gives (one process; under torchrun each process would fit its own share).
    ``class_weights``: the network's loss's (None, ``"balanced"`` or one per class), given to the baseline too.
    ``device``: where the calibration sums live (the model's: under torchrun they are all-reduced there).
    """
    world = world if world is not None else World()
    if task.multilabel:
        return {}        # calibration and the baseline judge one class per row; multi-label has its own findings
    skip_baseline = "turned off (baseline=False, --no-baseline)" if not baseline else baseline_applies(train, val, world)
    keep_rows = skip_baseline is None
    keep_logits = calibrate and not world.distributed and not task.probabilities   # a temperature scales logits
    autocast = autocast if autocast is not None else contextlib.nullcontext()
    calibration = CalibrationAccumulator(top_label=not task.binary, device=device)
    correct, scores, logits, targets = [], [], [], []
    model.eval()
    with torch.inference_mode():
        for batch in val.epoch(0):
            with autocast:
                out = forward(model, batch[0])
            yb = batch[1].reshape(-1).long()
            preds, score = predict(out, task, with_scores=task.binary)
            probs = score if task.binary else probabilities(out, task)
            calibration.update(probs, (yb == task.positive).long() if task.binary else yb)
            if keep_rows:
                correct.append(preds == yb)
                if task.binary:
                    scores.append(score)
            if keep_logits:
                logits.append(out.detach().float())
                targets.append(yb)
    if world.distributed:
        world.all_reduce(calibration.state())
    result = {"calibration": calibration.compute()}
    if keep_logits and logits:
        result["calibration"].update(_temperature(torch.cat(logits), torch.cat(targets), task))
    if keep_rows:
        device = train.X.device
        weights = class_weight_tensor(class_weights, task, train, device) if class_weights is not None else None
        result["baseline"] = lr_baseline.run_baseline(
            train.X, train.y, val.X, val.y, labels=task.labels, positive=task.positive if task.binary else None,
            network_correct=torch.cat(correct), network_scores=torch.cat(scores) if scores else None,
            class_weights=weights)
    else:
        result["baseline"] = {"model": lr_baseline.DESCRIPTION, "ran": False, "reason": skip_baseline}
    log.debug("assessment: %s", {k: v.get("ece", v.get("outcome")) for k, v in result.items()})
    return result


def stored_temperature(summary: dict) -> float | None:
    """The temperature a run fitted with ``calibrate=True`` (``summary["metrics"]["calibration"]
    ["temperature"]``), for ``predict`` to apply with `trainwise.metrics.calibration.apply_temperature`
    before its softmax or sigmoid; None when the run was not calibrated."""
    calibration = (summary.get("metrics") or {}).get("calibration") or {}
    temperature = calibration.get("temperature")
    return float(temperature) if isinstance(temperature, (int, float)) and not isinstance(temperature, bool) else None


def _temperature(logits: torch.Tensor, target: torch.Tensor, task: Task) -> dict:
    """The fitted temperature and the calibration of the scaled probabilities (the same rows: optimistic)."""
    temperature = fit_temperature(logits, target)
    scaled = apply_temperature(logits, temperature)
    after = CalibrationAccumulator(top_label=not task.binary)
    after.update(probabilities(scaled, task), (target == task.positive).long() if task.binary else target)
    summary = after.compute()
    return {"temperature": temperature, "ece_after": summary["ece"], "gap_after": summary["gap"],
            "noise_after": summary["noise"], "bins_after": summary["bins"]}
