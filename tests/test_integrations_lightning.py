"""trainwise.integrations.lightning: the callback in real Lightning fits (CPU, a second or two each)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from trainwise.integrations.lightning import TrainwiseCallback  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from integration_data import blobs, noisy_cancer  # noqa: E402


@pytest.fixture(autouse=True)
def quiet_lightning():
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class Classifier(L.LightningModule):
    """The usual module; ``returns`` says what the steps hand back: ``"loss"``/``"logits"`` (train: the loss;
    validation: the logits) or ``"dicts"`` (``{"loss", "logits"}`` from both); ``log`` whether it logs."""

    def __init__(self, d: int, hidden: int, *, lr: float, returns: str = "loss", log: bool = True) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 2))
        self.lr, self.returns, self.logs = lr, returns, log

    def training_step(self, batch, batch_idx):
        x, y = (batch["x"], batch["labels"]) if isinstance(batch, dict) else batch
        out = self.net(x)
        loss = F.cross_entropy(out, y)
        if self.logs:
            self.log("train_loss", loss, on_step=False, on_epoch=True)
        return {"loss": loss, "logits": out} if self.returns == "dicts" else loss

    def validation_step(self, batch, batch_idx):
        x, y = (batch["x"], batch["labels"]) if isinstance(batch, dict) else batch
        out = self.net(x)
        loss = F.cross_entropy(out, y)
        if self.logs:
            self.log("val_loss", loss)
        return {"loss": loss, "logits": out} if self.returns == "dicts" else out

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


class DictRows(Dataset):
    """Rows as dicts with the target under ``labels`` (the Hugging Face convention)."""

    def __init__(self, X, y) -> None:
        self.X, self.y = torch.as_tensor(X), torch.as_tensor(y)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return {"x": self.X[i], "labels": self.y[i]}


def fit(module, train, val, callback, *, epochs, batch_size=16):
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=2, callbacks=[callback])
    loaders = [DataLoader(data if isinstance(data, Dataset) else TensorDataset(*map(torch.as_tensor, data)),
                          batch_size=bs, shuffle=shuffle, generator=torch.Generator().manual_seed(0))
               for data, bs, shuffle in ((train, batch_size, True), (val, 256, False)) if data is not None]
    trainer.fit(module, *loaders)
    return trainer


def test_an_overfitting_lightning_run_is_called_out_with_its_best_epoch(tmp_path, capsys):
    train, val = noisy_cancer()
    callback = TrainwiseCallback(out=tmp_path / "run")
    fit(Classifier(30, 256, lr=3e-3), train, val, callback, epochs=20)
    run = callback.run

    codes = {f.code for f in run.findings}
    assert "overfitting" in codes and run.verdict != "good"
    overfit = next(f for f in run.findings if f.code == "overfitting")
    assert overfit.evidence["best_epoch"] == run.best_epoch
    assert run.best_epoch < 10 and len(run.history) == 20
    # the sanity check's batches never reached the run: the last pass is the 269 validation rows
    assert run.metrics["num_samples"] == len(val[1])
    # losses are what the module logged; accuracy agrees with the confusion matrix
    last = run.history[-1]
    assert last["val_accuracy"] == run.metrics["accuracy"]
    assert set(last) >= {"epoch", "train_loss", "val_loss", "val_precision", "val_recall", "lr", "steps", "seconds"}
    assert last["lr"] == 3e-3 and last["steps"] == 20 * 5

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["best_epoch"] == run.best_epoch and summary["config"]["framework"] == "lightning"
    assert (tmp_path / "run" / "report.html").is_file() and (tmp_path / "run" / "history.jsonl").is_file()
    err = capsys.readouterr().err
    assert "overfitting" in err and f"best epoch {run.best_epoch} of 20" in err and "report.html" in err


def test_a_healthy_lightning_run_gets_no_warning_and_reads_dict_batches_and_dict_outputs(capsys):
    (Xt, yt), (Xv, yv) = blobs()
    callback = TrainwiseCallback(verbose=False)
    fit(Classifier(8, 16, lr=3e-3, returns="dicts", log=False), DictRows(Xt, yt), DictRows(Xv, yv), callback,
        epochs=10, batch_size=32)
    run = callback.run
    assert [f for f in run.findings if f.severity.value != "info"] == [], [f.message for f in run.findings]
    assert run.verdict == "good"
    # nothing was logged: every number was measured from the steps' outputs
    first = run.history[0]
    assert first["train_accuracy"] is not None and first["train_loss"] > run.history[-1]["train_loss"]
    assert run.metrics["num_samples"] == 200 and run.thresholds is not None
    assert capsys.readouterr().err == ""                     # verbose=False: silent


def test_validation_that_returns_nothing_keeps_the_logged_curves_without_a_confusion_matrix():
    train, val = noisy_cancer()

    class LogsOnly(Classifier):
        def validation_step(self, batch, batch_idx):
            super().validation_step(batch, batch_idx)         # logs val_loss, returns nothing
            return None

    callback = TrainwiseCallback(verbose=False, grad_norms=True)
    fit(LogsOnly(30, 32, lr=3e-3, returns="dicts"), train, val, callback, epochs=3)
    run = callback.run
    assert run.metrics is None and run.thresholds is None
    assert all(r["val_loss"] is not None and r["train_loss"] is not None for r in run.history)
    assert run.best_epoch is not None
    # training_step handed its logits over: training accuracy and (grad_norms=True) gradient norms
    assert run.history[0]["train_accuracy"] is not None
    assert run.history[0]["grad_norm_mean"] > 0 and run.history[0]["grad_top_layer"].startswith("net.")


def test_loss_of_accumulated_steps_is_the_steps_own():
    """Lightning hands ``loss / accumulate_grad_batches`` to on_train_batch_end: the record undoes it."""
    train, _ = noisy_cancer()

    class Unlogged(Classifier):
        def on_train_epoch_start(self):
            self.seen = []

        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            self.seen.append(float(loss) * len(batch[1]))
            return loss

    callback = TrainwiseCallback(verbose=False)
    module = Unlogged(30, 16, lr=1e-3, log=False)
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accumulate_grad_batches=2, callbacks=[callback])
    trainer.fit(module, DataLoader(TensorDataset(*map(torch.as_tensor, train)), batch_size=16))
    assert callback.run.history[0]["train_loss"] == pytest.approx(sum(module.seen) / 80, rel=1e-5)


@pytest.mark.skipif(os.environ.get("TRAINWISE_SLOW_TESTS") != "1",
                    reason="2 Lightning processes on gloo: about 70 s on the 2-core dev machine; TRAINWISE_SLOW_TESTS=1")
def test_under_ddp_every_rank_holds_the_same_run_and_rank_0_alone_prints_and_writes(tmp_path):
    worker = Path(__file__).parent / "helpers" / "lightning_ddp_worker.py"
    done = subprocess.run([sys.executable, str(worker), str(tmp_path)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr[-2000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for mine, theirs in zip(ranks[0]["history"], ranks[1]["history"], strict=True):
        mine.pop("seconds"), theirs.pop("seconds")
        assert mine == theirs
    # both shards measured (Lightning's DistributedSampler pads 269 rows to 2 x 135)
    assert ranks[0]["metrics"]["num_samples"] == 270
    assert (tmp_path / "run" / "summary.json").is_file()
    assert done.stderr.count("trainwise: Verdict") == 1
