"""What the framework callbacks share, tested without any framework: key mapping, the session's epochs and
end, rank-0 gating, and the one-line error when a framework is missing."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from trainwise.integrations.common import Session, StepLosses, logged_record

FRAMEWORKS = {"lightning": ("lightning", "lightning.pytorch", "pytorch_lightning"),
              "transformers": ("transformers",), "keras": ("keras",)}


def session(out=None, **options):
    defaults = {"verbose": False, "labels": None, "positive": None, "threshold": None, "target_recall": 0.8,
                "target_precision": None, "monitor": "val_loss", "title": None}
    return Session("test", out, **{**defaults, **options})


def test_import_trainwise_imports_no_framework():
    code = ("import sys, trainwise, trainwise.integrations, trainwise.integrations.common; "
            "print(sorted(m for m in ('lightning', 'pytorch_lightning', 'transformers', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_a_callback_without_its_framework_is_a_one_line_import_error_naming_the_extra(framework, monkeypatch):
    for name in FRAMEWORKS[framework]:
        monkeypatch.setitem(sys.modules, name, None)       # as if not installed
    monkeypatch.delitem(sys.modules, f"trainwise.integrations.{framework}", raising=False)
    with pytest.raises(ImportError) as caught:
        importlib.import_module(f"trainwise.integrations.{framework}")
    message = str(caught.value)
    assert message == f"{framework} is not installed: pip install 'trainwise[{framework}]'"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_logged_keys_map_with_diagnoses_rules_and_per_epoch_values_win():
    lightning = {"train_loss_step": torch.tensor(0.9), "train_loss_epoch": torch.tensor(0.5),
                 "train_loss": torch.tensor(0.7), "val_acc": torch.tensor(0.8), "lr-Adam": 0.01,
                 "test_loss": 1.0, "epoch": 3, "note": "text"}
    assert logged_record(lightning) == pytest.approx({"train_loss": 0.5, "val_accuracy": 0.8, "lr": 0.01})
    hf = {"eval_loss": 0.3, "eval_f1": 0.6, "loss": 0.4, "learning_rate": 1e-4, "eval_runtime": 0.1,
          "grad_norm_mean": 2.0}
    assert logged_record(hf) == {"val_loss": 0.3, "val_f1": 0.6, "train_loss": 0.4, "lr": 1e-4,
                                 "grad_norm_mean": 2.0}
    keras = {"loss": 0.2, "accuracy": 0.9, "val_loss": 0.25, "val_accuracy": 0.88}
    assert logged_record(keras) == {"train_loss": 0.2, "train_accuracy": 0.9, "val_loss": 0.25,
                                    "val_accuracy": 0.88}


def test_step_losses_weigh_each_step_by_its_samples():
    losses = StepLosses()
    losses.add(torch.tensor(1.0), 30)
    losses.add(torch.tensor(4.0), 10)
    assert losses.read(session().monitor.world) == pytest.approx((30 + 40) / 40)
    assert StepLosses().read(session().monitor.world) is None


def binary_batches(seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (64,), generator=g)
    logits = torch.randn(64, 2, generator=g) + torch.stack([1 - y, y], dim=1) * 2.0
    return logits, y


def test_losses_come_from_the_log_and_metrics_from_the_predictions():
    s = session()
    logits, y = binary_batches()
    s.begin()
    s.train_step(F.cross_entropy(logits, y), None, y)
    s.val_step(None, logits, y)
    record = s.close_epoch(s.measure_epoch(lr=0.1), {"val_loss": 9.0, "val_acc": 0.0, "val_f1_score": 0.5})
    assert record["val_loss"] == 9.0                                      # the user's own loss
    assert record["val_accuracy"] == s.monitor.metrics["accuracy"] != 0.0  # agrees with the confusion matrix
    assert record["train_loss"] == pytest.approx(F.cross_entropy(logits, y).item())
    assert record["lr"] == 0.1 and record["epoch"] == 1 and s.monitor.best.epoch == 1


def test_only_the_main_process_prints_and_writes(tmp_path, capsys):
    logits, y = binary_batches()
    for main in (False, True):
        s = session(tmp_path / "run" if not main else None, verbose=True)
        s.begin(main=main)
        s.val_step(None, logits, y)
        s.close_epoch(s.measure_epoch())
        run = s.finish(config={})
        assert run.metrics is not None and run.config["framework"] == "test"
    assert not (tmp_path / "run").exists()
    assert capsys.readouterr().err.count("trainwise: Verdict") == 1


def test_an_epoch_with_neither_loss_nor_validation_is_recorded_but_not_judged():
    s = session()
    s.begin()
    record = s.close_epoch(s.measure_epoch())
    assert record["train_loss"] is None and s.monitor.best.epoch is None


def test_a_run_without_validation_is_never_a_bare_good():
    s = session()
    s.begin()
    for epoch in range(4):
        logits, y = binary_batches(epoch)
        s.train_step(F.cross_entropy(logits, y) / (epoch + 1), logits, y)
        s.close_epoch(s.measure_epoch())
    run = s.finish(config={})
    assert run.metrics is None
    assert run.verdict != "good"
    assert "no_validation" in {f.code for f in run.findings}
