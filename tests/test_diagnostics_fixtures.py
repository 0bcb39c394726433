"""Calibration on real logs: what each Lightning, Keras and trainwise-format run gets.

The logs under tests/fixtures/logs were written by the real tools (scripts/make_log_fixtures.py:
small models on scikit-learn data). Healthy runs must get no warning; overfitting, diverging, stuck
and noisy runs must get theirs. A change of threshold that breaks one of these is a change of behaviour
on real curves, not a detail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trainwise.diagnostics import Severity, diagnose, diagnose_path, verdict
from trainwise.history import read_history

LOGS = Path(__file__).parent / "fixtures" / "logs"

# scenario -> (codes, verdict); the same for the Lightning and the Keras log of the scenario
EXPECTED = {
    "healthy_breast_cancer": (set(), "good"),
    "healthy_digits": ({"not_converged"}, "good"),
    "healthy_digits_dropout": ({"not_converged"}, "good"),
    "healthy_synthetic": (set(), "good"),
    "overfit_digits": ({"overfitting"}, "warning"),
    "diverge_adam_lr10": ({"lr_too_high"}, "bad"),
    "diverge_sgd_unscaled": ({"lr_too_high"}, "bad"),
    "diverge_sgd_momentum_bs4": ({"lr_too_high"}, "bad"),
    "stuck_sgd_lr1e-6": ({"no_progress"}, "bad"),
    "stuck_lr0": ({"no_progress"}, "bad"),
    "noisy_synthetic_sgd_bs8": ({"overfitting", "unstable_loss", "unstable_accuracy"}, "bad"),
    "noisy_synthetic_adam_bs8": ({"overfitting", "unstable_loss", "unstable_accuracy"}, "bad"),
}
# where the two tools' runs differ (different initialization and shuffling), per file
EXPECTED_BY_FILE = {
    # validation loss +129 % (error: more than doubled) and +65 % (warning); accuracy held in both
    "lightning/overfit_breast_cancer.csv": ({"overfitting"}, "bad"),
    "keras/overfit_breast_cancer.csv": ({"overfitting"}, "warning"),
    "keras/healthy_wine_sgd.csv": ({"val_loss_below_train"}, "good"),
    "lightning/healthy_wine_sgd.csv": (set(), "good"),
}
CASES = sorted([(f"{tool}/{name}.csv", *want) for name, want in EXPECTED.items()
                for tool in ("lightning", "keras")]
               + [(name, *want) for name, want in EXPECTED_BY_FILE.items()])


def test_every_fixture_has_an_expectation():
    files = {p.relative_to(LOGS).as_posix() for p in LOGS.glob("*/*.csv")}
    assert files == {name for name, _, _ in CASES}


@pytest.mark.parametrize(("name", "codes", "expected_verdict"), CASES, ids=[c[0] for c in CASES])
def test_real_log_gets_its_findings(name, codes, expected_verdict):
    findings, info, records = diagnose_path(LOGS / name)
    assert {f.code for f in findings} == codes
    assert verdict(findings) == expected_verdict
    assert info["format"] == name.split("/")[0]
    if name.split("/")[1].startswith("healthy"):
        assert all(f.severity is Severity.INFO for f in findings)


@pytest.mark.parametrize("tool", ["lightning", "keras"])
def test_overfitting_evidence_on_real_curves(tool):
    [f] = diagnose_path(LOGS / tool / "overfit_breast_cancer.csv")[0]
    ev = f.evidence
    assert ev["rise"] >= 0.5 and ev["last_val_accuracy"] == pytest.approx(ev["best_val_accuracy"])
    assert "accuracy held" in f.message
    assert 5 <= ev["best_epoch"] <= 15  # file numbering (from 0): the minimum comes early
    assert ev["last_val_loss"] > ev["best_val_loss"] and ev["train_loss_change"] < -0.99
    assert ev["onset_epoch"] > ev["best_epoch"] and f.epoch == ev["onset_epoch"]
    assert f"epoch-{ev['best_epoch']} weights" in f.advice


@pytest.mark.parametrize("tool", ["lightning", "keras"])
def test_noisy_overfitting_that_costs_accuracy_is_an_error(tool):
    [f] = [f for f in diagnose_path(LOGS / tool / "noisy_synthetic_sgd_bs8.csv")[0] if f.code == "overfitting"]
    ev = f.evidence
    assert f.severity is Severity.ERROR and ev["best_val_accuracy"] - ev["last_val_accuracy"] >= 0.03
    assert "validation accuracy fell" in f.message


def test_slow_overfitting_is_a_warning():
    [f] = diagnose_path(LOGS / "keras" / "overfit_digits.csv")[0]
    assert f.severity is Severity.WARNING and 0.05 <= f.evidence["rise"] < 0.5


def test_divergence_to_nan_points_at_where_it_started():
    [f] = diagnose_path(LOGS / "keras" / "diverge_sgd_momentum_bs4.csv")[0]
    assert f.evidence["rule"] == "nonfinite" and f.epoch < f.evidence["nonfinite_epoch"]
    assert "grew from" in f.message and "became nan" in f.message


def test_stuck_runs_cannot_see_chance_without_classes_but_say_barely_moved():
    [f] = diagnose_path(LOGS / "lightning" / "stuck_sgd_lr1e-6.csv")[0]
    assert f.evidence["drop"] < 0.01 and "barely moved" in f.message


# --- trainwise-format records with gradient norms --------------------------------------------------

DIGITS = {"class_counts": [178, 182, 177, 183, 181, 182, 181, 179, 174, 180], "num_classes": 10}
BREAST_CANCER = {"class_counts": [212, 357], "num_classes": 2}


@pytest.mark.parametrize(("name", "data", "codes", "expected_verdict"), [
    ("healthy_digits", DIGITS, {"not_converged"}, "good"),
    ("overfit_mild_breast_cancer_sgd", BREAST_CANCER, {"overfitting"}, "warning"),
    ("exploding_sgd_unscaled", BREAST_CANCER, {"lr_too_high", "exploding_gradients"}, "bad"),
    # the norm dies out and the loss sits at the entropy of the class shares
    ("vanishing_deep_sigmoid", BREAST_CANCER, {"vanishing_gradients", "no_progress"}, "bad"),
    # without the class counts the chance level is unknown, but validation loss that barely moved while
    # training loss fell 5 % says the same
    ("vanishing_deep_sigmoid", None, {"vanishing_gradients", "no_progress"}, "bad"),
    # the signal dies in the early layers, but the output layer keeps a steady gradient: the global
    # norm cannot show it; the flat loss can
    ("stuck_deep_tanh", DIGITS, {"no_progress"}, "bad"),
])
def test_trainwise_records_with_gradients(name, data, codes, expected_verdict):
    records, info = read_history(LOGS / "trainwise" / f"{name}.jsonl")
    assert records[0]["epoch"] == 1 and "grad_norm_mean" in records[0]
    findings = diagnose(records, data=data)
    assert {f.code for f in findings} == codes
    assert verdict(findings) == expected_verdict


def test_exploding_gradients_names_the_layer_on_a_real_run():
    records, _ = read_history(LOGS / "trainwise" / "exploding_sgd_unscaled.jsonl")
    [f] = [f for f in diagnose(records) if f.code == "exploding_gradients"]
    assert f.epoch == 1 and f.evidence["layer"] and f.evidence["ratio"] > 1e4
