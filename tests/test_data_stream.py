"""Parquet streams: one-pass statistics, sharding across simulated ranks, order, resume, memory, training."""

from __future__ import annotations

import argparse
import math
import tracemalloc

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch import nn

import trainwise as tw
from trainwise.data.preprocess import TablePreprocessor, encode_labels
from trainwise.data.stream import ParquetStream, RowSplit, fit_stream, prepare_stream
from trainwise.errors import InputError

ROWS, GROUPS = 20_000, 40


def _table(n: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({
        "row": np.arange(n),                      # a feature like any other, and each row's identity
        "x": x * 3 + 5,
        "z": np.where(rng.random(n) < 0.1, np.nan, rng.exponential(size=n)),
        "k": rng.integers(0, 10, n),
        "color": rng.choice(np.array(["red", "green", "blue", None], dtype=object), n),
        "city": rng.choice([f"c{i:02d}" for i in range(80)], n, p=np.arange(1, 81) / np.arange(1, 81).sum()),
        "flag": rng.random(n) < 0.3,
        "y": np.where(x + rng.normal(scale=0.5, size=n) > 1.0, "fraud", "ok"),
    })


def _write(df: pd.DataFrame, path, groups: int) -> str:
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=-(-len(df) // groups))
    return str(path)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    df = _table()
    path = _write(df, tmp_path_factory.mktemp("stream") / "data.parquet", GROUPS)
    assert pq.ParquetFile(path).metadata.num_row_groups == GROUPS
    return df, path


@pytest.fixture(scope="module")
def stats(table):
    return fit_stream(table[1], "y")


def _stream(path, stats, **kwargs):
    options = {"batch_size": 64, "shuffle": True, "seed": 3, "shuffle_rows": 1000, "rank": 0, "world_size": 1,
               "device": "cpu"}
    return ParquetStream(path, "y", preprocessor=stats.preprocessor, labels=stats.labels, **{**options, **kwargs})


def _row_ids(X: np.ndarray, stats) -> np.ndarray:
    """The file row each encoded row came from, decoded from the standardized ``row`` feature."""
    col = stats.preprocessor.columns[0]
    return np.rint(X[:, 0].astype(np.float64) * col.std + col.mean).astype(np.int64)


def _rows(batches) -> tuple[np.ndarray, np.ndarray]:
    batches = list(batches)
    return torch.cat([x for x, _ in batches]).numpy(), torch.cat([y for _, y in batches]).numpy()


def _assert_same_preprocessor(streamed: TablePreprocessor, full: TablePreprocessor) -> None:
    assert streamed.feature_names == full.feature_names
    for a, b in zip(streamed.columns, full.columns, strict=True):
        assert type(a) is type(b) and a.name == b.name
        if a.kind == "numeric":
            assert a.mean == pytest.approx(b.mean, rel=1e-12, abs=1e-12)
            assert a.std == pytest.approx(b.std, rel=1e-12)
            assert a.median == b.median and a.missing_indicator == b.missing_indicator
            assert (a.minimum, a.maximum) == (b.minimum, b.maximum)     # the training range, for drift checks
        else:
            assert a == b


# ---- one pass of statistics ----------------------------------------------------------------------
def test_one_pass_statistics_equal_fitting_the_whole_table(table, stats):
    df, _ = table
    features = [c for c in df.columns if c != "y"]
    full = TablePreprocessor().fit(df, features)
    _assert_same_preprocessor(stats.preprocessor, full)
    assert stats.approximate == {}
    assert [c.kind for c in stats.preprocessor.columns] == ["numeric"] * 4 + ["categorical"] * 3
    assert len(stats.preprocessor.columns[5].categories) == 50          # city: the 50 most frequent of 80
    np.testing.assert_allclose(stats.preprocessor.transform(df), full.transform(df), rtol=1e-6, atol=1e-6)
    codes, labels = encode_labels(df["y"])
    assert stats.labels == labels and stats.class_counts == np.bincount(codes).tolist()
    assert stats.rows == ROWS and stats.row_groups == GROUPS and stats.val_class_counts is None


def test_with_a_split_the_statistics_see_the_training_rows_only(table):
    df, path = table
    split = RowSplit(0.2, seed=7)
    is_val = split.is_val(0, ROWS)
    assert abs(is_val.mean() - 0.2) < 0.01
    stats = fit_stream(path, "y", split=split)
    train = df[~is_val]
    _assert_same_preprocessor(stats.preprocessor, TablePreprocessor().fit(train, list(df.columns[:-1])))
    codes, _ = encode_labels(df["y"], labels=stats.labels)
    assert stats.class_counts == np.bincount(codes[~is_val]).tolist()
    assert stats.val_class_counts == np.bincount(codes[is_val]).tolist()


def test_a_median_from_a_sample_is_close_and_said_to_be_approximate(table):
    df, path = table
    stats = fit_stream(path, "y", median_sample=1000)
    assert set(stats.approximate) == {"row", "x", "z", "k"}
    x = df["x"].to_numpy()
    rank = (x < stats.preprocessor.columns[1].median).mean()
    assert abs(rank - 0.5) < 0.05                    # 3 standard deviations of a 1,000-value sample: 0.047
    assert stats.preprocessor.columns[1].mean == pytest.approx(x.mean(), rel=1e-12)   # means stay exact


def test_values_whose_squares_overflow_are_standardized_like_a_whole_table_fit(tmp_path):
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"big": rng.normal(size=4000) * 1e300, "small": rng.normal(size=4000) * 1e-300,
                       "y": rng.integers(0, 2, 4000)})
    stats = fit_stream(_write(df, tmp_path / "big.parquet", 8), "y", read_rows=700)
    full = TablePreprocessor().fit(df, ["big", "small"])
    for a, b in zip(stats.preprocessor.columns, full.columns, strict=True):
        assert math.isfinite(a.std) and a.std == pytest.approx(b.std, rel=1e-9)
        assert a.mean == pytest.approx(b.mean, rel=1e-9, abs=abs(b.std) * 1e-9)
    np.testing.assert_allclose(stats.preprocessor.transform(df), full.transform(df), rtol=1e-5, atol=1e-5)


def test_pruned_category_counts_keep_the_frequent_levels(tmp_path):
    rng = np.random.default_rng(1)
    n = 6000
    frequent = rng.choice([f"v{i:02d}" for i in range(60)], n, p=np.arange(1, 61) / np.arange(1, 61).sum())
    rare = np.array([f"id{i}" for i in range(n)], dtype=object)
    df = pd.DataFrame({"tag": np.where(rng.random(n) < 0.7, frequent, rare), "y": rng.integers(0, 2, n)})
    path = _write(df, tmp_path / "ids.parquet", 30)
    stats = fit_stream(path, "y", max_levels=200)
    full = TablePreprocessor().fit(df, ["tag"])
    assert stats.preprocessor.columns[0].categories == full.columns[0].categories
    assert "tag" in stats.approximate
    assert 200 < stats.preprocessor.columns[0].levels_seen <= full.columns[0].levels_seen


# ---- sharding --------------------------------------------------------------------------------------
@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("split", [None, RowSplit(0.25, seed=1)])
def test_validation_sees_every_row_exactly_once_across_ranks(table, stats, world, split):
    df, path = table
    expected = df if split is None else df[split.is_val(0, ROWS)]
    parts = [_rows(_stream(path, stats, shuffle=False, batch_size=300, rank=r, world_size=world, split=split,
                           side="val").epoch(0)) for r in range(world)]
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    assert len(y) == len(expected)                                  # no padding, nothing lost
    np.testing.assert_array_equal(X, stats.preprocessor.transform(expected))   # each row once, in file order
    np.testing.assert_array_equal(y, encode_labels(expected["y"], labels=stats.labels)[0])
    sizes = [len(p[1]) for p in parts]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("world", [2, 3])
def test_training_ranks_take_the_same_number_of_steps_on_disjoint_rows(table, stats, world):
    df, path = table
    split = RowSplit(0.2, seed=7)                                   # 15,949 training rows: odd, not 3k
    streams = [_stream(path, stats, rank=r, world_size=world, split=split) for r in range(world)]
    n_train = int((~split.is_val(0, ROWS)).sum())
    assert n_train % world != 0                                      # the uneven case
    ids = []
    for stream in streams:
        batches = list(stream.epoch(2))
        assert len(batches) == len(stream) == len(streams[0])       # DDP would hang otherwise
        assert sum(len(y) for _, y in batches) == stream.num_samples == n_train // world
        ids.append(_row_ids(torch.cat([x for x, _ in batches]).numpy(), stats))
    ids = np.concatenate(ids)
    assert len(np.unique(ids)) == len(ids) == n_train // world * world   # N mod W rows sit the epoch out
    assert not split.is_val(0, ROWS)[ids].any()                            # training rows only


def test_one_process_trains_on_every_row_each_epoch(table, stats):
    df, path = table
    X, y = _rows(_stream(path, stats).epoch(1))
    ids = _row_ids(X, stats)
    np.testing.assert_array_equal(np.sort(ids), np.arange(ROWS))
    np.testing.assert_array_equal(X, stats.preprocessor.transform(df.iloc[ids]))
    np.testing.assert_array_equal(y, encode_labels(df["y"].iloc[ids], labels=stats.labels)[0])


# ---- order and resume ------------------------------------------------------------------------------
def test_the_order_depends_only_on_seed_and_epoch(table, stats):
    _, path = table
    a, b = _stream(path, stats), _stream(path, stats)
    first = _rows(a.epoch(4))
    np.testing.assert_array_equal(first[0], _rows(b.epoch(4))[0])
    assert not np.array_equal(first[0], _rows(a.epoch(5))[0])
    assert not np.array_equal(first[0], _rows(_stream(path, stats, seed=4).epoch(4))[0])
    assert not np.array_equal(a.group_order(4), a.group_order(5))
    # rows are shuffled, not read in file order: the first batch mixes row groups
    groups = _row_ids(first[0][:64], stats) // (ROWS // GROUPS)
    assert len(set(groups)) > 1 and groups[0] != 0


@pytest.mark.parametrize("shuffle", [True, False])
def test_start_batch_skips_to_the_tail_of_a_full_epoch(table, stats, shuffle):
    _, path = table
    stream = _stream(path, stats, shuffle=shuffle, rank=1, world_size=2, split=RowSplit(0.3, seed=2),
                     side="train" if shuffle else "val")
    full = list(stream.epoch(6))
    per_window = stream.window // stream.batch_size
    for start in sorted({1, per_window - 1, per_window, per_window + 3, len(full) - 1, len(full)}):
        tail = list(stream.epoch(6, start_batch=start))
        assert len(tail) == len(full) - start
        for (x, y), (xf, yf) in zip(tail, full[start:], strict=True):
            assert torch.equal(x, xf) and torch.equal(y, yf)


# ---- memory ----------------------------------------------------------------------------------------
def test_memory_stays_bounded_on_a_file_much_bigger_than_a_row_group(tmp_path):
    rows, groups = 120_000, 60
    df = _table(rows, seed=5)
    path = _write(df, tmp_path / "big.parquet", groups)
    full_bytes = rows * 60 * 4                          # the whole table encoded: 120,000 x 60 float32
    del df
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        stats = fit_stream(path, "y", read_rows=4096, median_sample=5000)
        _, fit_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        stream = _stream(path, stats, batch_size=256, shuffle_rows=4096, read_rows=4096)
        seen = sum(len(y) for _, y in stream.epoch(1))
        _, epoch_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(previous)
    assert len(stats.preprocessor.feature_names) == 60 and seen == rows
    # rows held: one shuffle window (4,096) and one read chunk (a 2,000-row group) of 120,000
    assert stream.rows_held_peak <= stream.window + rows // groups
    assert epoch_peak < full_bytes / 5, (epoch_peak, full_bytes)            # numpy and Python allocations
    assert fit_peak < full_bytes / 10, (fit_peak, full_bytes)
    assert pool.max_memory() < full_bytes / 10, (pool.max_memory(), full_bytes)   # pyarrow's own buffers


# ---- training --------------------------------------------------------------------------------------
def _model(features: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(features, 16), nn.ReLU(), nn.Linear(16, 2))


def test_trainer_fits_on_streams_and_its_metrics_equal_an_in_memory_evaluation(table):
    df, path = table
    data = prepare_stream(path, "y", val_fraction=0.2, seed=0, batch_size=256, shuffle_rows=2048, device="cpu",
                          rank=0, world_size=1)
    assert data.labels == ["fraud", "ok"] and data.labels[data.positive] == "fraud"   # the rarer class
    model = _model(data.train.num_features)
    trainer = tw.Trainer(optimizer="adam", lr=1e-2, epochs=2, batch_size=256, seed=0, labels=data.labels,
                         positive=data.positive)
    run = trainer.fit(model, data.train, data.val, data_info=data.describe())
    assert [r["epoch"] for r in run.history] == [1, 2]
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"]
    assert run.history[-1]["steps"] == 2 * len(data.train)
    assert run.metrics["accuracy"] > 0.85

    is_val = RowSplit(0.2, seed=0).is_val(0, ROWS)
    X_val = torch.from_numpy(data.preprocessor.transform(df[is_val]))
    y_val = torch.from_numpy(encode_labels(df["y"][is_val], labels=data.labels)[0])
    in_memory = tw.Trainer(batch_size=256, labels=data.labels, positive=data.positive).evaluate(model, (X_val, y_val))
    assert run.metrics["num_samples"] == in_memory["num_samples"] == int(is_val.sum())
    assert run.metrics["confusion_matrix"] == in_memory["confusion_matrix"]
    for key in ("accuracy", "precision", "recall", "f1", "balanced_accuracy"):
        assert run.metrics[key] == in_memory[key], key
    assert run.metrics["loss"] == pytest.approx(in_memory["loss"], rel=1e-5)
    info = data.describe()
    assert info["rows"] == {"train": ROWS - int(is_val.sum()), "val": int(is_val.sum()), "total": ROWS}
    assert info["validation"]["kind"] == "hashed rows" and info["leakage"] is None


def test_the_cli_helpers_train_on_a_file_and_a_validation_file(table, tmp_path):
    from trainwise.cli.options import fit_flags
    from trainwise.cli.training import fit_config, prepare_data
    from trainwise.tabular import fit_table

    df, _ = table
    train_path = _write(df.iloc[:15_000], tmp_path / "train.parquet", 10)
    val_path = _write(df.iloc[15_000:], tmp_path / "val.parquet", 3)
    parser = argparse.ArgumentParser()
    fit_flags(parser)
    args = parser.parse_args([train_path, "--target", "y", "--val", val_path, "--stream", "--epochs", "2",
                              "--shuffle-rows", "3000", "--device", "cpu", "--positive", "ok"])
    data = prepare_data(args)
    assert data.val.total_samples == 5000 and data.labels[data.positive] == "ok"
    run = fit_table(data, fit_config(args), hidden=args.hidden, dropout=args.dropout)
    assert run.metrics["num_samples"] == 5000 and len(run.history) == 2
    assert data.describe()["validation"] == {"kind": "file", "source": val_path}
    assert data.describe()["stream"]["shuffle_rows"] == 3072               # whole batches of 256


# ---- bad input -------------------------------------------------------------------------------------
def test_bad_input_gets_one_line_that_names_the_problem(table, stats, tmp_path):
    df, path = table
    cases = [
        (lambda: fit_stream(tmp_path / "data.csv", "y"), "streaming reads Parquet"),
        (lambda: fit_stream(tmp_path / "nope.parquet", "y"), "no such file"),
        (lambda: fit_stream(path, "label"), "no column 'label'"),
        (lambda: fit_stream(_write(df.assign(y="ok"), tmp_path / "one.parquet", 4), "y"), "one class only"),
        (lambda: fit_stream(_write(df.assign(y=df["y"].where(df.index != 777)), tmp_path / "gap.parquet", 4), "y"),
         "empty in row 778"),
        (lambda: fit_stream(_write(df.assign(k=np.nan), tmp_path / "nan.parquet", 4), "y"), "'k' is empty in every"),
        (lambda: _stream(_write(df.drop(columns="city"), tmp_path / "less.parquet", 4), stats), "no columns city"),
        (lambda: list(_stream(_write(df.assign(y="maybe"), tmp_path / "new.parquet", 4), stats).epoch(1)),
         "labels the training table lacks"),
        (lambda: _stream(path, stats, world_size=ROWS + 1, rank=0), "cannot feed"),
        (lambda: fit_stream(_write(df.assign(tags=[[1, 2]] * ROWS), tmp_path / "nested.parquet", 4), "y"),
         "'tags' holds nested values"),
    ]
    (tmp_path / "data.csv").write_text("x,y\n1,2\n")
    for call, message in cases:
        with pytest.raises(InputError, match=message) as info:
            call()
        assert "\n" not in str(info.value)


def test_a_stream_made_for_another_device_is_moved_batch_by_batch(table):
    """A stream prepared for the CPU, given to a trainer on another device: its batches follow the model."""
    from trainwise.batching import MovedBatches, make_batches

    _, path = table
    data = prepare_stream(path, "y", val_fraction=0.2, seed=0, batch_size=256, shuffle_rows=2048, device="cpu",
                          rank=0, world_size=1)
    same = make_batches(data.train, 256, shuffle=True, seed=0, device=torch.device("cpu"), name="train")
    assert same is data.train
    moved = make_batches(data.train, 256, shuffle=True, seed=0, device=torch.device("meta"), name="train")
    assert isinstance(moved, MovedBatches) and len(moved) == len(data.train)
    assert moved.num_samples == data.train.num_samples             # the stream's own facts
    xb, yb = next(iter(moved.epoch(1)))
    assert xb.device.type == "meta" and yb.device.type == "meta"
    x0, _ = next(iter(data.train.epoch(1)))
    assert xb.shape == x0.shape
    import copy
    assert copy.copy(moved).num_samples == data.train.num_samples   # copying looks attributes up before they exist
