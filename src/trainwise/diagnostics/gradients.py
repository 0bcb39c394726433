"""Findings from the gradient norms the loop records per epoch.

``grad_norm_mean`` and ``grad_norm_max`` are the mean and the largest global L2 norm of the gradients
over an epoch's steps; ``grad_top_layer`` names the parameter with the largest gradient norm that epoch.
A global norm shows gradients blowing up anywhere, and dying out when they die everywhere; a signal
that dies in the early layers only, while the output layer still learns, does not show in it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from trainwise.diagnostics.findings import Finding, Severity
from trainwise.diagnostics.series import fmt, median, series, values

History = Sequence[Mapping[str, Any]]

# exploding_gradients: an epoch's norm this many times the run's median norm: warning; ERROR_RATIO: error.
EXPLODING_RATIO = 100.0
EXPLODING_ERROR_RATIO = 1e4
# vanishing_gradients: the norm fell this many times from the first epoch...
VANISHING_FALL = 1e3
# ...while training loss fell less than this share (so the small gradient is not convergence).
VANISHING_LOSS_FALL = 0.10
MIN_EPOCHS = 3


def _layer_at(history: History, epoch: int) -> str | None:
    for i, record in enumerate(history):
        if record.get("epoch", i + 1) == epoch:
            layer = record.get("grad_top_layer")
            return str(layer) if layer else None
    return None


def _died_out(history: History) -> tuple[list[tuple[int, float]], float, float, float] | None:
    """``(norms, first, last, loss_change)`` when the vanishing rule holds, else ``None``."""
    norms = [(e, v) for e, v in series(history, "grad_norm_mean") if v >= 0]
    if len(norms) < MIN_EPOCHS or norms[0][1] <= 0:
        return None
    first = norms[0][1]
    tail = values(norms)[-MIN_EPOCHS:]
    last = sum(tail) / len(tail)
    if last > first / VANISHING_FALL:
        return None
    # Without the loss, one huge first epoch followed by normal ones (an explosion) reads the same as
    # normal norms dying out; only the loss tells them apart.
    loss = series(history, "train_loss")
    if len(loss) < 2 or loss[0][1] <= 0:
        return None
    loss_change = loss[-1][1] / loss[0][1] - 1.0
    if loss_change <= -VANISHING_LOSS_FALL:
        return None
    return norms, first, last, loss_change


def exploding_gradients(history: History) -> list[Finding]:
    """Gradient norms blowing up.

    Rule: a recorded gradient norm (mean or max of an epoch) is NaN or infinite (error), or at least
    100x the median of the per-epoch mean norms over the run (warning; error from 10,000x). Needs 3
    epochs with norms. Calibration: in real healthy runs an epoch's largest norm stays within 5-12x the
    median; a run with unscaled inputs reached 7e7x. Not reported when the norms died out (see
    :func:`vanishing_gradients`): next to dead gradients every early value looks huge.
    Evidence: ``epoch``, ``grad_norm`` (the peak), ``typical`` (the median), ``ratio``, ``layer``
    (``grad_top_layer`` that epoch).
    """
    means = series(history, "grad_norm_mean", keep_nonfinite=True)
    maxes = series(history, "grad_norm_max", keep_nonfinite=True)
    for epoch, value in sorted(means + maxes):
        if not math.isfinite(value):
            layer = _layer_at(history, epoch)
            where = f" (largest in {layer!r})" if layer else ""
            message = (f"The gradient norm became {value} at epoch {epoch}{where}: an update of that size "
                       "destroys the weights.")
            evidence = {"epoch": epoch, "grad_norm": None, "typical": None, "ratio": None, "layer": layer}
            return [Finding("exploding_gradients", Severity.ERROR, message, _EXPLODING_ADVICE, epoch, evidence)]
    finite_means = [v for v in values(means) if v > 0]
    if len(finite_means) < MIN_EPOCHS or _died_out(history):
        return []
    typical = median(finite_means)
    peaks: dict[int, float] = {}
    for epoch, value in means + maxes:
        peaks[epoch] = max(peaks.get(epoch, 0.0), value)
    epoch, peak = max(peaks.items(), key=lambda p: p[1])
    ratio = peak / typical
    if ratio < EXPLODING_RATIO:
        return []
    layer = _layer_at(history, epoch)
    severity = Severity.ERROR if ratio >= EXPLODING_ERROR_RATIO else Severity.WARNING
    where = f", largest in {layer!r}" if layer else ""
    message = (f"The gradient norm reached {fmt(peak)} at epoch {epoch}{where}: {ratio:.3g}x its typical "
               f"{fmt(typical)}. Steps that large throw the weights far from where training had brought them.")
    evidence = {"epoch": epoch, "grad_norm": peak, "typical": typical, "ratio": ratio, "layer": layer}
    return [Finding("exploding_gradients", severity, message, _EXPLODING_ADVICE, epoch, evidence)]


_EXPLODING_ADVICE = ("Clip gradients (grad_clip=1.0), lower the learning rate, and standardize the input "
                     "features; look at the named layer's inputs and initialization.")


def vanishing_gradients(history: History) -> list[Finding]:
    """Gradient norms dying out while the model has not learned: warning.

    Rule: the mean of the last 3 epochs' ``grad_norm_mean`` is at most 1/1000 of the first epoch's,
    and training loss (needed) fell less than 10 % from its first epoch (when it falls a lot, small
    gradients just mean training converged). Calibration: a real six-layer sigmoid net initialized
    too small fell 6e6x with the loss stuck at chance; healthy runs fall 3-30x. Evidence: ``first_grad_norm``,
    ``last_grad_norm``, ``fall`` (first / last), ``loss_change``, ``layer`` (the last
    ``grad_top_layer``).
    """
    died = _died_out(history)
    if died is None:
        return []
    norms, first, last, loss_change = died
    last_epoch = norms[-1][0]
    layer = _layer_at(history, last_epoch)
    fall = first / last if last > 0 else math.inf
    loss_text = f" while training loss moved {abs(loss_change):.1%}"
    message = (f"The gradient norm died out: {fmt(first)} at epoch {norms[0][0]}, {fmt(last)} over the last "
               f"epochs ({fmt(fall)}x smaller){loss_text}. No signal reaches the weights, so nothing more "
               "will be learned.")
    advice = ("Use ReLU-family activations instead of sigmoid/tanh in deep stacks, the default (Kaiming or "
              "Xavier) initialization, normalization layers or residual connections, and check for dead units.")
    evidence = {"first_grad_norm": first, "last_grad_norm": last, "fall": fall, "loss_change": loss_change,
                "layer": layer}
    return [Finding("vanishing_gradients", Severity.WARNING, message, advice, last_epoch, evidence)]
