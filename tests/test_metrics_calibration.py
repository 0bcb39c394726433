"""Calibration metrics: ECE equal to torchmetrics' CalibrationError (L1, 15 bins), streaming equal to one-shot,
summable states, temperature scaling that recovers a known temperature."""

from __future__ import annotations

import math

import pytest
import torch
import torchmetrics.classification as tm

from trainwise.metrics.calibration import (
    CalibrationAccumulator,
    apply_temperature,
    bin_counts,
    calibration_summary,
    confidences,
    expected_calibration_error,
    fit_temperature,
)


def _binary(n=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(n, generator=g)
    p[:7], p[7:12] = 1.0, 0.0                        # the edges: a slot of its own for exactly 1
    y = (torch.rand(n, generator=g) < p**1.5).long()  # over-confident on the high side
    return p, y


def _multiclass(n=1500, c=5, seed=1, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, generator=g) * scale
    y = torch.randint(0, c, (n,), generator=g)
    y[: n // 2] = logits[: n // 2].argmax(1)          # half the rows right
    return logits, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_ece_equals_torchmetrics(seed):
    p, y = _binary(seed=seed)
    expected = tm.BinaryCalibrationError(n_bins=15, norm="l1")(p, y).item()
    assert expected_calibration_error(p, y) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("scale", [0.3, 3.0, 30.0])
def test_multiclass_ece_equals_torchmetrics(scale):
    logits, y = _multiclass(scale=scale)
    probs = logits.softmax(1)
    expected = tm.MulticlassCalibrationError(num_classes=5, n_bins=15, norm="l1")(probs, y).item()
    assert expected_calibration_error(probs, y) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("n_bins", [1, 10, 15])
def test_other_bin_counts_equal_torchmetrics_too(n_bins):
    p, y = _binary(500, seed=3)
    expected = tm.BinaryCalibrationError(n_bins=n_bins, norm="l1")(p, y).item()
    assert expected_calibration_error(p, y, n_bins=n_bins) == pytest.approx(expected, abs=1e-6)


def test_streaming_equals_one_shot_and_states_add_up():
    logits, y = _multiclass()
    probs = logits.softmax(1)
    whole = CalibrationAccumulator(top_label=True)
    whole.update(probs, y)
    halves = [CalibrationAccumulator(top_label=True) for _ in range(2)]
    for i in range(0, len(y), 64):                     # batches alternate between two "processes"
        halves[(i // 64) % 2].update(probs[i:i + 64], y[i:i + 64])
    summed = halves[0].state() + halves[1].state()     # what all_reduce does
    assert torch.allclose(summed, whole.state())
    assert calibration_summary(summed, top_label=True)["ece"] == pytest.approx(whole.compute()["ece"], abs=1e-12)
    one_shot = calibration_summary(bin_counts(*confidences(probs, y)), top_label=True)
    assert whole.compute()["ece"] == pytest.approx(one_shot["ece"], abs=1e-12)
    assert whole.compute()["ece"] == pytest.approx(expected_calibration_error(probs, y), abs=1e-12)


def test_reliability_bins_and_direction():
    # a model that always says 0.9 for the positive class and is right 60% of the time: over-confident
    p = torch.full((1000,), 0.9)
    y = (torch.arange(1000) % 10 < 6).long()
    acc = CalibrationAccumulator(top_label=False)
    acc.update(p, y)
    summary = acc.compute()
    [b] = summary["bins"]
    assert b["count"] == 1000 and b["confidence"] == pytest.approx(0.9) and b["accuracy"] == pytest.approx(0.6)
    assert b["lower"] == pytest.approx(13 / 15) and b["upper"] == pytest.approx(14 / 15)
    assert summary["ece"] == pytest.approx(0.3) and summary["gap"] == pytest.approx(0.3)
    assert summary["noise"] == pytest.approx(math.sqrt(2 / math.pi * 0.9 * 0.1 / 1000))
    # says 0.1 while 60% are positives: sure of the wrong side -- counted as over-confident too
    low = CalibrationAccumulator(top_label=False)
    low.update(torch.full((1000,), 0.1), y)
    assert low.compute()["gap"] == pytest.approx(0.5)
    # says 0.6 while 90% are positives: under-confident
    under = CalibrationAccumulator(top_label=False)
    under.update(torch.full((1000,), 0.6), (torch.arange(1000) % 10 < 9).long())
    assert under.compute()["gap"] == pytest.approx(-0.3)


def test_empty_and_bad_inputs():
    empty = CalibrationAccumulator(top_label=True).compute()
    assert empty["ece"] is None and empty["bins"] == [] and empty["samples"] == 0
    with pytest.raises(ValueError, match="n_bins"):
        bin_counts(torch.rand(3), torch.ones(3), 0)
    with pytest.raises(ValueError, match=r"\[N, C\]"):
        CalibrationAccumulator(top_label=True).update(torch.rand(3), torch.ones(3))
    # NaN confidences are counted nowhere
    counts = bin_counts(torch.tensor([0.5, float("nan")]), torch.tensor([1.0, 1.0]))
    assert counts[0].sum() == 1


def test_temperature_scaling_recovers_a_known_temperature():
    g = torch.Generator().manual_seed(0)
    true_logits = torch.randn(20_000, 4, generator=g) * 2
    y = torch.multinomial(true_logits.softmax(1), 1, generator=g).reshape(-1)
    over = true_logits * 2.5                              # a model 2.5x too sure of itself
    t = fit_temperature(over, y)
    assert t == pytest.approx(2.5, rel=0.05)
    scaled = apply_temperature(over, t)
    assert torch.equal(scaled.argmax(1), over.argmax(1))   # not one prediction changes
    assert expected_calibration_error(scaled.softmax(1), y) < 0.02 < expected_calibration_error(over.softmax(1), y)


def test_temperature_of_one_logit_binary_models():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(20_000, generator=g) * 2
    y = (torch.rand(20_000, generator=g) < torch.sigmoid(z)).long()
    assert fit_temperature((z * 0.5).reshape(-1, 1), y) == pytest.approx(0.5, rel=0.05)   # under-confident
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(z, 0.0)
