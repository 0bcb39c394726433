"""Produce the training-log fixtures under tests/fixtures/logs/ with the real tools.

Not run in CI: it needs Lightning and Keras, which are not trainwise dependencies. Run it in a scratch
environment outside the repository:

    python3 -m venv /tmp/scratch
    /tmp/scratch/bin/pip install torch==2.13.0 lightning keras scikit-learn
    KERAS_BACKEND=torch /tmp/scratch/bin/python scripts/make_log_fixtures.py [--only NAME ...]

Every scenario trains a small real model on a real scikit-learn dataset and keeps the log the tool
wrote, byte for byte:

- ``lightning/<scenario>.csv``: the ``metrics.csv`` of Lightning's ``CSVLogger`` (train and validation
  values on separate rows of one epoch, ``train_loss_step`` / ``train_loss_epoch``, epochs from 0);
- ``keras/<scenario>.csv``: the file of Keras's ``CSVLogger`` (``epoch,accuracy,loss,...``, epochs from 0);
- ``trainwise/<scenario>.jsonl``: a plain PyTorch loop writing trainwise history records (epochs from 1)
  with the per-epoch gradient norms the trainwise loop records, for the gradient detectors.

Scenarios: healthy runs (several datasets and optimizers), overfitting (tiny data, big model, many
epochs), diverging (huge learning rate), stuck (learning rate far too small, or zero) and noisy (high
learning rate with tiny batches). The tests in tests/test_diagnostics_fixtures.py assert which
findings each file gets.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger("make_log_fixtures")

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "logs"


@dataclass(frozen=True)
class Scenario:
    name: str
    dataset: str  # breast_cancer | digits | wine | synthetic
    hidden: tuple[int, ...]
    optimizer: str  # sgd | adam
    lr: float
    epochs: int
    batch_size: int
    n_train: int | None = None  # keep only this many training rows (stratified); None keeps 75 %
    momentum: float = 0.0
    scale: bool = True  # standardize features with training statistics
    activation: str = "relu"
    dropout: float = 0.0
    seed: int = 0
    tools: tuple[str, ...] = ("lightning", "keras")
    extra: dict = field(default_factory=dict)


SCENARIOS = [
    # Healthy: both losses fall together and settle; accuracy rises and settles.
    Scenario("healthy_breast_cancer", "breast_cancer", (32,), "adam", 1e-3, 40, 32),
    Scenario("healthy_digits", "digits", (64,), "adam", 1e-3, 30, 64),
    Scenario("healthy_wine_sgd", "wine", (16,), "sgd", 0.05, 60, 16, momentum=0.9),
    Scenario("healthy_digits_dropout", "digits", (128,), "adam", 1e-3, 30, 64, dropout=0.5),
    Scenario("healthy_synthetic", "synthetic", (32,), "adam", 1e-3, 30, 32),
    # Overfitting: few training rows, a big model, many epochs.
    Scenario("overfit_digits", "digits", (512, 512), "adam", 1e-3, 150, 32, n_train=120),
    Scenario("overfit_breast_cancer", "breast_cancer", (512, 512), "adam", 1e-3, 200, 16, n_train=50),
    # Diverging: a learning rate far too large: loss in the thousands from the start (Adam, lr 10), one
    # exploding epoch with unscaled features, and a loss growing tenfold per epoch until NaN.
    Scenario("diverge_adam_lr10", "digits", (64,), "adam", 10.0, 20, 64),
    Scenario("diverge_sgd_unscaled", "breast_cancer", (32,), "sgd", 0.5, 20, 32, scale=False),
    Scenario("diverge_sgd_momentum_bs4", "breast_cancer", (64,), "sgd", 0.1, 30, 4, momentum=0.9),
    # Stuck: a learning rate so small nothing moves, and a learning rate of zero.
    Scenario("stuck_sgd_lr1e-6", "digits", (64,), "sgd", 1e-6, 30, 64),
    Scenario("stuck_lr0", "wine", (16,), "sgd", 0.0, 20, 16),
    # Noisy: a high learning rate with small batches on data with 10 % label noise. (Higher rates --
    # SGD 0.8 with batches of 4, 1.0 with batches of 4 -- diverged to NaN within two epochs instead.)
    Scenario("noisy_synthetic_sgd_bs8", "synthetic", (32,), "sgd", 0.5, 25, 8),
    Scenario("noisy_synthetic_adam_bs8", "synthetic", (64,), "adam", 0.03, 25, 8),
]

GRADIENT_SCENARIOS = [
    Scenario("healthy_digits", "digits", (64,), "adam", 1e-3, 30, 64, tools=("trainwise",)),
    # Meant as a second healthy run; the curves say otherwise: validation loss bottoms out at epoch 7
    # and ends 22 % higher while training loss keeps falling. Kept, named for what it is.
    Scenario("overfit_mild_breast_cancer_sgd", "breast_cancer", (32,), "sgd", 0.05, 40, 32, momentum=0.9,
             tools=("trainwise",)),
    # Exploding: unscaled features and plain SGD; one epoch of huge gradients, then a dead model.
    Scenario("exploding_sgd_unscaled", "breast_cancer", (64, 64), "sgd", 0.05, 20, 32, scale=False,
             tools=("trainwise",)),
    # Vanishing: six sigmoid layers initialized far too small, full-batch steps: once the output bias
    # has learned the class shares, no gradient reaches the weights and the norm dies out.
    Scenario("vanishing_deep_sigmoid", "breast_cancer", (32,) * 6, "sgd", 0.1, 30, 4096,
             activation="sigmoid", extra={"init_std": 0.01}, tools=("trainwise",)),
    # The same mistake with eight tanh layers: the signal dies in the early layers, but the output
    # layer keeps a small, steady gradient, so the global norm (all the loop records) does not collapse.
    Scenario("stuck_deep_tanh", "digits", (64,) * 8, "sgd", 0.1, 30, 4096, activation="tanh",
             extra={"init_std": 0.01}, tools=("trainwise",)),
]


def load(s: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    if s.dataset == "synthetic":  # 10 % of labels flipped: a loss floor no model can beat
        x, y = datasets.make_classification(n_samples=1200, n_features=20, n_informative=6, n_redundant=2,
                                            flip_y=0.1, random_state=0)
    else:
        loader = {"breast_cancer": datasets.load_breast_cancer, "digits": datasets.load_digits,
                  "wine": datasets.load_wine}[s.dataset]
        x, y = loader(return_X_y=True)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.25, stratify=y, random_state=s.seed)
    if s.n_train is not None:
        x_tr, _, y_tr, _ = train_test_split(x_tr, y_tr, train_size=s.n_train, stratify=y_tr,
                                            random_state=s.seed)
    if s.scale:
        mean, std = x_tr.mean(0), x_tr.std(0)
        std[std == 0] = 1.0
        x_tr, x_va = (x_tr - mean) / std, (x_va - mean) / std
    n_classes = int(y.max()) + 1
    return (x_tr.astype("float32"), y_tr.astype("int64"), x_va.astype("float32"), y_va.astype("int64"),
            n_classes)


def torch_model(s: Scenario, n_in: int, n_classes: int):
    import torch.nn as nn

    act = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[s.activation]
    layers: list[nn.Module] = []
    width = n_in
    for h in s.hidden:
        layers += [nn.Linear(width, h), act()]
        if s.dropout:
            layers.append(nn.Dropout(s.dropout))
        width = h
    layers.append(nn.Linear(width, n_classes))
    model = nn.Sequential(*layers)
    if "init_std" in s.extra:  # a too-small initialization, the classic way to kill the signal
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=s.extra["init_std"])
                nn.init.zeros_(m.bias)
    return model


def torch_optimizer(s: Scenario, params):
    import torch

    if s.optimizer == "adam":
        return torch.optim.Adam(params, lr=s.lr)
    return torch.optim.SGD(params, lr=s.lr, momentum=s.momentum)


def run_lightning(s: Scenario, dest: Path) -> None:
    import lightning as L
    import torch
    import torch.nn.functional as F
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader, TensorDataset

    x_tr, y_tr, x_va, y_va, n_classes = load(s)
    L.seed_everything(s.seed, verbose=False)

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch_model(s, x_tr.shape[1], n_classes)

        def training_step(self, batch, _):
            x, y = batch
            logits = self.net(x)
            loss = F.cross_entropy(logits, y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            self.log("train_acc", (logits.argmax(1) == y).float().mean(), on_step=False, on_epoch=True)
            return loss

        def validation_step(self, batch, _):
            x, y = batch
            logits = self.net(x)
            self.log("val_loss", F.cross_entropy(logits, y), on_epoch=True)
            self.log("val_acc", (logits.argmax(1) == y).float().mean(), on_epoch=True)

        def configure_optimizers(self):
            return torch_optimizer(s, self.parameters())

    train = DataLoader(TensorDataset(torch.from_numpy(x_tr), torch.from_numpy(y_tr)),
                       batch_size=s.batch_size, shuffle=True)
    val = DataLoader(TensorDataset(torch.from_numpy(x_va), torch.from_numpy(y_va)), batch_size=256)
    with tempfile.TemporaryDirectory() as tmp:
        csv_logger = CSVLogger(tmp, name=s.name, version=0)
        trainer = L.Trainer(max_epochs=s.epochs, logger=csv_logger, accelerator="cpu", devices=1,
                            enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, log_every_n_steps=25,
                            num_sanity_val_steps=0, callbacks=[LearningRateMonitor("epoch")])
        trainer.fit(Module(), train, val)
        shutil.copyfile(Path(csv_logger.log_dir) / "metrics.csv", dest)


def run_keras(s: Scenario, dest: Path) -> None:
    import keras

    x_tr, y_tr, x_va, y_va, n_classes = load(s)
    keras.utils.set_random_seed(s.seed)
    layers: list = [keras.Input(shape=(x_tr.shape[1],))]
    for h in s.hidden:
        layers.append(keras.layers.Dense(h, activation=s.activation))
        if s.dropout:
            layers.append(keras.layers.Dropout(s.dropout))
    layers.append(keras.layers.Dense(n_classes))
    model = keras.Sequential(layers)
    opt = (keras.optimizers.Adam(learning_rate=s.lr) if s.optimizer == "adam"
           else keras.optimizers.SGD(learning_rate=s.lr, momentum=s.momentum))
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x_tr, y_tr, validation_data=(x_va, y_va), epochs=s.epochs, batch_size=s.batch_size,
              verbose=0, callbacks=[keras.callbacks.CSVLogger(str(dest))])


def run_trainwise_format(s: Scenario, dest: Path) -> None:
    """A plain PyTorch loop that records what the trainwise loop records, gradient norms included."""
    import torch
    import torch.nn.functional as F

    x_tr, y_tr, x_va, y_va, n_classes = load(s)
    torch.manual_seed(s.seed)
    model = torch_model(s, x_tr.shape[1], n_classes)
    opt = torch_optimizer(s, model.parameters())
    xt, yt, xv, yv = map(torch.from_numpy, (x_tr, y_tr, x_va, y_va))
    names = [n for n, _ in model.named_parameters()]
    steps = 0
    with dest.open("w") as fh:
        for epoch in range(1, s.epochs + 1):
            start = time.perf_counter()
            model.train()
            loss_sum = torch.zeros(())
            correct = torch.zeros(())
            norms = []
            layer_sq = torch.zeros(len(names))
            for idx in torch.randperm(len(xt)).split(s.batch_size):
                opt.zero_grad()
                logits = model(xt[idx])
                loss = F.cross_entropy(logits, yt[idx])
                loss.backward()
                per_layer = torch.stack([p.grad.detach().norm() for p in model.parameters()])
                layer_sq += per_layer.square()
                norms.append(per_layer.square().sum().sqrt())
                opt.step()
                steps += 1
                loss_sum += loss.detach() * len(idx)
                correct += (logits.argmax(1) == yt[idx]).sum()
            model.eval()
            with torch.inference_mode():
                vlogits = model(xv)
                vloss = F.cross_entropy(vlogits, yv).item()
                vacc = (vlogits.argmax(1) == yv).float().mean().item()
            norms_t = torch.stack(norms)
            rec = {
                "epoch": epoch,
                "train_loss": (loss_sum / len(xt)).item(),
                "train_accuracy": (correct / len(xt)).item(),
                "val_loss": vloss,
                "val_accuracy": vacc,
                "lr": opt.param_groups[0]["lr"],
                "grad_norm_mean": norms_t.mean().item(),
                "grad_norm_max": norms_t.max().item(),
                "grad_top_layer": names[int(layer_sq.argmax())],
                "steps": steps,
                "seconds": round(time.perf_counter() - start, 4),
            }
            fh.write(json.dumps({k: _json_float(v) for k, v in rec.items()}) + "\n")


def _json_float(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


RUNNERS = {"lightning": (run_lightning, "csv"), "keras": (run_keras, "csv"),
           "trainwise": (run_trainwise_format, "jsonl")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="scenario names to (re)make; default all")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import torch

    torch.set_num_threads(1)  # small models: threads only add contention
    for s in SCENARIOS + GRADIENT_SCENARIOS:
        if args.only and s.name not in args.only:
            continue
        for tool in s.tools:
            runner, ext = RUNNERS[tool]
            dest = args.out / tool / f"{s.name}.{ext}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            runner(s, dest)
            logger.info("%s: %.1fs", dest.relative_to(args.out), time.perf_counter() - start)


if __name__ == "__main__":
    main()
