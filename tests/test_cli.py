"""The CLI on real files: outputs, run folders, exit codes, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from trainwise.cli import main


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_fit_json_is_the_contract_object(cancer_csv, capsys):
    code, out, err = run_cli(capsys, "fit", cancer_csv, "--target", "diagnosis", "--epochs", "4", "--json")
    assert code == 0, err
    summary = json.loads(out)                      # stdout holds only the JSON object
    assert {"verdict", "findings", "metrics", "best_epoch", "history"} <= summary.keys()
    metrics = summary["metrics"]
    for key in ("loss", "accuracy", "precision", "recall", "f1", "balanced_accuracy", "confusion_matrix",
                "per_class"):
        assert key in metrics
    assert metrics["positive_label"] == "malignant"          # the rarer class of string labels
    assert metrics["accuracy"] > 0.85
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["num_samples"] == summary["data"]["n_val"]
    assert abs(metrics["num_samples"] - 0.2 * 569) < 1                # --val-fraction 0.2 of 569 rows
    assert [r["epoch"] for r in summary["history"]] == [1, 2, 3, 4]
    assert "epoch 4/4" in err                                 # progress went to stderr


def test_fit_writes_the_run_folder(cancer_csv, tmp_path, capsys):
    out_dir = tmp_path / "run"
    code, out, _ = run_cli(capsys, "fit", cancer_csv, "--target", "diagnosis", "--epochs", "3", "--out", out_dir,
                           "--quiet")
    assert code == 0
    lines = (out_dir / "history.jsonl").read_text().splitlines()
    summary = json.loads((out_dir / "summary.json").read_text())
    assert [json.loads(line) for line in lines] == summary["history"]
    assert len(pd.read_csv(out_dir / "history.csv")) == 3
    config = json.loads((out_dir / "config.json").read_text())
    assert config["target"] == "diagnosis" and config["optimizer"] == "adam" and config["epochs"] == 3
    assert "Confusion matrix" in out and "TP" in out and "Verdict" in out


@pytest.mark.parametrize("suffix", [".csv.gz", ".parquet"])
def test_fit_reads_gzip_and_parquet(cancer_csv, tmp_path, capsys, suffix):
    frame = pd.read_csv(cancer_csv)
    path = tmp_path / f"cancer{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    code, out, _ = run_cli(capsys, "fit", path, "--target", "diagnosis", "--epochs", "2", "--json", "--quiet")
    assert code == 0
    assert abs(json.loads(out)["metrics"]["num_samples"] - 0.2 * 569) < 1


def test_fit_with_a_validation_file_and_multiclass(tmp_path, capsys):
    frame = load_wine(as_frame=True).frame.sample(frac=1.0, random_state=0)
    frame.iloc[:140].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[140:].to_csv(tmp_path / "val.csv", index=False)
    code, out, _ = run_cli(capsys, "fit", tmp_path / "train.csv", "--val", tmp_path / "val.csv", "--target",
                           "target", "--epochs", "30", "--lr", "0.01", "--json", "--quiet")
    summary = json.loads(out)
    assert code == 0
    assert summary["metrics"]["num_samples"] == len(frame) - 140
    assert summary["metrics"]["average"] == "macro"
    assert summary["metrics"]["accuracy"] > 0.8


def test_same_seed_same_history(cancer_csv, capsys):
    histories = []
    for _ in range(2):
        _, out, _ = run_cli(capsys, "fit", cancer_csv, "--target", "diagnosis", "--epochs", "3", "--seed", "5",
                            "--json", "--quiet")
        histories.append([{k: v for k, v in r.items() if k != "seconds"} for r in json.loads(out)["history"]])
    assert histories[0] == histories[1]


@pytest.mark.parametrize("argv, message", [
    (["fit", "{missing}", "--target", "y"], "no such file"),
    (["fit", "{csv}", "--target", "nope"], "no column 'nope'"),
    (["fit", "{csv}", "--target", "diagnosis", "--epochs", "0"], "--epochs"),
    (["fit", "{csv}", "--target", "diagnosis", "--optimizer", "adamx"], "unknown optimizer 'adamx'"),
    (["fit", "{csv}", "--target", "diagnosis", "--optimizer", "adam", "--momentum", "0.9"], "momentum"),
    (["fit", "{one_class}", "--target", "y"], "one class"),
    (["fit", "{empty}", "--target", "y"], "empty"),
    (["fit", "{garbage}", "--target", "y"], "garbage.parquet"),
    (["evaluate", "{csv}", "--label", "diagnosis", "--prediction", "nope"], "no column 'nope'"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(argv, message, cancer_csv, tmp_path, capsys):
    pd.DataFrame({"x": [1, 2, 3], "y": ["a", "a", "a"]}).to_csv(tmp_path / "one.csv", index=False)
    (tmp_path / "empty.csv").write_text("x,y\n")
    (tmp_path / "garbage.parquet").write_bytes(os.urandom(300))
    paths = {"missing": tmp_path / "missing.csv", "csv": cancer_csv, "one_class": tmp_path / "one.csv",
             "empty": tmp_path / "empty.csv", "garbage": tmp_path / "garbage.parquet"}
    code, out, err = run_cli(capsys, *[a.format(**paths) for a in argv])
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert message in lines[0]
    assert "Traceback" not in err


def test_evaluate_predictions_match_sklearn(tmp_path, capsys):
    from sklearn.metrics import accuracy_score, precision_score, recall_score
    rng = np.random.default_rng(0)
    y = rng.choice(["cat", "dog", "eel"], size=500, p=[0.6, 0.3, 0.1])
    pred = np.where(rng.random(500) < 0.7, y, rng.choice(["cat", "dog", "eel"], size=500))
    pd.DataFrame({"y": y, "yhat": pred}).to_csv(tmp_path / "preds.csv", index=False)
    code, out, _ = run_cli(capsys, "evaluate", tmp_path / "preds.csv", "--label", "y", "--prediction", "yhat",
                           "--json")
    metrics = json.loads(out)["metrics"]
    assert code == 0
    assert metrics["labels"] == ["cat", "dog", "eel"]
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert metrics["precision"] == pytest.approx(precision_score(y, pred, average="macro"))
    assert metrics["per_class"]["eel"]["recall"] == pytest.approx(recall_score(y, pred, labels=["eel"],
                                                                               average=None)[0])


def test_evaluate_the_fraud_self_check_is_not_ready(tmp_path, capsys):
    """The mission's self-check: 98% accuracy but 12% recall on 2% frauds is bad."""
    y = np.zeros(10_000, dtype=int)
    y[:200] = 1
    pred = np.zeros_like(y)
    pred[:24] = 1                     # 24 of 200 frauds found: recall 12%
    pred[200:224] = 1                 # and 24 false alarms: accuracy (24 + 9776) / 10000 = 98%
    pd.DataFrame({"is_fraud": y, "flagged": pred}).to_csv(tmp_path / "fraud.csv", index=False)
    code, out, _ = run_cli(capsys, "evaluate", tmp_path / "fraud.csv", "--label", "is_fraud", "--prediction",
                           "flagged", "--json", "--fail-on", "error")
    summary = json.loads(out)
    assert summary["metrics"]["accuracy"] == pytest.approx(0.98)
    assert summary["metrics"]["recall"] == pytest.approx(0.12)
    assert summary["verdict"] == "bad"
    assert code == 1
    codes = {f["code"] for f in summary["findings"]}
    assert {"accuracy_paradox", "low_recall"} <= codes
    assert any("88%" in f["message"] for f in summary["findings"])


def test_evaluate_scores_gives_thresholds(tmp_path, capsys):
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.1).astype(int)
    score = np.clip(0.25 * y + rng.random(2000) * 0.6, 0, 1)
    pd.DataFrame({"y": y, "p": score}).to_csv(tmp_path / "scores.csv", index=False)
    code, out, _ = run_cli(capsys, "evaluate", tmp_path / "scores.csv", "--label", "y", "--score", "p", "--json")
    summary = json.loads(out)
    assert code == 0
    assert summary["thresholds"]["best_f1"]["f1"] >= summary["metrics"]["f1"]
    assert 0 < summary["metrics"]["roc_auc"] <= 1


def test_the_real_command_keeps_stdout_pure_json(cancer_csv):
    """A real process: `python -m trainwise` prints the object alone on stdout."""
    proc = subprocess.run([sys.executable, "-m", "trainwise", "fit", str(cancer_csv), "--target", "diagnosis",
                           "--epochs", "2", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verdict"] in ("good", "warning", "bad")
    bad = subprocess.run([sys.executable, "-m", "trainwise", "fit", "nowhere.csv", "--target", "y"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "nowhere.csv" in bad.stderr


def test_demo_runs_on_the_built_in_table(capsys, tmp_path):
    code, out, err = run_cli(capsys, "demo", "--epochs", "3", "--out", tmp_path / "demo")
    assert code == 0, err
    assert "transactions" in out
    assert "TP" in out and "FN" in out and "Verdict" in out
    assert "sgd" in out and "adam" in out and "Winner" in out        # SGD and Adam side by side
    assert "Lowering the threshold to" in out                        # the threshold that catches frauds
    assert (tmp_path / "demo" / "report.html").is_file()
    assert (tmp_path / "demo" / "sgd" / "history.jsonl").is_file()


def test_fit_threshold_rule_is_applied_and_said(tmp_path, capsys):
    """--threshold recall=0.8 picks the threshold on validation scores; the metrics are those at it."""
    from trainwise.data import load_transactions
    path = tmp_path / "tx.csv"
    load_transactions().to_csv(path, index=False)
    code, out, _ = run_cli(capsys, "fit", path, "--target", "is_fraud", "--epochs", "4", "--threshold",
                           "recall=0.8", "--json", "--quiet")
    summary = json.loads(out)
    applied = summary["thresholds"]["applied"]
    assert code == 0
    assert applied["rule"] == "recall=0.8" and 0 < applied["threshold"] < 0.5
    assert "optimistic" in applied["note"]
    chosen = summary["thresholds"]["recall@0.8"]
    assert applied["threshold"] == chosen["threshold"]
    assert summary["metrics"]["recall"] == pytest.approx(chosen["recall"]) and chosen["recall"] >= 0.8
    assert summary["metrics"]["tp"] == chosen["tp"] and summary["metrics"]["fp"] == chosen["fp"]
    curve = summary["thresholds"]["curve"]
    assert len(curve["precision"]) == len(curve["recall"]) == len(curve["thresholds"]) <= 200


@pytest.mark.parametrize("value", ["1.5", "recall=2", "best", "f1"])
def test_fit_bad_threshold_is_one_line(value, cancer_csv, capsys):
    code, out, err = run_cli(capsys, "fit", cancer_csv, "--target", "diagnosis", "--threshold", value)
    assert code == 2 and out == ""
    assert "threshold" in err and len(err.strip().splitlines()) == 1


def test_fit_streams_a_parquet_file_row_group_by_row_group(tmp_path, capsys):
    """--stream: the same CLI on a Parquet file read a row group at a time (class weights from the stream's
    one-pass label counts)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from trainwise.data import load_transactions
    path = tmp_path / "tx.parquet"
    pq.write_table(pa.Table.from_pandas(load_transactions()), path, row_group_size=1000)
    code, out, _ = run_cli(capsys, "fit", path, "--target", "is_fraud", "--stream", "--epochs", "2",
                           "--class-weights", "balanced", "--json", "--quiet", "--out", tmp_path / "run")
    summary = json.loads(out)
    assert code == 0
    assert summary["metrics"]["num_samples"] == summary["data"]["n_val"] > 3000
    assert sum(summary["data"]["class_counts"]) == 20_000
    assert summary["metrics"]["recall"] > 0.6                  # balanced weights find most frauds
    assert (tmp_path / "run" / "report.html").is_file()
