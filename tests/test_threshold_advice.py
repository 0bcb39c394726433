"""When recall at 0.5 is poor but a reachable threshold fixes it, the advice says so with numbers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trainwise.cli import main
from trainwise.diagnostics import diagnose


def fraud_scores(n=20_000, seed=0):
    """2% frauds whose scores sit mostly under 0.5, but above most legitimate rows."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.02).astype(int)
    score = np.where(y == 1, rng.beta(2, 5, n), rng.beta(1, 30, n))
    return y, score


def test_evaluate_scores_self_check_names_the_fixing_threshold(tmp_path, capsys):
    y, score = fraud_scores()
    pd.DataFrame({"is_fraud": y, "p": score}).to_csv(tmp_path / "scores.csv", index=False)
    code = main(["evaluate", str(tmp_path / "scores.csv"), "--label", "is_fraud", "--score", "p", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["metrics"]["recall"] < 0.3 and summary["verdict"] == "bad"
    fix = summary["thresholds"]["recall@0.8"]
    low_recall = next(f for f in summary["findings"] if f["code"] == "low_recall")
    paradox = next(f for f in summary["findings"] if f["code"] == "accuracy_paradox")
    for finding in (low_recall, paradox):
        assert f"0.5 → {fix['threshold']:.3g}" in finding["advice"]
        assert f"{fix['recall']:.0%} recall at {fix['precision']:.0%} precision" in finding["advice"]
        assert finding["evidence"]["threshold_fix"]["threshold"] == fix["threshold"]


def test_no_threshold_advice_without_scores_or_when_nothing_is_reachable():
    metrics = {"labels": ["0", "1"], "positive_label": "1", "confusion_matrix": [[9776, 24], [176, 24]],
               "accuracy": 0.98, "recall": 0.12, "precision": 0.5, "f1": 0.19, "average": "binary"}
    plain = {f.code: f for f in diagnose([], metrics=metrics)}
    assert "→" not in plain["low_recall"].advice and "threshold_fix" not in plain["low_recall"].evidence
    unreachable = {"best_f1": None, "recall@0.8": None}
    none = {f.code: f for f in diagnose([], metrics=metrics, thresholds=unreachable)}
    assert none["low_recall"].advice == plain["low_recall"].advice


@pytest.mark.parametrize("applied, expected", [(None, "0.5 → 0.1"), (0.3, "0.3 → 0.1")])
def test_the_advice_starts_from_the_threshold_in_use(applied, expected):
    metrics = {"labels": ["0", "1"], "positive_label": "1", "confusion_matrix": [[9776, 24], [176, 24]],
               "accuracy": 0.98, "recall": 0.12, "precision": 0.5, "f1": 0.19, "average": "binary"}
    thresholds = {"recall@0.8": {"threshold": 0.1, "precision": 0.41, "recall": 0.8, "f1": 0.54, "tp": 160,
                                 "fp": 230, "tn": 9570, "fn": 40}}
    if applied is not None:
        thresholds["applied"] = {"rule": str(applied), "threshold": applied}
    findings = {f.code: f for f in diagnose([], metrics=metrics, thresholds=thresholds)}
    assert expected in findings["low_recall"].advice
    assert "80% recall at 41% precision" in findings["accuracy_paradox"].advice
