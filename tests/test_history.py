"""history.py: reading our own records and other tools' logs, writing JSONL and CSV."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from trainwise.errors import InputError
from trainwise.history import canonical_key, read_history, write_history_csv, write_history_jsonl

LOGS = Path(__file__).parent / "fixtures" / "logs"


def write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


# --- column names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("column", "key"), [
    ("train_loss", "train_loss"), ("loss", "train_loss"), ("train_loss_epoch", "train_loss"),
    ("train_loss_step", "train_loss"), ("training_loss", "train_loss"), ("Train Loss", "train_loss"),
    ("val_loss", "val_loss"), ("valid_loss", "val_loss"), ("validation_loss", "val_loss"),
    ("val/loss", "val_loss"), ("loss_val", "val_loss"), ("eval_loss", "val_loss"),
    ("acc", "train_accuracy"), ("accuracy", "train_accuracy"), ("train_acc", "train_accuracy"),
    ("val_acc", "val_accuracy"), ("val_accuracy", "val_accuracy"), ("valid_acc", "val_accuracy"),
    ("val_sparse_categorical_accuracy", "val_accuracy"), ("val_f1", "val_f1"), ("val_auc", "val_roc_auc"),
    ("lr", "lr"), ("learning_rate", "lr"), ("lr-Adam", "lr"), ("lr-SGD/pg1", "lr"),
    ("epoch", "epoch"), ("grad_norm_mean", "grad_norm_mean"), ("seconds", "seconds"),
    ("step", None), ("test_loss", "val_loss"), ("vl_acc", "val_accuracy"), ("Val Loss", "val_loss"),
    ("va_loss", "val_loss"), ("trn_loss", "train_loss"), ("tr_acc", "train_accuracy"), ("eval/accuracy", "val_accuracy"),
    ("train/learning_rate", "lr"), ("train/epoch", "epoch"), ("recall_score", "train_recall"),
    ("val_precision_1", "val_precision"), ("val_loss_std", None), ("notes", None),
])
def test_canonical_key(column, key):
    assert canonical_key(column) == key


# --- Lightning -------------------------------------------------------------------------------------


def test_lightning_csvlogger_file(tmp_path):
    # the shape CSVLogger writes: step rows, epoch-end rows, validation rows, LR-monitor rows without
    # an epoch, empty cells everywhere
    path = write(tmp_path / "metrics.csv", """
epoch,lr-Adam,step,train_acc,train_loss_epoch,train_loss_step,val_acc,val_loss
,0.001,0,,,,,
0,,9,,,0.70,,
0,,13,,,,0.80,0.575
0,,13,0.58,0.67,,,
,0.001,14,,,,,
1,,24,,,0.45,,
1,,27,,,,0.89,0.448
1,,27,0.86,0.51,,,
""")
    records, info = read_history(path)
    assert info["format"] == "lightning"
    assert info["columns"] == {"lr-Adam": "lr", "train_acc": "train_accuracy", "train_loss_epoch": "train_loss",
                               "val_acc": "val_accuracy", "val_loss": "val_loss"}
    assert info["ignored"] == ["train_loss_step"]
    assert [r["epoch"] for r in records] == [0, 1]  # the file's own numbering
    assert records[0] == {"epoch": 0, "train_loss": 0.67, "train_accuracy": 0.58, "val_loss": 0.575,
                          "val_accuracy": 0.80, "lr": 0.001}
    assert records[1]["lr"] == 0.001 and records[1]["train_loss"] == 0.51


def test_lightning_step_only_training_loss_is_averaged_per_epoch(tmp_path):
    path = write(tmp_path / "metrics.csv", """
epoch,step,train_loss,val_loss
0,0,1.0,
0,1,0.8,
0,1,,0.7
1,2,0.6,
1,3,0.4,
1,3,,0.5
""")
    records, info = read_history(path)
    assert [r["train_loss"] for r in records] == pytest.approx([0.9, 0.5])
    assert [r["val_loss"] for r in records] == [0.7, 0.5]
    assert any("averaged" in n for n in info["notes"])


def test_lightning_fixture_reads_every_epoch():
    records, info = read_history(LOGS / "lightning" / "healthy_breast_cancer.csv")
    assert info["format"] == "lightning" and len(records) == 40
    assert records[0]["epoch"] == 0 and records[-1]["epoch"] == 39
    assert all(r["train_loss"] is not None and r["val_loss"] is not None and r["lr"] == 0.001 for r in records)


# --- Keras -----------------------------------------------------------------------------------------


def test_keras_csvlogger_file_keeps_nan(tmp_path):
    path = write(tmp_path / "training.log", """
epoch,accuracy,loss,val_accuracy,val_loss
0,0.84,1.8e+18,0.63,1.7e+21
1,0.75,nan,0.37,nan
""")
    records, info = read_history(path)
    assert info["format"] == "keras"
    assert info["columns"] == {"accuracy": "train_accuracy", "loss": "train_loss",
                               "val_accuracy": "val_accuracy", "val_loss": "val_loss"}
    assert records[0]["epoch"] == 0 and records[0]["train_loss"] == 1.8e18
    assert math.isnan(records[1]["train_loss"]) and math.isnan(records[1]["val_loss"])


def test_keras_fixture():
    records, info = read_history(LOGS / "keras" / "overfit_digits.csv")
    assert info["format"] == "keras" and len(records) == 150 and records[0]["epoch"] == 0


# --- generic files ---------------------------------------------------------------------------------


def test_generic_csv_without_epoch_column_is_numbered_from_1(tmp_path):
    path = write(tmp_path / "log.csv", """
Training Loss,valid_loss,valid_acc,notes
0.9,0.8,0.6,warmup
0.5,0.55,0.7,
""")
    records, info = read_history(path)
    assert [r["epoch"] for r in records] == [1, 2]
    assert "from 1" in info["epoch"] and info["ignored"] == ["notes"]
    assert records[1] == {"epoch": 2, "train_loss": 0.5, "val_loss": 0.55, "val_accuracy": 0.7}


def test_generic_jsonl(tmp_path):
    path = write(tmp_path / "log.jsonl", '{"epoch": 1, "loss": 0.9, "val_loss": 0.8}\n\n'
                                         '{"epoch": 2, "loss": 0.7, "val_loss": null}\n')
    records, info = read_history(path)
    assert info["format"] == "jsonl"
    assert records == [{"epoch": 1, "train_loss": 0.9, "val_loss": 0.8},
                       {"epoch": 2, "train_loss": 0.7, "val_loss": None}]


def test_validation_loss_alone_is_enough(tmp_path):
    records, _ = read_history(write(tmp_path / "v.csv", "epoch,val_loss\n1,0.5\n2,0.4\n"))
    assert records[-1] == {"epoch": 2, "val_loss": 0.4}


# --- errors ----------------------------------------------------------------------------------------


def test_no_loss_column_is_one_line_naming_file_and_columns(tmp_path):
    path = write(tmp_path / "m.csv", "epoch,val_acc,f1\n1,0.5,0.4\n")
    with pytest.raises(InputError) as err:
        read_history(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert "epoch, val_acc, f1" in message and "train_loss" in message


@pytest.mark.parametrize(("name", "text", "needle"), [
    ("empty.csv", "", "no rows"),
    ("header.csv", "epoch,loss\n", "no rows"),
    ("bad.jsonl", '{"loss": 1}\n{oops\n', "line 2"),
    ("list.jsonl", '{"loss": 1}\n[1, 2]\n', "line 2"),
])
def test_unreadable_files(tmp_path, name, text, needle):
    with pytest.raises(InputError, match=needle):
        read_history(write(tmp_path / name, text))


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_history(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="history.jsonl"):
        read_history(tmp_path)


def test_input_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        read_history(tmp_path / "nope.csv")


# --- our own files: write, then read back ----------------------------------------------------------

RECORDS = [
    {"epoch": 1, "train_loss": 0.5, "val_loss": 0.45, "val_accuracy": 0.8, "lr": 0.01,
     "grad_norm_mean": 0.3, "grad_top_layer": "net.0.weight", "steps": 10, "seconds": 0.5},
    {"epoch": 2, "train_loss": math.nan, "val_loss": None, "val_accuracy": 0.81, "lr": 0.01,
     "grad_norm_mean": math.inf, "grad_top_layer": "net.2.bias", "steps": 20, "seconds": 0.4},
]


def test_jsonl_round_trip_is_strict_json_and_keeps_nonfinite(tmp_path):
    path = write_history_jsonl(RECORDS, tmp_path / "history.jsonl")
    for line in path.read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    records, info = read_history(path)
    assert info["format"] == "trainwise"
    assert records[0] == RECORDS[0]
    assert math.isnan(records[1]["train_loss"]) and records[1]["grad_norm_mean"] == math.inf
    assert records[1]["val_loss"] is None and records[1]["grad_top_layer"] == "net.2.bias"


def test_run_folder_reads_history_jsonl(tmp_path):
    write_history_jsonl(RECORDS, tmp_path / "history.jsonl")
    records, info = read_history(tmp_path)
    assert info["path"].endswith("history.jsonl") and len(records) == 2


def test_csv_is_readable_by_pandas_and_by_us(tmp_path):
    path = write_history_csv(RECORDS, tmp_path / "history.csv")
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["epoch", "train_loss", "val_loss", "val_accuracy", "lr", "grad_norm_mean",
                                   "grad_top_layer", "steps", "seconds"]
    assert frame["epoch"].tolist() == [1, 2] and math.isnan(frame["train_loss"][1])
    assert math.isnan(frame["val_loss"][1]) and frame["grad_norm_mean"][1] == math.inf
    records, _ = read_history(path)
    assert records[0] == RECORDS[0] and math.isnan(records[1]["train_loss"])


def test_csv_keeps_unknown_keys_after_known_ones(tmp_path):
    path = write_history_csv([{"custom": 1, "epoch": 1, "train_loss": 0.2}, {"epoch": 2, "other": "x"}],
                             tmp_path / "h.csv")
    assert path.read_text().splitlines()[0] == "epoch,train_loss,custom,other"


def test_gzipped_log(tmp_path):
    import gzip

    path = tmp_path / "metrics.csv.gz"
    path.write_bytes(gzip.compress(b"epoch,loss,val_loss\n0,0.9,1.0\n1,0.5,0.6\n"))
    records, info = read_history(path)
    assert info["format"] == "keras" and records[1] == {"epoch": 1, "train_loss": 0.5, "val_loss": 0.6}
