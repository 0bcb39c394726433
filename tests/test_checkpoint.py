"""Never lose a run: atomic checkpoints, exact resume, best weights, early stopping, the NaN guard."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import trainwise as tw
from trainwise.checkpoint import LAST, PREVIOUS, load_checkpoint, save_checkpoint
from trainwise.claim import LOCK
from trainwise.errors import InputError
from trainwise.loop import TrainingDiverged


def blobs(n=400, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    X = torch.randn(3, d, generator=g)[y] * 1.5 + torch.randn(n, d, generator=g)
    return X, y


def model_factory(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))


def no_time(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


class Crash(tw.Callback):
    """Simulates a process dying after a given optimizer step."""

    def __init__(self, at_step):
        self.at_step = at_step

    def on_batch_end(self, state):
        if state.step == self.at_step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("schedule", ["none", "onecycle", "plateau", "cosine"])
@pytest.mark.parametrize("crash_at", [7, 13, 25])     # mid-epoch and right after an epoch's end (13 steps/epoch)
def test_resume_is_bit_identical(tmp_path, crash_at, schedule):
    X, y = blobs()
    settings = dict(optimizer="adam", epochs=4, batch_size=24, seed=3, schedule=schedule, early_stopping=10,
                    checkpoint_every=5)
    whole = model_factory()
    ref = tw.Trainer(checkpoint_dir=str(tmp_path / "ref"), **settings).fit(whole, (X[:300], y[:300]),
                                                                          (X[300:], y[300:]))
    crashed = model_factory()
    with pytest.raises(KeyboardInterrupt):
        tw.Trainer(checkpoint_dir=str(tmp_path / "run"), callbacks=[Crash(crash_at)], **settings).fit(
            crashed, (X[:300], y[:300]), (X[300:], y[300:]))
    resumed_model = model_factory(seed=99)            # other weights: all must come from the checkpoint
    resumed = tw.Trainer(checkpoint_dir=str(tmp_path / "run"), **settings).fit(
        resumed_model, (X[:300], y[:300]), (X[300:], y[300:]), resume=True)
    assert no_time(resumed.history) == no_time(ref.history)
    for (name, a), b in zip(whole.state_dict().items(), resumed_model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert resumed.metrics == ref.metrics


def test_a_damaged_checkpoint_falls_back_to_the_previous_one(tmp_path):
    save_checkpoint(tmp_path, {"format": "trainwise-checkpoint-1", "epoch": 1})
    save_checkpoint(tmp_path, {"format": "trainwise-checkpoint-1", "epoch": 2})
    assert load_checkpoint(tmp_path)[0]["epoch"] == 2
    last = tmp_path / LAST
    last.write_bytes(last.read_bytes()[:40])          # truncated, as by a crash of the disk
    payload, path = load_checkpoint(tmp_path)
    assert (payload["epoch"], path.name) == (1, PREVIOUS)
    assert last.exists()                              # nothing silently deleted
    (tmp_path / PREVIOUS).write_bytes(os.urandom(64))
    with pytest.raises(InputError, match="no complete checkpoint to resume from"):
        load_checkpoint(tmp_path)


def test_checkpoints_never_unpickle_code(tmp_path):
    torch.save({"format": "trainwise-checkpoint-1", "evil": print}, tmp_path / LAST)
    with pytest.raises(InputError, match="damaged"):
        load_checkpoint(tmp_path)


def test_disk_full_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, {"format": "trainwise-checkpoint-1", "epoch": 1})

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(InputError, match="No space left on device"):
        save_checkpoint(tmp_path, {"format": "trainwise-checkpoint-1", "epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(tmp_path)[0]["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [LAST]     # no temp file left behind


def test_resume_with_other_settings_is_refused(tmp_path):
    X, y = blobs()
    tw.Trainer(epochs=1, checkpoint_dir=str(tmp_path)).fit(model_factory(), (X, y))
    with pytest.raises(InputError, match=r"other settings \(batch_size: 256 -> 7\)"):
        tw.Trainer(epochs=2, batch_size=7, checkpoint_dir=str(tmp_path)).fit(model_factory(), (X, y), resume=True)


def test_resume_can_train_longer(tmp_path):
    X, y = blobs()
    short = tw.Trainer(epochs=2, seed=1, checkpoint_dir=str(tmp_path / "a")).fit(model_factory(), (X, y))
    longer = tw.Trainer(epochs=4, seed=1, checkpoint_dir=str(tmp_path / "a")).fit(model_factory(), (X, y),
                                                                                  resume=True)
    straight = tw.Trainer(epochs=4, seed=1).fit(model_factory(), (X, y))
    assert no_time(longer.history[:2]) == no_time(short.history)
    assert no_time(longer.history) == no_time(straight.history)


class Worsen(tw.Callback):
    """Makes validation look worse after epoch 2 by corrupting the weights (an overfitting stand-in)."""

    def on_epoch_start(self, state):
        if state.epoch >= 3:
            with torch.no_grad():
                for p in state.model.parameters():
                    p.add_(torch.randn_like(p) * 0.5)


def test_early_stopping_stops_and_restores_the_best_weights(tmp_path):
    X, y = blobs()
    model = model_factory()
    run = tw.Trainer(epochs=20, early_stopping=2, checkpoint_dir=str(tmp_path), callbacks=[Worsen()]).fit(
        model, (X[:300], y[:300]), (X[300:], y[300:]))
    assert len(run.history) < 20
    assert "early stopping: val_loss did not improve" in run.stop_reason
    best = run.best_epoch
    assert run.restored_epoch == best
    assert run.history[best - 1]["val_loss"] == min(r["val_loss"] for r in run.history)
    # the model ends with the best epoch's weights, and the metrics describe that model
    saved = load_file(tmp_path / "best.safetensors")
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor.cpu(), saved[name])
    assert run.metrics["loss"] == pytest.approx(run.history[best - 1]["val_loss"], rel=1e-6)


def test_best_weights_are_restored_even_when_early_stopping_never_fires():
    """Keras restores best weights only when stopping triggers; we restore whenever asked."""
    X, y = blobs()
    model = model_factory()
    run = tw.Trainer(epochs=4, restore_best=True, callbacks=[Worsen()]).fit(model, (X[:300], y[:300]),
                                                                           (X[300:], y[300:]))
    assert run.stop_reason is None and len(run.history) == 4
    assert run.restored_epoch == run.best_epoch < 4
    assert run.metrics["loss"] == pytest.approx(run.history[run.best_epoch - 1]["val_loss"], rel=1e-6)


def test_nan_loss_stops_or_raises_and_keeps_the_last_good_checkpoint(tmp_path):
    X, y = blobs()
    settings = dict(optimizer="sgd", lr=1e6, epochs=10, batch_size=16)
    run = tw.Trainer(checkpoint_dir=str(tmp_path / "stop"), **settings).fit(model_factory(), (X, y), (X, y))
    assert run.stop_reason.startswith("training loss became")
    assert len(run.history) < 10
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        tw.Trainer(checkpoint_dir=str(tmp_path / "raise"), on_nan="raise", **settings).fit(model_factory(), (X, y))
    for folder in ("stop", "raise"):
        if (tmp_path / folder / LAST).exists():
            payload, _ = load_checkpoint(tmp_path / folder)
            assert all(torch.isfinite(t).all() for t in payload["model"].values())


@pytest.fixture(scope="module")
def transactions_csv(tmp_path_factory):
    from trainwise.data import load_transactions
    path = tmp_path_factory.mktemp("tx") / "transactions.csv"
    load_transactions().to_csv(path, index=False)
    return path


def _fit_cmd(csv, out, *extra):
    return [sys.executable, "-m", "trainwise", "fit", str(csv), "--target", "is_fraud", "--epochs", "3",
            "--batch-size", "64", "--checkpoint-every", "37", "--seed", "4", "--out", str(out), "--quiet", *extra]


def test_sigkill_at_random_points_then_resume_ends_bit_identical(transactions_csv, tmp_path):
    """A real process killed with SIGKILL or SIGINT (mid-epoch too), resumed until done, equals an
    uninterrupted run. While one runs, a second process is refused the folder (the lock); a killed one's
    lock is stale and taken over by the next."""
    subprocess.run(_fit_cmd(transactions_csv, tmp_path / "ref"), check=True, capture_output=True, timeout=300)
    rng = random.Random(0)
    out = tmp_path / "run"
    kills = 0
    proc = subprocess.Popen(_fit_cmd(transactions_csv, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for attempt in range(3):                             # kill up to three times at random moments
        deadline = time.time() + 120
        while not (out / LAST).exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        if attempt == 0 and proc.poll() is None:         # a second process meanwhile: refused, nothing touched
            second = subprocess.run(_fit_cmd(transactions_csv, out, "--resume"), capture_output=True, timeout=300)
            assert second.returncode == 2 and b"in use by another trainwise process" in second.stderr, second.stderr
        time.sleep(rng.uniform(0.0, 1.5))
        if proc.poll() is not None:
            break
        sig = rng.choice([signal.SIGKILL, signal.SIGINT])
        proc.send_signal(sig)
        proc.wait()
        assert (out / LOCK).exists() == (sig == signal.SIGKILL and proc.returncode == -signal.SIGKILL)
        kills += 1
        proc = subprocess.Popen(_fit_cmd(transactions_csv, out, "--resume"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    assert kills >= 1
    ref, got = load_file(tmp_path / "ref" / "model.safetensors"), load_file(out / "model.safetensors")
    assert ref.keys() == got.keys()
    for name in ref:
        assert torch.equal(ref[name], got[name]), name
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    ref_history = [json.loads(line) for line in (tmp_path / "ref" / "history.jsonl").read_text().splitlines()]
    assert no_time(history) == no_time(ref_history)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert not (out / LOCK).exists()
