"""trainwise.logs: one reader per format, the mapping it reports, and text where numbers belong."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from trainwise.errors import InputError
from trainwise.logs import read_log

PANEL = Path(__file__).parent / "fixtures" / "logs" / "panel"


def write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def column(reading, key):
    return [r.get(key) for r in reading.records]


# --- Hugging Face -----------------------------------------------------------------------------------


def state(log_history):
    return json.dumps({"global_step": 40, "epoch": 2.0, "log_history": log_history})


def test_trainer_state_pairs_each_evaluation_with_its_own_epochs_training_loss(tmp_path):
    history = [
        {"loss": 1.0, "learning_rate": 1e-3, "epoch": 0.5, "step": 10},
        {"loss": 0.8, "learning_rate": 1e-3, "epoch": 1.0, "step": 20},
        {"eval_loss": 0.7, "eval_accuracy": 0.6, "epoch": 1.0, "step": 20},
        {"loss": 0.4, "learning_rate": 5e-4, "epoch": 1.5, "step": 30},
        {"loss": 0.2, "learning_rate": 5e-4, "epoch": 2.0, "step": 40},
        {"eval_loss": 0.5, "eval_accuracy": 0.8, "epoch": 2.0, "step": 40},
        {"train_runtime": 3.0, "train_loss": 0.6, "total_flos": 1.0, "epoch": 2.0, "step": 40},
    ]
    reading = read_log(write(tmp_path / "trainer_state.json", state(history)))
    assert reading.format == "huggingface" and reading.granularity == "evaluation"
    assert column(reading, "epoch") == [1, 2]                   # not floored into 0 and 1, not 3 epochs
    assert column(reading, "train_loss") == pytest.approx([0.9, 0.3])   # the steps of its own epoch
    assert column(reading, "val_loss") == [0.7, 0.5] and column(reading, "step") == [20, 40]
    assert reading.columns == {"loss": "train_loss", "learning_rate": "lr", "eval_loss": "val_loss",
                               "eval_accuracy": "val_accuracy"}
    assert any("summary entry" in n for n in reading.notes)     # its whole-run train_loss is not epoch 2's
    assert reading.best_epoch == 2 and reading.best_key == "val_loss"


def test_evaluations_inside_an_epoch_keep_their_fractional_epoch():
    reading = read_log(PANEL / "hf" / "eval_steps_trainer_state.json")
    assert column(reading, "epoch") == [0.4, 0.8, 1.2, 1.6, 2, 2.4, 2.8, 3]
    assert reading.granularity == "evaluation" and reading.best_epoch == 3


def test_trainer_state_without_evaluations_groups_steps_into_the_epoch_they_end(tmp_path):
    history = [{"loss": 1.0, "epoch": 0.5, "step": 1}, {"loss": 0.8, "epoch": 1.0, "step": 2},
               {"loss": 0.6, "epoch": 1.5, "step": 3}]
    reading = read_log(write(tmp_path / "trainer_state.json", state(history)))
    assert column(reading, "epoch") == [1, 2] and column(reading, "train_loss") == pytest.approx([0.9, 0.6])
    assert reading.validation == [] and reading.best_epoch is None


def test_output_folder_reads_the_latest_checkpoint():
    reading = read_log(PANEL / "hf" / "healthy_folder")
    assert reading.path.endswith("checkpoint-200/trainer_state.json") and len(reading.records) == 8


# --- TensorBoard -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("folder", "epochs", "first", "columns"), [
    ("lightning_healthy", 25, 0, {"lr-Adam": "lr", "train_loss_epoch": "train_loss", "val_loss": "val_loss",
                                  "val_acc": "val_accuracy"}),
    ("hf_overfit", 40, 1, {"train/loss": "train_loss", "eval/loss": "val_loss", "eval/accuracy": "val_accuracy",
                           "train/learning_rate": "lr", "train/grad_norm": "grad_norm_mean"}),
    ("trainwise_healthy", 15, 1, {"train_loss": "train_loss", "val_loss": "val_loss", "val_f1": "val_f1"}),
])
def test_tensorboard_folders_of_lightning_hf_and_trainwise(folder, epochs, first, columns):
    reading = read_log(PANEL / "tensorboard" / folder)
    assert reading.format == "tensorboard" and len(reading.records) == epochs
    assert reading.records[0]["epoch"] == first
    assert columns.items() <= reading.columns.items()
    assert all(r["val_loss"] is not None and r["train_loss"] is not None for r in reading.records)


def test_an_event_file_itself_is_read():
    [file] = (PANEL / "tensorboard" / "lightning_overfit").glob("events.out.tfevents.*")
    assert len(read_log(file).records) == 60


def test_a_damaged_event_file_is_one_line(tmp_path):
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(b"\x00" * 40)
    with pytest.raises(InputError) as err:
        read_log(path)
    assert "\n" not in str(err.value) and "events" in str(err.value)


# --- Keras, fastai, scikit-learn ---------------------------------------------------------------------


def test_keras_history_dict_of_lists_is_one_epoch_per_item_from_0(tmp_path):
    path = write(tmp_path / "history.json", json.dumps({"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.6, 0.7],
                                                         "val_accuracy": [0.5, 0.7, 0.7]}))
    reading = read_log(path)
    assert reading.format == "keras" and column(reading, "epoch") == [0, 1, 2]
    assert column(reading, "val_loss") == [1.0, 0.6, 0.7] and reading.best_epoch == 1


def test_pandas_csv_of_a_history_numbers_epochs_by_its_index():
    reading = read_log(PANEL / "keras" / "healthy_history_pandas.csv")
    assert reading.format == "keras" and column(reading, "epoch") == list(range(30))
    assert "Unnamed: 0" not in reading.ignored and reading.columns["val_precision"] == "val_precision"


def test_fastai_metrics_are_validation_metrics():
    reading = read_log(PANEL / "fastai" / "imbalanced.csv")
    assert reading.format == "fastai"
    assert reading.columns == {"train_loss": "train_loss", "valid_loss": "val_loss", "accuracy": "val_accuracy",
                               "recall_score": "val_recall", "precision_score": "val_precision"}
    assert reading.records[0]["epoch"] == 0 and "time" not in reading.columns


def test_sklearn_loss_curve_and_validation_scores(tmp_path):
    path = write(tmp_path / "mlp.json", json.dumps({"loss_curve_": [0.7, 0.5, 0.4],
                                                    "validation_scores_": [0.6, 0.8, 0.75], "n_iter_": 3}))
    reading = read_log(path)
    assert reading.format == "sklearn" and column(reading, "epoch") == [1, 2, 3]
    assert reading.columns == {"loss_curve_": "train_loss", "validation_scores_": "val_accuracy"}
    assert reading.best_epoch == 2 and reading.best_key == "val_accuracy"


# --- generic names ------------------------------------------------------------------------------------


def test_plain_loop_prefixes_and_spelling():
    reading = read_log(PANEL / "plain" / "healthy_prefixes.jsonl")
    assert reading.columns == {"tr_loss": "train_loss", "Val Loss": "val_loss", "va_acc": "val_accuracy"}
    assert column(reading, "epoch")[:2] == [1, 2] and reading.ignored == []
    assert read_log(PANEL / "plain" / "overfit_trn_vl.csv").columns == {
        "trn_loss": "train_loss", "vl_loss": "val_loss", "vl_acc": "val_accuracy"}


def test_test_columns_stand_in_for_validation_only_when_there_is_none(tmp_path):
    reading = read_log(write(tmp_path / "a.csv", "epoch,train_loss,test_loss\n1,0.9,1.0\n2,0.5,0.8\n"))
    assert reading.columns["test_loss"] == "val_loss" and any("test_loss" in n for n in reading.notes)
    reading = read_log(write(tmp_path / "b.csv", "epoch,train_loss,val_loss,test_loss\n1,0.9,1.0,1.1\n"))
    assert reading.columns == {"train_loss": "train_loss", "val_loss": "val_loss"}
    assert reading.ignored == ["test_loss"]


def test_a_json_list_of_epochs(tmp_path):
    path = write(tmp_path / "log.json", json.dumps([{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.4}]))
    assert column(read_log(path), "train_loss") == [0.5, 0.4]


# --- step logs ------------------------------------------------------------------------------------------


def test_step_log_is_judged_per_evaluation():
    reading = read_log(PANEL / "plain" / "steps.csv")
    assert reading.granularity == "evaluation" and len(reading.records) == 12   # 11 evaluations + the tail
    first = reading.records[0]
    assert first["epoch"] == 1 and first["step"] == 50 and first["val_loss"] == pytest.approx(0.622928)
    assert reading.records[-1]["val_loss"] is None and reading.best_epoch == 11


def test_long_log_without_evaluations_is_judged_in_windows(tmp_path):
    lines = ["step,loss"] + [f"{i},{1 / (1 + i / 1000)}" for i in range(5000)]
    reading = read_log(write(tmp_path / "steps.csv", "\n".join(lines) + "\n"))
    assert reading.granularity == "window" and len(reading.records) == 200


# --- cells: missing, NaN, numbers as text, garbage -------------------------------------------------------


def test_empty_cells_are_missing_and_nan_cells_are_nan(tmp_path):
    reading = read_log(write(tmp_path / "m.csv", "epoch,step,train_loss_step,val_loss\n0,1,nan,\n0,1,,0.5\n"))
    assert math.isnan(reading.records[0]["train_loss"]) and reading.records[0]["val_loss"] == 0.5


@pytest.mark.parametrize(("name", "text", "where", "key"), [
    ("a.csv", "epoch,loss,val_loss\n1,0.5,0.4\n2,abc,0.3\n", "line 3", "loss"),
    ("b.jsonl", '{"epoch": 1, "loss": 0.5}\n\n{"epoch": 2, "loss": {"a": 1}}\n', "line 3", "loss"),
    ("c.jsonl", '{"epoch": 1, "loss": [1]}\n', "line 1", "loss"),
    ("d.jsonl", '{"epoch": 1, "loss": 0.5, "val_loss": "abc"}\n', "line 1", "val_loss"),
    ("e.jsonl", '{"epoch": 1, "loss": true}\n', "line 1", "loss"),
    ("f.json", '{"loss": [0.5, "high"]}', "item 1", "loss"),
    ("g.csv", "epoch,loss\n1,0.5\nx,0.4\n", "line 3", "epoch"),
])
def test_text_where_numbers_belong_names_the_line_and_the_key(tmp_path, name, text, where, key):
    with pytest.raises(InputError) as err:
        read_log(write(tmp_path / name, text))
    message = str(err.value)
    assert "\n" not in message and name in message and where in message and repr(key) in message


def test_numbers_written_as_strings_are_numbers(tmp_path):
    path = write(tmp_path / "s.jsonl", '{"epoch": 1, "loss": "0.5", "val_loss": "NaN"}\n'
                                       '{"epoch": 2, "loss": " 0.25 ", "val_loss": "Infinity"}\n')
    reading = read_log(path)
    assert column(reading, "train_loss") == [0.5, 0.25] and math.isnan(reading.records[0]["val_loss"])


def test_text_in_a_descriptive_column_is_ignored_not_fatal(tmp_path):
    reading = read_log(write(tmp_path / "t.csv", "epoch,loss,time\n1,0.5,10:00:01\n2,0.4,10:00:02\n"))
    assert "time" in reading.ignored and any("'time' ignored" in n for n in reading.notes)


def test_folder_without_a_log_says_what_it_looked_for(tmp_path):
    with pytest.raises(InputError, match="history.jsonl.*trainer_state.json.*pass the log file itself"):
        read_log(tmp_path)
