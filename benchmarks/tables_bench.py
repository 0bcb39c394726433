"""Table ingestion (CSV / Parquet to tensors) and the leakage fingerprint, on the same synthetic table.

The table: ``rows`` x 20 columns -- 19 float64 features ``f0..f18`` and an int64 label ``y`` -- written once
as CSV (``pyarrow.csv.write_csv``) and Parquet (``pyarrow.parquet.write_table``, its default snappy
compression). Every reader is timed "to tensors": file -> float32 ``[rows, 19]`` features + int64 labels,
each reader used the way its documentation shows.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

FEATURES = [f"f{i}" for i in range(19)]
TARGET = "y"


def make_table(rows: int, *, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, len(FEATURES))).round(6)      # six decimals, as exported tables usually have
    y = (X[:, :5].sum(axis=1) + rng.standard_normal(rows) > 1).astype(np.int64)
    df = pd.DataFrame(X, columns=FEATURES)
    df[TARGET] = y
    return df


def write_files(df: pd.DataFrame, folder: Path) -> dict[str, Path]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    paths = {"csv": folder / "table.csv", "parquet": folder / "table.parquet"}
    pacsv.write_csv(table, paths["csv"])
    pq.write_table(table, paths["parquet"])
    return paths


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor of ``array``, copied only when it is read-only (pandas' copy-on-write views are)."""
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def _from_pandas(df: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
    return _tensor(df[FEATURES].to_numpy(dtype=np.float32)), _tensor(df[TARGET].to_numpy(dtype=np.int64))


def _from_arrow(table: pa.Table) -> tuple[torch.Tensor, torch.Tensor]:
    X = np.empty((table.num_rows, len(FEATURES)), dtype=np.float32)
    for j, name in enumerate(FEATURES):
        X[:, j] = table.column(name).to_numpy()
    return torch.from_numpy(X), _tensor(table.column(TARGET).to_numpy().astype(np.int64))


def _from_polars(df) -> tuple[torch.Tensor, torch.Tensor]:
    import polars as pl

    X = df.select(pl.col(FEATURES).cast(pl.Float32)).to_numpy()
    return _tensor(np.ascontiguousarray(X)), _tensor(df[TARGET].to_numpy().astype(np.int64))


def polars_available() -> bool:
    return importlib.util.find_spec("polars") is not None


def csv_readers(path: Path) -> dict[str, Callable[[], tuple[torch.Tensor, torch.Tensor]]]:
    """CSV readers; ``trainwise.read_table`` first (the baseline of the ratios)."""
    import pyarrow.csv as pacsv

    from trainwise.data.tables import read_table

    readers = {
        "trainwise read_table": lambda: _from_pandas(read_table(path)),
        "pandas C engine": lambda: _from_pandas(pd.read_csv(path, engine="c")),
        "pandas pyarrow engine": lambda: _from_pandas(pd.read_csv(path, engine="pyarrow")),
        "pyarrow.csv": lambda: _from_arrow(pacsv.read_csv(path)),
    }
    if polars_available():
        import polars as pl

        readers["polars"] = lambda: _from_polars(pl.read_csv(path))
    return readers


def parquet_readers(path: Path) -> dict[str, Callable[[], tuple[torch.Tensor, torch.Tensor]]]:
    import pyarrow.parquet as pq

    from trainwise.data.tables import read_table

    readers = {
        "trainwise read_table": lambda: _from_pandas(read_table(path)),
        "pandas read_parquet": lambda: _from_pandas(pd.read_parquet(path)),
        "pyarrow.parquet": lambda: _from_arrow(pq.read_table(path)),
    }
    if polars_available():
        import polars as pl

        readers["polars"] = lambda: _from_polars(pl.read_parquet(path))
    return readers


def agreement(readers: dict[str, Callable[[], tuple[torch.Tensor, torch.Tensor]]]) -> dict[str, float]:
    """Largest absolute difference of each reader's features from the first reader's (labels must be equal)."""
    results = {name: read() for name, read in readers.items()}
    X0, y0 = next(iter(results.values()))
    out = {}
    for name, (X, y) in results.items():
        if X.shape != X0.shape or not torch.equal(y, y0):
            raise AssertionError(f"{name} read a different table: {tuple(X.shape)} vs {tuple(X0.shape)}")
        out[name] = float((X - X0).abs().max())
    return out


# --------------------------------------------------------------------------- leakage fingerprint
def leakage_frames(rows: int, *, mixed: bool, seed: int = 0, duplicate_share: float = 0.01
                   ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """An 80/20 split of a ``rows``-row table in which ``duplicate_share`` of the validation rows copy a
    training row. ``mixed``: 16 float, 2 int and 2 text columns (as in ``data/fingerprint.py``'s
    measurement); else the 19 float features of the ingestion table."""
    rng = np.random.default_rng(seed)
    if mixed:
        df = pd.DataFrame(rng.standard_normal((rows, 16)), columns=[f"f{i}" for i in range(16)])
        df["i0"] = rng.integers(0, 1000, rows)
        df["i1"] = rng.integers(0, 10, rows)
        df["s0"] = pd.Series(rng.integers(0, 50, rows)).map(lambda k: f"city_{k}")
        df["s1"] = pd.Series(rng.integers(0, 5000, rows)).map(lambda k: f"id-{k:05d}")
    else:
        df = make_table(rows, seed=seed)[FEATURES]
    n_val = rows // 5
    train, val = df.iloc[n_val:].reset_index(drop=True), df.iloc[:n_val].reset_index(drop=True)
    dup = int(n_val * duplicate_share)
    val = pd.concat([train.iloc[:dup], val.iloc[dup:]], ignore_index=True)
    return train, val, list(df.columns)
