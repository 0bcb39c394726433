"""data_leakage on hand-built data facts."""

from __future__ import annotations

import pytest

from trainwise.diagnostics.data import data_leakage
from trainwise.diagnostics.findings import Severity


def test_leakage_is_an_error_when_the_share_is_material():
    facts = {"n_train": 800, "n_val": 200,
             "leakage": {"count": 12, "share": 0.06, "examples": [3, 17, 40, 41, 90, 120]}}
    [f] = data_leakage(facts)
    assert f.severity is Severity.ERROR and f.code == "data_leakage"
    assert f.evidence["count"] == 12 and f.evidence["share"] == 0.06
    assert f.evidence["examples"] == [3, 17, 40, 41, 90]  # at most five
    assert "12 of 200 validation rows (6.0%)" in f.message and "(e.g. rows 3, 17, 40)" in f.message


def test_leakage_examples_as_the_fingerprint_gives_them():
    pairs = [{"val_row": 4, "train_row": 120}, {"val_row": 9, "train_row": 7}]
    [f] = data_leakage({"n_val": 100, "leakage": {"count": 2, "share": 0.02, "examples": pairs}})
    assert "validation row 4 = training row 120; validation row 9 = training row 7; 0-based" in f.message
    assert f.evidence["examples"] == pairs
    split = {"n_val": 100, "validation": {"kind": "split"},
             "leakage": {"count": 2, "share": 0.02, "examples": pairs}}
    assert "(e.g. file rows 4 and 120, 9 and 7; 0-based)" in data_leakage(split)[0].message


def test_leakage_is_a_warning_when_tiny():
    [f] = data_leakage({"n_val": 20000, "leakage": {"count": 3, "share": 3 / 20000, "examples": [5]}})
    assert f.severity is Severity.WARNING and "small" in f.message


def test_leakage_share_is_computed_when_missing():
    [f] = data_leakage({"n_val": 50, "leakage": {"count": 5}})
    assert f.evidence["share"] == pytest.approx(0.1) and f.evidence["examples"] == []


@pytest.mark.parametrize("facts", [{}, {"leakage": None},
                                   {"leakage": {"count": 0, "share": 0.0, "examples": []}}])
def test_no_leakage_no_finding(facts):
    assert data_leakage(facts) == []
