"""Findings from the loss and accuracy curves of a run (history records, one per epoch).

Every detector is a pure function ``history -> list[Finding]``; keys may be missing or ``None``
(no validation set, no accuracy, imported logs), and epochs keep the numbering of the records.
Thresholds were set on real logs of Lightning and Keras runs (tests/fixtures/logs, made by
scripts/make_log_fixtures.py): healthy runs, overfitting, divergence, stuck and noisy runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from trainwise.diagnostics.findings import Finding, Severity
from trainwise.diagnostics.series import Point, fmt, loss_key, median, pct, series, values

History = Sequence[Mapping[str, Any]]

# overfitting: validation loss at the end (mean of the last 3 epochs) this much above its minimum...
OVERFIT_RISE = 0.05
# ...at least this many epochs after the minimum, with training loss down this much since then.
OVERFIT_MIN_EPOCHS_AFTER = 3
OVERFIT_TRAIN_FALL = 0.10
# overfitting is an error when validation accuracy (mean of the last 3) ends this far below its best,
# or validation loss ends this much above its minimum (doubled).
OVERFIT_SEVERE_ACC_DROP = 0.03
OVERFIT_SEVERE_RISE = 1.0
# ...or validation loss at its best was less than this share under its first value: nothing generalized.
NEVER_IMPROVED = 0.02
# not_converged: loss fell at least this much over the last 3 epochs and ends at its minimum...
NOT_CONVERGED_DROP = 0.03
# ...unless it is already this small (a cross-entropy of 0.01: nothing left to gain).
CONVERGED_LOSS = 0.01
# ...and a warning (under-trained) when the last quarter of the run made this share of the loss's whole fall,
# or raised accuracy this much (absolute).
UNDERTRAINED_SHARE = 0.10
UNDERTRAINED_ACC_GAIN = 0.02
# lr_too_high: training loss grew 10x above an earlier value, or exceeded this level...
DIVERGED_GROWTH = 10.0
DIVERGED_LEVEL = 100.0
# ...or, when the chance-level loss is known, this many times chance.
DIVERGED_CHANCE_FACTOR = 10.0
# lr_too_high, saturated: a loss at least this many times chance (or this level, the number of classes
# unknown) from the first epoch on, every later epoch within FLAT_BAND of their median.
SATURATED_CHANCE_FACTOR = 3.0
SATURATED_LEVEL = 5.0
FLAT_BAND = 0.02
# no_progress: loss fell less than this share of its first value...
NO_PROGRESS_DROP = 0.02
# ...or, with a known chance level, ended within this share of it (the model predicts the class shares).
CHANCE_BAND = 0.03
# no_progress on validation: only while training loss fell less than this (else it is overfitting).
VAL_STUCK_TRAIN_FALL = 0.10
# val_loss_below_train: in the second half of the run, this share of epochs has val < train...
BELOW_TRAIN_SHARE = 0.75
# ...and the last epoch's validation loss is at least this much under the training loss.
BELOW_TRAIN_MARGIN = 0.05

# unstable_loss: epochs whose loss jumped up this much over the previous epoch (to a value of at least
# CONVERGED_LOSS: noise on a near-zero loss is no instability)...
JUMP = 0.10
# ...and at least this share of the spread (max - min) of the loss after the first quarter of the run,
# so that sampling noise on a settled loss (a few batches per epoch) does not count...
JUMP_OF_SPREAD = 0.10
# ...at least this many of them, making at least this share of the epoch-to-epoch steps.
MIN_JUMPS = 3
JUMP_SHARE = 0.05
# unstable_accuracy: validation accuracy dropping at least this much (absolute) from one epoch to the next...
ACC_DROP = 0.03
# ...at least this many times, after the first epochs of fast learning.
MIN_ACC_DROPS = 3

WINDOW = 3  # epochs averaged where a single value is too noisy


def _tail_mean(points: Sequence[Point], k: int = WINDOW) -> float:
    tail = values(points)[-k:]
    return sum(tail) / len(tail)


def _value_at(points: Sequence[Point], epoch: int) -> float | None:
    return next((v for e, v in points if e == epoch), None)


# ---------------------------------------------------------------------------------------------------


def overfitting(history: History, *, restored_epoch: int | None = None) -> list[Finding]:
    """Validation loss rose clearly above its minimum while training loss kept falling.

    Rule: with ``best`` the minimum validation loss, ``end`` the mean of the last 3 validation losses
    and ``rise = end / best - 1``: ``rise >= 5 %``, at least 3 epochs after the best one, and training
    loss (when recorded) down at least 10 % since the best epoch. Warning; error when the model got
    worse at its job too -- validation accuracy (mean of the last 3) 3 points or more below its best --
    or validation loss more than doubled (``rise >= 100 %``), or it never got 2 % below its first value
    (memorizing from the start: nothing learned generalizes; a Hugging Face run on 48 noisy rows). A rising loss with steady accuracy is
    growing overconfidence on the samples the model gets wrong: worth fixing, not yet a broken model.

    Calibration: healthy real runs end 0-2 % above their minimum; overfitting runs (tiny data, big
    model, or a high learning rate) 10-170 %. Evidence: ``best_epoch``, ``best_val_loss``,
    ``last_val_loss``, ``rise``, ``onset_epoch`` (first epoch after the best one 5 % above it),
    ``train_loss_change``, ``last_epoch``, ``best_val_accuracy``, ``last_val_accuracy``,
    ``restored_epoch``.

    ``restored_epoch``: the epoch whose weights the run ended with, when the loop restored them (the
    trainwise loop ends with the best epoch's weights). When that is the best epoch the finding is
    info: the rise happened, but the model handed back is the one from before it.
    """
    val = series(history, "val_loss")
    if len(val) < OVERFIT_MIN_EPOCHS_AFTER + 2:
        return []
    best_i = min(range(len(val)), key=lambda i: val[i][1])
    best_epoch, best = val[best_i]
    after = val[best_i + 1:]
    if len(after) < OVERFIT_MIN_EPOCHS_AFTER or best <= 0:
        return []
    end = _tail_mean(after)
    rise = end / best - 1.0
    if rise < OVERFIT_RISE:
        return []
    train = series(history, "train_loss")
    train_at_best = _value_at(train, best_epoch)
    train_change = None
    if train and train_at_best and train[-1][0] > best_epoch:
        train_change = train[-1][1] / train_at_best - 1.0
        if train_change > -OVERFIT_TRAIN_FALL:
            return []  # training loss did not keep falling: not the memorizing pattern
    onset = next((e for e, v in after if v >= best * (1 + OVERFIT_RISE)), after[-1][0])
    last_epoch, last = val[-1]
    acc = series(history, "val_accuracy")
    best_acc = max(values(acc)) if acc else None
    end_acc = _tail_mean(acc) if acc else None
    acc_fell = bool(acc) and best_acc - end_acc >= OVERFIT_SEVERE_ACC_DROP
    never_improved = best >= val[0][1] * (1 - NEVER_IMPROVED)
    severe = acc_fell or rise >= OVERFIT_SEVERE_RISE or never_improved
    seen = (f"Validation loss rose {pct(rise)} from its minimum {fmt(best)} at epoch {best_epoch} "
            f"to {fmt(end)} at the end (epoch {last_epoch})")
    if train_change is not None:
        seen += f" while training loss fell {pct(-train_change)}"
    if acc_fell:
        seen += f", and validation accuracy fell from its best {best_acc:.1%} to {end_acc:.1%}"
    elif acc:
        seen += (f" (validation accuracy held at {end_acc:.1%}: the model grows overconfident on what it "
                 "gets wrong)")
    message = seen + ": the model memorizes the training set instead of learning what generalizes."
    if never_improved:
        message += (f" Validation loss never got clearly below its first value ({fmt(val[0][1])} at epoch "
                    f"{val[0][0]}): nothing the model learned carries over to new data.")
    advice = (f"Keep the epoch-{best_epoch} weights (early stopping), add dropout or weight decay, "
              "use a smaller model, or get more data.")
    kept = restored_epoch is not None and restored_epoch == best_epoch
    if kept:
        message += (f" The run ends with the epoch-{best_epoch} weights, so the model you get is the one from "
                    "before the rise.")
        advice = ("Nothing to undo; to move the best epoch further, add dropout or weight decay, use a "
                  "smaller model, or get more data.")
    evidence = {"best_epoch": best_epoch, "best_val_loss": best, "last_val_loss": last, "rise": rise,
                "onset_epoch": onset, "train_loss_change": train_change, "last_epoch": last_epoch,
                "best_val_accuracy": best_acc, "last_val_accuracy": end_acc, "restored_epoch": restored_epoch}
    severity = Severity.INFO if kept else Severity.ERROR if severe else Severity.WARNING
    return [Finding("overfitting", severity, message, advice, onset, evidence)]


def not_converged(history: History) -> list[Finding]:
    """Loss still falling at the last epoch: more epochs would help. Warning when it is still falling
    fast (the model is under-trained and its scores understate it), info when the gain left is marginal.

    Rule, on validation loss: the last value is the lowest, it is at least 3 % below the value 3 epochs
    earlier, and it is above 0.01 (below that there is nothing left to gain). Without a validation loss,
    on a validation metric (accuracy, F1, ...; an early-stopped scikit-learn run logs only its score):
    the last value is the highest and at least 1 point above the value 3 epochs earlier. Training loss
    is judged only when there is no validation signal at all.
    A falling loss is a warning when, in addition, the last quarter of the run (at least 3 epochs) brought
    at least 10 % of the whole fall of the loss from its first epoch (a curve still falling at a good
    share of its average pace, far from its floor), or raised accuracy by 2 points or more.
    Calibration: iris, wine and breast cancer trained for 20 epochs at batch 256 (20 optimizer steps
    in all) make 21-29 % of their fall in the last quarter; digits 8.5 %, but its accuracy rose 2.5
    points in it (and ends 2.8 points under a longer run's). Real runs of 30 epochs still falling
    slowly (tests/fixtures/logs, healthy_digits*) make 1.1-1.6 % with accuracy up 0.3-0.9 points: info.

    Evidence: ``key``, ``last_loss`` (or ``last_value``), ``drop`` (relative, over the last 3 epochs) or
    ``rise``, ``per_epoch`` (mean relative drop per epoch over them), ``window`` (epochs in the last
    quarter), ``window_drop`` (relative fall over it), ``recent_share`` (its share of the whole fall),
    ``slope`` (least-squares change of the loss per epoch over the window), ``projected_loss`` (the loss
    after another window at the same relative pace), ``projected_gain`` (relative), ``accuracy_change``
    (validation accuracy over the window, when recorded).
    """
    metric = next((k for k in VALIDATION_METRICS if series(history, k)), None)
    if not series(history, "val_loss") and metric is not None:
        return _metric_still_rising(history, metric)
    key = loss_key(history, prefer="val_loss")
    points = series(history, key) if key else []
    if len(points) < WINDOW + 1:
        return []
    last_epoch, last = points[-1]
    before = points[-1 - WINDOW][1]
    if last > min(values(points)) or last <= CONVERGED_LOSS or before <= 0:
        return []
    drop = 1.0 - last / before
    if drop < NOT_CONVERGED_DROP:
        return []
    per_epoch = 1.0 - (last / before) ** (1.0 / WINDOW)
    window = min(max(WINDOW, len(points) // 4), len(points) - 1)
    start_epoch, start = points[-1 - window]
    first = points[0][1]
    window_drop = 1.0 - last / start
    recent_share = (start - last) / (first - last) if first > last else 0.0
    slope = _slope(points[-1 - window:])
    projected = last * (last / start)          # another window at the same relative pace
    accuracy = series(history, "val_accuracy" if key == "val_loss" else "train_accuracy")
    acc_then, acc_now = _value_at(accuracy, start_epoch), _value_at(accuracy, last_epoch)
    accuracy_change = acc_now - acc_then if acc_then is not None and acc_now is not None else None
    name = "Validation" if key == "val_loss" else "Training"
    fast = recent_share >= UNDERTRAINED_SHARE or (accuracy_change or 0.0) >= UNDERTRAINED_ACC_GAIN
    if fast:
        message = (f"{name} loss was still falling clearly at the last epoch ({last_epoch}): the last {window} "
                   f"epochs brought {pct(recent_share)} of its whole fall, from {fmt(start)} to {fmt(last)} "
                   f"(-{pct(window_drop)}, {fmt(slope)} per epoch)")
        if accuracy_change is not None:
            message += f", and accuracy moved {100 * accuracy_change:+.1f} points"
        message += (f". At that pace {window} more epochs would take it to about {fmt(projected)}. The model is "
                    "under-trained: its scores understate what it can learn.")
        advice = ("Train for more optimizer steps: more epochs, or smaller batches (trainwise fit chooses both "
                  "from the table's size when --epochs and --batch-size are not given), with early stopping to "
                  "keep the best epoch; or raise the learning rate.")
    else:
        message = (f"{name} loss was still falling at the last epoch ({last_epoch}): down {pct(drop)} over the "
                   f"last {WINDOW} epochs, to {fmt(last)}. The model has more to learn.")
        advice = ("Train for more epochs (with early stopping to catch the best one), or raise the learning "
                  "rate a little.")
    evidence = {"key": key, "last_loss": last, "drop": drop, "per_epoch": per_epoch, "window": window,
                "window_drop": window_drop, "recent_share": recent_share, "slope": slope,
                "projected_loss": projected, "projected_gain": 1.0 - projected / last,
                "accuracy_change": accuracy_change}
    severity = Severity.WARNING if fast else Severity.INFO
    return [Finding("not_converged", severity, message, advice, last_epoch, evidence)]


def _slope(points: Sequence[Point]) -> float:
    """Least-squares change per epoch of ``points`` (at least two)."""
    xs = [float(e) for e, _ in points]
    ys = values(points)
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / spread if spread else 0.0


VALIDATION_METRICS = ("val_accuracy", "val_f1", "val_balanced_accuracy", "val_roc_auc", "val_average_precision")
METRIC_STILL_RISING = 0.01


def _metric_still_rising(history: History, key: str) -> list[Finding]:
    points = series(history, key)
    if len(points) < WINDOW + 1:
        return []
    last_epoch, last = points[-1]
    rise = last - points[-1 - WINDOW][1]
    if last < max(values(points)) or rise < METRIC_STILL_RISING:
        return []
    name = key.removeprefix("val_").replace("_", " ")
    message = (f"Validation {name} was still rising at the last epoch ({last_epoch}): up {100 * rise:.1f} "
               f"points over the last {WINDOW} epochs, to {last:.3g}. The model has more to learn.")
    advice = "Train for more epochs (with early stopping to catch the best one)."
    evidence = {"key": key, "last_value": last, "rise": rise, "per_epoch": rise / WINDOW}
    return [Finding("not_converged", Severity.INFO, message, advice, last_epoch, evidence)]


def lr_too_high(history: History, *, chance: float | None = None) -> list[Finding]:
    """The loss became NaN/Inf or grew by orders of magnitude: the learning rate is too high (error).

    Rule: (1) a training or validation loss is NaN or infinite; or, on training loss (validation loss
    when there is none), (2) a value at least 10x the lowest earlier one and above the first epoch's
    (noise on a near-zero loss is not divergence), or (3) a value above 100 -- a cross-entropy that
    high means confident wrong answers -- or above 10x ``chance`` when it is known (pass ln C, the
    loss of a uniform guess, which bounds a fresh model's loss whatever the class weights).
    The finding's epoch is where the divergence shows first. Evidence: ``epoch``, ``key``, ``rule``
    (the strongest that holds: ``nonfinite``, ``growth``, ``level``), ``loss`` and ``reference`` (the
    value that tripped growth/level and what it was compared with), ``nonfinite_epoch``,
    ``peak_loss``, ``peak_epoch``, ``last_loss``, ``chance_loss``.

    Calibration: healthy real runs never exceed their first epoch's loss; diverged ones reach 1e4 to
    1e35, or NaN, within a few epochs.
    """
    nonfinite = None
    for k in ("train_loss", "val_loss"):
        bad = [(e, v) for e, v in series(history, k, keep_nonfinite=True) if not math.isfinite(v)]
        if bad and (nonfinite is None or bad[0][0] < nonfinite[1]):
            nonfinite = (k, *bad[0])
    key = loss_key(history, prefer="train_loss") or (nonfinite[0] if nonfinite else None)
    points = series(history, key) if key else []
    if nonfinite is not None:
        points = [p for p in points if p[0] < nonfinite[1]]

    growth = None
    lowest, lowest_epoch = math.inf, None
    for epoch, value in points:
        if value >= DIVERGED_GROWTH * lowest and value > points[0][1]:
            growth = (epoch, value, lowest, lowest_epoch)
            break
        if value < lowest:
            lowest, lowest_epoch = value, epoch
    ceiling = DIVERGED_LEVEL if chance is None else DIVERGED_CHANCE_FACTOR * chance
    peak = max(points, key=lambda p: p[1]) if points else None
    level = next(((e, v) for e, v in points if v > ceiling), None)
    if nonfinite is None and growth is None and level is None:
        return _saturated(points, key, chance)

    name = "Training" if key == "train_loss" else "Validation"
    starts = [x[0] for x in (growth, level) if x is not None] + ([nonfinite[1]] if nonfinite else [])
    epoch = min(starts)
    if growth is not None:
        g_epoch, g_value, ref, ref_epoch = growth
        seen = f"{name} loss grew from {fmt(ref)} at epoch {ref_epoch} to {fmt(g_value)} at epoch {g_epoch}"
        if peak is not None and peak[1] > g_value:
            seen += f" and {fmt(peak[1])} at epoch {peak[0]}"
        loss, reference = g_value, ref
    elif level is not None:
        against = (f"ten times the {fmt(chance)} of a uniform guess" if chance is not None
                   else "a cross-entropy far beyond the few units of a fresh classifier")
        seen = f"{name} loss reached {fmt(level[1])} at epoch {level[0]}, {against}"
        if peak is not None and peak[1] > level[1]:
            seen += f", and {fmt(peak[1])} at epoch {peak[0]}"
        loss, reference = level[1], ceiling
    else:
        seen, loss, reference = "", None, None
    if nonfinite is not None:
        k, n_epoch, n_value = nonfinite
        what = f"{'training' if k == 'train_loss' else 'validation'} loss became {n_value} at epoch {n_epoch}"
        seen = f"{seen}; then {what}" if seen else what[0].upper() + what[1:]
        message = (seen + ": the updates overshoot until the numbers overflow, and nothing after that is "
                   "learned.")
    else:
        message = (seen + f": the steps overshoot and the weights blow up (last epoch: {fmt(points[-1][1])}).")
    rule = "nonfinite" if nonfinite else "growth" if growth else "level"
    last = series(history, key, keep_nonfinite=True)[-1][1] if key else None
    evidence = {"epoch": epoch, "key": key, "rule": rule, "loss": loss, "reference": reference,
                "nonfinite_epoch": nonfinite[1] if nonfinite else None,
                "peak_loss": peak[1] if peak else None, "peak_epoch": peak[0] if peak else None,
                "last_loss": last, "chance_loss": chance}
    return [Finding("lr_too_high", Severity.ERROR, message, _LR_ADVICE, epoch, evidence)]


def _saturated(points: Sequence[Point], key: str | None, chance: float | None) -> list[Finding]:
    """The divergence that happened inside the first epoch: a loss far above chance from the start, flat.

    Rule: at least 3 epochs, every one at or above 3x ``chance`` (ln C) -- or above 5 when the number of
    classes is unknown: a fresh classifier starts near ln C, under 5 for fewer than 150 classes -- and
    every epoch after the first within 2 % of their median. Real case: Keras, SGD at learning rate 20,
    loss 7.8 then 8.09 in every epoch on a binary task (ln 2 = 0.69).
    """
    floor = SATURATED_CHANCE_FACTOR * chance if chance is not None else SATURATED_LEVEL
    if len(points) < WINDOW or min(values(points)) < floor:
        return []
    later = values(points[1:])
    level = median(later)
    if any(abs(v / level - 1.0) > FLAT_BAND for v in later):
        return []
    name = "Training" if key == "train_loss" else "Validation"
    against = (f"{fmt(level / chance)} times the {fmt(chance)} of a uniform guess" if chance is not None
               else "far above the ln C a fresh classifier starts from (under 5 for fewer than 150 classes)")
    epoch = points[0][0]
    message = (f"{name} loss sat at {fmt(level)} from epoch {epoch} on and never moved ({len(points)} epochs "
               f"within {pct(FLAT_BAND)}), {against}: the weights blew up inside the first epoch and the units "
               "saturated (dead ReLUs, logits pinned at the extremes), so nothing after that is learned.")
    evidence = {"epoch": epoch, "key": key, "rule": "saturated", "loss": level, "reference": floor,
                "nonfinite_epoch": None, "peak_loss": max(values(points)), "peak_epoch": None,
                "last_loss": points[-1][1], "chance_loss": chance}
    return [Finding("lr_too_high", Severity.ERROR, message, _LR_ADVICE, epoch, evidence)]


_LR_ADVICE = ("Lower the learning rate 10x (trainwise lr-find suggests one), standardize the input "
              "features, and clip gradients (grad_clip=1.0).")


def no_progress(history: History, *, chance: float | None = None) -> list[Finding]:
    """The loss barely moved from its start: the model learned nothing (error).

    Rule, on training loss (validation loss when there is none), at least 3 epochs: the lowest loss
    after the first epoch is less than 2 % under the first epoch's; or, when the chance-level loss is
    known (the entropy of the class shares), the mean of the last 3 losses is within 3 % of it: the
    model predicts the class shares and nothing else. (Within, not above: a loss weighted by class
    sits above the unweighted chance level while it learns well.) Evidence: ``key``, ``first_loss``,
    ``best_loss``, ``last_loss``, ``drop``, ``chance_loss``.

    Calibration: real runs with learning rate 0 or 1e-6 move 0-0.1 %; healthy runs fall 50-99 %.
    """
    key = loss_key(history, prefer="train_loss")
    points = series(history, key) if key else []
    if len(points) < WINDOW:
        return []
    first = points[0][1]
    best = min(values(points[1:]))
    last_epoch, last = points[-1]
    drop = 1.0 - best / first if first > 0 else 0.0
    end = _tail_mean(points)
    stuck = drop < NO_PROGRESS_DROP
    at_chance = chance is not None and chance > 0 and abs(end / chance - 1.0) <= CHANCE_BAND
    if not (stuck or at_chance):
        return _validation_stuck(history, drop) if key == "train_loss" else []
    name = "Training" if key == "train_loss" else "Validation"
    learned_some = chance is not None and not at_chance and end < chance
    if stuck:
        better = f"the best later epoch only {pct(drop)} lower" if drop >= 0.0005 else "no later epoch lower"
        seen = (f"{name} loss barely moved in {len(points)} epochs: {fmt(first)} at epoch {points[0][0]}, "
                f"{fmt(last)} at epoch {last_epoch} ({better})")
    else:
        seen = f"{name} loss ended at {fmt(end)}"
    if chance is not None:
        where = "at" if at_chance else ("above" if end > chance else "below")
        seen += f", {where} the {fmt(chance)} of a model that only knows the class shares"
    if learned_some:
        message = seen + ": whatever the model learned, it learned in the first epoch, and then it stopped."
    else:
        message = seen + ": the model has learned nothing useful."
    bounced = max(values(points)) > first * (1 + NO_PROGRESS_DROP)
    if bounced:
        advice = ("The loss also rose above where it started, so the learning rate is more likely too high "
                  "than too low: lower it 10x (or run trainwise lr-find), and look for dead ReLU units.")
    else:
        advice = ("Raise the learning rate (try trainwise lr-find), check that the labels match the features "
                  "and that the model's parameters reach the optimizer, and look for saturated or dead units.")
    evidence = {"key": key, "first_loss": first, "best_loss": best, "last_loss": last, "drop": drop,
                "chance_loss": chance}
    return [Finding("no_progress", Severity.ERROR, message, advice, last_epoch, evidence)]


def _validation_stuck(history: History, train_drop: float) -> list[Finding]:
    """no_progress seen on validation: validation loss barely moved while training loss fell little.

    Rule: at least 3 validation losses, the lowest after the first less than 2 % under the first, and
    training loss down less than 10 % (a training loss that fell far while validation did not is
    overfitting, judged there). Real case: a Hugging Face run evaluated every 10 steps for 3 epochs,
    validation loss 0.695 -> 0.685, accuracy at chance.
    """
    points = series(history, "val_loss")
    if len(points) < WINDOW or train_drop >= VAL_STUCK_TRAIN_FALL or points[0][1] <= 0:
        return []
    first_epoch, first = points[0]
    best = min(values(points[1:]))
    drop = 1.0 - best / first
    if drop >= NO_PROGRESS_DROP:
        return []
    last_epoch, last = points[-1]
    message = (f"Validation loss barely moved in {len(points)} epochs: {fmt(first)} at epoch {first_epoch}, "
               f"{fmt(last)} at epoch {last_epoch} (the best only {pct(drop)} lower), while training loss fell "
               f"{pct(train_drop)}: the model has learned nothing that shows on new data yet.")
    advice = ("Train longer or raise the learning rate (try trainwise lr-find); check that the labels match "
              "the inputs and that the model's parameters reach the optimizer.")
    evidence = {"key": "val_loss", "first_loss": first, "best_loss": best, "last_loss": last, "drop": drop,
                "train_drop": train_drop, "chance_loss": None}
    return [Finding("no_progress", Severity.ERROR, message, advice, last_epoch, evidence)]


def val_loss_below_train(history: History) -> list[Finding]:
    """Validation loss under training loss: usually harmless, explained (info).

    Rule: over the epochs with both losses, in the second half of the run at least 75 % of epochs have
    validation loss below training loss, and at the last one it is at least 5 % below. Evidence:
    ``epochs_below``, ``epochs_compared``, ``last_train_loss``, ``last_val_loss``.
    """
    both = [(r.get("epoch"), r["train_loss"], r["val_loss"]) for r in history
            if _finite(r.get("train_loss")) and _finite(r.get("val_loss"))]
    if len(both) < 2:
        return []
    half = both[len(both) // 2:]
    below = sum(1 for _, t, v in half if v < t)
    epoch, last_train, last_val = both[-1]
    if below < BELOW_TRAIN_SHARE * len(half) or last_val > (1 - BELOW_TRAIN_MARGIN) * last_train:
        return []
    message = (f"Validation loss was below training loss in {below} of the last {len(half)} epochs "
               f"({fmt(last_val)} vs {fmt(last_train)} at epoch {epoch}). Usually harmless: dropout and "
               "other regularization act only in training, and training loss is averaged over an epoch "
               "while the model improves, validation loss is measured at its end.")
    advice = ("Nothing to fix if the model uses dropout, augmentation or weight decay; otherwise check "
              "that validation rows are not easier than training rows or duplicated from them.")
    evidence = {"epochs_below": below, "epochs_compared": len(half), "last_train_loss": last_train,
                "last_val_loss": last_val}
    return [Finding("val_loss_below_train", Severity.INFO, message, advice, epoch, evidence)]


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)




def unstable_loss(history: History) -> list[Finding]:
    """Loss bouncing up and down instead of falling: warning.

    Rule, for training and for validation loss (at least 6 epochs): count the epochs whose loss rose
    at least 10 % over the previous epoch's, to a value of at least 0.01, by at least 10 % of the
    spread (max - min) of the loss after the first quarter of the run (sampling noise on a settled
    loss, with a few batches per epoch, stays under that), and that reverse direction -- follow a fall
    or are followed by one (a steady rise is overfitting or divergence, not a bounce); unstable when there are at least 3 such
    jumps and they make at least 5 % of the epoch-to-epoch steps (so a 200-epoch run needs 10). The
    series with more jumps is reported. Calibration: real healthy, stuck and smoothly overfitting runs
    have none (a healthy trainwise run with 2 batches per epoch had 6 rises of 10-17 %, each under 6 %
    of the spread); runs with a high learning rate and batches of 8 or 16 have 4-8 in validation loss. Evidence: ``key``, ``jumps`` (count), ``steps``, ``largest_jump`` (relative),
    ``largest_jump_epoch``, ``jump_epochs``.
    """
    best: tuple[str, list[tuple[int, float]], int] | None = None
    for key in ("train_loss", "val_loss"):
        points = series(history, key)
        if len(points) < 6:
            continue
        vs = values(points)
        late = vs[len(vs) // 4:]
        spread = max(late) - min(late)
        jumps = []
        for i in range(1, len(vs)):
            p, v = vs[i - 1], vs[i]
            if not (p > 0 and v >= p * (1 + JUMP) and v >= CONVERGED_LOSS and v - p >= JUMP_OF_SPREAD * spread):
                continue
            # a bounce reverses direction: it follows a fall or a fall follows it (a steady rise is not one);
            # a training loss must also climb above both previous epochs: with a few batches per epoch
            # (a Hugging Face run on 48 rows, 3 steps per epoch) it wiggles inside a falling trend
            if key == "train_loss" and i >= 2 and v <= vs[i - 2]:
                continue
            if (i >= 2 and vs[i - 1] < vs[i - 2]) or (i + 1 < len(vs) and vs[i + 1] < v):
                jumps.append((points[i][0], v / p - 1.0))
        steps = len(points) - 1
        if len(jumps) >= MIN_JUMPS and len(jumps) >= JUMP_SHARE * steps:
            if best is None or len(jumps) > len(best[1]):
                best = (key, jumps, steps)
    if best is None:
        return []
    key, jumps, steps = best
    epoch, largest = max(jumps, key=lambda j: j[1])
    name = "Training" if key == "train_loss" else "Validation"
    message = (f"{name} loss jumped up by 10% or more in {len(jumps)} of {steps} epochs "
               f"(largest: +{pct(largest)} at epoch {epoch}): the optimizer overshoots instead of settling, "
               "and the final weights are partly luck.")
    advice = ("Lower the learning rate (or decay it with a schedule), use larger batches, or clip gradients; "
              "keep the best epoch's weights rather than the last.")
    evidence = {"key": key, "jumps": len(jumps), "steps": steps, "largest_jump": largest,
                "largest_jump_epoch": epoch, "jump_epochs": [e for e, _ in jumps]}
    return [Finding("unstable_loss", Severity.WARNING, message, advice, epoch, evidence)]


def unstable_accuracy(history: History) -> list[Finding]:
    """Validation accuracy fluctuating wildly between epochs: warning.

    Rule: after the first quarter of the run (fast early learning moves accuracy a lot, upwards),
    validation accuracy falls by at least 3 points from one epoch to the next at least 3 times. At
    least 6 epochs. Calibration: no real healthy or smoothly overfitting run dropped more than 2
    points after its first quarter; noisy runs (high learning rate, batches of 8) drop 3-10 points
    3-5 times. Evidence: ``drops`` (count), ``largest_drop``, ``largest_drop_epoch``, ``low``, ``high``
    (range of the accuracy over the judged epochs), ``drop_epochs``.
    """
    points = series(history, "val_accuracy")
    if len(points) < 6:
        return []
    judged = points[len(points) // 4:]
    drops = [(e, p - v) for (_, p), (e, v) in zip(judged, judged[1:], strict=False) if p - v >= ACC_DROP]
    if len(drops) < MIN_ACC_DROPS:
        return []
    epoch, largest = max(drops, key=lambda d: d[1])
    accs = values(judged)
    message = (f"Validation accuracy fell by {100 * ACC_DROP:.0f} points or more {len(drops)} times after "
               f"epoch {judged[0][0]} "
               f"(largest: {largest:.1%} at epoch {epoch}); it swung between {min(accs):.1%} and "
               f"{max(accs):.1%}. Which epoch you stop at decides the score more than the model does.")
    advice = ("Lower the learning rate or use larger batches; if the validation set is small, enlarge it "
              "so that one epoch's score means something.")
    evidence = {"drops": len(drops), "largest_drop": largest, "largest_drop_epoch": epoch, "low": min(accs),
                "high": max(accs), "drop_epochs": [e for e, _ in drops]}
    return [Finding("unstable_accuracy", Severity.WARNING, message, advice, epoch, evidence)]
