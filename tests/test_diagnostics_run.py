"""diagnose / diagnose_path / verdict: the contract, the mission's self-check, and no false alarms."""

from __future__ import annotations

import json
import math

import pytest

from trainwise.diagnostics import Finding, Severity, at_least, diagnose, diagnose_path, verdict
from trainwise.history import write_history_jsonl


def binary_metrics(cm, positive="1"):
    (tn, fp), (fn, tp) = cm
    total = tn + fp + fn + tp
    return {"loss": 0.1, "num_samples": total, "accuracy": (tn + tp) / total,
            "precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            "average": "binary", "labels": ["0", "1"], "positive_label": positive,
            "confusion_matrix": [[tn, fp], [fn, tp]], "tp": tp, "fp": fp, "tn": tn, "fn": fn}


def healthy_history(n=20):
    return [{"epoch": i + 1, "train_loss": 0.05 + 0.65 * 0.8**i, "val_loss": 0.1 + 0.6 * 0.8**i,
             "val_accuracy": min(0.93, 0.6 + 0.04 * i), "lr": 1e-3,
             "grad_norm_mean": 0.2 + 0.7 * 0.85**i, "grad_norm_max": 3 * (0.2 + 0.7 * 0.85**i),
             "grad_top_layer": "net.0.weight", "steps": 10 * (i + 1), "seconds": 0.4} for i in range(n)]


# --- Finding and verdict ---------------------------------------------------------------------------


def test_finding_is_frozen_and_serializes_to_plain_json():
    f = Finding("overfitting", "warning", "m", "a", 7, {"best_epoch": 7, "rise": math.nan, "pair": (1, 2)})
    assert f.severity is Severity.WARNING and f.severity == "warning"
    with pytest.raises(AttributeError):
        f.code = "x"  # type: ignore[misc]
    d = f.to_dict()
    assert d == {"code": "overfitting", "severity": "warning", "message": "m", "advice": "a", "epoch": 7,
                 "evidence": {"best_epoch": 7, "rise": None, "pair": [1, 2]}}
    json.dumps(d, allow_nan=False)


def test_unknown_severity_is_refused():
    with pytest.raises(ValueError):
        Finding("x", "fatal", "m", "a")


@pytest.mark.parametrize(("severities", "expected"), [
    ([], "good"), (["info"], "good"), (["info", "warning"], "warning"), (["warning", "error", "info"], "bad"),
])
def test_verdict(severities, expected):
    assert verdict([Finding("c", s, "m", "a") for s in severities]) == expected


def test_at_least_gates_like_fail_on():
    fs = [Finding("a", "info", "", ""), Finding("b", "warning", "", ""), Finding("c", "error", "", "")]
    assert [f.code for f in at_least(fs, "warning")] == ["b", "c"]
    assert [f.code for f in at_least(fs, Severity.ERROR)] == ["c"]


# --- the mission's self-check ----------------------------------------------------------------------


def test_fraud_model_with_98_percent_accuracy_is_bad_and_says_why():
    # 2 % frauds; accuracy 98.0 % = the majority baseline; recall 12 % on class 1
    metrics = binary_metrics([[4888, 12], [88, 12]])
    findings = diagnose(healthy_history(), metrics=metrics,
                        data={"class_counts": [14700, 300], "labels": ["0", "1"], "n_val": 5000})
    assert verdict(findings) == "bad"
    codes = [f.code for f in findings]
    assert "accuracy_paradox" in codes and "low_recall" in codes
    by_code = {f.code: f for f in findings}
    assert by_code["accuracy_paradox"].severity is Severity.ERROR
    assert by_code["low_recall"].severity is Severity.ERROR
    assert any("misses 88% of class 1" in f.message for f in findings)
    assert by_code["accuracy_paradox"].evidence["baseline"] == pytest.approx(0.98)
    assert codes.index("accuracy_paradox") < codes.index("class_imbalance")  # errors first


def test_healthy_run_is_good_with_no_warnings():
    metrics = binary_metrics([[450, 30], [40, 480]])
    findings = diagnose(healthy_history(), metrics=metrics,
                        data={"class_counts": [1400, 1600], "labels": ["0", "1"],
                              "leakage": {"count": 0, "share": 0.0, "examples": []}})
    assert verdict(findings) == "good"
    assert [f for f in findings if f.severity is not Severity.INFO] == []


def test_history_alone_and_empty_inputs():
    assert diagnose([]) == []
    assert [f.code for f in diagnose([{"epoch": 1}])] == ["no_validation"]   # nothing checked: never GOOD
    assert verdict(diagnose(healthy_history())) == "good"


# --- how detectors combine -------------------------------------------------------------------------


def test_a_diverged_run_reports_the_divergence_not_its_side_effects():
    h = [{"epoch": i, "train_loss": v, "val_loss": v} for i, v in
         enumerate([0.6, 9.7, 1474.0, 1.4e5, 5e6, math.nan, math.nan, math.nan])]
    assert [f.code for f in diagnose(h)] == ["lr_too_high"]


def test_a_run_stuck_at_chance_is_no_progress_with_the_chance_level():
    h = [{"epoch": i + 1, "train_loss": v, "val_loss": v} for i, v in
         enumerate([0.694, 0.671, 0.664, 0.6617, 0.661, 0.6608, 0.6607, 0.6607])]
    assert diagnose(h) == []  # fell 5 %; without the class shares there is no telling
    [f] = diagnose(h, data={"class_counts": [212, 357]})
    assert f.code == "no_progress" and f.evidence["chance_loss"] == pytest.approx(0.6603, abs=1e-4)


def test_a_class_weighted_run_is_not_mistaken_for_a_stuck_one():
    # weighted loss on 2 % frauds: starts near ln 2 and learns, far above the unweighted chance 0.098
    h = [{"epoch": i + 1, "train_loss": 0.3 + 0.4 * 0.7**i, "val_loss": 0.32 + 0.4 * 0.7**i} for i in range(15)]
    assert diagnose(h, data={"class_counts": [4900, 100]}, metrics={}) == [
        f for f in diagnose(h, data={"class_counts": [4900, 100]}) if f.code == "class_imbalance"]


def test_num_classes_sets_the_divergence_ceiling():
    h = [{"epoch": i + 1, "train_loss": v} for i, v in enumerate([9.0, 8.0, 7.5, 7.2])]
    assert "lr_too_high" not in [f.code for f in diagnose(h)]
    assert [f.code for f in diagnose(h, data={"num_classes": 2})] == ["lr_too_high", "no_validation"]


# --- paths -----------------------------------------------------------------------------------------


def test_diagnose_accepts_a_path(tmp_path):
    h = healthy_history()
    h[-1]["val_loss"] = math.nan
    write_history_jsonl(h, tmp_path / "history.jsonl")
    assert [f.code for f in diagnose(tmp_path / "history.jsonl")] == ["lr_too_high"]
    assert [f.code for f in diagnose(str(tmp_path))] == ["lr_too_high"]


def test_diagnose_path_uses_the_run_folders_summary(tmp_path):
    write_history_jsonl(healthy_history(), tmp_path / "history.jsonl")
    summary = {"verdict": "bad", "metrics": binary_metrics([[4888, 12], [88, 12]]),
               "data": {"leakage": {"count": 40, "share": 0.008, "examples": [1, 2]}, "n_val": 5000}}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    findings, info, records = diagnose_path(tmp_path)
    assert info["summary"].endswith("summary.json") and len(records) == 20
    codes = [f.code for f in findings]
    assert {"accuracy_paradox", "low_recall", "data_leakage"} <= set(codes)


def test_diagnose_path_reads_the_restored_epoch(tmp_path):
    h = [{"epoch": i + 1, "train_loss": 0.9 * 0.7**i, "val_loss": v} for i, v in
         enumerate([1.0, 0.6, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65])]
    write_history_jsonl(h, tmp_path / "history.jsonl")
    assert verdict(diagnose_path(tmp_path)[0]) == "warning"
    (tmp_path / "summary.json").write_text(json.dumps({"restored_epoch": 3, "best_epoch": 3}))
    [f] = diagnose_path(tmp_path)[0]
    assert f.code == "overfitting" and f.severity is Severity.INFO


def test_diagnose_path_on_a_plain_log(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss,val_loss\n0,1.0,1.1\n1,1.0,1.1\n2,1.0,1.1\n3,1.0,1.1\n")
    findings, info, records = diagnose_path(path)
    assert [f.code for f in findings] == ["no_progress"] and findings[0].epoch == 3
    assert info["columns"] == {"loss": "train_loss", "val_loss": "val_loss"} and "summary" not in info
    assert records[0]["epoch"] == 0
