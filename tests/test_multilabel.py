"""Multi-label targets [N, L] of 0/1: a task of its own, every number equal to scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    hamming_loss,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
)
from torch import nn

import trainwise as tw
from trainwise.errors import InputError
from trainwise.metrics import MultiLabelAccumulator, label_scores
from trainwise.metrics import multilabel_confusion_matrix as our_mcm
from trainwise.metrics.multilabel import multilabel_edges


def tags(n=600, d=8, seed=0, shifts=(0.0, 0.0, -2.5, -3.5)):
    """Four labels from four linear rules; the last two rare."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    W = torch.randn(d, len(shifts), generator=g)
    return X, ((X @ W + torch.tensor(shifts)) > 0).long()


def net(d=8, labels=4):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, labels))


def check_against_sklearn(metrics, truth, pred):
    assert metrics["confusion_matrices"] == multilabel_confusion_matrix(truth, pred).tolist()
    for average in ("micro", "macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(truth, pred, average=average, zero_division=0)
        assert metrics[average] == pytest.approx({"precision": p, "recall": r, "f1": f}, abs=1e-12)
    p, r, f, s = precision_recall_fscore_support(truth, pred, average=None, zero_division=0)
    for i, entry in enumerate(metrics["per_label"].values()):
        assert (entry["precision"], entry["recall"], entry["f1"], entry["support"]) == pytest.approx((p[i], r[i], f[i], s[i]),
                                                                                                     abs=1e-12)
    assert metrics["accuracy"] == metrics["subset_accuracy"] == pytest.approx(accuracy_score(truth, pred), abs=1e-12)
    assert metrics["hamming_loss"] == pytest.approx(hamming_loss(truth, pred), abs=1e-12)


def test_a_multilabel_fit_equals_scikit_learn_and_judges_each_label():
    X, Y = tags()
    run = tw.Trainer(epochs=6, lr=1e-2, batch_size=64, seed=0).fit(net(), (X[:450], Y[:450]), (X[450:], Y[450:]),
                                                                     )
    assert run.data["task"] == "multilabel" and run.metrics["task"] == "multilabel"
    with torch.no_grad():
        pred = (run.model(X[450:]) >= 0).long().numpy()
    check_against_sklearn(run.metrics, Y[450:].numpy(), pred)
    # each label's best-F1 threshold, exact for its validation scores
    scores = torch.sigmoid(run.model(X[450:])).detach()
    for i, (name, choice) in enumerate(run.thresholds["per_label"].items()):
        assert name == str(i)
        if choice is None:
            continue
        hits = scores[:, i] >= choice["threshold"]
        truth = Y[450:, i] == 1
        assert choice["tp"] == int((hits & truth).sum()) and choice["fp"] == int((hits & ~truth).sum())
    assert run.history[-1]["train_accuracy"] <= 1.0               # subset accuracy of the training steps
    codes = {f.code for f in run.findings}
    assert "class_imbalance" in codes                              # the rare labels
    summary = run.summary()
    assert set(summary["metrics"]["per_label"]) == {"0", "1", "2", "3"}


def test_a_label_never_found_is_an_error_that_names_it_and_a_rare_one_is_info():
    metrics_acc = MultiLabelAccumulator(3)
    truth = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 1], [0, 1, 0]] * 10)
    pred = truth.clone()
    pred[:, 2] = 0                                                  # label 2 is never found
    metrics_acc.update(pred, truth, loss_sum=torch.tensor(4.0))
    metrics = metrics_acc.compute(labels=["cat", "dog", "bird"])
    findings = tw.diagnose([], metrics=metrics, data={"task": "multilabel", "labels": ["cat", "dog", "bird"],
                                                      "class_counts": [200, 300, 3], "n_train": 900, "n_val": 40})
    recall = next(f for f in findings if f.code == "low_recall")
    assert recall.severity == "error" and "'bird' is never found" in recall.message
    rare = next(f for f in findings if f.code == "class_imbalance")
    assert rare.severity == "info" and rare.evidence["rarest_label"] == "bird"
    assert tw.diagnostics.verdict(findings) == "bad"


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(2, 5), st.integers(0, 2**31 - 1))
def test_the_accumulator_streamed_and_split_in_two_states_equals_scikit_learn(n, labels, seed):
    """Two accumulators' states summed (what all_reduce does under torchrun) equal one pass over all rows."""
    g = torch.Generator().manual_seed(seed)
    truth = torch.randint(0, 2, (n, labels), generator=g)
    scores = torch.rand(n, labels, generator=g)
    pred = (scores >= 0.5).long()
    whole, first, second = (MultiLabelAccumulator(labels, binary_scores=True) for _ in range(3))
    whole.update(pred, truth, scores=scores)
    cut = n // 2
    first.update(pred[:cut], truth[:cut], scores=scores[:cut])
    second.update(pred[cut:], truth[cut:], scores=scores[cut:])
    first.state().add_(second.state())
    metrics = whole.compute()
    assert first.compute() == metrics
    check_against_sklearn(metrics, truth.numpy(), pred.numpy())
    assert (our_mcm(pred, truth) == torch.as_tensor(multilabel_confusion_matrix(truth, pred))).all()
    edges = multilabel_edges()                        # AP is exact for the scores rounded down to their bin
    binned = edges[torch.bucketize(scores.double(), edges, right=True) - 1].numpy()
    for i, entry in enumerate(metrics["per_label"].values()):
        column = truth[:, i].numpy()
        if 0 < column.sum():
            assert entry["average_precision"] == pytest.approx(average_precision_score(column, binned[:, i]), abs=1e-12)


def test_label_scores_of_an_empty_matrix_are_zero_not_nan():
    values = label_scores(torch.zeros(3, 2, 2, dtype=torch.long), "macro")
    assert all(float(v) == 0.0 for v in values.values())


def test_the_monitor_of_a_hand_written_multilabel_loop_equals_the_trainer():
    X, Y = tags(n=300)
    train, val = (X[:200], Y[:200]), (X[200:], Y[200:])
    by_trainer = tw.Trainer(optimizer="sgd", lr=0.5, epochs=3, batch_size=200, seed=0, device="cpu").fit(net(), train,
                                                                                                          val)
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    mon = tw.Monitor(model=model)
    for _ in range(3):
        model.train()
        opt.zero_grad()
        out = model(X[:200])
        loss = nn.functional.binary_cross_entropy_with_logits(out, Y[:200].float())
        loss.backward()
        mon.train_step(loss, out, Y[:200])
        opt.step()
        model.eval()
        with torch.inference_mode():
            mon.val_step(None, model(X[200:]), Y[200:])
        mon.end_epoch(lr=0.5)
    by_hand = mon.finish()
    for mine, theirs in zip(by_hand.history, by_trainer.history, strict=True):
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_f1"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-6), key
    assert by_hand.metrics == by_trainer.metrics
    assert by_hand.thresholds == by_trainer.thresholds


def test_multilabel_misuse_is_one_line():
    X, Y = tags(n=40)
    with pytest.raises(InputError, match="one-hot"):
        tw.Trainer(epochs=1).fit(net(labels=2), (X, nn.functional.one_hot(Y[:, 0], 2)))
    with pytest.raises(InputError, match=r"targets are \[N, 4\].*returned \[N, 3\]"):
        tw.Trainer(epochs=1).fit(net(labels=3), (X, Y))
    with pytest.raises(InputError, match="values other than 0 and 1"):
        tw.Trainer(epochs=1).fit(net(), (X, Y * 2))
    with pytest.raises(InputError, match="pos_weight"):
        tw.Trainer(epochs=1, class_weights="balanced").fit(net(), (X, Y))


def test_multilabel_loss_fn_receives_float_targets():
    X, Y = tags(n=64)
    seen = set()

    def loss_fn(logits, targets):
        seen.add((tuple(logits.shape[1:]), targets.dtype, targets.shape == logits.shape))
        return nn.functional.binary_cross_entropy_with_logits(logits, targets)

    tw.Trainer(epochs=1, batch_size=32, loss_fn=loss_fn).fit(net(), (X, Y), (X, Y))
    assert seen == {((4,), torch.float32, True)}


def test_probability_outputs_per_label_are_thresholded_at_a_half():
    X, Y = tags(n=200)
    model = nn.Sequential(net(), nn.Sigmoid())
    run = tw.Trainer(epochs=2, lr=1e-2, batch_size=50, loss_fn=nn.BCELoss()).fit(model, (X, Y), (X, Y))
    assert run.data["outputs"] == "probabilities"
    with torch.no_grad():
        pred = (model(X) >= 0.5).long().numpy()
    assert run.metrics["confusion_matrices"] == multilabel_confusion_matrix(Y.numpy(), pred).tolist()
    assert np.isfinite(run.metrics["loss"])
