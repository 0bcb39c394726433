"""The loop's semantics: each test fails if one piece of PRODUCT.md point 1 were missing."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import trainwise as tw
from trainwise.errors import InputError


def blobs(n=300, d=6, classes=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    centers = torch.randn(classes, d, generator=g) * 2
    X = centers[y] + torch.randn(n, d, generator=g)
    return X, y


def make_model(d=6, out=2, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    layers = [nn.Linear(d, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(16, out))
    return nn.Sequential(*layers)


def on_model_device(model, *tensors):
    """The tensors on the device `fit` moved the model to (CUDA where present: ``device="auto"``)."""
    device = next(model.parameters()).device
    return [t.to(device) for t in tensors]


def strip_time(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def test_one_epoch_equals_a_hand_written_loop():
    """zero_grad -> forward -> loss -> backward -> step per batch, in the seeded order.
    Without zero_grad, gradients would accumulate and the weights would differ."""
    X, y = blobs()
    model = make_model()
    reference = copy.deepcopy(model)
    tw.Trainer(optimizer="sgd", lr=0.1, epochs=2, batch_size=32, seed=3).fit(model, (X, y))

    reference.to(next(model.parameters()).device)
    X, y = on_model_device(model, X, y)
    opt = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    from trainwise.batching import epoch_generator
    for epoch in (1, 2):
        order = torch.randperm(len(X), generator=epoch_generator(3, epoch)).to(X.device)
        for i in range(0, len(X), 32):
            idx = order[i:i + 32]
            opt.zero_grad()
            F.cross_entropy(reference(X[idx]), y[idx]).backward()
            opt.step()
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_validation_runs_in_eval_mode_under_inference_mode():
    X, y = blobs()
    model = make_model(dropout=0.5)
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append(
        (m.training, torch.is_inference_mode_enabled(), torch.is_grad_enabled())))
    tw.Trainer(epochs=1, batch_size=100, seed=0).fit(model, (X[:200], y[:200]), (X[200:], y[200:]))
    probes, train_steps, val_steps = seen[:2], seen[2:4], seen[4:]
    # the task probes run in eval mode: the training one keeps its graph (it shows a final sigmoid/softmax),
    # the validation one runs under inference mode
    assert probes == [(False, False, True), (False, True, False)]
    assert all(s == (True, False, True) for s in train_steps)
    assert val_steps and all(s == (False, True, False) for s in val_steps)


def test_dropout_off_in_validation_so_val_loss_matches_eval_mode():
    """If validation ran in train mode, dropout would make val_loss differ from the eval-mode loss."""
    X, y = blobs()
    model = make_model(dropout=0.5)
    run = tw.Trainer(epochs=2, batch_size=64, seed=0).fit(model, (X[:200], y[:200]), (X[200:], y[200:]))
    model.eval()
    X, y = on_model_device(model, X, y)
    with torch.no_grad():
        expected = F.cross_entropy(model(X[200:]), y[200:]).item()
    assert run.history[-1]["val_loss"] == pytest.approx(expected, rel=1e-5)
    assert run.metrics["loss"] == pytest.approx(expected, rel=1e-5)


def test_losses_are_averaged_per_sample_with_a_short_last_batch():
    X, y = blobs(n=10)
    model = make_model()
    frozen = lambda params: torch.optim.SGD(params, lr=0.0)  # noqa: E731 - weights stay put
    run = tw.Trainer(optimizer=frozen, epochs=1, batch_size=4, val_batch_size=3, seed=0).fit(model, (X, y), (X, y))
    X, y = on_model_device(model, X, y)
    with torch.no_grad():
        expected = F.cross_entropy(model(X), y).item()
    assert run.history[0]["train_loss"] == pytest.approx(expected, rel=1e-6)
    assert run.history[0]["val_loss"] == pytest.approx(expected, rel=1e-6)


def test_same_seed_same_history_and_weights():
    X, y = blobs()
    runs = []
    for _ in range(2):
        model = make_model(dropout=0.3, seed=1)
        runs.append((tw.Trainer(epochs=3, batch_size=32, seed=7).fit(model, (X[:240], y[:240]), (X[240:], y[240:])),
                     model))
    assert strip_time(runs[0][0].history) == strip_time(runs[1][0].history)
    for a, b in zip(runs[0][1].parameters(), runs[1][1].parameters(), strict=True):
        assert torch.equal(a, b)
    other = tw.Trainer(epochs=3, batch_size=32, seed=8).fit(make_model(dropout=0.3, seed=1), (X[:240], y[:240]))
    assert strip_time(other.history) != [{k: v for k, v in r.items() if not k.startswith("val")}
                                         for r in strip_time(runs[0][0].history)]


def test_history_records_the_contract_keys():
    X, y = blobs()
    run = tw.Trainer(epochs=2, batch_size=64).fit(make_model(), (X[:200], y[:200]), (X[200:], y[200:]))
    record = run.history[0]
    for key in ("epoch", "train_loss", "val_loss", "val_accuracy", "val_precision", "val_recall", "val_f1", "lr",
                "seconds", "grad_norm_mean", "grad_norm_max", "grad_top_layer", "steps"):
        assert key in record, key
    assert [r["epoch"] for r in run.history] == [1, 2]
    assert run.history[1]["steps"] == 2 * 4
    assert record["grad_norm_max"] >= record["grad_norm_mean"] > 0
    assert run.best_epoch in (1, 2)
    assert run.verdict in ("good", "warning", "bad")


def _inputs(X, y):
    class Plain(Dataset):
        def __len__(self):
            return len(X)

        def __getitem__(self, i):
            return X[i], y[i]

    return {
        "tensors": (X, y),
        "arrays": (X.numpy(), y.numpy()),
        "tensor_dataset": TensorDataset(X, y),
        "dataset": Plain(),
        "dataloader": DataLoader(TensorDataset(X, y), batch_size=50),
    }


@pytest.mark.parametrize("kind", ["tensors", "arrays", "tensor_dataset", "dataset", "dataloader"])
def test_accepts_every_input_kind(kind):
    X, y = blobs()
    train = _inputs(X[:200], y[:200])[kind]
    val = _inputs(X[200:], y[200:])[kind]
    run = tw.Trainer(epochs=2, batch_size=50).fit(make_model(), train, val)
    assert run.metrics["num_samples"] == 100
    assert len(run.history) == 2


@pytest.mark.parametrize("out", [1, 2])
def test_binary_models_with_one_or_two_logits(out):
    X, y = blobs()
    model = make_model(out=out)
    if out == 1:
        model.append(nn.Flatten(0))
    run = tw.Trainer(epochs=5, batch_size=32, lr=1e-2).fit(model, (X[:200], y[:200]), (X[200:], y[200:]))
    assert run.metrics["accuracy"] > 0.8
    assert run.metrics["positive_label"] == "1"
    cm = np.array(run.metrics["confusion_matrix"])
    assert cm.sum() == 100


def test_multiclass_metrics_match_sklearn_on_the_same_predictions():
    from sklearn.metrics import accuracy_score, f1_score
    X, y = blobs(classes=4)
    model = make_model(out=4)
    run = tw.Trainer(epochs=3, batch_size=32).fit(model, (X[:200], y[:200]), (X[200:], y[200:]))
    model.eval()
    with torch.no_grad():
        preds = model(*on_model_device(model, X[200:])).argmax(1).cpu().numpy()
    assert run.metrics["accuracy"] == pytest.approx(accuracy_score(y[200:], preds))
    assert run.metrics["f1"] == pytest.approx(f1_score(y[200:], preds, average="macro", labels=range(4),
                                                       zero_division=0))


def test_evaluate_gives_one_pass_of_metrics():
    X, y = blobs()
    model = make_model()
    trainer = tw.Trainer(epochs=1)
    metrics = trainer.evaluate(model, (X, y))
    assert metrics["num_samples"] == len(X)
    assert metrics == trainer.evaluate(model, TensorDataset(X, y))


def test_labels_out_of_range_are_named():
    X, y = blobs()
    y[5] = 7
    with pytest.raises(InputError, match="label 7 is out of range for a model with 2 outputs"):
        tw.Trainer(epochs=1).fit(make_model(), (X, y))


def test_length_mismatch_and_nan_features_are_named():
    X, y = blobs()
    with pytest.raises(InputError, match="X has 300 rows but y has 299"):
        tw.Trainer(epochs=1).fit(make_model(), (X, y[:-1]))
    X[3, 2] = float("nan")
    with pytest.raises(InputError, match="NaN or Inf in 1 row"):
        tw.Trainer(epochs=1).fit(make_model(), (X, y))


@pytest.mark.parametrize("settings, message", [
    ({"epochs": 0}, "`epochs` to be an int >= 1"),
    ({"batch_size": -3}, "`batch_size` to be an int >= 1"),
    ({"lr": 0.0}, "lr"),
    ({"optimizer": "adamx"}, "unknown optimizer 'adamx'; choose one of: sgd, adam, adamw, rmsprop"),
    ({"schedule": "cosin"}, "unknown schedule 'cosin'"),
])
def test_bad_settings_fail_before_training(settings, message):
    with pytest.raises(InputError, match=message):
        tw.Trainer(**settings)


def test_nan_loss_stops_the_run():
    X, y = blobs()
    model = make_model()
    run = tw.Trainer(optimizer="sgd", lr=1e8, epochs=30, batch_size=16).fit(model, (X, y), (X, y))
    assert len(run.history) < 30
    assert "training loss became" in run.stop_reason


class _SyncCounter:
    """Counts the host reads made from trainwise's own code (tensor -> Python value)."""

    METHODS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "cpu", "numpy")

    def __init__(self, monkeypatch):
        self.count = 0
        for name in self.METHODS:
            original = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._wrap(original))

    def _wrap(self, original):
        import sys

        def counted(tensor, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if "trainwise" in caller and "tests" not in caller:
                self.count += 1
            return original(tensor, *args, **kwargs)

        return counted


def test_no_host_sync_per_step(monkeypatch):
    """Reads to the host happen per epoch, never per step: 10x the steps, the same count."""
    X, y = blobs(n=640)
    counts = []
    for batch_size in (64, 8):            # 10 and 80 steps per epoch
        model = make_model()
        trainer = tw.Trainer(optimizer="sgd", epochs=2, batch_size=batch_size, val_batch_size=batch_size)
        trainer.fit(model, (X[:100], y[:100]), (X[100:110], y[100:110]))     # warm-up outside the count
        counter = _SyncCounter(monkeypatch)
        trainer.fit(model, (X, y), (X[:80], y[:80]))
        counts.append(counter.count)
        monkeypatch.undo()
    assert counts[0] == counts[1], counts
    assert counts[0] > 0               # the counter does see the per-epoch reads


def test_bf16_autocast_trains_and_reports_float_metrics():
    X, y = blobs()
    run = tw.Trainer(epochs=3, batch_size=32, precision="bf16").fit(make_model(), (X[:200], y[:200]),
                                                                  (X[200:], y[200:]))
    assert run.metrics["accuracy"] > 0.8
    assert isinstance(run.history[-1]["val_loss"], float)


@pytest.mark.parametrize("single_logit", [False, True])
def test_validation_measured_in_folds_equals_batch_by_batch(monkeypatch, single_logit):
    """Validation outputs are measured a fold of batches at a time: the same metrics, thresholds and
    curve as measuring every batch on its own."""
    X, y = blobs(n=600)

    def fit():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(X.shape[1], 8), nn.ReLU(), nn.Linear(8, 1 if single_logit else 2))
        return tw.Trainer(epochs=2, batch_size=32, val_batch_size=16, seed=0).fit(model, (X[:400], y[:400]),
                                                                                (X[400:], y[400:]))
    folded = fit()
    monkeypatch.setattr(tw.monitor, "EVAL_FOLD_ELEMENTS", 1)          # one batch per fold
    single = fit()
    assert folded.metrics.keys() == single.metrics.keys()
    for key, value in folded.metrics.items():
        if isinstance(value, float):
            assert value == pytest.approx(single.metrics[key], rel=1e-6), key
        else:
            assert value == single.metrics[key], key
    assert folded.thresholds == single.thresholds


def test_two_logit_predictions_equal_argmax_ties_included():
    g = torch.Generator().manual_seed(0)
    out = torch.randint(-2, 3, (5000, 2), generator=g).float()        # many ties
    assert (out[:, 0] == out[:, 1]).any()
    assert torch.equal(tw.task.argmax(out), out.argmax(dim=1))
    wide = torch.randn(100, 5, generator=g)
    assert torch.equal(tw.task.argmax(wide), wide.argmax(dim=1))


def test_a_table_kept_in_host_memory_trains_as_one_on_the_device(monkeypatch):
    """A table too large for the GPU stays in host memory and each batch is copied: the same run."""
    from trainwise import batching

    X, y = blobs()

    def fit():
        return tw.Trainer(epochs=2, batch_size=32, seed=4).fit(make_model(dropout=0.2, seed=2), (X[:250], y[:250]),
                                                               (X[250:], y[250:]))
    resident = fit()
    assert not batching.stays_on_host(X, y, torch.device("cpu"))     # only a GPU can be too small
    monkeypatch.setattr(batching, "stays_on_host", lambda X, y, device: True)
    copied = fit()
    assert strip_time(copied.history) == strip_time(resident.history)
    assert copied.metrics == resident.metrics


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_table_over_the_device_share_stays_on_the_host(monkeypatch):
    from trainwise import batching

    X, y = blobs()
    monkeypatch.setattr(batching, "DEVICE_SHARE", 1e-12)
    batches = batching.TensorBatches(X, y, 32, shuffle=True, seed=0, device=torch.device("cuda"))
    assert batches.X.device.type == "cpu" and batches.copy_to.type == "cuda"
    xb, yb = next(iter(batches.epoch(1)))
    assert xb.device.type == "cuda" and yb.device.type == "cuda"
    run = tw.Trainer(epochs=2, batch_size=32, seed=4, device="cuda").fit(make_model(), (X[:250], y[:250]),
                                                                         (X[250:], y[250:]))
    assert run.metrics["accuracy"] > 0.8
