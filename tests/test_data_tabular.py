"""prepare_tabular: from real files to tensors; each bad input and its one-line message."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from trainwise.data import prepare_tabular, read_table
from trainwise.errors import InputError


def _table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "z": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "k": rng.integers(0, 10, n),
            "color": rng.choice(["red", "green", "blue"], n),
            "y": np.where(x + rng.normal(scale=0.5, size=n) > 1.2, "fraud", "ok"),
        }
    )


def _bad(match: str, *args, **kwargs) -> str:
    with pytest.raises(InputError, match=match) as info:
        prepare_tabular(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_from_a_real_file_to_tensors(tmp_path, suffix):
    df = _table()
    path = tmp_path / f"data{suffix}"
    df.to_parquet(path) if suffix == ".parquet" else df.to_csv(path, index=False)
    data = prepare_tabular(read_table(path), "y", source=path.name)

    assert data.X_train.dtype == data.X_val.dtype == torch.float32
    assert data.y_train.dtype == data.y_val.dtype == torch.int64
    assert data.n_train + data.n_val == 400 and data.n_val == pytest.approx(80, abs=1)
    assert data.labels == ["fraud", "ok"]
    counts = (df["y"] == "fraud").sum(), (df["y"] == "ok").sum()
    assert data.class_counts == [int(counts[0]), int(counts[1])]
    assert data.positive == 0  # the rarer class
    assert data.X_train.shape[1] == len(data.feature_names) == 1 + 2 + 1 + 3  # x, z + z:missing, k, colors
    assert "y" not in " ".join(data.feature_names)
    assert torch.isfinite(data.X_train).all() and torch.isfinite(data.X_val).all()
    np.testing.assert_array_equal(np.sort(np.concatenate([data.train_rows, data.val_rows])), np.arange(400))
    # shares kept on both sides
    share = counts[0] / 400
    assert (data.y_train == 0).float().mean().item() == pytest.approx(share, abs=0.01)
    assert (data.y_val == 0).float().mean().item() == pytest.approx(share, abs=0.02)

    facts = json.loads(json.dumps(data.describe()))
    assert facts["rows"] == {"train": data.n_train, "val": data.n_val, "total": 400}
    assert facts["columns"] == 4 and facts["features"] == 7
    assert [c["label"] for c in facts["classes"]] == ["fraud", "ok"]
    assert sum(c["share"] for c in facts["classes"]) == pytest.approx(1.0)
    assert facts["positive_label"] == "fraud"
    assert facts["validation"] == {"kind": "split", "stratified": True, "fraction": 0.2, "seed": 0}
    assert facts["leakage"] == {"count": 0, "share": 0.0, "examples": []}


def test_same_seed_same_data_other_seed_other_split():
    df = _table()
    a, b = prepare_tabular(df, "y", seed=3), prepare_tabular(df, "y", seed=3)
    c = prepare_tabular(df, "y", seed=4)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_val, b.y_val)
    assert not np.array_equal(a.val_rows, c.val_rows)


def test_no_statistic_sees_a_validation_row():
    df = _table()
    clean = prepare_tabular(df, "y", seed=1)
    wild = df.copy()
    rows = clean.val_rows
    wild.loc[rows, "x"] = 1e6
    wild.loc[rows, "z"] = np.nan
    wild.loc[rows, "k"] = -999
    wild.loc[rows, "color"] = "ultraviolet"
    dirty = prepare_tabular(wild, "y", seed=1)
    np.testing.assert_array_equal(dirty.val_rows, clean.val_rows)
    assert dirty.preprocessor.to_dict() == clean.preprocessor.to_dict()
    assert torch.equal(dirty.X_train, clean.X_train)
    assert not torch.equal(dirty.X_val, clean.X_val)


def test_validation_file_is_used_as_given_and_never_fitted_on():
    train, val = _table(seed=0), _table(n=50, seed=1)
    data = prepare_tabular(train, "y", val_df=val, source="train.csv", val_source="val.csv")
    assert (data.n_train, data.n_val) == (400, 50)
    assert data.train_rows is None and data.val_rows is None
    assert data.describe()["validation"] == {"kind": "file", "source": "val.csv"}
    shifted = prepare_tabular(train, "y", val_df=val.assign(x=val["x"] * 100, color="black"), val_source="val.csv")
    assert shifted.preprocessor.to_dict() == data.preprocessor.to_dict()
    assert torch.equal(shifted.X_train, data.X_train)


def test_leakage_counted_exactly_with_a_validation_file():
    train = _table()
    val = pd.concat([_table(n=30, seed=9), train.iloc[[7, 8, 9]]], ignore_index=True)
    val.loc[30, "y"] = "ok" if val.loc[30, "y"] == "fraud" else "fraud"  # target is not a feature
    data = prepare_tabular(train, "y", val_df=val)
    assert data.leakage["count"] == 3
    assert data.leakage["share"] == 3 / 33
    assert data.leakage["examples"] == [
        {"val_row": 30, "train_row": 7},
        {"val_row": 31, "train_row": 8},
        {"val_row": 32, "train_row": 9},
    ]


def test_leakage_examples_name_rows_of_the_input_file_after_a_split():
    base = _table(n=200)
    df = pd.concat([base, base.iloc[:50]], ignore_index=True)  # rows 200..249 repeat rows 0..49
    data = prepare_tabular(df, "y", seed=0)
    assert data.leakage["count"] > 0
    features = ["x", "z", "k", "color"]
    for example in data.leakage["examples"]:
        assert example["val_row"] in set(data.val_rows) and example["train_row"] in set(data.train_rows)
        pd.testing.assert_series_equal(
            df.loc[example["val_row"], features], df.loc[example["train_row"], features], check_names=False
        )


def test_binary_zero_one_labels_make_one_positive_and_override_works():
    df = _table().assign(y=lambda d: (d["y"] == "ok").astype(int))  # 1 is the majority here
    assert prepare_tabular(df, "y").positive == 1
    assert prepare_tabular(df, "y", positive=0).positive == 0
    assert prepare_tabular(df, "y", positive="0").positive == 0


def test_multiclass_has_no_positive():
    df = _table().assign(y=lambda d: d["color"]).drop(columns="color")
    data = prepare_tabular(df, "y")
    assert data.labels == ["blue", "green", "red"] and data.positive is None
    assert data.describe()["positive_label"] is None
    _bad(r"--positive applies to binary targets; 'y' has 3 classes", df, "y", positive="red")


# ---- bad input ------------------------------------------------------------------------------------
def test_unknown_target_column():
    df = pd.DataFrame({"a": [1, 2], "b": [3, 4], "c": ["u", "v"]})
    message = _bad("no column", df, "y", source="data.csv")
    assert message == "data.csv: no column 'y' (columns: a, b, c). Pass one of them with --target."


def test_unknown_target_suggests_a_close_name():
    _bad(r"Did you mean 'is_fraud'\?", _table().rename(columns={"y": "is_fraud"}), "is_frad")


def test_one_class_only():
    df = _table().assign(y="yes")
    message = _bad("one class", df, "y")
    assert message == "data.csv: target column 'y' has one class only ('yes'); a classifier needs at least two."


def test_empty_table():
    assert _bad("empty", _table().iloc[:0], "y") == "data.csv: the table is empty (0 rows); add data rows."


def test_nan_in_target_says_how_many_rows():
    df = _table()
    df.loc[[3, 10, 11], "y"] = None
    _bad(r"^data.csv: target column 'y' is empty in 3 rows \(rows 4, 11, 12\); drop those rows or fill them", df, "y")


def test_only_the_target_column():
    _bad(r"no feature columns besides the target 'y'", _table()[["y"]], "y")


def test_validation_file_missing_columns():
    train, val = _table(), _table(n=20).drop(columns=["z", "color"])
    _bad(r"^val.csv: missing columns of the training file data.csv: z, color; add them", train, "y",
         val_df=val, val_source="val.csv")


def test_validation_file_missing_the_target():
    _bad(r"missing columns of the training file data.csv: y", _table(), "y", val_df=_table(n=20).drop(columns="y"))


def test_validation_label_unseen_in_training():
    val = _table(n=20)
    val.loc[[0, 1], "y"] = "chargeback"
    _bad(r"^val.csv: target column 'y' holds labels the training table lacks: 'chargeback' \(2 rows\)", _table(),
         "y", val_df=val, val_source="val.csv")


def test_empty_validation_file():
    _bad(r"^val.csv: the table is empty \(0 rows\)", _table(), "y", val_df=_table().iloc[:0], val_source="val.csv")


def test_all_nan_feature_column():
    _bad(r"^data.csv: column 'z' is empty in every row; drop it", _table().assign(z=np.nan), "y")


def test_infinite_feature_values_name_rows_of_the_file():
    df = _table()
    df.loc[[5, 300], "x"] = [np.inf, -np.inf]
    _bad(r"^data.csv: column 'x' has 2 infinite values \(rows 6, 301\); replace them", df, "y")


def test_infinite_values_in_the_validation_file():
    val = _table(n=20)
    val.loc[2, "z"] = np.inf
    _bad(r"^val.csv: column 'z' has 1 infinite values \(row 3\)", _table(), "y", val_df=val, val_source="val.csv")


def test_text_in_a_numeric_validation_column():
    val = _table(n=20).astype({"k": object})
    val.loc[4, "k"] = "seven"
    _bad(r"^val.csv: column 'k' should hold numbers but has text in 1 rows \(e.g. 'seven' in row 5\)", _table(),
         "y", val_df=val, val_source="val.csv")


def test_unknown_positive_label():
    _bad(r"^data.csv: target column 'y': positive class 'maybe' is not one of the labels \(fraud, ok\); pass one of",
         _table(), "y", positive="maybe")


@pytest.mark.parametrize("fraction", [0.0, 1.0, 2])
def test_bad_validation_fraction(fraction):
    _bad("between 0 and 1", _table(), "y", val_fraction=fraction)


def test_too_few_rows_to_split():
    df = pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]})
    _bad(r"too few rows to split off a validation set \(2 rows", df, "y")


def test_duplicate_column_names_in_a_dataframe():
    df = pd.DataFrame([[1, 2, 0], [3, 4, 1]], columns=["a", "a", "y"])
    _bad(r"duplicate column names a", df, "y")
