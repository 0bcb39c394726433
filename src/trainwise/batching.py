"""Turn what a user hands `Trainer.fit` into batches on the model's device.

In-memory data (tensors, arrays, a ``TensorDataset``) is moved to the device once and batched by
indexing a seeded permutation: no per-sample Python, no collate. Any other ``Dataset`` goes through a
``DataLoader`` with a generator seeded per epoch (and the user's ``collate_fn``, ``num_workers``,
``pin_memory``); a user's own ``DataLoader`` is used as it is.

What a ``Dataset`` or ``DataLoader`` yields is read by :func:`split_batch` (PRODUCT.md, "Batches and
outputs the Trainer takes"): ``(inputs, targets)``, ``(inputs, targets, sample_weight)``, or a dict with the
targets under ``labels`` (or ``label``, ``target``, ``y``) whose other keys are the inputs. ``inputs`` may
be a tensor, a tuple or list, or a dict, nested as deep as it likes: every tensor in it is moved to the
device. A ``batch=`` hook maps any other raw batch to one of these first. Batches come out as
``(inputs, targets)`` or ``(inputs, targets, sample_weight)`` tuples; in-memory data yields plain tensor
pairs and never goes through any of this.

The order of epoch ``e`` depends only on ``(seed, e)``, so a run resumed at epoch ``e`` (or at batch
``k`` of it) sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from trainwise.errors import InputError, name_list
from trainwise.task import describe

log = logging.getLogger(__name__)

Batch = tuple[Any, ...]          # (inputs, targets) or (inputs, targets, sample_weight)
BatchHook = Callable[[Any], Any]  # a raw batch -> (inputs, targets[, sample_weight])
TARGET_KEYS = ("labels", "label", "target", "y")
WEIGHT_KEY = "sample_weight"


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
        self.top_label = int(y.max())       # one host read, so a huge label is named before anything counts it
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
        """Rows per class over all ranks; one more count, of the labels out of range, when there are any
        (they are counted together: a label of 2**40 must not size the count). Multi-label targets
        ``[N, L]``: the positives of each label."""
        if self.all_y.dim() == 2:
            return self.all_y.sum(dim=0).cpu()
        length = num_classes + 1 if self.top_label >= num_classes else num_classes
        return torch.bincount(self.all_y.clamp(max=num_classes).cpu(), minlength=length)

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
                 sampler: ShardSampler | None = None, hook: BatchHook | None = None) -> None:
        self.loader = loader
        self.device = device
        self.seed = seed
        self.sampler = sampler
        self.hook = hook
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
        for i, batch in enumerate(self.loader):
            if i < start_batch:
                continue
            yield prepare(batch, self.device, self.hook)


def _dataset_len(loader: DataLoader) -> int | None:
    try:
        return len(loader.dataset)  # type: ignore[arg-type]
    except TypeError:
        return None


def prepare(raw: Any, device: torch.device, hook: BatchHook | None = None) -> Batch:
    """A raw batch as ``(inputs, targets[, sample_weight])`` on ``device`` (see :func:`split_batch`)."""
    inputs, targets, weights = split_batch(hook(raw) if hook is not None else raw)
    non_blocking = device.type == "cuda"
    inputs = to_device(inputs, device, non_blocking)
    targets = targets.to(device, non_blocking=non_blocking)
    if targets.dim() == 2 and targets.shape[1] == 1:       # a Dataset's y of shape [1]: one label per row
        targets = targets.reshape(-1)
    if weights is None:
        return inputs, targets
    return inputs, targets, weights.to(device, non_blocking=non_blocking).reshape(-1)


def to_device(value: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """``value`` with every tensor in it, however deeply nested in dicts, tuples and lists, on ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=non_blocking)
    if isinstance(value, Mapping):
        return {key: to_device(item, device, non_blocking) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(to_device(item, device, non_blocking) for item in value) if not hasattr(value, "_fields") \
            else type(value)(*(to_device(item, device, non_blocking) for item in value))
    return value


def split_batch(batch: Any) -> tuple[Any, torch.Tensor, torch.Tensor | None]:
    """``(inputs, targets, sample_weight or None)`` of one batch as the contract reads it.

    A tuple or list of two is ``(inputs, targets)``, of three ``(inputs, targets, sample_weight)``; a dict
    holds the targets under one of ``TARGET_KEYS``, optional weights under ``sample_weight``, and passes its
    other keys as ``model(**rest)`` (a lone ``x`` is passed as ``model(x)``). Anything else is an InputError
    that names what came and how to pass it.
    """
    if isinstance(batch, Mapping):
        return _split_dict(batch)
    if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        inputs, targets = batch[0], batch[1]
        _check_targets(targets, batch)
        if len(batch) == 2:
            return inputs, targets, None
        weights = batch[2]
        if not isinstance(weights, torch.Tensor) or not weights.is_floating_point():
            raise InputError(f"a batch of three is (inputs, targets, sample_weight), but its third element is "
                             f"{describe(weights)}, not float weights: for a collate like the text tutorial's "
                             "(text, offsets, labels) return ((text, offsets), labels), or pass "
                             "batch=lambda b: ((b[0], b[1]), b[2]).")
        if weights.numel() != len(targets):
            raise InputError(f"sample_weight has {weights.numel()} values for {len(targets)} targets; give one "
                             "weight per sample.")
        return inputs, targets, weights
    size = f" of {len(batch)}" if isinstance(batch, (tuple, list)) else ""
    raise InputError(f"a batch is (inputs, targets), (inputs, targets, sample_weight) or a dict with 'labels', "
                     f"but got {type(batch).__name__}{size}: {describe(batch)}; return one of those from your "
                     "Dataset or collate_fn, or pass batch=fn mapping a batch to (inputs, targets).")


def _split_dict(batch: Mapping) -> tuple[Any, torch.Tensor, torch.Tensor | None]:
    found = [key for key in TARGET_KEYS if key in batch]
    if len(found) != 1:
        why = "no targets" if not found else f"targets under several keys ({', '.join(found)})"
        raise InputError(f"a dict batch with keys {name_list(batch.keys())} has {why}; put the targets under "
                         "exactly one of 'labels', 'label', 'target', 'y', or pass batch=fn mapping a batch to "
                         "(inputs, targets).")
    targets = batch[found[0]]
    _check_targets(targets, batch)
    rest = {key: value for key, value in batch.items() if key not in (found[0], WEIGHT_KEY)}
    inputs = rest["x"] if rest.keys() == {"x"} else rest
    return inputs, targets, batch.get(WEIGHT_KEY)


def _check_targets(targets: Any, batch: Any) -> None:
    if not isinstance(targets, torch.Tensor):
        raise InputError(f"a batch's targets must be a tensor, but got {type(targets).__name__} in "
                         f"{describe(batch)}; return the labels as a tensor (or numbers the DataLoader collates).")


def as_tensors(X: Any, y: Any, *, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate an (X, y) pair and return float features and int64 class indices."""
    X = _numeric(X, name, "X", "encode text columns as numbers first (trainwise fit does it for tables)")
    y = _numeric(y, name, "y", "turn class names into indices 0..C-1 first, e.g. with trainwise.data.encode_labels")
    if len(X) != len(y):
        raise InputError(f"{name}: X has {len(X)} rows but y has {len(y)}; give one label per row.")
    if len(X) == 0:
        raise InputError(f"{name}: no rows; pass at least one sample.")
    if y.dim() == 2 and y.shape[1] == 1:
        y = y.reshape(-1)                   # one label per row, as a column
    if y.dim() == 2 and y.shape[1] > 1:
        return checked_features(X, name), multilabel_targets(y, name)
    if y.dim() != 1:
        raise InputError(f"{name}: y has shape {tuple(y.shape)}; pass one class index per row (shape [N]), or "
                         "0/1 per label (shape [N, L]) for multi-label targets.")
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
    return checked_features(X, name), y


def multilabel_targets(y: torch.Tensor, name: str) -> torch.Tensor:
    """``[N, L]`` multi-label targets as int64 0/1; one-hot rows (exactly one 1 each) are refused: they are
    class indices written out, and ``y.argmax(1)`` is what was meant."""
    if not bool(((y == 0) | (y == 1)).all()):
        raise InputError(f"{name}: y has shape {tuple(y.shape)} but holds values other than 0 and 1; pass one "
                         "class index per row (shape [N]), or 0/1 per label (shape [N, L]) for multi-label.")
    y = y.long()
    if bool((y.sum(dim=1) == 1).all()):
        raise InputError(f"{name}: y has shape {tuple(y.shape)} and is one-hot (every row holds exactly one 1); "
                         "pass one class index per row (shape [N]), e.g. y.argmax(1).")
    return y


def checked_features(X: torch.Tensor, name: str) -> torch.Tensor:
    """Float features without NaN or Inf (float64 made float32)."""
    if X.is_floating_point():
        # one sum first (any NaN/Inf makes it non-finite); the exact, memory-hungry check only when it is not
        if not bool(torch.isfinite(X.sum())) and not bool(torch.isfinite(X).all()):
            bad = int((~torch.isfinite(X)).reshape(len(X), -1).any(dim=1).sum())
            raise InputError(f"{name}: X holds NaN or Inf in {bad} row(s); impute or drop them first.")
        if X.dtype == torch.float64:
            X = X.float()
    return X


def _numeric(value: Any, name: str, what: str, fix: str) -> torch.Tensor:
    """A tensor of numbers, or an InputError that says the data holds text."""
    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    if array.dtype.kind in "USO":
        raise InputError(f"{name}: {what} holds text or objects (dtype {array.dtype}), not numbers; {fix}.")
    return torch.as_tensor(array)


class MovedBatches:
    """Batches made for another device (a stream prepared with another ``device``), moved as they come;
    with a ``hook``, each batch mapped by it first (and its labels no longer counted ahead)."""

    def __init__(self, batches: Any, device: torch.device, hook: BatchHook | None = None) -> None:
        self.batches = batches
        self.device = device
        self.hook = hook

    def __getattr__(self, name: str) -> Any:       # num_samples, label_counts, ... are the stream's
        if name == "batches":                      # not set yet (copy, pickle): no endless lookup
            raise AttributeError(name)
        return getattr(self.batches, name)

    def __len__(self) -> int:
        return len(self.batches)

    def label_counts(self, num_classes: int) -> torch.Tensor | None:
        return None if self.hook is not None else self.batches.label_counts(num_classes)

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        for batch in self.batches.epoch(epoch, start_batch=start_batch):
            yield prepare(batch, self.device, self.hook)


def make_batches(data: Any, batch_size: int, *, shuffle: bool, seed: int, device: torch.device,
                 name: str, rank: int = 0, world_size: int = 1, hook: BatchHook | None = None,
                 collate_fn: Callable | None = None, num_workers: int = 0,
                 pin_memory: bool | None = None) -> Any:
    """Accept (X, y) tensors or arrays, a Dataset, or a DataLoader (used as given: under torchrun,
    give it your own sampler). ``hook`` maps each raw batch first; ``collate_fn``, ``num_workers`` and
    ``pin_memory`` (default: on CUDA) go to the DataLoader built from a Dataset."""
    shard = {"rank": rank, "world_size": world_size}
    if callable(getattr(data, "epoch", None)):      # already batches (a ParquetStream): used as given,
        made_for = getattr(data, "device", None)    # or moved batch by batch when made for another device
        if hook is None and (made_for is None or torch.device(made_for) == device):
            return data
        return MovedBatches(data, device, hook)
    if isinstance(data, DataLoader):
        return LoaderBatches(data, device, hook=hook)
    if isinstance(data, TensorDataset) and len(data.tensors) == 2 and hook is None and collate_fn is None:
        X, y = as_tensors(*data.tensors, name=name)
        return TensorBatches(X, y, batch_size, shuffle=shuffle, seed=seed, device=device, **shard)
    if isinstance(data, Dataset):
        options = {"batch_size": batch_size, "collate_fn": collate_fn, "num_workers": num_workers,
                   "pin_memory": device.type == "cuda" if pin_memory is None else pin_memory}
        if world_size > 1:
            sampler = ShardSampler(len(data), rank, world_size, shuffle=shuffle, seed=seed)
            return LoaderBatches(DataLoader(data, sampler=sampler, **options), device, sampler=sampler, hook=hook)
        loader = DataLoader(data, shuffle=shuffle, generator=torch.Generator(), **options)
        return LoaderBatches(loader, device, seed=seed, hook=hook)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = as_tensors(*data, name=name)
        batches = TensorBatches(X, y, batch_size, shuffle=shuffle, seed=seed, device=device, **shard)
        return batches if hook is None else MovedBatches(batches, device, hook)
    raise InputError(
        f"{name}: expected (X, y) tensors or arrays, a Dataset or a DataLoader, but got {type(data).__name__}."
    )
