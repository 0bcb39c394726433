"""Turn what a user hands `Trainer.fit` into batches on the model's device.

In-memory data (tensors, arrays, a ``TensorDataset``) is moved to the device once and batched by
indexing a seeded permutation: no per-sample Python, no collate. Any other ``Dataset`` goes through a
``DataLoader`` with a generator seeded per epoch; a user's own ``DataLoader`` is used as it is.

The order of epoch ``e`` depends only on ``(seed, e)``, so a run resumed at epoch ``e`` (or at batch
``k`` of it) sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from trainwise.errors import InputError

log = logging.getLogger(__name__)

Batch = tuple[torch.Tensor, torch.Tensor]


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator that orders epoch ``epoch``: a pure function of the seed and the epoch."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


DEVICE_SHARE = 0.5   # of a GPU's free memory an in-memory table may fill; a larger table stays in host memory


class TensorBatches:
    """(X, y) held in memory, batched by indexing.

    Training batches follow ``randperm`` of a generator seeded by ``(seed, epoch)``; evaluation
    batches are contiguous slices (no copy of the order, no gather). On a GPU the table moves to the
    device once when it fits (``DEVICE_SHARE`` of the free memory); a larger one stays in host memory
    and each batch is gathered there, pinned, and copied without blocking.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool, seed: int,
                 device: torch.device, rank: int = 0, world_size: int = 1) -> None:
        self.total_samples = len(X)
        self.all_y = y                      # every label, before any sharding (for class counts)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        if not shuffle and world_size > 1:
            # evaluation under torchrun: rows rank, rank + W, ... -- every row on exactly one rank, no padding
            X, y = X[rank::world_size], y[rank::world_size]
        self.copy_to = device if stays_on_host(X, y, device) else None   # None: the table is on `device`
        if self.copy_to is None:
            # one copy of the whole table: pinning it first would cost a second host copy and gain nothing
            X, y = X.to(device), y.to(device)
        else:
            log.info("the table (%.1f GB) is over %d%% of the GPU's free memory: it stays in host memory and "
                     "batches are copied as they are used", (X.nbytes + y.nbytes) / 1e9, 100 * DEVICE_SHARE)
        self.X, self.y = X, y
        # training under torchrun: each rank takes an equal share of every epoch's permutation (the
        # permutation's last N mod W rows sit the epoch out), so all ranks take the same number of steps
        self.num_samples = len(self.X) if not shuffle else self.total_samples // world_size

    def __len__(self) -> int:
        return -(-self.num_samples // self.batch_size)

    def label_counts(self, num_classes: int) -> torch.Tensor:
        """Rows per class over all ranks (longer than ``num_classes`` when a label is out of range)."""
        return torch.bincount(self.all_y.cpu(), minlength=num_classes)

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        bs = self.batch_size
        if not self.shuffle:
            for i in range(start_batch * bs, self.num_samples, bs):
                yield self._batch(self.X[i:i + bs], self.y[i:i + bs])
            return
        order = torch.randperm(self.total_samples, generator=epoch_generator(self.seed, epoch))
        if self.world_size > 1:
            order = order[:self.num_samples * self.world_size][self.rank::self.world_size]
        order = order.to(self.X.device, non_blocking=True)
        for i in range(start_batch * bs, self.num_samples, bs):
            idx = order[i:i + bs]
            yield self._batch(self.X[idx], self.y[idx])

    def _batch(self, xb: torch.Tensor, yb: torch.Tensor) -> Batch:
        if self.copy_to is None:
            return xb, yb
        return _to_device(xb, self.copy_to), _to_device(yb, self.copy_to)


def stays_on_host(X: torch.Tensor, y: torch.Tensor, device: torch.device) -> bool:
    """Whether a table in host memory is too large to move to the GPU ``device`` whole."""
    if device.type != "cuda" or X.device.type != "cpu":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return X.nbytes + y.nbytes > DEVICE_SHARE * free


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host batch on ``device``: pinned, then copied without blocking (the pinned block is not reused
    before its copy is done: PyTorch's pinned-memory cache waits for it)."""
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


class ShardSampler(torch.utils.data.Sampler[int]):
    """A Dataset's indices for one rank, in the same order rules as `TensorBatches`."""

    def __init__(self, n: int, rank: int, world_size: int, *, shuffle: bool, seed: int) -> None:
        self.n, self.rank, self.world_size, self.shuffle, self.seed = n, rank, world_size, shuffle, seed
        self.epoch = 0

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.rank, self.n, self.world_size))
        usable = self.n // self.world_size * self.world_size
        order = torch.randperm(self.n, generator=epoch_generator(self.seed, self.epoch))
        return iter(order[:usable][self.rank::self.world_size].tolist())

    def __len__(self) -> int:
        if not self.shuffle:
            return len(range(self.rank, self.n, self.world_size))
        return self.n // self.world_size


class LoaderBatches:
    """Batches from a ``DataLoader``, moved to the device as they come."""

    def __init__(self, loader: DataLoader, device: torch.device, *, seed: int | None = None,
                 sampler: ShardSampler | None = None) -> None:
        self.loader = loader
        self.device = device
        self.seed = seed
        self.sampler = sampler
        self.num_samples = len(sampler) if sampler is not None else _dataset_len(loader)

    def __len__(self) -> int:
        return len(self.loader)

    def label_counts(self, num_classes: int) -> None:
        """Unknown without a pass over the loader."""
        return None

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        generator = getattr(self.loader, "generator", None)
        if self.sampler is not None:
            self.sampler.epoch = epoch
        elif self.seed is not None and generator is not None:
            generator.manual_seed(self.seed * 1_000_003 + epoch)
        non_blocking = self.device.type == "cuda"
        for i, batch in enumerate(self.loader):
            if i < start_batch:
                continue
            x, y = _split_batch(batch)
            yield x.to(self.device, non_blocking=non_blocking), y.to(self.device, non_blocking=non_blocking)


def _dataset_len(loader: DataLoader) -> int | None:
    try:
        return len(loader.dataset)  # type: ignore[arg-type]
    except TypeError:
        return None


def _split_batch(batch: Any) -> Batch:
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    if isinstance(batch, dict) and {"x", "y"} <= batch.keys():
        return batch["x"], batch["y"]
    raise InputError(
        f"Expected each batch to be a pair (inputs, targets), but got {type(batch).__name__}; "
        "return (x, y) from your Dataset's __getitem__."
    )


def as_tensors(X: Any, y: Any, *, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate an (X, y) pair and return float features and int64 class indices."""
    X = _numeric(X, name, "X", "encode text columns as numbers first (trainwise fit does it for tables)")
    y = _numeric(y, name, "y", "turn class names into indices 0..C-1 first, e.g. with trainwise.data.encode_labels")
    if len(X) != len(y):
        raise InputError(f"{name}: X has {len(X)} rows but y has {len(y)}; give one label per row.")
    if len(X) == 0:
        raise InputError(f"{name}: no rows; pass at least one sample.")
    if y.dim() != 1:
        raise InputError(f"{name}: y has shape {tuple(y.shape)}; pass one class index per row (shape [N]).")
    if y.is_floating_point():
        if not torch.equal(y, y.round()):
            raise InputError(f"{name}: y holds non-integer values; pass class indices 0..C-1.")
        y = y.long()
    elif y.dtype == torch.bool:
        y = y.long()
    if y.dtype != torch.long:
        y = y.long()
    if int(y.min()) < 0:
        raise InputError(f"{name}: y holds the negative label {int(y.min())}; labels must be 0..C-1.")
    if X.is_floating_point():
        # one sum first (any NaN/Inf makes it non-finite); the exact, memory-hungry check only when it is not
        if not bool(torch.isfinite(X.sum())) and not bool(torch.isfinite(X).all()):
            bad = int((~torch.isfinite(X)).reshape(len(X), -1).any(dim=1).sum())
            raise InputError(f"{name}: X holds NaN or Inf in {bad} row(s); impute or drop them first.")
        if X.dtype == torch.float64:
            X = X.float()
    return X, y


def _numeric(value: Any, name: str, what: str, fix: str) -> torch.Tensor:
    """A tensor of numbers, or an InputError that says the data holds text."""
    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    if array.dtype.kind in "USO":
        raise InputError(f"{name}: {what} holds text or objects (dtype {array.dtype}), not numbers; {fix}.")
    return torch.as_tensor(array)


class MovedBatches:
    """Batches made for another device (a stream prepared with another ``device``), moved as they come."""

    def __init__(self, batches: Any, device: torch.device) -> None:
        self.batches = batches
        self.device = device

    def __getattr__(self, name: str) -> Any:       # num_samples, label_counts, ... are the stream's
        if name == "batches":                      # not set yet (copy, pickle): no endless lookup
            raise AttributeError(name)
        return getattr(self.batches, name)

    def __len__(self) -> int:
        return len(self.batches)

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        non_blocking = self.device.type == "cuda"
        for x, y in self.batches.epoch(epoch, start_batch=start_batch):
            yield x.to(self.device, non_blocking=non_blocking), y.to(self.device, non_blocking=non_blocking)


def make_batches(data: Any, batch_size: int, *, shuffle: bool, seed: int, device: torch.device,
                 name: str, rank: int = 0, world_size: int = 1) -> TensorBatches | LoaderBatches:
    """Accept (X, y) tensors or arrays, a Dataset, or a DataLoader (used as given: under torchrun,
    give it your own sampler)."""
    shard = {"rank": rank, "world_size": world_size}
    if callable(getattr(data, "epoch", None)):      # already batches (a ParquetStream): used as given,
        made_for = getattr(data, "device", None)    # or moved batch by batch when made for another device
        return data if made_for is None or torch.device(made_for) == device else MovedBatches(data, device)
    if isinstance(data, DataLoader):
        return LoaderBatches(data, device)
    if isinstance(data, TensorDataset) and len(data.tensors) == 2:
        X, y = as_tensors(*data.tensors, name=name)
        return TensorBatches(X, y, batch_size, shuffle=shuffle, seed=seed, device=device, **shard)
    if isinstance(data, Dataset):
        generator = torch.Generator()
        pin = device.type == "cuda"
        if world_size > 1:
            sampler = ShardSampler(len(data), rank, world_size, shuffle=shuffle, seed=seed)
            loader = DataLoader(data, batch_size=batch_size, sampler=sampler, pin_memory=pin)
            return LoaderBatches(loader, device, sampler=sampler)
        loader = DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator, pin_memory=pin)
        return LoaderBatches(loader, device, seed=seed)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = as_tensors(*data, name=name)
        return TensorBatches(X, y, batch_size, shuffle=shuffle, seed=seed, device=device, **shard)
    raise InputError(
        f"{name}: expected (X, y) tensors or arrays, a Dataset or a DataLoader, but got {type(data).__name__}."
    )
