"""Metrics detectors on hand-built metrics dicts (rows of the confusion matrix = true class)."""

from __future__ import annotations

import pytest

from trainwise.diagnostics import classification as cls
from trainwise.diagnostics.findings import Severity


def binary_metrics(cm, labels=("0", "1"), positive="1"):
    """A metrics dict as the accumulator builds it, from a 2x2 confusion matrix."""
    (tn, fp), (fn, tp) = cm
    total = tn + fp + fn + tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"accuracy": (tn + tp) / total, "precision": precision, "recall": recall, "average": "binary",
            "labels": list(labels), "positive_label": positive, "confusion_matrix": [list(r) for r in cm],
            "tp": tp, "fp": fp, "tn": tn, "fn": fn, "num_samples": total}


def multiclass_metrics(cm, labels=None):
    n = len(cm)
    labels = labels or [str(i) for i in range(n)]
    per_class = {}
    for i, label in enumerate(labels):
        support = sum(cm[i])
        predicted = sum(row[i] for row in cm)
        per_class[label] = {"precision": cm[i][i] / predicted if predicted else 0.0,
                            "recall": cm[i][i] / support if support else 0.0, "support": support}
    macro = {k: sum(p[k] for p in per_class.values()) / n for k in ("precision", "recall")}
    total = sum(map(sum, cm))
    return {"accuracy": sum(cm[i][i] for i in range(n)) / total, "labels": labels, "average": "macro",
            "confusion_matrix": cm, "per_class": per_class, "macro": macro}


# 5000 transactions, 2 % frauds; accuracy 98 % (the majority baseline), recall 12 %, precision 50 %
FRAUD = binary_metrics([[4888, 12], [88, 12]])
GOOD = binary_metrics([[450, 30], [40, 480]])  # balanced, 93 %, precision and recall close


def codes(findings):
    return [f.code for f in findings]


# --- accuracy_paradox ------------------------------------------------------------------------------


def test_accuracy_paradox_on_the_fraud_case():
    [f] = cls.accuracy_paradox(FRAUD)
    assert f.severity is Severity.ERROR
    ev = f.evidence
    assert ev["accuracy"] == pytest.approx(0.98) and ev["baseline"] == pytest.approx(0.98)
    assert ev["majority_label"] == "0" and ev["minority_label"] == "1"
    assert ev["minority_recall"] == pytest.approx(0.12) and ev["skill"] == pytest.approx(0.0)
    assert "98.0% equals the majority-class baseline of 98.0% (always predicting class 0)" in f.message
    assert "misses 88% of class 1 (88 of 100)" in f.message


def test_accuracy_paradox_when_high_accuracy_hides_a_minority_class():
    # 90 % majority, accuracy 95 % (skill 0.5, clearly above baseline), but class 1 recalled 45 %
    m = binary_metrics([[1800, 0], [110, 90]])
    [f] = cls.accuracy_paradox(m)
    assert f.evidence["minority_recall"] == pytest.approx(0.45)
    assert "looks high only because" in f.message


def test_accuracy_paradox_multiclass_names_the_worst_minority_class():
    cm = [[800, 5, 5], [10, 90, 0], [60, 0, 30]]  # majority 80 %, class 'c' recalled 33 %
    [f] = cls.accuracy_paradox(multiclass_metrics(cm, ["a", "b", "c"]))
    assert f.evidence["minority_label"] == "c" and "class 'c'" in f.message


@pytest.mark.parametrize("metrics", [
    GOOD,
    binary_metrics([[1790, 10], [30, 170]]),  # imbalanced but the minority is found (85 %)
    multiclass_metrics([[90, 5, 5], [5, 90, 5], [5, 5, 90]]),
    binary_metrics([[100, 0], [0, 0]]),  # one class only: nothing to compare with
    {},
])
def test_accuracy_paradox_negatives(metrics):
    assert cls.accuracy_paradox(metrics) == []


# --- low_recall / low_precision --------------------------------------------------------------------


def test_low_recall_on_the_positive_class_says_how_many_are_missed():
    [f] = cls.low_recall(FRAUD)
    assert f.severity is Severity.ERROR
    assert f.evidence["label"] == "1" and f.evidence["recall"] == pytest.approx(0.12)
    assert f.evidence["classes"][0]["missed"] == 88
    assert "misses 88% of class 1" in f.message


def test_low_recall_is_a_warning_between_030_and_050():
    [f] = cls.low_recall(binary_metrics([[900, 0], [60, 40]]))
    assert f.severity is Severity.WARNING


def test_low_recall_multiclass_lists_every_low_class_worst_first():
    cm = [[90, 5, 5], [50, 40, 10], [70, 10, 20]]
    [f] = cls.low_recall(multiclass_metrics(cm))
    assert [c["label"] for c in f.evidence["classes"]] == ["2", "1"] and f.severity is Severity.ERROR


def test_low_recall_names_a_non_numeric_positive_label():
    m = binary_metrics([[950, 10], [30, 10]], labels=("legit", "fraud"), positive="fraud")
    [f] = cls.low_recall(m)
    assert "class 'fraud'" in f.message


def test_a_class_never_predicted_has_recall_0_and_no_precision():
    m = binary_metrics([[980, 0], [20, 0]])
    assert codes(cls.low_recall(m)) == ["low_recall"]
    assert cls.low_precision(m) == []
    assert cls.precision_recall_gap(m) == []


def test_low_precision_warns_and_counts_false_alarms():
    [f] = cls.low_precision(binary_metrics([[800, 150], [5, 45]]))
    assert f.severity is Severity.WARNING and f.evidence["precision"] == pytest.approx(45 / 195)
    assert f.evidence["classes"][0]["false_positives"] == 150


@pytest.mark.parametrize("detector", [cls.low_recall, cls.low_precision, cls.precision_recall_gap])
def test_metric_detectors_stay_quiet_on_a_good_model(detector):
    assert detector(GOOD) == []
    assert detector(multiclass_metrics([[90, 5, 5], [5, 90, 5], [5, 5, 90]])) == []


def test_per_class_dict_alone_is_enough():
    m = {"labels": ["0", "1"], "positive_label": "1",
         "per_class": {"0": {"precision": 0.9, "recall": 0.99, "support": 900},
                       "1": {"precision": 0.6, "recall": 0.2, "support": 100}}}
    assert codes(cls.low_recall(m)) == ["low_recall"]
    assert "(" not in cls.low_recall(m)[0].message.split(":")[1].split(".")[0]  # no counts to show


# --- precision_recall_gap --------------------------------------------------------------------------


def test_precision_recall_gap_points_at_the_threshold():
    [f] = cls.precision_recall_gap(FRAUD)
    assert f.evidence["gap"] == pytest.approx(0.38) and "Lower the decision threshold" in f.advice
    [g] = cls.precision_recall_gap(binary_metrics([[700, 250], [5, 45]]))
    assert "Raise the decision threshold" in g.advice


def test_precision_recall_gap_multiclass_uses_macro_averages():
    m = multiclass_metrics([[90, 5, 5], [5, 90, 5], [5, 5, 90]])
    m["macro"] = {"precision": 0.9, "recall": 0.5}
    [f] = cls.precision_recall_gap(m)
    assert f.evidence["average"] == "macro"


# --- class_imbalance -------------------------------------------------------------------------------


def test_class_imbalance_is_info_with_shares():
    [f] = cls.class_imbalance([4900, 100], ["0", "1"])
    assert f.severity is Severity.INFO
    assert f.evidence["rarest_label"] == "1" and f.evidence["rarest_share"] == pytest.approx(0.02)
    assert f.evidence["ratio"] == pytest.approx(49)


@pytest.mark.parametrize("counts", [[212, 357], [178] * 10, [50, 60, 70], [5], []])
def test_class_imbalance_negatives(counts):
    assert cls.class_imbalance(counts) == []


def test_class_imbalance_from_validation_supports():
    assert codes(cls.class_imbalance_from_metrics(FRAUD)) == ["class_imbalance"]
