"""Shared pieces of the speed benchmarks: data, model, the loops compared, and the alternating timer.

Every loop here trains the same model (``trainwise.models.mlp``: 20 -> 64 -> 32 -> 2 logits, dropout 0.1,
initialized from the same seed) on the same tensors with Adam (lr 1e-3), batch 256, validation batch 1024,
and computes validation loss, accuracy, precision, recall and F1 once per epoch:

* ``hand``       the baseline: a hand-written loop that batches by indexing a seeded permutation, keeps
                 its sums on the device and reads them once per epoch; validation metrics from one
                 ``bincount`` -- what a careful person writes.
* ``trainwise``  ``trainwise.Trainer.fit`` (history, train accuracy, gradient norms, score histograms,
                 findings and verdict included: that is what the user gets).
* ``dataloader`` the hand-written loop fed by ``DataLoader(TensorDataset)`` (per-sample collate).
* ``lightning``  PyTorch Lightning + torchmetrics, the usual way (``DataLoader``, ``self.log``).

Timings are only ever compared as ratios of runs made in the same process, alternating
(a b c d a b c d ...), so that a noisy, shared machine slows every contender alike.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

FEATURES = 20
BATCH_SIZE = 256
VAL_BATCH_SIZE = 1024
LR = 1e-3
SEED = 0


@dataclass
class Data:
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor

    @property
    def rows(self) -> int:
        return len(self.X_train) + len(self.X_val)


def make_data(rows: int = 50_000, features: int = FEATURES, *, val_fraction: float = 0.2, seed: int = SEED) -> Data:
    """A synthetic binary table: Gaussian features, a noisy nonlinear rule, about 30% positives."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(rows, features, generator=g)
    w = torch.randn(features, generator=g) / features**0.5
    signal = X @ w + 0.5 * torch.sin(2 * X[:, 0]) * X[:, 1] + 0.3 * torch.randn(rows, generator=g)
    y = (signal > 0.5).long()
    n_val = int(rows * val_fraction)
    return Data(X[n_val:].contiguous(), y[n_val:].contiguous(), X[:n_val].contiguous(), y[:n_val].contiguous())


def make_model(features: int = FEATURES, seed: int = SEED, hidden: tuple[int, ...] = (64, 32)) -> nn.Module:
    """``trainwise.models.mlp(features, 2, hidden)``, built here so the hand-written loop's process need not
    import trainwise (its peak RSS is compared with trainwise's): Linear-ReLU-Dropout(0.1) per hidden
    width, then 2 logits."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    width = features
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(0.1)]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, 2))


# --------------------------------------------------------------------------- (a) the hand-written loop
def binary_metrics(tn: float, fp: float, fn: float, tp: float) -> dict[str, float]:
    """Accuracy, precision, recall, F1 of the positive class (zero division gives 0)."""
    total = tn + fp + fn + tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": (tp + tn) / total if total else 0.0, "precision": precision, "recall": recall, "f1": f1}


def validate(model: nn.Module, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed validation loss and the 2x2 confusion counts, on the device."""
    model.eval()
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    cm = torch.zeros(4, dtype=torch.long, device=device)
    with torch.inference_mode():
        for xb, yb in batches:
            out = model(xb)
            loss_sum += F.cross_entropy(out, yb, reduction="sum")
            cm += torch.bincount(yb * 2 + out.argmax(dim=1), minlength=4)
    return loss_sum, cm


def epoch_record(epoch: int, train_loss_sum: torch.Tensor, seen: int, val_loss_sum: torch.Tensor, cm: torch.Tensor,
            n_val: int) -> dict[str, float]:
    # .tolist() forces the one host sync of the epoch
    train_loss, val_loss, tn, fp, fn, tp = torch.cat([
        torch.stack([train_loss_sum, val_loss_sum]), cm.to(torch.float64)]).tolist()
    return {"epoch": epoch, "train_loss": train_loss / seen, "val_loss": val_loss / n_val,
            **{f"val_{k}": v for k, v in binary_metrics(tn, fp, fn, tp).items()}}


def hand_loop(data: Data, epochs: int, *, batch_size: int = BATCH_SIZE, seed: int = SEED,
              device: str = "cpu") -> list[dict]:
    """The baseline: batches by indexing a seeded permutation; sums on the device; one read per epoch.

    Same initial weights, batch order and dropout stream as ``trainwise_fit``, so the two histories agree
    to float rounding (``run.py`` checks it)."""
    model = make_model(data.X_train.shape[1], seed).to(device)
    torch.manual_seed(seed)                              # trainwise seeds dropout at the start of fit too
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    X, y, n = data.X_train.to(device), data.y_train.to(device), len(data.X_train)
    Xv, yv = data.X_val.to(device), data.y_val.to(device)
    history = []
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).to(device)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            xb, yb = X[idx], y[idx]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(yb)
        val = ((Xv[i:i + VAL_BATCH_SIZE], yv[i:i + VAL_BATCH_SIZE]) for i in range(0, len(Xv), VAL_BATCH_SIZE))
        val_loss_sum, cm = validate(model, val)
        record = epoch_record(epoch, loss_sum, n, val_loss_sum, cm, len(Xv))
        record["seconds"] = time.perf_counter() - started
        history.append(record)
    return history


# --------------------------------------------------------------------------- (b) trainwise
def trainwise_fit(data: Data, epochs: int, *, batch_size: int = BATCH_SIZE, seed: int = SEED,
                  device: str = "cpu", **settings):
    """``Trainer.fit`` with the same model, data, optimizer and batch sizes (the data starts on the CPU:
    trainwise moves it to ``device`` once)."""
    model = make_model(data.X_train.shape[1], seed)
    import trainwise as tw

    trainer = tw.Trainer(optimizer="adam", lr=LR, epochs=epochs, batch_size=batch_size,
                         val_batch_size=VAL_BATCH_SIZE, seed=seed, device=device, progress=False, **settings)
    return trainer.fit(model, (data.X_train, data.y_train), (data.X_val, data.y_val))


# --------------------------------------------------------------------------- (d) DataLoader(TensorDataset)
def dataloader_loop(data: Data, epochs: int, *, batch_size: int = BATCH_SIZE, seed: int = SEED,
                    device: str = "cpu") -> list[dict]:
    """The hand-written loop fed by a DataLoader: one __getitem__ per sample, then collate (and, on a GPU,
    pinned memory and non-blocking copies, as the PyTorch docs advise)."""
    from torch.utils.data import DataLoader, TensorDataset

    model = make_model(data.X_train.shape[1], seed).to(device)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    pin = torch.device(device).type == "cuda"
    train = DataLoader(TensorDataset(data.X_train, data.y_train), batch_size=batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(seed), pin_memory=pin)
    val = DataLoader(TensorDataset(data.X_val, data.y_val), batch_size=VAL_BATCH_SIZE, pin_memory=pin)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        for xb, yb in train:
            xb, yb = xb.to(device, non_blocking=pin), yb.to(device, non_blocking=pin)
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(yb)
        val_loss_sum, cm = validate(model, ((xb.to(device), yb.to(device)) for xb, yb in val))
        history.append(epoch_record(epoch, loss_sum, len(data.X_train), val_loss_sum, cm, len(data.X_val)))
    return history


# --------------------------------------------------------------------------- (c) Lightning + torchmetrics
def lightning_available() -> bool:
    try:
        import lightning  # noqa: F401
        import torchmetrics  # noqa: F401
    except ImportError:
        return False
    return True


def lightning_fit(data: Data, epochs: int, *, batch_size: int = BATCH_SIZE, seed: int = SEED,
                  device: str = "cpu", callbacks: list | None = None, train_logits: bool = False) -> dict:
    """Lightning the way its docs show it: a LightningModule, DataLoaders, torchmetrics, ``self.log``.

    ``validation_step`` returns its logits (Lightning passes them to callbacks and keeps nothing, so this
    costs nothing without one); ``train_logits``: ``training_step`` returns ``{"loss", "logits"}`` too.
    ``callbacks``: added to the Trainer (the ``integrations`` section times trainwise's)."""
    import lightning as L
    import torchmetrics
    from torch.utils.data import DataLoader, TensorDataset

    model = make_model(data.X_train.shape[1], seed)
    torch.manual_seed(seed)

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.val_metrics = torchmetrics.MetricCollection({
                "accuracy": torchmetrics.classification.BinaryAccuracy(),
                "precision": torchmetrics.classification.BinaryPrecision(),
                "recall": torchmetrics.classification.BinaryRecall(),
                "f1": torchmetrics.classification.BinaryF1Score(),
            }, prefix="val_")

        def training_step(self, batch, batch_idx):
            xb, yb = batch
            out = self.model(xb)
            loss = F.cross_entropy(out, yb)
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return {"loss": loss, "logits": out} if train_logits else loss

        def validation_step(self, batch, batch_idx):
            xb, yb = batch
            out = self.model(xb)
            self.log("val_loss", F.cross_entropy(out, yb), on_epoch=True)
            self.val_metrics.update(out.argmax(dim=1), yb)
            return out

        def on_validation_epoch_end(self) -> None:
            self.log_dict(self.val_metrics.compute())
            self.val_metrics.reset()

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=LR)

    accelerator = "gpu" if torch.device(device).type == "cuda" else "cpu"
    pin = accelerator == "gpu"
    train = DataLoader(TensorDataset(data.X_train, data.y_train), batch_size=batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(seed), pin_memory=pin)
    val = DataLoader(TensorDataset(data.X_val, data.y_val), batch_size=VAL_BATCH_SIZE, pin_memory=pin)
    trainer = L.Trainer(max_epochs=epochs, accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        deterministic=False, callbacks=callbacks or [])
    trainer.fit(Module(), train, val)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def quiet_lightning() -> None:
    """Lightning prints tips and device info at every fit: keep the benchmark's output readable.
    (Lightning sets its loggers' levels when imported, so import it first.)"""
    import logging
    import warnings

    import lightning  # noqa: F401

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


# --------------------------------------------------------------------------- timing
def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def alternate(contenders: dict[str, Callable[[], object]], repeats: int, *, warmup: int = 1,
              baseline: str | None = None) -> dict:
    """Run each contender ``repeats`` times, in turn (a b c, c b a, a b c, ...), after ``warmup`` unmeasured
    rounds.

    Returns, per contender and per clock (``cpu``: this process's CPU time; ``wall``: elapsed time), the
    times, their median, and the median of the per-round ratios to ``baseline`` (the first contender by
    default): each ratio is taken between runs made seconds apart, under the same load.
    """
    baseline = baseline or next(iter(contenders))
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in contenders}
    for r in range(repeats):
        names = list(contenders)
        if r % 2:                      # reverse every other round: no contender always runs after the same one
            names.reverse()
        for name in names:
            wall, cpu = timed(contenders[name])
            times[name]["wall"].append(wall)
            times[name]["cpu"].append(cpu)
    result = {}
    for name, clocks in times.items():
        result[name] = {}
        for clock, ts in clocks.items():
            base = times[baseline][clock]
            ratios = [t / b for t, b in zip(ts, base, strict=True)]
            q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
            result[name][clock] = {"seconds": ts, "median_s": statistics.median(ts), "min_s": min(ts),
                                   "ratio": statistics.median(ratios), "ratio_p25": q1, "ratio_p75": q3,
                                   "ratios": ratios}
    return result


def format_table(result: dict, baseline: str, title: str = "") -> str:
    """Medians and ratios, CPU time first (the figure a shared machine disturbs least), then wall time."""
    lines = [title] if title else []
    w = max(len(name) for name in result) + 2
    lines.append(f"  {'':<{w}}{'cpu median s':>13}{'ratio':>7}{'(quartiles)':>13}{'wall median s':>15}{'ratio':>7}")
    for name, r in result.items():
        mark = "   (baseline)" if name == baseline else ""
        cpu = r["cpu"]
        spread = f"{cpu['ratio_p25']:.2f}-{cpu['ratio_p75']:.2f}"
        lines.append(f"  {name:<{w}}{cpu['median_s']:>13.3f}{cpu['ratio']:>7.2f}{spread:>13}"
                     f"{r['wall']['median_s']:>15.3f}{r['wall']['ratio']:>7.2f}{mark}")
    return "\n".join(lines)
