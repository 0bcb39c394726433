"""Produce the panel of real training logs under tests/fixtures/logs/panel/ with the real frameworks.

Each scenario trains a tiny model on CPU in seconds and keeps what the framework's own logger wrote:

- ``hf/``: the Hugging Face Trainer's ``trainer_state.json`` (a tiny ``BertConfig`` model built from its
  config, no download), and one whole output folder (``checkpoint-*/trainer_state.json``, weights removed);
- ``tensorboard/``: event files of Lightning's ``TensorBoardLogger``, of the HF Trainer
  (``report_to="tensorboard"``) and of trainwise's own ``TensorBoardLogger``;
- ``lightning/``: ``CSVLogger`` ``metrics.csv`` with step rows, epoch rows and ``lr-*`` columns;
- ``keras/``: ``CSVLogger``, ``json.dump(history.history)`` and ``pd.DataFrame(history.history).to_csv``;
- ``fastai/``: ``CSVLogger``'s ``history.csv`` (metric columns are validation metrics);
- ``sklearn/``: ``MLPClassifier``'s ``loss_curve_`` and ``validation_scores_`` dumped as JSON
  (the format docs/findings.md documents);
- ``plain/``: hand-written PyTorch loops with their own key names.

The ground truth of each log (verdict, findings, best epoch) is in tests/fixtures/logs/panel/panel.json,
written from the curves, not from what ``trainwise diagnose`` says. Not run by the tests (they read the
committed files); run it by hand with the dev extra installed, plus fastai for the fastai scenarios:

    pip install fastai -c constraints.txt && pip uninstall -y torchvision
    KERAS_BACKEND=torch python scripts/make_real_logs.py [--only NAME ...]

fastai is not in the dev extra: it requires torchvision, whose PyPI wheel does not load against the
CPU torch build (``operator torchvision::nms does not exist``) and then breaks ``import transformers``;
its tabular part, all this script uses, works without torchvision.
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
from collections.abc import Callable
from pathlib import Path

import numpy as np

logger = logging.getLogger("make_real_logs")

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "logs" / "panel"
SCENARIOS: dict[str, Callable[[Path], None]] = {}


def scenario(fn: Callable[[Path], None]) -> Callable[[Path], None]:
    SCENARIOS[fn.__name__] = fn
    return fn


# ------------------------------------------------------------------------------------------------ data


def tabular(n: int = 1200, *, classes: int = 2, informative: int = 6, flip: float = 0.05,
            weights: list[float] | None = None, seed: int = 0, n_train: int | None = None):
    """Standardized make_classification data: (x_tr, y_tr, x_va, y_va)."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    x, y = make_classification(n_samples=n, n_features=20, n_informative=informative, n_redundant=2,
                               n_classes=classes, weights=weights, flip_y=flip, random_state=seed)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.25, stratify=y, random_state=seed)
    if n_train is not None:
        x_tr, y_tr = x_tr[:n_train], y_tr[:n_train]
    mean, std = x_tr.mean(0), x_tr.std(0) + 1e-8
    return ((x_tr - mean) / std).astype("float32"), y_tr, ((x_va - mean) / std).astype("float32"), y_va


def mlp(n_in: int, hidden: tuple[int, ...], n_out: int):
    import torch.nn as nn

    layers: list = []
    for h in hidden:
        layers += [nn.Linear(n_in, h), nn.ReLU()]
        n_in = h
    return nn.Sequential(*layers, nn.Linear(n_in, n_out))


# ------------------------------------------------------------------------------------------------ Hugging Face


class _Tokens:
    """Token sequences; label 1 when token 7 or 8 occurs (about half of them). ``noise`` flips labels."""

    def __init__(self, n: int, *, seed: int, noise: float = 0.0, length: int = 16) -> None:
        rng = np.random.default_rng(seed)
        self.ids = rng.integers(5, 50, size=(n, length))
        labels = np.isin(self.ids, (7, 8)).any(1).astype(int)
        flip = rng.random(n) < noise
        self.labels = np.where(flip, 1 - labels, labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        import torch

        ids = torch.as_tensor(self.ids[i])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                "labels": torch.as_tensor(int(self.labels[i]))}


def _hf_train(out: Path, *, n_train: int, noise: float, epochs: int, lr: float, batch: int,
              logging_steps: int, eval_strategy: str = "epoch", eval_steps: int | None = None,
              save: bool = False, report_to: str = "none", seed: int = 0) -> None:
    import transformers
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    transformers.set_seed(seed)
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32, num_labels=2)
    model = BertForSequenceClassification(config)

    def accuracy(pred) -> dict:
        return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}

    args = TrainingArguments(
        output_dir=str(out), eval_strategy=eval_strategy, eval_steps=eval_steps,
        save_strategy="epoch" if save else "no", save_total_limit=2 if save else None,
        logging_strategy="steps", logging_steps=logging_steps, num_train_epochs=epochs, learning_rate=lr,
        per_device_train_batch_size=batch, per_device_eval_batch_size=256, report_to=report_to,
        use_cpu=True, seed=seed, disable_tqdm=True, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=_Tokens(n_train, seed=seed, noise=noise),
                      eval_dataset=_Tokens(300, seed=seed + 100), compute_metrics=accuracy)
    trainer.train()
    trainer.save_state()


def _keep_only_state(folder: Path) -> None:
    """An output folder as committed: the trainer states, no weights or optimizer states."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file() and path.name != "trainer_state.json":
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


@scenario
def hf_healthy_folder(dest: Path) -> None:
    """A learnable task, evaluated each epoch, checkpoints each epoch: the whole output folder."""
    folder = dest / "hf" / "healthy_folder"
    shutil.rmtree(folder, ignore_errors=True)
    _hf_train(folder, n_train=800, noise=0.0, epochs=8, lr=1e-3, batch=32, logging_steps=10, save=True)
    (folder / "trainer_state.json").unlink()          # the folder reader must find the latest checkpoint's
    _keep_only_state(folder)


@scenario
def hf_overfit(dest: Path) -> None:
    """48 training rows, 30 % of labels flipped, 40 epochs: memorization; training loss logged every 2 steps."""
    with tempfile.TemporaryDirectory() as tmp:
        _hf_train(Path(tmp), n_train=48, noise=0.3, epochs=40, lr=1e-3, batch=16, logging_steps=2)
        shutil.copyfile(Path(tmp) / "trainer_state.json", _file(dest / "hf" / "overfit_trainer_state.json"))


@scenario
def hf_eval_steps(dest: Path) -> None:
    """Evaluation every 10 steps (fractional epochs), 3 epochs of a learnable task."""
    with tempfile.TemporaryDirectory() as tmp:
        _hf_train(Path(tmp), n_train=800, noise=0.0, epochs=3, lr=1e-3, batch=32, logging_steps=5,
                  eval_strategy="steps", eval_steps=10)
        shutil.copyfile(Path(tmp) / "trainer_state.json", _file(dest / "hf" / "eval_steps_trainer_state.json"))


@scenario
def hf_diverged(dest: Path) -> None:
    """A learning rate of 0.5 for AdamW on a transformer."""
    with tempfile.TemporaryDirectory() as tmp:
        _hf_train(Path(tmp), n_train=800, noise=0.0, epochs=6, lr=0.5, batch=32, logging_steps=10)
        shutil.copyfile(Path(tmp) / "trainer_state.json", _file(dest / "hf" / "diverged_trainer_state.json"))


@scenario
def hf_tensorboard_overfit(dest: Path) -> None:
    """The overfitting run again, logged to TensorBoard by the Trainer (``report_to="tensorboard"``)."""
    folder = dest / "tensorboard" / "hf_overfit"
    shutil.rmtree(folder, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(Path(tmp) / "runs")
        _hf_train(Path(tmp), n_train=48, noise=0.3, epochs=40, lr=1e-3, batch=16, logging_steps=2,
                  report_to="tensorboard")
        events = sorted(Path(tmp).rglob("events.out.tfevents.*"))
        folder.mkdir(parents=True)
        for event in events:
            shutil.copyfile(event, folder / event.name)


# ------------------------------------------------------------------------------------------------ Lightning


def _lightning(dest: Path, name: str, *, n_train: int | None, hidden: tuple[int, ...], lr: float,
               epochs: int, batch: int, flip: float = 0.05) -> None:
    import lightning as L
    import torch
    import torch.nn.functional as F
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
    from torch.utils.data import DataLoader, TensorDataset

    x_tr, y_tr, x_va, y_va = tabular(flip=flip, n_train=n_train)
    L.seed_everything(0, verbose=False)

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = mlp(x_tr.shape[1], hidden, 2)

        def training_step(self, batch, _):
            x, y = batch
            loss = F.cross_entropy(self.net(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch, _):
            x, y = batch
            logits = self.net(x)
            self.log("val_loss", F.cross_entropy(logits, y))
            self.log("val_acc", (logits.argmax(1) == y).float().mean())

        def configure_optimizers(self):
            opt = torch.optim.Adam(self.parameters(), lr=lr)
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 10, 0.5)}

    to = lambda x, y: TensorDataset(torch.from_numpy(x), torch.from_numpy(y))  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        csv_logger = CSVLogger(tmp, name="csv", version=0)
        tb_logger = TensorBoardLogger(tmp, name="tb", version=0)
        trainer = L.Trainer(max_epochs=epochs, logger=[csv_logger, tb_logger], accelerator="cpu", devices=1,
                            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                            log_every_n_steps=5, num_sanity_val_steps=0,
                            callbacks=[LearningRateMonitor("epoch")])
        trainer.fit(Module(), DataLoader(to(x_tr, y_tr), batch_size=batch, shuffle=True),
                    DataLoader(to(x_va, y_va), batch_size=512))
        shutil.copyfile(Path(csv_logger.log_dir) / "metrics.csv", _file(dest / "lightning" / f"{name}.csv"))
        folder = dest / "tensorboard" / f"lightning_{name}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for event in Path(tb_logger.log_dir).glob("events.out.tfevents.*"):
            shutil.copyfile(event, folder / event.name)


@scenario
def lightning_healthy(dest: Path) -> None:
    _lightning(dest, "healthy", n_train=None, hidden=(32,), lr=1e-3, epochs=25, batch=64)


@scenario
def lightning_overfit(dest: Path) -> None:
    _lightning(dest, "overfit", n_train=60, hidden=(256, 256), lr=3e-3, epochs=60, batch=16, flip=0.2)


# ------------------------------------------------------------------------------------------------ Keras


def _keras_model(n_in: int, hidden: tuple[int, ...], *, lr: float, optimizer: str = "adam"):
    import keras

    layers: list = [keras.Input(shape=(n_in,))]
    layers += [keras.layers.Dense(h, activation="relu") for h in hidden]
    model = keras.Sequential([*layers, keras.layers.Dense(1, activation="sigmoid")])
    opt = keras.optimizers.Adam(learning_rate=lr) if optimizer == "adam" else keras.optimizers.SGD(learning_rate=lr)
    model.compile(optimizer=opt, loss="binary_crossentropy",
                  metrics=["accuracy", keras.metrics.Precision(name="precision"),
                           keras.metrics.Recall(name="recall"), keras.metrics.AUC(name="auc")])
    return model


@scenario
def keras_imbalanced_csvlogger(dest: Path) -> None:
    """7 % positives, two weakly informative features: the model learns to say 'negative'."""
    import keras

    keras.utils.set_random_seed(0)
    x_tr, y_tr, x_va, y_va = tabular(3000, informative=2, flip=0.3, weights=[0.93], seed=1)
    model = _keras_model(x_tr.shape[1], (16,), lr=1e-3)
    model.fit(x_tr, y_tr, validation_data=(x_va, y_va), epochs=15, batch_size=64, verbose=0,
              callbacks=[keras.callbacks.CSVLogger(str(_file(dest / "keras" / "imbalanced_csvlogger.csv")))])


@scenario
def keras_overfit_history_json(dest: Path) -> None:
    """80 training rows, a wide model, 150 epochs; the history kept with json.dump(history.history)."""
    import keras

    keras.utils.set_random_seed(0)
    x_tr, y_tr, x_va, y_va = tabular(flip=0.15, n_train=80)
    history = _keras_model(x_tr.shape[1], (256, 256), lr=1e-3).fit(
        x_tr, y_tr, validation_data=(x_va, y_va), epochs=150, batch_size=16, verbose=0)
    _file(dest / "keras" / "overfit_history.json").write_text(json.dumps(history.history))


@scenario
def keras_healthy_pandas(dest: Path) -> None:
    """A healthy run kept with pd.DataFrame(history.history).to_csv (an index column, no epoch column)."""
    import keras
    import pandas as pd

    keras.utils.set_random_seed(0)
    x_tr, y_tr, x_va, y_va = tabular()
    history = _keras_model(x_tr.shape[1], (32,), lr=1e-3).fit(
        x_tr, y_tr, validation_data=(x_va, y_va), epochs=30, batch_size=32, verbose=0)
    pd.DataFrame(history.history).to_csv(_file(dest / "keras" / "healthy_history_pandas.csv"))


@scenario
def keras_diverged_history_json(dest: Path) -> None:
    """Plain SGD at learning rate 20 on a deep ReLU net."""
    import keras

    keras.utils.set_random_seed(0)
    x_tr, y_tr, x_va, y_va = tabular()
    history = _keras_model(x_tr.shape[1], (64, 64, 64), lr=20.0, optimizer="sgd").fit(
        x_tr, y_tr, validation_data=(x_va, y_va), epochs=12, batch_size=32, verbose=0)
    _file(dest / "keras" / "diverged_history.json").write_text(json.dumps(history.history))


# ------------------------------------------------------------------------------------------------ fastai


def _fastai(dest: Path, name: str, *, n_train: int | None, hidden: list[int], lr: float, epochs: int,
            flip: float = 0.05, weights: list[float] | None = None, informative: int = 6,
            metrics: str = "accuracy") -> None:
    import pandas as pd
    from fastai.callback.tracker import CSVLogger
    from fastai.metrics import Precision, Recall, accuracy
    from fastai.tabular.all import CategoryBlock, TabularDataLoaders, set_seed, tabular_learner

    set_seed(0, reproducible=True)
    x_tr, y_tr, x_va, y_va = tabular(2000 if weights else 1200, flip=flip, weights=weights,
                                     informative=informative, n_train=n_train)
    frame = pd.DataFrame(np.concatenate([x_tr, x_va]), columns=[f"x{i}" for i in range(x_tr.shape[1])])
    frame["y"] = np.concatenate([y_tr, y_va])
    valid_idx = list(range(len(x_tr), len(frame)))
    dls = TabularDataLoaders.from_df(frame, y_names="y", cont_names=list(frame.columns[:-1]),
                                     valid_idx=valid_idx, y_block=CategoryBlock(), bs=32)
    chosen = [accuracy] if metrics == "accuracy" else [accuracy, Recall(), Precision()]
    learn = tabular_learner(dls, layers=hidden, metrics=chosen)
    path = _file(dest / "fastai" / f"{name}.csv")
    learn.fit(epochs, lr, cbs=[CSVLogger(fname=str(path))])
    learn.remove_cb(CSVLogger)


@scenario
def fastai_healthy(dest: Path) -> None:
    _fastai(dest, "healthy", n_train=None, hidden=[32], lr=1e-3, epochs=12)


@scenario
def fastai_overfit(dest: Path) -> None:
    _fastai(dest, "overfit", n_train=80, hidden=[400, 400], lr=3e-3, epochs=60, flip=0.2)


@scenario
def fastai_imbalanced(dest: Path) -> None:
    _fastai(dest, "imbalanced", n_train=None, hidden=[16], lr=1e-3, epochs=10, flip=0.3, weights=[0.93],
            informative=2, metrics="recall")


# ------------------------------------------------------------------------------------------------ scikit-learn


def _sklearn(dest: Path, name: str, *, early_stopping: bool, max_iter: int) -> None:
    import warnings

    from sklearn.neural_network import MLPClassifier

    x_tr, y_tr, _, _ = tabular(flip=0.1)
    clf = MLPClassifier(hidden_layer_sizes=(64,), early_stopping=early_stopping, validation_fraction=0.2,
                        n_iter_no_change=10, max_iter=max_iter, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # ConvergenceWarning of the run without early stopping
        clf.fit(x_tr, y_tr)
    record = {"loss_curve": clf.loss_curve_}
    if early_stopping:
        record["validation_scores"] = clf.validation_scores_
        record["best_validation_score"] = clf.best_validation_score_
    record["n_iter"] = clf.n_iter_
    _file(dest / "sklearn" / f"{name}.json").write_text(json.dumps(record))


@scenario
def sklearn_early_stopped(dest: Path) -> None:
    _sklearn(dest, "early_stopped", early_stopping=True, max_iter=300)


@scenario
def sklearn_no_validation(dest: Path) -> None:
    _sklearn(dest, "no_validation", early_stopping=False, max_iter=40)


# ------------------------------------------------------------------------------------------------ plain loops


def _plain_loop(data, *, hidden: tuple[int, ...], lr: float, epochs: int, batch: int, optimizer: str = "adam",
                drop_last: bool = False, seed: int = 0):
    """A hand-written loop; yields (epoch, train_loss, val_loss, val_acc) per epoch (train loss NaN
    when no step ran: 0 / 0)."""
    import torch
    import torch.nn.functional as F

    x_tr, y_tr, x_va, y_va = (torch.as_tensor(a) for a in data)
    y_tr, y_va = y_tr.long(), y_va.long()
    torch.manual_seed(seed)
    model = mlp(x_tr.shape[1], hidden, int(y_tr.max()) + 1)
    opt = (torch.optim.Adam(model.parameters(), lr=lr) if optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=lr))
    for epoch in range(1, epochs + 1):
        model.train()
        total, count = 0.0, 0
        for idx in torch.randperm(len(x_tr)).split(batch):
            if drop_last and len(idx) < batch:
                continue
            opt.zero_grad()
            loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
            loss.backward()
            opt.step()
            total, count = total + loss.item() * len(idx), count + len(idx)
        model.eval()
        with torch.inference_mode():
            logits = model(x_va)
            val_loss = F.cross_entropy(logits, y_va).item()
            val_acc = (logits.argmax(1) == y_va).float().mean().item()
        yield epoch, (total / count if count else math.nan), val_loss, val_acc


def _write_csv(path: Path, header: list[str], rows) -> None:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    _file(path).write_text("\n".join(lines) + "\n")


@scenario
def plain_overfit_trn_vl(dest: Path) -> None:
    """trn_loss / vl_loss / vl_acc keys; 60 training rows, a wide model, Adam at 3e-3."""
    rows = _plain_loop(tabular(flip=0.2, n_train=60), hidden=(256, 256), lr=3e-3, epochs=60, batch=16)
    _write_csv(dest / "plain" / "overfit_trn_vl.csv", ["epoch", "trn_loss", "vl_loss", "vl_acc"],
               ([e, round(t, 6), round(v, 6), round(a, 4)] for e, t, v, a in rows))


@scenario
def plain_no_step(dest: Path) -> None:
    """3 classes, 50 training rows, batches of 64 with drop_last: no training step ever runs."""
    x_tr, y_tr, x_va, y_va = tabular(400, classes=3, n_train=50)
    rows = _plain_loop((x_tr, y_tr, x_va, y_va), hidden=(32,), lr=1e-3, epochs=10, batch=64, drop_last=True)
    _write_csv(dest / "plain" / "no_step.csv", ["epoch", "train_loss", "val_loss", "val_acc"],
               ([e, t, round(v, 6), round(a, 4)] for e, t, v, a in rows))


@scenario
def plain_diverged_nan(dest: Path) -> None:
    """3 classes, plain SGD at learning rate 30: NaN from the first epoch on."""
    rows = _plain_loop(tabular(classes=3), hidden=(64, 64), lr=30.0, epochs=15, batch=32, optimizer="sgd")
    _write_csv(dest / "plain" / "diverged_nan.csv", ["epoch", "train_loss", "val_loss", "val_acc"],
               ([e, round(t, 6), round(v, 6), round(a, 4)] for e, t, v, a in rows))


@scenario
def plain_healthy_prefixes(dest: Path) -> None:
    """JSON lines with tr_/va_ keys and a 'Val Loss' spelled with a space and capitals."""
    rows = _plain_loop(tabular(), hidden=(32,), lr=1e-3, epochs=20, batch=32)
    lines = [json.dumps({"ep": e, "tr_loss": round(t, 6), "Val Loss": round(v, 6), "va_acc": round(a, 4)})
             for e, t, v, a in rows]
    _file(dest / "plain" / "healthy_prefixes.jsonl").write_text("\n".join(lines) + "\n")


@scenario
def plain_overfit_caps(dest: Path) -> None:
    """'Epoch,Train Loss,Valid Loss,Valid Acc' headers (a common notebook CSV); overfitting."""
    rows = _plain_loop(tabular(flip=0.2, n_train=80, seed=3), hidden=(256,), lr=1e-2, epochs=40, batch=16)
    _write_csv(dest / "plain" / "overfit_caps.csv", ["Epoch", "Train Loss", "Valid Loss", "Valid Acc"],
               ([e, round(t, 6), round(v, 6), round(a, 4)] for e, t, v, a in rows))


@scenario
def plain_steps(dest: Path) -> None:
    """A step-level log: the training loss of every step, a validation row every 50 steps, no epoch column."""
    import torch
    import torch.nn.functional as F

    x_tr, y_tr, x_va, y_va = (torch.as_tensor(a) for a in tabular(3000, flip=0.1))
    y_tr, y_va = y_tr.long(), y_va.long()
    torch.manual_seed(0)
    model = mlp(x_tr.shape[1], (64,), 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.02)
    lines = ["step,loss,val_loss,val_accuracy"]
    step = 0
    for _ in range(8):
        for idx in torch.randperm(len(x_tr)).split(32):
            opt.zero_grad()
            loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
            loss.backward()
            opt.step()
            step += 1
            lines.append(f"{step},{loss.item():.6f},,")
            if step % 50 == 0:
                with torch.inference_mode():
                    logits = model(x_va)
                    lines.append(f"{step},,{F.cross_entropy(logits, y_va).item():.6f},"
                                 f"{(logits.argmax(1) == y_va).float().mean().item():.4f}")
    _file(dest / "plain" / "steps.csv").write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------------ trainwise


@scenario
def trainwise_tensorboard(dest: Path) -> None:
    """trainwise's own Trainer with its TensorBoardLogger: epoch/<key> tags at step = epoch."""
    import trainwise as tw
    from trainwise.report.tensorboard import TensorBoardLogger

    folder = dest / "tensorboard" / "trainwise_healthy"
    shutil.rmtree(folder, ignore_errors=True)
    x_tr, y_tr, x_va, y_va = tabular()
    with tempfile.TemporaryDirectory() as tmp:
        tb = TensorBoardLogger(Path(tmp) / "tb")
        run = tw.Trainer(optimizer="adam", lr=1e-3, epochs=15, batch_size=32, seed=0, callbacks=[tb]).fit(
            mlp(x_tr.shape[1], (32,), 2), (x_tr, y_tr), (x_va, y_va))
        tb.log_summary(run.summary())
        folder.mkdir(parents=True)
        for event in (Path(tmp) / "tb").glob("events.out.tfevents.*"):
            shutil.copyfile(event, folder / event.name)


# ------------------------------------------------------------------------------------------------


def _file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "accelerate", "lightning", "keras", "fastai", "scikit-learn",
                 "tensorboard", "pandas"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="scenario names to (re)make; default all")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import torch

    torch.set_num_threads(1)
    for name, make in SCENARIOS.items():
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        make(args.out)
        logger.info("%s: %.1fs", name, time.perf_counter() - start)
    logger.info("versions: %s", json.dumps(versions()))


if __name__ == "__main__":
    main()
