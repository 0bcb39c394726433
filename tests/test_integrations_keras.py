"""trainwise.integrations.keras: the callback in real Keras 3 fits (torch backend, CPU, a few seconds each)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

if os.environ.setdefault("KERAS_BACKEND", "torch") != "torch":
    pytest.skip("these tests run Keras on its torch backend", allow_module_level=True)
import keras  # noqa: E402

from trainwise.integrations.keras import TrainwiseCallback  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from integration_data import blobs, noisy_cancer  # noqa: E402

# Keras' own fit converts its logs with np.array on torch tensors (numpy 2 deprecation), not trainwise
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def mlp(d, hidden, outputs, activation):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((d,)), keras.layers.Dense(hidden, activation="relu"),
                             keras.layers.Dense(hidden, activation="relu"),
                             keras.layers.Dense(outputs, activation=activation)])


def test_an_overfitting_keras_run_is_called_out_with_its_best_epoch_from_the_fits_own_validation_data(capsys):
    (X, y), (Xv, yv) = noisy_cancer()
    model = mlp(30, 256, 1, "sigmoid")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy", metrics=["accuracy"])
    callback = TrainwiseCallback()
    history = model.fit(X, y, validation_data=(Xv, yv), epochs=20, batch_size=32, verbose=0, callbacks=[callback])
    run = callback.run

    assert "overfitting" in {f.code for f in run.findings} and run.verdict != "good"
    overfit = next(f for f in run.findings if f.code == "overfitting")
    assert overfit.evidence["best_epoch"] == run.best_epoch < 10
    # the sigmoid's probabilities were read as such: trainwise's accuracy is Keras' own, epoch by epoch
    assert [r["val_accuracy"] for r in run.history] == pytest.approx(history.history["val_accuracy"], abs=1e-6)
    assert [r["val_loss"] for r in run.history] == history.history["val_loss"]        # the logged loss
    assert [r["train_accuracy"] for r in run.history] == history.history["accuracy"]
    assert run.metrics["num_samples"] == len(yv) and run.history[0]["lr"] == pytest.approx(3e-3)
    assert run.history[-1]["steps"] == 20 * 3
    assert "overfitting" in capsys.readouterr().err


def test_a_healthy_keras_run_with_validation_data_given_to_the_callback_gets_no_warning(tmp_path, capsys):
    (X, y), (Xv, yv) = blobs()
    model = mlp(8, 16, 2, "softmax")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    one_hot = np.eye(2, dtype=np.float32)
    callback = TrainwiseCallback(validation_data=(Xv, one_hot[yv]), verbose=False, batch_size=64)
    model.fit(X, one_hot[y], epochs=10, batch_size=32, verbose=0, callbacks=[callback])
    run = callback.run

    assert [f for f in run.findings if f.severity.value != "info"] == [], [f.message for f in run.findings]
    assert run.verdict == "good"
    assert run.metrics["num_samples"] == 200 and run.metrics["accuracy"] > 0.9
    # no validation in the fit itself: the validation loss is trainwise's own cross-entropy on the predictions
    assert all(r["val_loss"] is not None for r in run.history)
    assert capsys.readouterr().err == ""
