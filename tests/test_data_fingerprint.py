"""duplicate_rows: exact counts on constructed tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trainwise.data import duplicate_rows

FEATURES = ["x", "n", "city"]


def _train() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "x": rng.normal(size=100),
            "n": np.arange(100),
            "city": rng.choice(["Oslo", "Lima", "Pune"], 100),
            "y": rng.integers(0, 2, 100),
        }
    )


def test_exact_count_share_and_examples():
    train = _train()
    rng = np.random.default_rng(1)
    val = pd.DataFrame(
        {"x": rng.normal(size=20) + 100, "n": np.arange(20) + 1000, "city": ["Oslo"] * 20, "y": 0}
    )
    # validation rows 2, 5, 6, 11, 12, 15, 19 copy training rows 40, 3, 3, 77, 0, 99, 40 (features only)
    copies = {2: 40, 5: 3, 6: 3, 11: 77, 12: 0, 15: 99, 19: 40}
    for v, t in copies.items():
        val.loc[v, FEATURES] = train.loc[t, FEATURES].to_numpy()
        val.loc[v, "y"] = 1 - train.loc[t, "y"]  # a different target does not make a row new
    val = val.astype({"x": float, "n": int})
    result = duplicate_rows(train, val, FEATURES)
    assert result["count"] == 7
    assert result["share"] == 7 / 20
    assert result["examples"] == [
        {"val_row": 2, "train_row": 40},
        {"val_row": 5, "train_row": 3},
        {"val_row": 6, "train_row": 3},
        {"val_row": 11, "train_row": 77},
        {"val_row": 12, "train_row": 0},
    ]


def test_first_matching_training_row_is_reported():
    train = pd.DataFrame({"a": [1, 2, 1, 1]})
    val = pd.DataFrame({"a": [1]})
    assert duplicate_rows(train, val, ["a"]) == {"count": 1, "share": 1.0, "examples": [{"val_row": 0, "train_row": 0}]}


def test_index_labels_do_not_matter():
    train = _train()
    val = train.iloc[[5, 9]].set_axis([900, 901])
    assert duplicate_rows(train, val, FEATURES)["count"] == 2


def test_a_single_differing_feature_makes_a_row_new():
    train = _train()
    val = train.iloc[:10].copy()
    val["x"] = val["x"] + 1e-9
    assert duplicate_rows(train, val, FEATURES)["count"] == 0
    assert duplicate_rows(train, val, ["n", "city"])["count"] == 10


def test_missing_values_match_missing_values():
    train = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": ["u", None, "w"]})
    val = pd.DataFrame({"a": [np.nan, np.nan], "b": [None, "u"]})
    result = duplicate_rows(train, val, ["a", "b"])
    assert result["count"] == 1 and result["examples"] == [{"val_row": 0, "train_row": 1}]


def test_numbers_match_across_int_and_float_columns():
    train = pd.DataFrame({"n": [1, 2, 3], "s": ["a", "b", "c"]})
    val = pd.DataFrame({"n": [2.0, np.nan], "s": pd.Series(["b", "c"], dtype=object)})
    assert duplicate_rows(train, val, ["n", "s"])["count"] == 1


def test_bools_match_across_bool_and_object_columns():
    train = pd.DataFrame({"f": [True, False]})
    val = pd.DataFrame({"f": pd.Series([True, None], dtype=object)})
    assert duplicate_rows(train, val, ["f"])["count"] == 1


def test_empty_validation_table():
    train = _train()
    assert duplicate_rows(train, train.iloc[:0], FEATURES) == {"count": 0, "share": 0.0, "examples": []}
