"""duplicate_rows: exact counts on constructed tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainwise.data import duplicate_rows, fingerprint
from trainwise.data.fingerprint import row_hashes

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


# --------------------------------------------------------------------------- the probe
# A table of more than fingerprint._PROBE_COLUMNS + 2 columns is first compared on a few probe columns
# (floats first, here f0..f3); only the rows whose probe values occur in the other table are hashed whole.
WIDE = ["f0", "f1", "f2", "f3", "f4", "n0", "s0", "o0"]
TWIN = {"f0": 0.5, "f1": -1.25, "f2": 2.0, "f3": 0.125, "f4": 0.5, "n0": 1, "s0": "a", "o0": "one"}


def _wide(rows: int, seed: int, probe_values: np.ndarray | None = None) -> pd.DataFrame:
    """Columns ``WIDE``: the probe columns f0..f3 (3-decimal normals unless ``probe_values`` is given), then
    few-valued columns -- float, int, text, object (numbers and text) -- with missing values."""
    rng = np.random.default_rng(seed)

    def probe_column() -> np.ndarray:
        return rng.normal(size=rows).round(3) if probe_values is None else rng.choice(probe_values, rows)

    return pd.DataFrame(
        {
            "f0": probe_column(),
            "f1": probe_column(),
            "f2": probe_column(),
            "f3": probe_column(),
            "f4": rng.choice([0.0, 0.5, np.nan], rows),
            "n0": rng.integers(0, 3, rows),
            "s0": rng.choice(["a", "b", None], rows),
            "o0": pd.Series(rng.choice(np.array([1, "one", None, 2.5], dtype=object), rows), dtype=object),
        }
    )


def _put(df: pd.DataFrame, rows: list[int], values: dict) -> None:
    for column, value in values.items():
        df.loc[rows, column] = value


def _takes_probe_path(train: pd.DataFrame, val: pd.DataFrame, columns: list[str]) -> bool:
    train, val = fingerprint._aligned(train, val, columns)
    return len(columns) > fingerprint._PROBE_COLUMNS + 2 and fingerprint._probed(train, val)[2] is not None


def _brute_force(train: pd.DataFrame, val: pd.DataFrame, columns: list[str]) -> dict:
    """duplicate_rows through tuples of Python values, missing values as None (same dtypes on both sides)."""

    def rows(df: pd.DataFrame) -> list[tuple]:
        values = df[columns].astype(object).itertuples(index=False)
        return [tuple(None if pd.isna(x) else x for x in row) for row in values]

    first: dict[tuple, int] = {}
    for j, row in enumerate(rows(train)):
        first.setdefault(row, j)
    twins = [(i, first[row]) for i, row in enumerate(rows(val)) if row in first]
    return {
        "count": len(twins),
        "share": len(twins) / len(val) if len(val) else 0.0,
        "examples": [{"val_row": i, "train_row": j} for i, j in twins[: fingerprint.MAX_EXAMPLES]],
    }


def test_rows_equal_on_the_probe_columns_only_are_new():
    train = _wide(500, seed=0)
    val = pd.concat([_wide(30, seed=1), train.iloc[[10, 20, 30, 40, 50, 60]]], ignore_index=True)
    # validation rows 30..33 keep their training twin's probe columns but differ in one other column
    _put(val, [30], {"f4": 7.0})
    _put(val, [31], {"n0": 9})
    _put(val, [32], {"s0": "z"})
    _put(val, [33], {"o0": "two"})
    assert _takes_probe_path(train, val, WIDE)
    assert duplicate_rows(train, val, WIDE) == {
        "count": 2,
        "share": 2 / 36,
        "examples": [{"val_row": 34, "train_row": 50}, {"val_row": 35, "train_row": 60}],
    }


def test_first_matching_training_row_when_the_twin_is_late_and_repeated():
    train = _wide(1000, seed=2)
    _put(train, [400], {**TWIN, "n0": 2})  # the twin's probe values before it, with another int
    _put(train, [950, 990, 999], TWIN)
    val = _wide(40, seed=3)
    _put(val, [5, 6], TWIN)
    _put(val, [7], {**TWIN, "n0": 2})
    assert _takes_probe_path(train, val, WIDE)
    assert duplicate_rows(train, val, WIDE) == {
        "count": 3,
        "share": 3 / 40,
        "examples": [
            {"val_row": 5, "train_row": 950},
            {"val_row": 6, "train_row": 950},
            {"val_row": 7, "train_row": 400},
        ],
    }


def test_mixed_dtypes_through_the_probe():
    columns = [*WIDE, "code"]
    train = _wide(300, seed=4).assign(code=np.arange(300))
    _put(train, [7], {"f4": np.nan, "s0": None, "o0": None})
    fresh = _wide(40, seed=5).assign(code=np.arange(40) + 1000)
    val = pd.concat([fresh, train.iloc[7:12]], ignore_index=True)
    _put(val, [43], {"s0": None})  # training row 10's text, missing here
    val["n0"] = val["n0"].astype(float)  # int in training: compared as numbers
    val["code"] = val["code"].astype(str).astype(object)  # int in training: compared as text
    _put(val, [44], {"code": "11.0"})  # the number 11, but not the text "11"
    val.index = np.arange(len(val))[::-1] + 100  # index labels do not matter
    assert _takes_probe_path(train, val, columns)
    assert duplicate_rows(train, val, columns) == {
        "count": 3,
        "share": 3 / 45,
        "examples": [
            {"val_row": 40, "train_row": 7},
            {"val_row": 41, "train_row": 8},
            {"val_row": 42, "train_row": 9},
        ],
    }


def test_constant_probe_columns_fall_back_to_every_row():
    constant = np.array([1.0])
    train = _wide(400, seed=6, probe_values=constant)
    val = pd.concat([_wide(60, seed=7, probe_values=constant), train.iloc[[350, 120, 399]]])
    assert not _takes_probe_path(train, val, WIDE)
    result = duplicate_rows(train, val, WIDE)
    assert result == _brute_force(train, val, WIDE)
    assert result["count"] >= 3


@pytest.mark.parametrize("probe_values", [None, np.array([0.0, np.nan])], ids=["probe", "fallback"])
@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_brute_force_on_random_tables(seed, probe_values):
    rng = np.random.default_rng(seed)
    train = _wide(400, seed=seed, probe_values=probe_values)
    # twins within training, too
    train = pd.concat([train, train.sample(40, random_state=seed)], ignore_index=True)
    copies = train.sample(15, random_state=seed + 1)
    near = train.sample(10, random_state=seed + 2).copy()  # each differs in one column, not a probe column
    changes = {"f4": 9.5, "n0": 7, "s0": "zz", "o0": "zz"}
    for label, column in zip(near.index, rng.choice(list(changes), len(near)), strict=True):
        near.loc[label, column] = changes[column]
    fresh = _wide(120, seed=seed + 100, probe_values=probe_values)
    val = pd.concat([fresh, copies, near]).sample(frac=1, random_state=seed)  # shuffled; labels kept
    assert _takes_probe_path(train, val, WIDE) == (probe_values is None)
    result = duplicate_rows(train, val, WIDE)
    assert result == _brute_force(train, val, WIDE)
    assert result["count"] >= 15


def test_object_columns_hash_as_in_the_whole_table():
    # pandas hashes an object column through its distinct values, and True == 1: in training's column, 1 comes
    # after True and hashes as True does; in validation's, it comes first. So these rows are no twins to
    # pandas -- nor to duplicate_rows, which must not hash the probe's candidates alone (1 would meet 1).
    train = _wide(400, seed=8).assign(o0=pd.Series([True, 1] * 200, dtype=object))
    val = pd.concat([_wide(60, seed=9), train.iloc[[1, 3, 5]]], ignore_index=True)
    val["o0"] = pd.Series([1] * 63, dtype=object)
    assert _takes_probe_path(train, val, WIDE)
    is_dup = pd.Series(row_hashes(val, WIDE)).isin(row_hashes(train, WIDE)).to_numpy()
    assert not is_dup.any()
    assert duplicate_rows(train, val, WIDE)["count"] == 0
    assert duplicate_rows(train, val, ["f0", "f1", "f2", "f3", "f4", "n0", "s0"])["count"] == 3
