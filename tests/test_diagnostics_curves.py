"""Curve detectors on hand-built histories: each rule's positive and negative cases."""

from __future__ import annotations

import math

import pytest

from trainwise.diagnostics import curves
from trainwise.diagnostics.findings import Severity


def hist(train=None, val=None, acc=None, start=1):
    """Records numbered from ``start``; ``None`` lists leave the key out."""
    n = max(len(x) for x in (train, val, acc) if x is not None)
    records = []
    for i in range(n):
        r = {"epoch": start + i}
        if train is not None:
            r["train_loss"] = train[i]
        if val is not None:
            r["val_loss"] = val[i]
        if acc is not None:
            r["val_accuracy"] = acc[i]
        records.append(r)
    return records


def geometric(first, ratio, n):
    return [first * ratio**i for i in range(n)]


HEALTHY = hist(train=geometric(1.0, 0.8, 20), val=[0.3 + 0.8 * 0.8**i for i in range(20)],
               acc=[min(0.95, 0.6 + 0.05 * i) for i in range(20)])


# --- overfitting -----------------------------------------------------------------------------------


def test_overfitting_names_best_epoch_rise_and_onset():
    train = [1.0, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1, 0.07, 0.05, 0.03]
    val = [1.0, 0.7, 0.55, 0.5, 0.52, 0.56, 0.6, 0.66, 0.7, 0.73]
    [f] = curves.overfitting(hist(train, val))
    assert f.code == "overfitting" and f.severity is Severity.WARNING
    ev = f.evidence
    assert ev["best_epoch"] == 4 and ev["best_val_loss"] == 0.5 and ev["last_val_loss"] == 0.73
    assert ev["rise"] == pytest.approx((0.66 + 0.7 + 0.73) / 3 / 0.5 - 1)
    assert ev["onset_epoch"] == 6 and f.epoch == 6
    assert ev["train_loss_change"] == pytest.approx(0.03 / 0.3 - 1)
    assert "epoch 4" in f.message and "training loss fell 90%" in f.message
    assert "epoch-4 weights" in f.advice


def test_overfitting_is_an_error_when_val_loss_doubles():
    train = geometric(1.0, 0.7, 12)
    val = [1.0, 0.6, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.85, 0.9]
    [f] = curves.overfitting(hist(train, val))
    assert f.severity is Severity.ERROR and f.evidence["best_epoch"] == 3
    val[-3:] = [0.7, 0.72, 0.74]  # +80 %: a warning
    assert curves.overfitting(hist(train, val))[0].severity is Severity.WARNING


def test_overfitting_is_an_error_when_accuracy_falls_too():
    train = geometric(1.0, 0.7, 10)
    val = [1.0, 0.6, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54]
    steady = [0.6, 0.8, 0.85, 0.85, 0.86, 0.85, 0.85, 0.86, 0.85, 0.85]
    falling = [0.6, 0.8, 0.85, 0.84, 0.83, 0.83, 0.82, 0.81, 0.81, 0.80]
    [f] = curves.overfitting(hist(train, val, steady))
    assert f.severity is Severity.WARNING and "accuracy held at 85.3%" in f.message
    [g] = curves.overfitting(hist(train, val, falling))
    assert g.severity is Severity.ERROR and g.evidence["best_val_accuracy"] == 0.85
    assert "validation accuracy fell from its best 85.0% to 80.7%" in g.message


def test_overfitting_is_info_when_the_run_ends_with_the_best_weights():
    train = geometric(1.0, 0.7, 12)
    val = [1.0, 0.6, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.85, 0.9]
    [f] = curves.overfitting(hist(train, val), restored_epoch=3)
    assert f.severity is Severity.INFO and f.evidence["restored_epoch"] == 3
    assert "ends with the epoch-3 weights" in f.message and f.advice.startswith("Nothing to undo")
    # restored to another epoch than the best: no excuse
    assert curves.overfitting(hist(train, val), restored_epoch=5)[0].severity is Severity.ERROR


def test_overfitting_uses_the_files_epoch_numbers():
    val = [1.0, 0.6, 0.4, 0.45, 0.5, 0.55, 0.6]
    [f] = curves.overfitting(hist(geometric(1, 0.7, 7), val, start=0))
    assert f.evidence["best_epoch"] == 2


def test_overfitting_without_training_loss_still_reports_the_rise():
    [f] = curves.overfitting(hist(val=[1.0, 0.6, 0.4, 0.45, 0.5, 0.55, 0.6]))
    assert f.evidence["train_loss_change"] is None and "training loss" not in f.message


@pytest.mark.parametrize("records", [
    HEALTHY,
    # plateau with noise: ends 2 % above the minimum (what real healthy runs do)
    hist(geometric(1, 0.8, 12), [1, 0.5, 0.3, 0.2, 0.15, 0.12, 0.11, 0.1, 0.102, 0.101, 0.103, 0.102]),
    # validation and training loss rising together: not memorization (lr_too_high's business)
    hist([0.5, 0.4, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6], [0.5, 0.4, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6]),
    # the rise starts only 2 epochs before the end
    hist(geometric(1, 0.7, 8), [1, 0.8, 0.6, 0.5, 0.45, 0.4, 0.5, 0.6]),
    hist(train=geometric(1, 0.7, 10)),  # no validation set
    [],
])
def test_overfitting_negatives(records):
    assert curves.overfitting(records) == []


# --- not_converged ---------------------------------------------------------------------------------


def test_not_converged_when_val_loss_still_falls():
    # a geometric fall never nears a floor: the last quarter (3 epochs) made 28 % of the whole fall
    [f] = curves.not_converged(hist(geometric(1, 0.9, 10), geometric(1.1, 0.95, 10)))
    assert f.severity is Severity.WARNING and f.epoch == 10
    assert f.evidence["key"] == "val_loss" and f.evidence["drop"] == pytest.approx(1 - 0.95**3)
    assert f.evidence["window"] == 3
    assert f.evidence["recent_share"] == pytest.approx((0.95**6 - 0.95**9) / (1 - 0.95**9))
    assert f.evidence["projected_loss"] == pytest.approx(1.1 * 0.95**12)
    assert f.evidence["slope"] < 0 and "under-trained" in f.message


def test_not_converged_is_info_near_the_floor():
    """Most of the fall is behind the run, the rest is slow (2 % of it in the last quarter), accuracy flat."""
    val = [2.0 * 0.6**i + 0.3 - 0.01 * i for i in range(20)]
    [f] = curves.not_converged(hist(val=val, acc=[0.9] * 20))
    assert f.severity is Severity.INFO
    assert f.evidence["window"] == 5 and f.evidence["recent_share"] < 0.03
    assert f.evidence["accuracy_change"] == 0.0


def test_not_converged_is_a_warning_while_accuracy_still_climbs():
    val = [2.0 * 0.6**i + 0.3 - 0.01 * i for i in range(20)]
    acc = [0.8 + 0.01 * i for i in range(20)]           # +5 points over the last 5 epochs
    [f] = curves.not_converged(hist(val=val, acc=acc))
    assert f.severity is Severity.WARNING
    assert f.evidence["accuracy_change"] == pytest.approx(0.05)


def test_not_converged_falls_back_on_training_loss():
    [f] = curves.not_converged(hist(train=geometric(1, 0.9, 10)))
    assert f.evidence["key"] == "train_loss"


@pytest.mark.parametrize("records", [
    hist(geometric(1, 0.9, 10), [1, 0.6, 0.4, 0.3, 0.25, 0.21, 0.206, 0.205, 0.204, 0.203]),  # settled (-1 %)
    hist(val=geometric(0.02, 0.9, 30)),  # still falling but below 0.01: nothing left to gain
    hist(val=[1, 0.8, 0.6, 0.5, 0.45, 0.4, 0.42]),  # last epoch not the lowest
    hist(val=[1, 0.8, 0.6]),  # too short to tell
])
def test_not_converged_negatives(records):
    assert curves.not_converged(records) == []


# --- lr_too_high -----------------------------------------------------------------------------------


def test_lr_too_high_on_nan():
    [f] = curves.lr_too_high(hist([0.7, 0.6, 5.0, 300.0, math.nan, math.nan]))
    assert f.severity is Severity.ERROR and f.epoch == 4  # 0.6 -> 5.0 is not yet 10x; 300 is
    assert f.evidence["rule"] == "nonfinite" and f.evidence["nonfinite_epoch"] == 5
    assert f.evidence["peak_loss"] == 300.0 and math.isnan(f.evidence["last_loss"])
    assert "grew from 0.6 at epoch 2 to 300 at epoch 4; then training loss became nan at epoch 5" in f.message


def test_lr_too_high_on_nan_from_the_first_epoch():
    [f] = curves.lr_too_high(hist([math.nan] * 4))
    assert f.epoch == 1 and f.message.startswith("Training loss became nan at epoch 1")


def test_lr_too_high_on_nan_in_validation_loss_only():
    [f] = curves.lr_too_high(hist([0.7, 0.6, 0.5], [0.7, math.inf, 0.5]))
    assert f.evidence["nonfinite_epoch"] == 2 and f.epoch == 2
    assert "validation loss became inf at epoch 2" in f.message.lower()


def test_lr_too_high_when_loss_grows_tenfold():
    [f] = curves.lr_too_high(hist([0.61, 9.7, 1474.0, 1.4e5], start=0))
    assert f.evidence["rule"] == "growth" and f.epoch == 1
    assert f.evidence["reference"] == 0.61 and f.evidence["last_loss"] == 1.4e5


def test_lr_too_high_when_loss_is_far_above_any_cross_entropy():
    # Adam with lr=10: accuracy fine, loss in the thousands from the first epoch on
    [f] = curves.lr_too_high(hist([8641.0, 16164.0, 15442.0, 5728.0, 3653.0]))
    assert f.evidence["rule"] == "level" and f.epoch == 1 and f.evidence["peak_epoch"] == 2


def test_lr_too_high_level_uses_chance_when_known():
    records = hist([8.0, 7.0, 6.5, 6.0])
    assert curves.lr_too_high(records) == []
    [f] = curves.lr_too_high(records, chance=math.log(2))
    assert f.evidence["chance_loss"] == math.log(2)


@pytest.mark.parametrize("records", [
    HEALTHY,
    # a near-zero training loss jumping 6x is noise, not divergence: still below where it started
    hist([0.6, 0.2, 0.016, 0.096, 0.05, 0.003, 0.004]),
    hist(val=[2.3, 1.2, 0.8, 0.9, 1.4, 2.0]),  # overfitting: val loss doubles
])
def test_lr_too_high_negatives(records):
    assert curves.lr_too_high(records) == []


# --- no_progress -----------------------------------------------------------------------------------


def test_no_progress_when_loss_does_not_move():
    [f] = curves.no_progress(hist([2.33] * 10, [2.334] * 10))
    assert f.severity is Severity.ERROR and f.evidence["drop"] == 0.0
    assert "barely moved" in f.message


def test_no_progress_at_chance_level():
    # fell 5 % from a bad start, then sat exactly at the entropy of the class shares
    records = hist([0.694, 0.671, 0.664, 0.6617, 0.661, 0.6608, 0.6607])
    assert curves.no_progress(records) == []
    [f] = curves.no_progress(records, chance=0.6607)
    assert "at the 0.661" in f.message and f.evidence["chance_loss"] == 0.6607


@pytest.mark.parametrize(("records", "chance"), [
    (HEALTHY, None),
    (HEALTHY, math.log(2)),
    # a class-weighted loss sits far above the unweighted chance level while learning well
    (hist([0.69, 0.5, 0.4, 0.35, 0.31, 0.3]), 0.098),
    (hist([2.3, 2.3]), None),  # too short
])
def test_no_progress_negatives(records, chance):
    assert curves.no_progress(records, chance=chance) == []


# --- unstable_loss ---------------------------------------------------------------------------------


def test_unstable_loss_on_a_bouncing_validation_loss():
    val = [0.51, 0.47, 0.58, 0.5, 0.49, 0.49, 0.51, 0.46, 0.51, 0.6, 0.52, 0.59, 0.61]
    [f] = curves.unstable_loss(hist(geometric(0.55, 0.97, 13), val, start=0))
    assert f.severity is Severity.WARNING and f.evidence["key"] == "val_loss"
    assert f.evidence["jumps"] == 4 and f.evidence["jump_epochs"] == [2, 8, 9, 11]
    assert f.evidence["largest_jump_epoch"] == 2


@pytest.mark.parametrize("records", [
    HEALTHY,
    hist(geometric(1.0, 0.8, 30), [0.3 + 0.01 * i for i in range(30)]),  # smooth overfitting
    # jumps on a near-zero training loss: memorization noise, not instability
    hist([0.5, 0.1, 0.004, 0.007, 0.003, 0.006, 0.002, 0.005, 0.001]),
    # two jumps only
    hist(val=[1.0, 0.8, 0.9, 0.7, 0.6, 0.7, 0.5, 0.45, 0.4]),
    # a steady rise of 10 % an epoch: overfitting, not bouncing
    hist(geometric(0.9, 0.7, 8), [1.0, 0.6, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65]),
])
def test_unstable_loss_negatives(records):
    assert curves.unstable_loss(records) == []


# --- unstable_accuracy -----------------------------------------------------------------------------


def test_unstable_accuracy_on_swinging_accuracy():
    acc = [0.6, 0.75, 0.8, 0.82, 0.76, 0.83, 0.84, 0.78, 0.82, 0.75, 0.81, 0.8]
    [f] = curves.unstable_accuracy(hist(acc=acc))
    assert f.evidence["drops"] == 3 and f.evidence["largest_drop_epoch"] == 10
    assert f.evidence["low"] == 0.75 and f.evidence["high"] == 0.84


@pytest.mark.parametrize("acc", [
    [0.3, 0.5, 0.7, 0.8, 0.85, 0.87, 0.88, 0.88, 0.89, 0.88, 0.89],  # fast rise, then settles
    [0.2, 0.6, 0.4, 0.8, 0.85, 0.86, 0.84, 0.86, 0.87, 0.86, 0.87],  # early swings only
    [0.9, 0.95, 0.9, 0.95, 0.95],  # too short
])
def test_unstable_accuracy_negatives(acc):
    assert curves.unstable_accuracy(hist(acc=acc)) == []


# --- val_loss_below_train --------------------------------------------------------------------------


def test_val_loss_below_train_is_info_and_explained():
    [f] = curves.val_loss_below_train(hist(geometric(1, 0.9, 10), geometric(0.8, 0.9, 10)))
    assert f.severity is Severity.INFO and "dropout" in f.message
    assert f.evidence["epochs_below"] == 5 and f.evidence["epochs_compared"] == 5


@pytest.mark.parametrize("records", [
    HEALTHY,
    # below only early on (train loss averaged over an improving epoch), above later
    hist(geometric(1, 0.7, 10), [0.9, 0.6, 0.45, 0.35, 0.3, 0.27, 0.25, 0.24, 0.235, 0.23]),
    hist(train=geometric(1, 0.9, 10)),
])
def test_val_loss_below_train_negatives(records):
    assert curves.val_loss_below_train(records) == []


# --- records that hold little ----------------------------------------------------------------------


@pytest.mark.parametrize("detector", [curves.overfitting, curves.not_converged, curves.lr_too_high,
                                      curves.no_progress, curves.unstable_loss, curves.unstable_accuracy,
                                      curves.val_loss_below_train])
def test_detectors_accept_missing_and_none_values(detector):
    records = [{"epoch": 1}, {"epoch": 2, "train_loss": None, "val_loss": None, "val_accuracy": None},
               {"train_loss": 0.5}, {"epoch": 4, "val_loss": 0.4, "lr": 0.1}]
    assert detector(records) == []
