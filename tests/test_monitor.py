"""tw.Monitor: the engine under the Trainer, driven by a hand-written loop."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import trainwise as tw
from trainwise.batching import epoch_generator


def blobs(n=400, d=6, classes=2, seed=0, minority=None):
    g = torch.Generator().manual_seed(seed)
    if minority is None:
        y = torch.randint(0, classes, (n,), generator=g)
    else:
        y = (torch.rand(n, generator=g) < minority).long()
    centers = torch.randn(classes, d, generator=g) * 2
    return centers[y] + torch.randn(n, d, generator=g), y


def make_model(d=6, out=2):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Linear(16, out))


def hand_written(model, train, val, *, epochs, batch_size, lr, seed=0):
    """The loop a PyTorch user writes, with the Monitor's four calls, in the Trainer's batch order."""
    X, y = train
    Xv, yv = val
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    mon = tw.Monitor(model=model)
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(X), generator=epoch_generator(seed, epoch))
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad(set_to_none=True)
            out = model(X[idx])
            loss = F.cross_entropy(out, y[idx])
            loss.backward()
            mon.train_step(loss, out, y[idx])
            opt.step()
        model.eval()
        with torch.inference_mode():
            for i in range(0, len(Xv), 4 * batch_size):
                mon.val_step(None, model(Xv[i:i + 4 * batch_size]), yv[i:i + 4 * batch_size])
        mon.end_epoch(lr=lr)
    return mon.finish()


def test_a_hand_written_loop_gets_the_trainers_history_and_metrics_exactly():
    X, y = blobs()
    train, val = (X[:300], y[:300]), (X[300:], y[300:])
    by_trainer = tw.Trainer(optimizer="adam", lr=1e-2, epochs=4, batch_size=32, seed=0, device="cpu").fit(
        make_model(), train, val)
    by_hand = hand_written(make_model(), train, val, epochs=4, batch_size=32, lr=1e-2)

    assert len(by_hand.history) == len(by_trainer.history) == 4
    for mine, theirs in zip(by_hand.history, by_trainer.history, strict=True):
        for key in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_precision",
                    "val_recall", "val_f1", "val_balanced_accuracy", "lr", "steps", "grad_top_layer"):
            assert mine[key] == theirs[key], key
        # norms: measured at the step by hand, deferred by the Trainer (same values up to rounding)
        assert mine["grad_norm_mean"] == pytest.approx(theirs["grad_norm_mean"], rel=1e-5)
        assert mine["grad_norm_max"] == pytest.approx(theirs["grad_norm_max"], rel=1e-5)
    # the Trainer's end-of-fit assessment (calibration, the logistic-regression baseline) is its own
    trainer_only = ("calibration", "baseline")
    assert by_hand.metrics == {k: v for k, v in by_trainer.metrics.items() if k not in trainer_only}
    assert by_hand.best_epoch == by_trainer.best_epoch
    assert by_hand.verdict == by_trainer.verdict
    assert by_hand.thresholds["best_f1"] == by_trainer.thresholds["best_f1"]
    assert [f.code for f in by_hand.findings] == [f.code for f in by_trainer.findings]


def test_monitor_infers_the_task_and_judges_an_imbalanced_run_bad():
    """The self-check, in a hand-written loop: a model that learned only the majority class."""
    X, y = blobs(n=2000, minority=0.03, seed=1)
    mon = tw.Monitor(labels=["ok", "fraud"])
    model = nn.Linear(6, 2)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([3.0, -3.0]))       # always "ok"
    for _ in range(3):
        out = model(X[:1500])
        mon.train_step(F.cross_entropy(out, y[:1500]), out, y[:1500])
        with torch.no_grad():
            mon.val_step(None, model(X[1500:]), y[1500:])
        mon.end_epoch()
    run = mon.finish()
    assert run.verdict == "bad"
    codes = {f.code for f in run.findings}
    assert "accuracy_paradox" in codes
    assert run.metrics["positive_label"] == "fraud"
    assert run.metrics["recall"] == 0.0
    assert run.history[-1]["grad_norm_mean"] is None        # no model given: no gradients measured


def test_monitor_single_logit_with_float_targets_and_given_loss():
    X, y = blobs()
    model = make_model(out=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mon = tw.Monitor(model=model)
    for _ in range(5):
        opt.zero_grad()
        out = model(X[:300]).squeeze(1)
        loss = F.binary_cross_entropy_with_logits(out, y[:300].float())
        loss.backward()
        opt.step()
        mon.train_step(loss, out, y[:300].float())
        with torch.no_grad():
            vout = model(X[300:]).squeeze(1)
            mon.val_step(F.binary_cross_entropy_with_logits(vout, y[300:].float()), vout, y[300:].float())
        record = mon.end_epoch(lr=0.1)
    assert record["epoch"] == 5 and math.isfinite(record["val_loss"])
    run = mon.finish()
    assert run.metrics["num_samples"] == 100
    assert run.best_epoch is not None
    assert run.thresholds is not None and "best_f1" in run.thresholds


def test_monitor_without_validation_is_not_a_bare_good():
    X, y = blobs()
    mon = tw.Monitor()
    model = make_model()
    for _ in range(2):
        out = model(X)
        mon.train_step(F.cross_entropy(out, y), out, y)
        mon.end_epoch()
    run = mon.finish()
    assert run.metrics is None
    assert run.history[0]["train_loss"] > 0
    assert run.verdict == "warning"
    assert "no_validation" in {f.code for f in run.findings}


def test_a_trainer_fit_without_validation_data_is_not_a_bare_good():
    X, y = blobs()
    run = tw.Trainer(epochs=2, batch_size=64, device="cpu").fit(make_model(), (X, y))
    assert run.verdict != "good"
    assert "no_validation" in {f.code for f in run.findings}


def test_the_scores_orientation_is_the_positive_class_given_never_a_silent_flip():
    from sklearn.metrics import roc_auc_score

    X, y = blobs(n=600, minority=0.2, seed=2)
    model = make_model()
    for positive in (1, 0):
        mon = tw.Monitor(labels=["ok", "fraud"], positive=positive)
        out = model(X[:400])
        mon.train_step(F.cross_entropy(out, y[:400]), out, y[:400])
        with torch.no_grad():
            val_out = model(X[400:])
            mon.val_step(None, val_out, y[400:])
        mon.end_epoch()
        run = mon.finish()
        p = torch.softmax(val_out, dim=1)[:, positive]
        assert run.metrics["positive_label"] == ["ok", "fraud"][positive]
        assert run.metrics["roc_auc"] == pytest.approx(roc_auc_score((y[400:] == positive).numpy(), p.numpy()),
                                                       abs=1e-3)
    with pytest.raises(ValueError, match="0 or 1"):
        tw.Monitor(positive=2)


def test_a_hand_written_loop_over_dict_batches_and_dict_outputs_gets_the_trainers_run():
    """The Monitor against the Trainer on the same model and the same (dict) batches of a DataLoader."""
    from torch.utils.data import DataLoader

    class DictModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = make_model()

        def forward(self, features, scale):
            return {"logits": self.net(features * scale[:, None])}

    X, y = blobs(n=320)
    rows = [{"features": X[i], "scale": torch.tensor(1.0), "labels": y[i]} for i in range(320)]
    train, val = DataLoader(rows[:240], batch_size=48), DataLoader(rows[240:], batch_size=80)
    by_trainer = tw.Trainer(optimizer="adam", lr=1e-2, epochs=3, seed=0, device="cpu").fit(DictModel(), train, val)

    model = DictModel()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    mon = tw.Monitor(model=model)
    for _ in range(3):
        model.train()
        for batch in train:
            labels = batch.pop("labels")
            opt.zero_grad(set_to_none=True)
            out = model(**batch)
            loss = F.cross_entropy(out["logits"], labels)
            loss.backward()
            mon.train_step(loss, out, labels)                 # the dict output as the model gave it
            opt.step()
        model.eval()
        with torch.inference_mode():
            for batch in val:
                labels = batch.pop("labels")
                mon.val_step(None, model(**batch), labels)
        mon.end_epoch(lr=1e-2)
    by_hand = mon.finish()
    for mine, theirs in zip(by_hand.history, by_trainer.history, strict=True):
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_f1"):
            assert mine[key] == theirs[key], key
    assert by_hand.metrics == {k: v for k, v in by_trainer.metrics.items() if k not in ("calibration", "baseline")}


def test_the_readme_hand_written_loop_runs():
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A hand-written loop", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    assert 12 <= len(code.strip().splitlines()) <= 30
    namespace: dict = {}
    torch.manual_seed(0)
    exec(compile(code, "README.md", "exec"), namespace)
    run = namespace["run"]
    assert run.verdict in ("good", "warning", "bad") and len(run.history) == 5
    assert run.metrics["accuracy"] > 0.9


def test_progress_is_on_by_default_on_a_terminal_and_off_with_progress_false(monkeypatch):
    from trainwise import loop
    from trainwise.report.progress import RichProgress

    X, y = blobs(n=64)
    monkeypatch.setattr(loop, "_is_terminal", lambda stream: True)
    shown = tw.Trainer(epochs=1, batch_size=64)
    shown.fit(make_model(), (X, y))
    assert [type(c) for c in shown._running] == [RichProgress]
    quiet = tw.Trainer(epochs=1, batch_size=64, progress=False)
    quiet.fit(make_model(), (X, y))
    assert quiet._running == []
    monkeypatch.setattr(loop, "_is_terminal", lambda stream: False)
    plain = tw.Trainer(epochs=1, batch_size=64)
    plain.fit(make_model(), (X, y))
    assert plain._running == []
