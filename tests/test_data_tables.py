"""read_table: real files of every supported kind, and every way a file can be bad."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainwise.data import SUPPORTED_SUFFIXES, read_table
from trainwise.errors import InputError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [12.5, 3.0, np.nan, 99.9],
            "count": [1, 2, 3, 4],
            "city": ["Oslo", "Lima", None, "Oslo"],
            "flag": [True, False, True, True],
            "y": ["yes", "no", "no", "yes"],
        }
    )


def _bad(path, match: str) -> str:
    with pytest.raises(InputError, match=match) as info:
        read_table(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(os.fspath(path.name)) or message.startswith(os.fspath(path))
    return message


def _assert_same(read: pd.DataFrame, frame: pd.DataFrame) -> None:
    assert list(read.columns) == list(frame.columns)
    assert isinstance(read.index, pd.RangeIndex)
    np.testing.assert_allclose(read["amount"].to_numpy(dtype=float), frame["amount"].to_numpy(dtype=float))
    assert read["count"].tolist() == frame["count"].tolist()
    assert read["city"].isna().tolist() == frame["city"].isna().tolist()
    assert read["city"].dropna().tolist() == frame["city"].dropna().tolist()
    assert read["flag"].tolist() == frame["flag"].tolist()
    assert read["y"].tolist() == frame["y"].tolist()


@pytest.mark.parametrize("name", ["t.csv", "t.CSV", "t.csv.gz", "t.tsv", "t.tsv.gz", "t.parquet", "t.pq"])
def test_reads_every_supported_kind(tmp_path, frame, name):
    path = tmp_path / name
    lower = name.lower()
    if lower.endswith((".parquet", ".pq")):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False, sep="\t" if ".tsv" in lower else ",")
    _assert_same(read_table(path), frame)


def test_missing_file(tmp_path):
    _bad(tmp_path / "nope.csv", "no such file")


def test_folder_is_not_a_file(tmp_path):
    (tmp_path / "d.csv").mkdir()
    _bad(tmp_path / "d.csv", "folder")


@pytest.mark.parametrize("name", ["data.xlsx", "data", "data.json"])
def test_unsupported_extension_lists_the_supported_ones(tmp_path, name):
    path = tmp_path / name
    path.write_text("a,b\n1,2\n")
    message = _bad(path, "unsupported file type")
    for suffix in SUPPORTED_SUFFIXES:
        assert suffix in message


def test_empty_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"")
    _bad(path, r"empty \(0 bytes\)")


def test_header_only_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,y\n")
    assert _bad(path, "empty") == "data.csv: the table is empty (0 rows); add data rows."


def test_blank_lines_only(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("\n\n\n")
    _bad(path, "no header and no rows")


def test_random_bytes_as_csv(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    _bad(path, "cannot read as CSV")


def test_semicolon_separated_file_is_named(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a;b;y\n1,5;2;0\n3;4;1\n")
    _bad(path, "looks separated by ';'")


def test_latin1_text_says_save_as_utf8(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes("city,y\nM\xfcnchen,1\nK\xf6ln,0\n".encode("latin-1"))
    _bad(path, "UTF-8")


def test_ragged_rows(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n3,4,5,6\n")
    _bad(path, "cannot read as CSV")


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "data.csv.gz"
    text = pd.DataFrame({"a": np.random.default_rng(0).normal(size=20_000)}).to_csv(index=False)
    whole = gzip.compress(text.encode())
    path.write_bytes(whole[: len(whole) // 2])
    _bad(path, "cannot read as CSV")


def test_truncated_parquet(tmp_path, frame):
    whole = tmp_path / "whole.parquet"
    frame.to_parquet(whole)
    path = tmp_path / "data.parquet"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    _bad(path, "cannot read as Parquet")


def test_csv_bytes_named_parquet(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_text("a,b\n1,2\n")
    _bad(path, "cannot read as Parquet")


def test_empty_parquet(tmp_path, frame):
    path = tmp_path / "data.parquet"
    frame.iloc[:0].to_parquet(path)
    _bad(path, r"the table is empty \(0 rows\)")


def test_duplicate_column_names_in_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "data.parquet"
    pq.write_table(pa.table([pa.array([1, 2]), pa.array([3, 4])], names=["a", "a"]), path)
    _bad(path, "duplicate column names")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".csv.gz", ".parquet", ".tsv"]))
def test_arbitrary_bytes_never_raise_anything_but_input_error(tmp_path, data, suffix):
    path = tmp_path / f"data{suffix}"
    path.write_bytes(data)
    try:
        table = read_table(path)
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert len(table) > 0
