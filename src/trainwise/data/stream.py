"""Tables larger than memory: a Parquet file read row group by row group, never as a whole.

Two steps, each a pass over the file that holds a bounded number of rows at a time:

1. :func:`fit_stream` computes the preprocessing statistics of the training rows in **one pass**: mean
   and variance merged chunk by chunk in float64 (Chan et al.'s parallel update, as exact as
   ``numpy.std`` up to rounding), a median from a seeded uniform sample, category counts, label counts.
   It returns a :class:`~trainwise.data.preprocess.TablePreprocessor` that ``transform`` uses as usual.
2. :class:`ParquetStream` yields ``(x, y)`` batches on the device through the interface the loop uses
   (``epoch(epoch, start_batch)``, ``len``, ``num_samples``, ``total_samples``), sharded across ranks.

Approximations (everything else equals fitting on the whole table, up to float rounding):

* **Median** (only used to fill missing values): exact when a column has at most ``median_sample``
  (100,000) observed training values; otherwise the median of a uniform random sample of that many
  values (bottom-k of seeded random keys). Its rank is off by about ``0.5 / sqrt(k)`` = 0.16 percentile
  points (one standard deviation).
* **Categories**: counted exactly while a column has at most ``max_levels`` (100,000) distinct values;
  past that, the counts are pruned Misra-Gries style to the more frequent half, which undercounts any
  value by at most ``rows / 50,001``. The 50 kept categories are then exact unless the 50th and 51st
  most frequent values are that close; ``levels_seen`` becomes a lower bound.

Order and sharding (``N`` rows on this side of the split, ``W`` ranks, ``B`` rows in the shuffle
buffer). An epoch's rows are the row groups, in an order drawn from ``(seed, epoch)`` when training
(file order otherwise), each contributing its rows in file order. Training: rank ``r`` takes positions
``[r*m, (r+1)*m)`` of that sequence with ``m = N // W``, so every rank takes the same number of steps
and reads about ``1/W`` of the file (the last ``N mod W`` rows sit the epoch out). Its rows are cut into
windows of ``B`` rows (a multiple of the batch size) and each window is permuted with a generator drawn
from ``(seed, epoch, rank, window)``. Validation: rank ``r`` takes positions ``[r*N//W, (r+1)*N//W)`` in
file order: every row exactly once, no padding. Batch ``k`` depends only on the seed, the epoch, the rank
and ``k``, so ``epoch(e, start_batch=k)`` equals the tail of a full epoch and resume is exact.

Memory bound: the shuffle buffer (``B`` rows of float32 features and int64 labels, ``B * (4 F + 8)``
bytes for ``F`` features), plus one read chunk of ``read_rows`` rows in Arrow, pandas and encoded form,
plus pyarrow's buffer of the current row group's column chunks (compressed, as stored). None of it
grows with the file. :func:`fit_stream` holds one read chunk, ``median_sample`` float64 values per
numeric column and at most ``max_levels`` counts per categorical column.

Train/validation split of one file: :class:`RowSplit` sends each row to validation when a seeded hash
of its row number falls below the fraction -- independent of row groups and of the order of the file,
about (not exactly) the fraction, not stratified. Or give a separate validation file.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwise.data.preprocess import (
    MAX_CATEGORIES,
    CategoryCounts,
    NumericColumn,
    TablePreprocessor,
    _is_numeric,
    _numbers,
    _text_codes,
    encode_labels,
    positive_index,
)
from trainwise.data.tables import name_list, refuse_duplicate_columns, row_list
from trainwise.data.tabular import data_facts
from trainwise.errors import InputError
from trainwise.policy import check_seed, eval_batch_size, label_text

__all__ = ["ParquetStream", "RowSplit", "StreamData", "StreamStatistics", "fit_stream", "prepare_stream"]

log = logging.getLogger(__name__)

READ_ROWS = 65_536        # rows per read chunk
SHUFFLE_ROWS = 65_536     # rows per shuffle window (rounded up to a multiple of the batch size)
MEDIAN_SAMPLE = 100_000   # values kept per numeric column for the median
MAX_LEVELS = 100_000      # distinct values counted exactly per categorical column
MAX_CLASSES = 10_000      # a target with more distinct values is not a classification target
PARQUET_SUFFIXES = (".parquet", ".pq")

Batch = tuple[torch.Tensor, torch.Tensor]


# ---- the split ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowSplit:
    """Row ``i`` (0-based, in the file) goes to validation when ``hash(seed, i) < fraction``.

    The hash is splitmix64, so the split does not depend on row groups, chunk sizes or ranks; the
    validation share is ``fraction`` up to binomial noise (``sqrt(f (1 - f) / N)``); it is not
    stratified by class.
    """

    fraction: float
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < float(self.fraction) < 1.0:
            raise InputError(f"validation fraction must be between 0 and 1 (exclusive), got {self.fraction!r}.")
        check_seed(self.seed)

    def is_val(self, start: int, stop: int) -> np.ndarray:
        """Whether each of rows ``start..stop-1`` is a validation row."""
        with np.errstate(over="ignore"):
            z = np.arange(start, stop, dtype=np.uint64) + np.uint64(self.seed) * np.uint64(0x9E3779B97F4A7C15)
            z = z + np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53 < self.fraction

    def keeps(self, start: int, stop: int, side: str) -> np.ndarray:
        val = self.is_val(start, stop)
        return val if side == "val" else ~val


# ---- reading ---------------------------------------------------------------------------------------
def _open(path: str | os.PathLike[str], source: str) -> Any:
    import pyarrow.parquet as pq

    path = Path(path)
    if path.suffix.lower() not in PARQUET_SUFFIXES:
        raise InputError(f"{source}: streaming reads Parquet files (.parquet, .pq); convert the table "
                         "(e.g. pandas.read_csv(...).to_parquet(...), in pieces if it does not fit in memory).")
    if not path.is_file():
        raise InputError(f"{path}: no such file; check the path.")
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises many types for a bad file
        raise InputError(f"{source}: cannot read as Parquet: {str(exc).strip().splitlines()[0][:160]}.") from exc


def _table_columns(file: Any) -> list[str]:
    """The columns pandas would show: the file's, less stored index columns."""
    meta = file.schema_arrow.pandas_metadata or {}
    index = {c for c in meta.get("index_columns", []) if isinstance(c, str)}
    return [c for c in file.schema_arrow.names if c not in index]


def _group_sizes(file: Any) -> np.ndarray:
    meta = file.metadata
    return np.array([meta.row_group(g).num_rows for g in range(meta.num_row_groups)], dtype=np.int64)


def _require(columns: Sequence[str], present: Sequence[str], source: str, what: str) -> None:
    absent = [c for c in columns if c not in present]
    if absent:
        raise InputError(f"{source}: no columns {name_list(absent)} {what} (columns: {name_list(present)}).")


# ---- one pass of statistics ------------------------------------------------------------------------
class _NumericStats:
    """Count, mean and sum of squared deviations merged chunk by chunk; a bottom-k sample for the median.

    Mean and deviations are kept in units of ``scale``, a power of two (so scaling is exact) that stays
    1 unless values beyond 2**500 appear, whose squares would overflow float64 (as `TablePreprocessor`
    does for such columns).
    """

    def __init__(self, name: str, sample_size: int, seed: int) -> None:
        self.name, self.k = name, sample_size
        self.n, self.mean, self.m2, self.missing, self.scale = 0, 0.0, 0.0, 0, 1.0
        self.low, self.high = math.inf, -math.inf
        self.rng = np.random.default_rng([seed, 0x6D656469])
        self.values = np.empty(0, dtype=np.float64)
        self.keys = np.empty(0, dtype=np.float64)

    def add(self, values: np.ndarray) -> None:
        observed = values[~np.isnan(values)]
        self.missing += values.size - observed.size
        nb = observed.size
        if nb == 0:
            return
        self._sample(observed)
        self.low, self.high = min(self.low, float(observed.min())), max(self.high, float(observed.max()))
        peak = float(np.abs(observed).max())
        if peak > 2.0**500 and peak > self.scale:
            scale = 2.0 ** min(math.ceil(math.log2(peak)), 1023)
            self.mean, self.m2 = self.mean * (self.scale / scale), self.m2 * (self.scale / scale) ** 2
            self.scale = scale
        if self.scale != 1.0:
            observed = observed / self.scale
        mean_b = float(observed.mean())
        m2_b = float(np.square(observed - mean_b).sum())
        n = self.n + nb
        delta = mean_b - self.mean
        self.mean += delta * nb / n
        self.m2 += m2_b + delta * delta * self.n * nb / n
        self.n = n

    def _sample(self, observed: np.ndarray) -> None:
        keys = self.rng.random(observed.size)
        if self.keys.size >= self.k:               # only values that beat the current sample can enter
            chosen = keys < self.keys.max()
            observed, keys = observed[chosen], keys[chosen]
        self.values = np.concatenate([self.values, observed])
        self.keys = np.concatenate([self.keys, keys])
        if self.keys.size > self.k:
            keep = np.argpartition(self.keys, self.k - 1)[: self.k]
            self.values, self.keys = self.values[keep], self.keys[keep]

    @property
    def exact_median(self) -> bool:
        return self.n <= self.k

    def column(self) -> NumericColumn:
        return NumericColumn(name=self.name, mean=self.mean * self.scale,
                             std=math.sqrt(self.m2 / self.n) * self.scale, median=float(np.median(self.values)),
                             missing_indicator=self.missing > 0, minimum=self.low, maximum=self.high)


class _CategoryStats:
    """Rows per value's text; past ``max_levels`` values, pruned to the more frequent half (Misra-Gries)."""

    def __init__(self, name: str, max_levels: int) -> None:
        self.name, self.max_levels = name, max_levels
        self.counts: dict[str, int] = {}
        self.rows = self.missing = 0
        self.pruned_by = 0          # total subtracted from every count: the most any count is short
        self.levels_lower_bound = 0

    def add(self, series: pd.Series, source: str) -> None:
        codes, values = _text_codes(series, source=source)
        present = codes[codes >= 0]
        self.rows += codes.size
        self.missing += codes.size - present.size
        for value, count in zip(values, np.bincount(present, minlength=len(values)).tolist(), strict=True):
            self.counts[value] = self.counts.get(value, 0) + count
        if len(self.counts) > self.max_levels:
            self._prune()

    def _prune(self) -> None:
        self.levels_lower_bound = max(self.levels_lower_bound, len(self.counts))
        keep = self.max_levels // 2
        cut = sorted(self.counts.values(), reverse=True)[keep]
        self.counts = {v: c - cut for v, c in self.counts.items() if c > cut}
        self.pruned_by += cut

    def result(self, source: str) -> CategoryCounts:
        if self.pruned_by:
            return CategoryCounts(self.name, self.counts, max(self.levels_lower_bound, len(self.counts)), self.rows)
        return CategoryCounts(self.name, self.counts, rows=self.rows)

    def refuse_numbers_with_typos(self, max_categories: int, source: str) -> None:
        """As `TablePreprocessor.fit`: a many-valued text column of numbers with a few typos is refused."""
        if len(self.counts) <= max_categories:
            return
        values = list(self.counts)
        counts = np.array([self.counts[v] for v in values])
        numeric = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
        is_text = np.isnan(numeric)
        text_rows = int(counts[is_text].sum())
        if text_rows == 0 or text_rows > 0.1 * counts.sum():
            return
        example = values[int(np.flatnonzero(is_text)[0])]
        raise InputError(f"{source}: column {self.name!r} holds numbers except in {text_rows} rows "
                         f"(e.g. {example!r}); fix or empty those cells so it is read as numbers.")


@dataclass
class StreamStatistics:
    """What one pass over a file learned: the fitted preprocessor, the classes and their counts.

    ``class_counts`` counts the training rows (the rows :class:`RowSplit` keeps for training, or all
    rows); ``val_class_counts`` the validation rows of the same file (``None`` without a split).
    ``approximate`` names the columns whose statistics are approximate, and why.
    """

    preprocessor: TablePreprocessor
    labels: list[str]
    class_counts: list[int]
    val_class_counts: list[int] | None
    target: str
    source: str
    row_groups: int
    rows: int
    split: RowSplit | None = None
    approximate: dict[str, str] = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        return int(sum(self.class_counts))

    @property
    def n_val(self) -> int:
        return int(sum(self.val_class_counts or []))


def fit_stream(path: str | os.PathLike[str], target: str, *, columns: Sequence[str] | None = None,
               split: RowSplit | None = None, max_categories: int = MAX_CATEGORIES,
               median_sample: int = MEDIAN_SAMPLE, max_levels: int = MAX_LEVELS, read_rows: int = READ_ROWS,
               source: str | None = None) -> StreamStatistics:
    """Preprocessing statistics and class counts of a Parquet file's training rows, in one pass.

    ``columns`` are the feature columns (default: every column but ``target``). With ``split`` the
    statistics see the training rows only, and the validation rows' labels are counted separately.
    The column kinds (numeric or categorical) follow the file's schema as pandas reads it, so they
    equal those :meth:`TablePreprocessor.fit` would choose on the whole table.
    """
    source = source or str(path)
    file = _open(path, source)
    refuse_duplicate_columns(file.schema_arrow.names, source)
    present = _table_columns(file)
    if target not in present:
        raise InputError(f"{source}: no column {target!r} (columns: {name_list(present)}). "
                         "Pass one of them with --target.")
    features = [c for c in present if c != target] if columns is None else list(columns)
    _require(features, present, source, "among the features")
    if not features:
        raise InputError(f"{source}: no feature columns besides the target {target!r}; add some.")
    if median_sample < 1 or max_levels < 2 * max_categories:
        raise ValueError(f"Expected `median_sample` >= 1 and `max_levels` >= 2 * max_categories, but got "
                         f"{median_sample!r} and {max_levels!r}")
    if file.metadata.num_rows == 0:
        raise InputError(f"{source}: the table is empty (0 rows); add data rows.")

    kinds = file.schema_arrow.empty_table().select([*features, target]).to_pandas()
    stats: dict[str, _NumericStats | _CategoryStats] = {
        name: _NumericStats(name, median_sample, seed=i) if _is_numeric(kinds[name]) else _CategoryStats(name, max_levels)
        for i, name in enumerate(features)
    }
    numeric_target = _is_numeric(kinds[target])
    label_counts: list[dict[str, int]] = [{}, {}]          # training rows, validation rows
    row = 0
    for batch in file.iter_batches(batch_size=read_rows, columns=[*features, target]):
        df = batch.to_pandas()
        val = None if split is None else split.is_val(row, row + len(df))
        _count_labels(df[target], row, val, label_counts, source)
        row += len(df)
        if val is not None and val.any():
            df = df[~val]
        for name, state in stats.items():
            if isinstance(state, _NumericStats):
                state.add(_numbers(df[name], name, source))
            else:
                state.add(df[name], source)
        del df, batch

    fit_source = source if split is None else f"{source} (training rows)"
    train_counts, val_counts = label_counts
    if split is not None and (not train_counts or not val_counts):
        side, fix = ("training", "lower") if not train_counts else ("validation", "raise")
        raise InputError(f"{source}: --val-fraction {split.fraction:g} leaves no {side} rows of {row}; {fix} "
                         "--val-fraction, or pass a validation file with --val.")
    results, approximate = _column_results(stats, max_categories, max_levels, fit_source)
    preprocessor = TablePreprocessor.from_statistics(results, max_categories=max_categories)
    labels = sorted(train_counts, key=float) if numeric_target else sorted(train_counts)
    if len(labels) < 2:
        raise InputError(f"{fit_source}: target column {target!r} has one class only ({labels[0]!r}); "
                         "a classifier needs at least two.")
    unseen = sorted(set(val_counts) - set(train_counts))
    if unseen:
        found = ", ".join(f"{v!r} ({val_counts[v]} rows)" for v in unseen[:5])
        raise InputError(f"{source}: the validation rows hold labels no training row has: {found}; known labels: "
                         f"{name_list(labels)}. Drop those rows, or pass a validation file with --val.")
    return StreamStatistics(
        preprocessor=preprocessor, labels=labels, class_counts=[train_counts[v] for v in labels],
        val_class_counts=None if split is None else [val_counts.get(v, 0) for v in labels],
        target=target, source=source, row_groups=file.metadata.num_row_groups, rows=row, split=split,
        approximate=approximate)


def _column_results(stats: dict[str, Any], max_categories: int, max_levels: int,
                    fit_source: str) -> tuple[list[NumericColumn | CategoryCounts], dict[str, str]]:
    """Each column's statistics after the pass, and which of them are approximate (and how)."""
    results: list[NumericColumn | CategoryCounts] = []
    approximate: dict[str, str] = {}
    for name, state in stats.items():
        if (state.n if isinstance(state, _NumericStats) else state.rows - state.missing) == 0:
            raise InputError(f"{fit_source}: column {name!r} is empty in every row; "
                             "drop it, it carries no information.")
        if isinstance(state, _NumericStats):
            results.append(state.column())
            if not state.exact_median:
                approximate[name] = f"median of a uniform sample of {state.k} of {state.n} values"
        else:
            state.refuse_numbers_with_typos(max_categories, fit_source)
            results.append(state.result(fit_source))
            if state.pruned_by:
                approximate[name] = (f"category counts pruned past {max_levels} distinct values "
                                     f"(each short by at most {state.pruned_by})")
    return results, approximate


def _count_labels(series: pd.Series, first_row: int, val: np.ndarray | None, counts: list[dict[str, int]],
                  source: str) -> None:
    """Add a chunk's labels to the training (and validation) counts; ``val`` marks validation rows."""
    codes, values = _text_codes(series, label_text, source=source)
    missing = np.flatnonzero(codes < 0)
    if missing.size:
        raise InputError(f"{source}: target column {series.name!r} is empty in {row_list(missing + first_row)}; "
                         "drop those rows or fill them.")
    sides = [codes] if val is None else [codes[~val], codes[val]]
    for side, side_codes in zip(counts, sides, strict=False):
        for value, count in zip(values, np.bincount(side_codes, minlength=len(values)).tolist(), strict=True):
            if count:
                side[value] = side.get(value, 0) + count
        if len(side) > MAX_CLASSES:
            raise InputError(f"{source}: target column {series.name!r} has more than {MAX_CLASSES} distinct "
                             "values: a classification target has a few classes. Is it the right column?")


# ---- batches ---------------------------------------------------------------------------------------
def _world() -> tuple[int, int]:
    """This process's rank and the world size: the process group's, else torchrun's variables."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


class ParquetStream:
    """Batches of a Parquet file read row group by row group (see the module docstring for the order,
    the sharding and the memory bound). Implements the interface of
    :class:`~trainwise.batching.TensorBatches`, so `Trainer.fit` and `Trainer.evaluate` take it.

    ``rank`` and ``world_size`` default to the process group's (or torchrun's ``RANK``/``WORLD_SIZE``);
    ``device`` to the one `Trainer` picks by default (``cuda:LOCAL_RANK`` under torchrun with GPUs, else
    CPU): pass it when the trainer's device is set otherwise. ``split`` and ``side`` take one side of a
    :class:`RowSplit`. ``batch_size`` is used as given, also for validation (the trainer's
    ``val_batch_size`` does not apply). ``class_counts`` (the whole side's, all ranks) may come from
    :func:`fit_stream`; without it the first read of :attr:`class_counts` reads the target column once.
    """

    def __init__(self, path: str | os.PathLike[str], target: str, *, preprocessor: TablePreprocessor,
                 labels: Sequence[str], batch_size: int, shuffle: bool, seed: int = 0, rank: int | None = None,
                 world_size: int | None = None, device: torch.device | str | None = None,
                 split: RowSplit | None = None, side: str = "train", shuffle_rows: int = SHUFFLE_ROWS,
                 read_rows: int = READ_ROWS, class_counts: Sequence[int] | None = None,
                 source: str | None = None) -> None:
        if batch_size < 1 or shuffle_rows < 1 or read_rows < 1:
            raise ValueError(f"Expected `batch_size`, `shuffle_rows` and `read_rows` >= 1, but got "
                             f"{batch_size!r}, {shuffle_rows!r}, {read_rows!r}")
        check_seed(seed)
        if side not in ("train", "val"):
            raise ValueError(f"Expected `side` to be 'train' or 'val', but got {side!r}")
        world_rank, world_count = _world()
        self.rank = world_rank if rank is None else rank
        self.world_size = world_count if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"Expected 0 <= rank < world_size, but got rank={self.rank}, world_size={self.world_size}")
        self.path, self.target, self.source = Path(path), target, source or str(path)
        self.file = _open(path, self.source)
        self.preprocessor, self.labels = preprocessor, [str(label) for label in labels]
        _require([*preprocessor.input_columns, target], _table_columns(self.file), self.source,
                 "of the training table")
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.split, self.side = split, side
        self.read_rows = read_rows
        self.window = -(-shuffle_rows // batch_size) * batch_size     # whole batches per window
        self.device = _default_device() if device is None else torch.device(device)
        self.num_features = len(preprocessor.feature_names)
        self._columns = [*preprocessor.input_columns, target]
        self._class_counts = None if class_counts is None else [int(c) for c in class_counts]

        sizes = _group_sizes(self.file)
        self._group_start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._group_rows = sizes if split is None else np.array(
            [int(split.keeps(int(a), int(a + n), side).sum()) for a, n in zip(self._group_start, sizes, strict=True)],
            dtype=np.int64)
        self.total_samples = int(self._group_rows.sum())
        if self.total_samples == 0:
            raise InputError(f"{self.source}: no {'rows' if split is None else side + ' rows'} to read.")
        if shuffle:
            # training: an equal share each, so all ranks take the same number of steps
            self.num_samples = self.total_samples // self.world_size
            if self.num_samples == 0:
                raise InputError(f"{self.source}: {self.total_samples} training rows cannot feed "
                                 f"{self.world_size} processes; use fewer processes or more rows.")
        else:
            lo, hi = self._range()
            self.num_samples = hi - lo
        self.rows_held_peak = 0     # the most transformed rows held at once (shuffle window + a read chunk)

    def __len__(self) -> int:
        return -(-self.num_samples // self.batch_size)

    def __repr__(self) -> str:
        return (f"ParquetStream({self.source!r}, {'train' if self.shuffle else 'eval'}, rank {self.rank}/"
                f"{self.world_size}, {self.num_samples} of {self.total_samples} rows, batch {self.batch_size})")

    def label_counts(self, num_classes: int) -> torch.Tensor:
        """Rows per class over all ranks, as `TensorBatches.label_counts` gives them."""
        counts = torch.tensor(self.class_counts, dtype=torch.long)
        return torch.cat([counts, counts.new_zeros(max(0, num_classes - len(counts)))])

    @property
    def class_counts(self) -> list[int]:
        """Rows per class on this side of the file, over all ranks."""
        if self._class_counts is None:
            counts = np.zeros(len(self.labels), dtype=np.int64)
            for g, n in enumerate(self._group_rows):
                if n:
                    for _, y in self._read_group(int(g), 0, int(n), features=False):
                        counts += np.bincount(y, minlength=len(self.labels))
            self._class_counts = counts.tolist()
        return list(self._class_counts)

    def _range(self) -> tuple[int, int]:
        """This rank's positions in the epoch's row sequence."""
        if self.shuffle:
            return self.rank * self.num_samples, (self.rank + 1) * self.num_samples
        n, w = self.total_samples, self.world_size
        return self.rank * n // w, (self.rank + 1) * n // w

    def group_order(self, epoch: int) -> np.ndarray:
        """Row groups in the order epoch ``epoch`` reads them: seeded by ``(seed, epoch)`` when training."""
        groups = len(self._group_rows)
        if not self.shuffle:
            return np.arange(groups)
        return np.random.default_rng([self.seed, epoch]).permutation(groups)

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        lo, hi = self._range()
        per_window = self.window // self.batch_size
        first = lo + start_batch // per_window * self.window          # the window holding batch start_batch
        skip = start_batch % per_window
        pieces = self._pieces(self.group_order(epoch), first, hi)
        cuda = self.device.type == "cuda"
        for k, (X, y) in enumerate(self._windows(pieces, first, hi), start=(first - lo) // self.window):
            # one copy per window to the device; batches are then taken there by indexing, as in TensorBatches
            n = len(y)
            Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
            if cuda:
                Xt, yt = Xt.pin_memory(), yt.pin_memory()
            Xt, yt = Xt.to(self.device, non_blocking=cuda), yt.to(self.device, non_blocking=cuda)
            del X, y
            if self.shuffle:
                perm = torch.from_numpy(np.random.default_rng([self.seed, epoch, self.rank, k]).permutation(n))
                perm = perm.to(self.device, non_blocking=cuda)
                for i in range(skip * self.batch_size, n, self.batch_size):
                    idx = perm[i:i + self.batch_size]
                    yield Xt[idx], yt[idx]
            else:
                for i in range(skip * self.batch_size, n, self.batch_size):
                    yield Xt[i:i + self.batch_size], yt[i:i + self.batch_size]
            skip = 0

    def _windows(self, pieces: Iterator[tuple[np.ndarray, np.ndarray]], start: int,
                 stop: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Consecutive windows of ``self.window`` rows (the last one shorter) from the pieces."""
        carry: tuple[np.ndarray, np.ndarray] | None = None
        for begin in range(start, stop, self.window):
            n = min(self.window, stop - begin)
            X = np.empty((n, self.num_features), dtype=np.float32)
            y = np.empty(n, dtype=np.int64)
            filled = 0
            while filled < n:
                if carry is None:
                    carry = next(pieces, None)
                    if carry is None:
                        raise RuntimeError(f"{self.source}: the file ended {n - filled} rows early; "
                                           "was it changed while being read?")
                Xp, yp = carry
                take = min(n - filled, len(yp))
                X[filled:filled + take], y[filled:filled + take] = Xp[:take], yp[:take]
                filled += take
                self.rows_held_peak = max(self.rows_held_peak, n + len(yp))
                carry = (Xp[take:], yp[take:]) if take < len(yp) else None
            yield X, y

    def _pieces(self, order: np.ndarray, start: int, stop: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Encoded rows at positions ``[start, stop)`` of the sequence of row groups in ``order``."""
        position = 0
        for g in order:
            n = int(self._group_rows[g])
            if position >= stop:
                return
            if position + n > start and n:
                yield from self._read_group(int(g), max(start - position, 0), min(stop - position, n))
            position += n

    def _read_group(self, g: int, first: int, stop: int, *,
                    features: bool = True) -> Iterator[tuple[np.ndarray | None, np.ndarray]]:
        """Rows ``first..stop-1`` of row group ``g`` among those on this side of the split, a chunk at a time."""
        seen = 0                                  # rows of this side already passed in the group
        row = int(self._group_start[g])
        columns = self._columns if features else [self.target]
        for batch in self.file.iter_batches(batch_size=self.read_rows, row_groups=[g], columns=columns):
            rows = batch.num_rows
            keep = None if self.split is None else np.flatnonzero(self.split.keeps(row, row + rows, self.side))
            row += rows
            count = rows if keep is None else keep.size
            if seen + count <= first:
                seen += count
                continue
            wanted = np.arange(rows) if keep is None else keep
            wanted = wanted[max(first - seen, 0):stop - seen]
            seen += count
            df = batch.take(wanted).to_pandas() if wanted.size < rows else batch.to_pandas()
            del batch
            y, _ = encode_labels(df[self.target], labels=self.labels, source=self.source)
            X = self.preprocessor.transform(df, source=self.source) if features else None
            del df
            yield X, y
            if seen >= stop:
                return


def _default_device() -> torch.device:
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        return torch.device(f"cuda:{local}" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else "cuda")
    return torch.device("cpu")


# ---- both sides at once ----------------------------------------------------------------------------
@dataclass
class StreamData:
    """A training and a validation stream of Parquet files, and the facts the report and findings need."""

    train: ParquetStream
    val: ParquetStream
    statistics: StreamStatistics
    positive: int | None
    val_source: str | None = None

    @property
    def labels(self) -> list[str]:
        return self.statistics.labels

    @property
    def preprocessor(self) -> TablePreprocessor:
        return self.statistics.preprocessor

    @property
    def feature_names(self) -> list[str]:
        return self.preprocessor.feature_names

    @property
    def class_counts(self) -> list[int]:
        """Rows per class over training and validation rows together."""
        return [a + b for a, b in zip(self.train.class_counts, self.val.class_counts, strict=True)]

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts, as `TabularData.describe` gives them (no leakage check: it needs every row's
        hash in memory), plus how the file was streamed."""
        stats = self.statistics
        if self.val_source is None:
            split = stats.split
            validation = {"kind": "hashed rows", "stratified": False, "fraction": split.fraction, "seed": split.seed}
        else:
            validation = {"kind": "file", "source": self.val_source}
        facts = data_facts(source=stats.source, target=stats.target, validation=validation,
                           rows={"train": self.train.total_samples, "val": self.val.total_samples},
                           preprocessor=self.preprocessor, labels=self.labels, positive=self.positive, leakage=None,
                           train_counts=self.train.class_counts, val_counts=self.val.class_counts)
        facts["stream"] = {"row_groups": stats.row_groups, "shuffle_rows": self.train.window,
                           "approximate": stats.approximate}
        return facts


def prepare_stream(path: str | os.PathLike[str], target: str, *, val_path: str | os.PathLike[str] | None = None,
                   val_fraction: float = 0.2, seed: int = 0, batch_size: int = 256, val_batch_size: int | None = None,
                   positive: object = None, shuffle_rows: int = SHUFFLE_ROWS, device: torch.device | str | None = None,
                   rank: int | None = None, world_size: int | None = None, source: str | None = None,
                   val_source: str | None = None) -> StreamData:
    """One pass of statistics over the training rows, then a training and a validation stream.

    Without ``val_path`` the file is split by :class:`RowSplit` ``(val_fraction, seed)``; with it, that
    file is the validation set. Under torchrun every rank makes the same pass (deterministic, so all
    ranks agree): the statistics cost one read of the file per rank.
    """
    source = source or str(path)
    split = None if val_path is not None else RowSplit(val_fraction, seed)
    stats = fit_stream(path, target, split=split, source=source)
    common = {"preprocessor": stats.preprocessor, "labels": stats.labels, "seed": seed, "device": device,
              "rank": rank, "world_size": world_size}
    train = ParquetStream(path, target, batch_size=batch_size, shuffle=True, split=split, side="train",
                          shuffle_rows=shuffle_rows, class_counts=stats.class_counts, source=source, **common)
    if val_path is None:
        val = ParquetStream(path, target, batch_size=eval_batch_size(batch_size, val_batch_size), shuffle=False, split=split,
                            side="val", class_counts=stats.val_class_counts, source=source, **common)
    else:
        val = ParquetStream(val_path, target, batch_size=eval_batch_size(batch_size, val_batch_size), shuffle=False,
                            source=val_source or str(val_path), **common)
    pos = None
    counts = [a + b for a, b in zip(train.class_counts, val.class_counts, strict=True)]
    if len(stats.labels) == 2:
        try:
            pos = positive_index(stats.labels, counts, positive)
        except InputError as exc:
            raise InputError(f"{source}: target column {target!r}: {exc}") from None
    elif positive is not None:
        raise InputError(f"{source}: --positive applies to binary targets; {target!r} has {len(stats.labels)} "
                         f"classes ({name_list(stats.labels)}). Leave it out: multiclass metrics are macro averages.")
    return StreamData(train=train, val=val, statistics=stats, positive=pos,
                      val_source=None if val_path is None else (val_source or str(val_path)))
