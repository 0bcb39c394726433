"""weaker_than_baseline and miscalibrated, from the recorded sections; and the calibration a fit records."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import trainwise as tw
from trainwise.assessment import stored_temperature
from trainwise.diagnostics import Severity, diagnose, verdict
from trainwise.diagnostics.quality import miscalibrated, quality_findings, weaker_than_baseline
from trainwise.metrics.calibration import expected_calibration_error
from trainwise.report import figures, html

WEAKER = {"model": "logistic regression (L2, C=1, standardized features)", "ran": True, "metric": "accuracy",
          "network": 0.806, "baseline": 0.972, "difference": -0.166, "p_value": 0.031, "network_only": 0,
          "baseline_only": 6, "outcome": "weaker", "metrics": {"accuracy": 0.972, "loss": 0.08}}


def test_weaker_than_baseline_states_both_numbers():
    [f] = weaker_than_baseline(WEAKER)
    assert f.code == "weaker_than_baseline" and f.severity is Severity.WARNING
    assert "accuracy 97.2%" in f.message and "accuracy 80.6%" in f.message and "16.6 points lower" in f.message
    assert "right on 6 rows" in f.message and "p = 0.031" in f.message
    assert f.evidence["baseline_metrics"] == {"accuracy": 0.972, "loss": 0.08}
    assert "lr-find" in f.advice


def test_weaker_on_roc_auc():
    auc = {**WEAKER, "metric": "roc_auc", "network": 0.90, "baseline": 0.95, "difference": -0.05}
    del auc["network_only"], auc["baseline_only"]
    [f] = weaker_than_baseline(auc)
    assert "ROC AUC 0.950" in f.message and "0.050 lower" in f.message and "right on" not in f.message


@pytest.mark.parametrize("section", [None, {"ran": False, "reason": "turned off"},
                                     {**WEAKER, "outcome": "on_par"}, {**WEAKER, "outcome": "better"}])
def test_no_weaker_finding(section):
    assert weaker_than_baseline(section) == []


CAL = {"kind": "top-label", "n_bins": 15, "samples": 400, "ece": 0.15, "gap": 0.14, "noise": 0.02, "bins": []}


def test_over_and_under_confidence():
    [over] = miscalibrated(CAL)
    assert over.severity is Severity.WARNING and "over-confident" in over.message
    assert "7.5x" in over.message and "--calibrate" in over.advice and "overfitting" in over.advice
    [under] = miscalibrated({**CAL, "gap": -0.15})
    assert "under-confident" in under.message and "under-trained" in under.advice
    [binary] = miscalibrated({**CAL, "kind": "binary"})
    assert "further from 0.5" in binary.message


@pytest.mark.parametrize("change", [
    {"ece": 0.04, "gap": 0.04},            # under 0.05
    {"noise": 0.08},                       # within twice the noise of 400 rows
    {"gap": 0.02},                         # no clear direction: errors of both signs
    {"ece": None},                         # nothing measured
])
def test_not_miscalibrated(change):
    assert miscalibrated({**CAL, **change}) == []


def test_a_fitted_temperature_turns_it_into_info():
    fixed = {**CAL, "temperature": 1.8, "ece_after": 0.02, "gap_after": 0.01, "noise_after": 0.02}
    [f] = miscalibrated(fixed)
    assert f.severity is Severity.INFO and "1.8" in f.message and f.evidence["ece_after"] == 0.02
    still = {**fixed, "ece_after": 0.12, "gap_after": 0.11}
    [g] = miscalibrated(still)
    assert g.severity is Severity.WARNING and "still clearly off" in g.message


def test_diagnose_reads_both_sections_from_the_metrics():
    metrics = {"accuracy": 0.8, "confusion_matrix": [[40, 10], [10, 40]], "labels": ["0", "1"],
               "baseline": WEAKER, "calibration": CAL}
    found = diagnose([], metrics=metrics)
    assert {"weaker_than_baseline", "miscalibrated"} <= {f.code for f in found}
    assert verdict(found) == "warning"
    assert [f.code for f in quality_findings(metrics)] == ["weaker_than_baseline", "miscalibrated"]


# ---------------------------------------------------------------------- what a fit records
def blobs(n=1200, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    X = torch.randn(n, 4, generator=g) + 1.5 * torch.nn.functional.one_hot(y, 4).float()
    return (X[:900], y[:900]), (X[900:], y[900:])


def test_a_fit_records_calibration_and_a_temperature():
    train, val = blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3))
    run = tw.Trainer(optimizer="adam", lr=1e-2, epochs=5, batch_size=64, seed=0, device="cpu",
                     calibrate=True).fit(model, train, val)
    cal = run.calibration
    assert cal is run.metrics["calibration"] and cal["kind"] == "top-label" and cal["samples"] == 300
    with torch.inference_mode():
        probs = model(val[0]).softmax(1)
    assert cal["ece"] == pytest.approx(expected_calibration_error(probs, val[1]), abs=1e-6)
    assert sum(b["count"] for b in cal["bins"]) == 300
    assert 0.05 < cal["temperature"] < 20 and cal["ece_after"] <= cal["ece"] + 0.01
    assert "temperature" not in tw.Trainer(epochs=1, batch_size=64, seed=0, device="cpu").fit(
        nn.Sequential(nn.Linear(4, 3)), train, val).calibration


def test_binary_calibration_is_the_positive_class_probability():
    g = torch.Generator().manual_seed(3)
    X = torch.randn(800, 3, generator=g)
    y = (X[:, 0] > 0).long()
    torch.manual_seed(0)
    model = nn.Linear(3, 1)                              # one logit: class 1's
    run = tw.Trainer(epochs=3, batch_size=64, seed=0, device="cpu", positive=0).fit(
        model, (X[:600], y[:600]), (X[600:], y[600:]))
    assert run.calibration["kind"] == "binary"
    with torch.inference_mode():
        p0 = 1 - torch.sigmoid(model(X[600:]).reshape(-1))
    assert run.calibration["ece"] == pytest.approx(expected_calibration_error(p0, (y[600:] == 0).long()), abs=1e-6)


def test_the_report_shows_the_baseline_and_the_reliability_diagram():
    bins = [{"lower": 0.8, "upper": 13 / 15, "count": 40, "confidence": 0.83, "accuracy": 0.7},
            {"lower": 14 / 15, "upper": 1.0, "count": 360, "confidence": 0.97, "accuracy": 0.85}]
    summary = {"metrics": {"accuracy": 0.806, "loss": 0.8, "baseline": WEAKER,
                           "calibration": {**CAL, "bins": bins, "temperature": 1.7, "ece_after": 0.03,
                                           "bins_after": bins}}}
    view = html.quality_view(summary, {})
    assert "clearly weaker" in view["baseline"] and "over-confident" in view["calibration"]
    assert view["table"]["rows"][1] == ["accuracy", "0.806", "0.972"]
    with figures.style():
        assert figures.reliability_figure(summary["metrics"]["calibration"]) is not None
    assert figures.reliability_figure({"bins": []}) is None
    assert stored_temperature(summary) == 1.7 and stored_temperature({"metrics": {"accuracy": 1.0}}) is None
