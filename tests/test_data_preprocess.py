"""TablePreprocessor (train-only statistics), encode_labels and positive_index."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trainwise.data import TablePreprocessor, encode_labels, positive_index
from trainwise.data.preprocess import MAX_CATEGORIES
from trainwise.errors import InputError


@pytest.fixture
def train() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [10.0, 20.0, np.nan, 40.0, 30.0],
            "age": [1, 2, 3, 4, 5],
            "const": [7.0, 7.0, 7.0, 7.0, 7.0],
            "city": ["Oslo", "Lima", "Oslo", None, "Pune"],
            "flag": [True, False, True, True, False],
        }
    )


def test_numeric_columns_standardized_with_training_statistics(train):
    pre = TablePreprocessor().fit(train)
    X = pre.transform(train)
    assert X.dtype == np.float32 and X.flags.c_contiguous
    names = pre.feature_names
    observed = np.array([10.0, 20.0, 40.0, 30.0])
    mean, std, median = observed.mean(), observed.std(), np.median(observed)
    expected = (np.array([10.0, 20.0, median, 40.0, 30.0]) - mean) / std
    np.testing.assert_allclose(X[:, names.index("amount")], expected, rtol=1e-6)
    np.testing.assert_array_equal(X[:, names.index("amount:missing")], [0, 0, 1, 0, 0])
    age = np.arange(1, 6, dtype=float)
    np.testing.assert_allclose(X[:, names.index("age")], (age - age.mean()) / age.std(), rtol=1e-6)
    assert "age:missing" not in names  # complete in training: no constant-zero indicator


def test_constant_column_becomes_zeros_not_nan(train):
    pre = TablePreprocessor().fit(train)
    X = pre.transform(pd.concat([train, train.assign(const=9.0)]))
    column = X[:, pre.feature_names.index("const")]
    np.testing.assert_array_equal(column[:5], 0.0)
    np.testing.assert_array_equal(column[5:], 2.0)  # (9 - 7) / 1: a scale of 1 where std is 0


def test_one_hot_with_training_categories_and_zeros_for_unseen_or_missing(train):
    pre = TablePreprocessor().fit(train)
    names = pre.feature_names
    assert [n for n in names if n.startswith("city=")] == ["city=Lima", "city=Oslo", "city=Pune"]
    assert [n for n in names if n.startswith("flag=")] == ["flag=False", "flag=True"]
    val = train.iloc[:3].assign(city=["Rome", None, "Lima"], flag=[False, None, True])
    X = pre.transform(val)
    city = X[:, [names.index(f"city={c}") for c in ("Lima", "Oslo", "Pune")]]
    np.testing.assert_array_equal(city, [[0, 0, 0], [0, 0, 0], [1, 0, 0]])
    flag = X[:, [names.index("flag=False"), names.index("flag=True")]]
    np.testing.assert_array_equal(flag, [[1, 0], [0, 0], [0, 1]])


def test_missing_number_in_a_column_complete_in_training_gets_the_median(train):
    pre = TablePreprocessor().fit(train)
    X = pre.transform(train.assign(age=[np.nan, 2, 3, 4, 5]))
    assert X[0, pre.feature_names.index("age")] == pytest.approx(0.0)  # median 3 == mean 3


def test_high_cardinality_keeps_the_most_frequent_levels():
    # level i appears i + 1 times; 60 levels > 50: the 10 rarest (level_00..level_09) are dropped
    values = [f"level_{i:02d}" for i in range(60) for _ in range(i + 1)]
    df = pd.DataFrame({"code": values})
    pre = TablePreprocessor().fit(df)
    kept = [n.removeprefix("code=") for n in pre.feature_names]
    assert len(kept) == MAX_CATEGORIES
    assert kept == [f"level_{i:02d}" for i in range(10, 60)]
    assert pre.columns[0].levels_seen == 60
    X = pre.transform(pd.DataFrame({"code": ["level_00", "level_59"]}))
    assert X[0].sum() == 0 and X[1].sum() == 1


def test_cap_ties_are_broken_by_value_not_by_row_order():
    values = [f"v{i:03d}" for i in range(80)]
    a = TablePreprocessor(max_categories=5).fit(pd.DataFrame({"c": values}))
    b = TablePreprocessor(max_categories=5).fit(pd.DataFrame({"c": values[::-1]}))
    assert a.feature_names == b.feature_names == [f"c=v{i:03d}" for i in range(5)]


def test_to_dict_round_trips_through_json(train):
    pre = TablePreprocessor().fit(train)
    restored = TablePreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert restored.feature_names == pre.feature_names
    assert restored.to_dict() == pre.to_dict()
    np.testing.assert_array_equal(restored.transform(train), pre.transform(train))


def test_from_dict_refuses_other_formats():
    with pytest.raises(ValueError, match="TablePreprocessor"):
        TablePreprocessor.from_dict({"format": "something else", "version": 1})


def test_statistics_come_from_the_fitted_rows_only(train):
    pre = TablePreprocessor().fit(train)
    before = pre.to_dict()
    X_train = pre.transform(train)
    wild = pd.DataFrame(
        {
            "amount": [1e9, -1e9, np.nan],
            "age": [1000, -5, 0],
            "const": [0.0, 1.0, 2.0],
            "city": ["Atlantis", "Oslo", None],
            "flag": [False, False, False],
        }
    )
    pre.transform(wild)
    assert pre.to_dict() == before
    np.testing.assert_array_equal(pre.transform(train), X_train)


def test_unfitted_preprocessor_says_so():
    with pytest.raises(RuntimeError, match="not fitted"):
        TablePreprocessor().transform(pd.DataFrame({"a": [1]}))


def test_all_empty_feature_column_is_refused(train):
    with pytest.raises(InputError, match=r"^train.csv: column 'amount' is empty in every row"):
        TablePreprocessor().fit(train.assign(amount=np.nan), source="train.csv")


def test_infinite_values_are_refused_at_fit_and_transform(train):
    with pytest.raises(InputError, match=r"column 'amount' has 1 infinite values \(row 2\)"):
        TablePreprocessor().fit(train.assign(amount=[1.0, np.inf, 3.0, 4.0, 5.0]))
    pre = TablePreprocessor().fit(train)
    with pytest.raises(InputError, match=r"^val.csv: column 'age' has 2 infinite values \(rows 1, 3\)"):
        pre.transform(train.assign(age=[-np.inf, 1, np.inf, 2, 3]), source="val.csv")


def test_text_in_a_numeric_column_at_transform(train):
    pre = TablePreprocessor().fit(train)
    bad = train.astype({"amount": object})
    bad.loc[3, "amount"] = "12,5"
    with pytest.raises(InputError, match=r"val.csv: column 'amount' should hold numbers .* '12,5' in row 4"):
        pre.transform(bad, source="val.csv")


def test_numbers_with_a_few_typos_are_not_silently_one_hot_encoded():
    values = [str(v) for v in range(100)] + ["?"]
    with pytest.raises(InputError, match=r"column 'price' holds numbers except in 1 rows \(e.g. '\?' in row 101\)"):
        TablePreprocessor().fit(pd.DataFrame({"price": values}))


def test_transform_names_missing_columns(train):
    pre = TablePreprocessor().fit(train)
    with pytest.raises(InputError, match=r"^val.csv: missing columns of the training table: age, city; add them"):
        pre.transform(train.drop(columns=["age", "city"]), source="val.csv")


def test_fit_names_unknown_columns(train):
    with pytest.raises(InputError, match=r"^t.csv: no columns nope \(columns: amount, age, const, city, flag\)"):
        TablePreprocessor().fit(train, ["age", "nope"], source="t.csv")


def test_fit_on_chosen_columns_only(train):
    pre = TablePreprocessor().fit(train, ["age", "city"])
    assert pre.input_columns == ["age", "city"]
    assert pre.transform(train).shape == (5, 4)


# ---- labels -----------------------------------------------------------------------------------------
def test_labels_sorted_numerically_for_numbers():
    codes, labels = encode_labels(pd.Series([10, 2, 2, 1], name="y"))
    assert labels == ["1", "2", "10"]
    assert codes.dtype == np.int64 and codes.tolist() == [2, 1, 1, 0]


def test_whole_float_labels_print_as_integers():
    _, labels = encode_labels(pd.Series([1.0, 0.0, 1.0]))
    assert labels == ["0", "1"]


def test_text_and_bool_labels():
    assert encode_labels(pd.Series(["no", "yes", "maybe"]))[1] == ["maybe", "no", "yes"]
    codes, labels = encode_labels(pd.Series([True, False, True]))
    assert labels == ["False", "True"] and codes.tolist() == [1, 0, 1]


def test_missing_labels_are_counted():
    y = pd.Series(["a", None, "b", np.nan], name="y")
    with pytest.raises(InputError, match=r"^d.csv: target column 'y' is empty in 2 rows \(rows 2, 4\); drop"):
        encode_labels(y, source="d.csv")


def test_encoding_against_known_labels():
    codes, labels = encode_labels(pd.Series([1, 0, 1]), labels=["0", "1"])
    assert codes.tolist() == [1, 0, 1] and labels == ["0", "1"]
    with pytest.raises(InputError, match=r"v.csv: target column 'y' holds labels the training table lacks: '2'"):
        encode_labels(pd.Series([1, 2, 2], name="y"), labels=["0", "1"], source="v.csv")


@pytest.mark.parametrize(
    ("labels", "counts", "expected"),
    [
        (["0", "1"], [10, 990], 1),  # 1 is positive even as the majority
        (["False", "True"], [990, 10], 1),
        (["no", "yes"], [10, 990], 0),  # otherwise the rarest
        (["fraud", "ok"], [20, 980], 0),
        (["a", "b"], [50, 50], 1),  # a tie: the later label
        (["0", "1", "2"], [5, 1, 9], 1),
    ],
)
def test_default_positive_class(labels, counts, expected):
    assert positive_index(labels, counts) == expected


@pytest.mark.parametrize(("given", "expected"), [("yes", 1), ("no", 0), ("YES", 1)])
def test_positive_override(given, expected):
    assert positive_index(["no", "yes"], [900, 100], given) == expected


@pytest.mark.parametrize(("given", "expected"), [(0, 0), (1.0, 1), ("1", 1), (False, 0), (True, 1)])
def test_positive_override_matches_numbers_and_bools_as_text(given, expected):
    labels = ["False", "True"] if isinstance(given, bool) else ["0", "1"]
    assert positive_index(labels, [900, 100], given) == expected


def test_unknown_positive_lists_the_choices():
    with pytest.raises(InputError, match=r"positive class 'maybe' is not one of the labels \(no, yes\)"):
        positive_index(["no", "yes"], [5, 5], "maybe")
