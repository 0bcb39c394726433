"""diagnose on logs real tools wrote (tests/fixtures/logs/panel), the rules those logs needed, and bounds.

The panel's ground truth (panel.json) was written from the curves before any log was given to
diagnose: verdict, the findings that must come back (and those that may), the best epoch.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainwise.diagnostics import Severity, diagnose, diagnose_log, diagnose_path, verdict
from trainwise.diagnostics.logged import logged_metrics, no_training_step
from trainwise.errors import InputError
from trainwise.report.diagnosis import diagnosis_summary, diagnosis_text

PANEL = Path(__file__).parent / "fixtures" / "logs" / "panel"
GROUND_TRUTH = json.loads((PANEL / "panel.json").read_text())["logs"]
# Where diagnose still differs from the ground truth, and why (strict: a fix must update this list).
KNOWN_MISSES = {
    # AdamW at lr 0.5: the loss starts at 5x ln 2 and decays back to ln 2 with the schedule; without the
    # number of classes nothing in the log says 3.76 is far above chance, and the accuracy flipping
    # between 0.533 and 0.467 (one class predicted) is not read as such.
    "hf/diverged_trainer_state.json": "the diverged start is not recognised without the number of classes",
    # training loss still falling 0.8 % per iteration when max_iter stopped it, 2.3 % over the last 3:
    # under not_converged's 3 % threshold, calibrated on validation losses.
    "sklearn/no_validation.json": "not_converged's 3 % threshold misses a slow training-loss fall",
}


@pytest.mark.parametrize("truth", GROUND_TRUTH, ids=[t["path"] for t in GROUND_TRUTH])
def test_panel_log_is_judged_as_its_curves_say(truth):
    if truth["path"] in KNOWN_MISSES:
        pytest.xfail(KNOWN_MISSES[truth["path"]])
    findings, reading = diagnose_log(PANEL / truth["path"])
    codes = {f.code for f in findings}
    assert set(truth["findings"]) <= codes <= set(truth["findings"]) | set(truth["allowed"])
    assert verdict(findings) == truth["verdict"]
    assert reading.best_epoch == truth["best_epoch"]


def test_known_misses_are_still_missed():
    """When one of them comes right, move it out of KNOWN_MISSES."""
    for path in KNOWN_MISSES:
        truth = next(t for t in GROUND_TRUTH if t["path"] == path)
        findings, reading = diagnose_log(PANEL / path)
        right = ({f.code for f in findings} >= set(truth["findings"]) and verdict(findings) == truth["verdict"]
                 and reading.best_epoch == truth["best_epoch"])
        assert not right, path


def test_every_panel_log_has_a_ground_truth():
    files = {p.relative_to(PANEL).as_posix() for p in PANEL.glob("*/*") if p.is_file() and p.name != "panel.json"}
    folders = {p.relative_to(PANEL).as_posix() for p in PANEL.glob("*/*") if p.is_dir()}
    assert files | folders == {t["path"] for t in GROUND_TRUTH}


# --- the rules these logs needed ------------------------------------------------------------------------


def test_no_training_step_is_not_blamed_on_the_learning_rate():
    [f] = diagnose_path(PANEL / "plain" / "no_step.csv")[0]
    assert f.code == "no_progress" and f.evidence["uniform_classes"] == 3
    assert "no training step ever ran" in f.message and "drop_last" in f.advice
    assert "Lower the learning rate" not in f.advice


def test_saturated_from_the_first_epoch_is_divergence_not_a_too_low_rate():
    findings = diagnose_path(PANEL / "keras" / "diverged_history.json")[0]
    [f] = [f for f in findings if f.code == "lr_too_high"]
    assert f.evidence["rule"] == "saturated" and f.epoch == 0
    assert "Raise the learning rate" not in " ".join(x.advice for x in findings)


def test_saturation_with_known_classes_uses_ln_c():
    history = [{"epoch": e, "train_loss": v} for e, v in enumerate([3.5, 3.6, 3.6, 3.61], start=1)]
    f, no_val = diagnose(history, data={"num_classes": 3})
    assert f.code == "lr_too_high" and f.evidence["reference"] == pytest.approx(3 * math.log(3))
    assert no_val.code == "no_validation"                              # training loss alone: never GOOD
    assert [g.code for g in diagnose(history)] == ["no_progress", "no_validation"]   # 3.6 could be ln 37


def test_early_stopped_sklearn_run_is_judged_on_its_validation_score():
    history = [{"epoch": e, "train_loss": 1.0 * 0.9 ** e, "val_accuracy": min(0.8, 0.5 + 0.05 * e)}
               for e in range(1, 16)]
    assert "not_converged" not in {f.code for f in diagnose(history)}   # training loss falls 10 % an epoch
    rising = [{**r, "val_accuracy": 0.5 + 0.02 * r["epoch"]} for r in history]
    [f] = [f for f in diagnose(rising) if f.code == "not_converged"]
    assert f.evidence["key"] == "val_accuracy"


def test_overfitting_from_the_start_is_an_error():
    [f] = [f for f in diagnose_path(PANEL / "hf" / "overfit_trainer_state.json")[0] if f.code == "overfitting"]
    assert f.severity is Severity.ERROR and "never got clearly below its first value" in f.message


def test_validation_loss_that_barely_moved_is_no_progress():
    [f] = diagnose_path(PANEL / "hf" / "eval_steps_trainer_state.json")[0]
    assert f.code == "no_progress" and f.evidence["key"] == "val_loss" and f.evidence["drop"] < 0.02


def test_positive_share_from_accuracy_precision_and_recall():
    # 1000 samples, 200 positive; the model finds 20 (recall 0.1) with 20 false alarms (precision 0.5)
    a = (1000 - 180 - 20) / 1000
    [paradox, recall, gap] = logged_metrics([{"epoch": 3, "val_accuracy": a, "val_precision": 0.5,
                                              "val_recall": 0.1}])
    assert paradox.code == "accuracy_paradox" and paradox.evidence["positive_share"] == pytest.approx(0.2)
    assert paradox.evidence["baseline"] == pytest.approx(0.8) and paradox.epoch == 3
    assert recall.code == "low_recall" and recall.severity is Severity.ERROR
    assert gap.code == "precision_recall_gap"


def test_balanced_good_metrics_give_no_finding():
    assert logged_metrics([{"val_accuracy": 0.9, "val_precision": 0.88, "val_recall": 0.91}]) == []


def test_no_training_step_needs_a_constant_validation_loss():
    nan = math.nan
    assert no_training_step([{"train_loss": nan, "val_loss": 1.1}, {"train_loss": nan, "val_loss": 1.1}])
    assert not no_training_step([{"train_loss": nan, "val_loss": 1.1}, {"train_loss": nan, "val_loss": 1.3}])
    assert not no_training_step([{"train_loss": 0.5, "val_loss": 1.1}, {"train_loss": nan, "val_loss": 1.1}])


def test_a_log_without_validation_is_never_good(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("epoch,loss,notes\n1,0.9,a\n2,0.5,b\n3,0.4,c\n4,0.39,d\n")
    findings, reading = diagnose_log(path)
    [f] = [f for f in findings if f.code == "no_validation"]
    assert f.severity is Severity.WARNING and verdict(findings) == "warning" and "notes" in f.advice
    text = diagnosis_text(reading, findings)
    assert "Ignored: notes" in text and "Best epoch: none" in text and "CHECK THE WARNINGS" in text


# --- what the answer says ---------------------------------------------------------------------------------


def test_text_says_what_was_read_and_the_best_epoch():
    findings, reading = diagnose_log(PANEL / "plain" / "overfit_trn_vl.csv")
    text = diagnosis_text(reading, findings)
    assert "val_loss <- vl_loss" in text and "Best epoch: 3 (lowest val_loss" in text
    assert "<- best" in text and "NOT READY" in text and len(text.splitlines()) < 30
    summary = diagnosis_summary(findings, reading)
    assert summary["best_epoch"] == 3 and summary["verdict"] == "bad"
    assert summary["mapping"]["columns"]["vl_loss"] == "val_loss" and len(summary["history"]) == 60
    json.dumps(summary, allow_nan=True)


def test_good_names_what_was_checked():
    findings, reading = diagnose_log(PANEL / "lightning" / "healthy.csv")
    assert findings == []
    assert "checked val_loss, val_accuracy" in diagnosis_text(reading, findings).splitlines()[-1]


# --- bounds ------------------------------------------------------------------------------------------------


def test_a_million_row_step_log_answers_in_seconds_and_briefly(tmp_path):
    n = 1_000_000
    rng = np.random.default_rng(0)
    step = np.arange(1, n + 1)
    frame = pd.DataFrame({"step": step, "loss": 0.3 + 0.4 * np.exp(-step / 2e5) + 0.05 * rng.random(n)})
    evals = frame.iloc[999::1000]
    val = pd.DataFrame({"step": evals["step"], "val_loss": 0.35 + 0.4 * np.exp(-evals["step"] / 2e5)})
    path = tmp_path / "steps.csv"
    pd.concat([frame, val]).sort_values("step", kind="stable").to_csv(path, index=False)

    start = time.perf_counter()
    findings, reading = diagnose_log(path)
    text = diagnosis_text(reading, findings)
    summary = json.dumps(diagnosis_summary(findings, reading), allow_nan=True)
    seconds = time.perf_counter() - start
    assert seconds < 20, seconds                  # about 2 s on a laptop core
    assert reading.rows == n + 1000 and reading.granularity == "evaluation"
    assert len(reading.records) == 1000 and reading.best_epoch == 1000
    assert len(text.splitlines()) < 40 and len(summary) < 400_000


def test_a_million_line_jsonl_step_log_answers_in_seconds_and_bad_cells_are_still_named(tmp_path):
    """Issue #17 case 13: numbers-only JSON lines are read by pyarrow in one pass (a 97 MB log took 70 s
    line by line); a line holding text still goes through the checking reader, which names it."""
    n = 1_000_000
    rng = np.random.default_rng(0)
    step = np.arange(1, n + 1)
    frame = pd.DataFrame({"step": step, "loss": 0.3 + 0.4 * np.exp(-step / 2e5) + 0.05 * rng.random(n)})
    frame["val_loss"] = np.where(step % 1000 == 0, 0.35 + 0.4 * np.exp(-step / 2e5), np.nan)
    path = tmp_path / "steps.jsonl"
    frame.to_json(path, orient="records", lines=True)          # NaN written as null: no value at that step

    start = time.perf_counter()
    findings, reading = diagnose_log(path)
    seconds = time.perf_counter() - start
    assert seconds < 30, seconds                  # a few seconds here; line by line it was over a minute
    assert reading.rows == n and reading.granularity == "evaluation" and len(reading.records) == 1000

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"epoch": 1, "loss": 0.5}\n\n{"epoch": 2, "loss": "abc"}\n')
    with pytest.raises(InputError, match=r"line 3.*loss"):
        diagnose_log(bad)


def test_diagnosing_a_log_imports_no_torch(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,val_loss\n0,0.9,1.0\n1,0.5,0.6\n2,0.4,0.55\n")
    src = Path(__file__).parents[1] / "src" / "trainwise"
    code = (
        "import sys, types\n"
        "pkg = types.ModuleType('trainwise'); pkg.__path__ = [sys.argv[1]]; sys.modules['trainwise'] = pkg\n"
        "from trainwise.diagnostics import diagnose_log\n"
        "from trainwise.report.diagnosis import diagnosis_text\n"
        "import trainwise.history\n"
        "f, r = diagnose_log(sys.argv[2]); diagnosis_text(r, f)\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(src), str(path)], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
