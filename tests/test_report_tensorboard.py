"""TensorBoardLogger: event files that TensorBoard's own reader reads back with the history's values."""

from __future__ import annotations

import builtins
import math

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

from test_report_samples import binary_summary
from trainwise import InputError, Trainer
from trainwise.report import TensorBoardLogger
from trainwise.report.tensorboard import MAX_PR_POINTS, pr_curve_counts


def _read(log_dir) -> EventAccumulator:
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def test_scalars_read_back_equal_the_history(tmp_path):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(300, 5, generator=g)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0.7).long()
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    logger = TensorBoardLogger(tmp_path / "tb")
    run = Trainer(epochs=3, batch_size=32, seed=0, schedule="cosine", callbacks=[logger]).fit(
        model, (X[:240], y[:240]), (X[240:], y[240:]))
    logger.log_summary(run.summary())

    events = _read(tmp_path / "tb")
    scalar_tags = events.Tags()["scalars"]
    numeric = {k for r in run.history for k, v in r.items()
               if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert {f"epoch/{k}" for k in numeric} <= set(scalar_tags)
    assert {"epoch/train_loss", "epoch/val_loss", "epoch/val_accuracy", "epoch/val_precision", "epoch/val_recall",
            "epoch/val_f1", "epoch/lr"} <= set(scalar_tags)
    for key in numeric:
        logged = events.Scalars(f"epoch/{key}")
        assert [e.step for e in logged] == [r["epoch"] for r in run.history]
        expected = [float(r[key]) for r in run.history]
        assert [e.value for e in logged] == pytest.approx(expected, rel=1e-6, abs=1e-12), key   # float32 on disk

    lr = events.Scalars("step/lr")
    steps = run.history[-1]["steps"]
    assert [e.step for e in lr] == list(range(1, steps + 1))
    assert lr[0].value > lr[-1].value                   # the cosine schedule, step by step
    assert "verdict" in " ".join(events.Tags()["tensors"])   # add_text stores a text tensor


def test_pr_curve_from_the_summary(tmp_path):
    summary = binary_summary()
    logger = TensorBoardLogger(tmp_path / "tb")
    logger.log_summary(summary)

    events = _read(tmp_path / "tb")
    assert "pr_curve" in events.Tags()["tensors"]
    (event,) = events.Tensors("pr_curve")
    tp, fp, tn, fn, precision, recall = tensor_util.make_ndarray(event.tensor_proto)
    assert event.step == summary["history"][-1]["epoch"]
    assert len(recall) <= MAX_PR_POINTS
    assert np.all(np.diff(recall) <= 0)                # threshold rising: recall falling
    positives = summary["metrics"]["tp"] + summary["metrics"]["fn"]
    negatives = summary["metrics"]["tn"] + summary["metrics"]["fp"]
    np.testing.assert_allclose(tp + fn, positives, rtol=1e-5)
    np.testing.assert_allclose(fp + tn, negatives, rtol=1e-5)
    ok = tp > 0                                        # the (recall 0, precision 1) end has no alarms
    np.testing.assert_allclose(tp[ok] / (tp[ok] + fp[ok]), precision[ok], rtol=1e-4)
    np.testing.assert_allclose(tp / positives, recall, rtol=1e-4, atol=1e-6)
    # every point read back lies on the recorded curve
    curve = set(zip(np.round(summary["thresholds"]["curve"]["precision"], 5),
                    np.round(summary["thresholds"]["curve"]["recall"], 5), strict=True))
    assert all((round(float(p), 5), round(float(r), 5)) in curve for p, r in zip(precision, recall, strict=True))


def test_no_curve_no_pr_curve():
    summary = binary_summary()
    assert pr_curve_counts(summary["metrics"], {"best_f1": summary["thresholds"]["best_f1"]}) is None
    assert pr_curve_counts({"labels": ["a", "b", "c"]}, summary["thresholds"]) is None
    counts = pr_curve_counts(summary["metrics"], summary["thresholds"])
    assert counts is not None and all(math.isfinite(v) for column in counts for v in column)


def test_missing_tensorboard_is_a_clear_error(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith(("torch.utils.tensorboard", "tensorboard")):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(InputError, match=r"pip install 'trainwise\[tensorboard\]'"):
        TensorBoardLogger(tmp_path / "tb")
    assert not (tmp_path / "tb").exists()
