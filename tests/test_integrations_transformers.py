"""trainwise.integrations.transformers: the callback in real Hugging Face Trainer runs (a tiny BERT built from
a config, CPU, a few seconds each)."""

from __future__ import annotations

import logging

import accelerate  # noqa: F401 (a dev dependency: a missing one fails, never skips)
import numpy as np
import pytest
import torch
import transformers
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments  # noqa: E402

from trainwise.integrations.transformers import TrainwiseCallback  # noqa: E402


class Tokens(torch.utils.data.Dataset):
    """Random token sequences with a label that is 1 for ``positive_share`` of them: nothing to learn but the
    class shares, so the model predicts the majority class."""

    def __init__(self, n: int, seed: int, positive_share: float = 0.05) -> None:
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(5, 100, (n, 16), generator=g)
        self.labels = (torch.rand(n, generator=g) < positive_share).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(16, dtype=torch.long), "labels": self.labels[i]}


@pytest.fixture(autouse=True)
def quiet_transformers():
    transformers.logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)


def tiny_bert():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, num_labels=2)
    return BertForSequenceClassification(config)


def trainer(tmp_path, callback, *, epochs=3, eval_strategy="epoch", logging_steps=5, **args):
    arguments = TrainingArguments(output_dir=str(tmp_path / "hf"), num_train_epochs=epochs, learning_rate=1e-3,
                                  per_device_train_batch_size=32, per_device_eval_batch_size=64,
                                  eval_strategy=eval_strategy, save_strategy="no", report_to=[], use_cpu=True,
                                  disable_tqdm=True, logging_steps=logging_steps, seed=0, **args)
    return Trainer(model=tiny_bert(), args=arguments, train_dataset=Tokens(400, 0), eval_dataset=Tokens(300, 1),
                   compute_metrics=callback.compute_metrics, callbacks=[callback])


def test_a_model_that_learned_only_the_majority_class_gets_the_accuracy_paradox(tmp_path, capsys):
    callback = TrainwiseCallback(labels=["ok", "rare"])
    hf = trainer(tmp_path, callback)
    hf.train()
    run = callback.run

    assert run.verdict == "bad"
    assert "accuracy_paradox" in {f.code for f in run.findings}
    assert run.metrics["recall"] == 0.0 and run.metrics["positive_label"] == "rare"
    assert run.metrics["confusion_matrix"] == [[290, 0], [10, 0]]
    assert "accuracy_paradox" in capsys.readouterr().err

    # one record per epoch: the training loss of the epoch's log entries (weighted by the steps each covers),
    # the evaluation's loss, the Trainer's gradient norms and learning rate
    assert [r["epoch"] for r in run.history] == [1, 2, 3] and run.best_epoch is not None
    logs = hf.state.log_history
    evals = [e for e in logs if "eval_loss" in e]
    assert [r["val_loss"] for r in run.history] == [e["eval_loss"] for e in evals]
    # the metrics compute_metrics returned were logged by the Trainer as eval_* and agree with the history
    assert [r["val_accuracy"] for r in run.history] == [e["eval_accuracy"] for e in evals]
    first_epoch = [e for e in logs if "loss" in e and e["epoch"] <= 1.0]
    steps = [e["step"] for e in first_epoch]
    weights = np.diff([0, *steps])
    expected = sum(e["loss"] * w for e, w in zip(first_epoch, weights, strict=True)) / weights.sum()
    assert run.history[0]["train_loss"] == pytest.approx(expected)
    assert steps[-1] == 13                 # the callback asked for a log at the epoch's end (13 steps of 32)
    assert run.history[0]["grad_norm_max"] == max(e["grad_norm"] for e in first_epoch)
    assert run.history[0]["lr"] == first_epoch[-1]["learning_rate"]

    # an evaluation after training is measured, and leaves the run alone
    metrics = hf.evaluate()
    assert metrics["eval_accuracy"] == run.metrics["accuracy"]
    assert len(callback.run.history) == 3 and callback.monitor.history is run.history


def test_batched_evaluation_measures_on_the_device_batch_by_batch(tmp_path):
    callback = TrainwiseCallback(verbose=False, compute_metrics=lambda pred, compute_result: {"mine": 1.0})
    hf = trainer(tmp_path, callback, epochs=1, batch_eval_metrics=True)
    hf.train()
    run = callback.run
    assert run.metrics["num_samples"] == 300 and run.metrics["confusion_matrix"] == [[290, 0], [10, 0]]
    evals = [e for e in hf.state.log_history if "eval_loss" in e]
    assert evals[-1]["eval_mine"] == 1.0 and evals[-1]["eval_accuracy"] == run.metrics["accuracy"]


def test_without_evaluation_each_epoch_gets_its_training_loss_and_no_confusion_matrix(tmp_path, capsys):
    callback = TrainwiseCallback()
    hf = trainer(tmp_path, callback, epochs=2, eval_strategy="no", logging_steps=100)
    hf.train()
    run = callback.run
    assert [r["epoch"] for r in run.history] == [1, 2] and run.metrics is None
    logged = [e["loss"] for e in hf.state.log_history if "loss" in e]
    assert [r["train_loss"] for r in run.history] == logged            # the epoch-end logs the callback asked for
    assert "no validation predictions seen" in capsys.readouterr().err
