"""The streaming accumulator: batches in any split equal one-shot functional results equal
scikit-learn; one state tensor that round-trips and sums like an all-reduce; no host sync."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
import torch

from trainwise.errors import InputError
from trainwise.metrics import MetricAccumulator, ScoreHistogram
from trainwise.metrics import functional as F

SEEDS = range(40)
METRIC_KEYS = ["loss", "num_samples", "accuracy", "balanced_accuracy", "precision", "recall", "f1", "average",
               "labels", "confusion_matrix", "per_class", "macro", "micro", "weighted"]
BINARY_KEYS = ["positive_label", "tp", "fp", "tn", "fn"]


def random_pass(seed: int):
    """(preds, target, scores or None, losses, C): binary with scores on even seeds."""
    rng = np.random.default_rng(seed)
    num_classes = 2 if seed % 2 == 0 else int(rng.integers(3, 6))
    n = int(rng.integers(1, 500))
    target = rng.integers(0, num_classes, n) if num_classes > 2 else (rng.random(n) < 0.2).astype(np.int64)
    scores = None
    if num_classes == 2:
        scores = (1 / (1 + np.exp(-(rng.normal(-1, 1.5, n) + 2 * target)))).astype(np.float32)
        preds = (scores >= 0.5).astype(np.int64)
    else:
        preds = np.where(rng.random(n) < 0.6, target, rng.integers(0, num_classes, n))
    losses = rng.random(n)
    return preds, target, scores, losses, num_classes


def stream(acc: MetricAccumulator, preds, target, scores, losses, rng) -> None:
    """Feed one pass in random batch sizes, as torch tensors."""
    bounds = np.sort(rng.integers(0, len(preds) + 1, int(rng.integers(0, 6))))
    for part in np.split(np.arange(len(preds)), bounds):
        acc.update(torch.from_numpy(preds[part]), torch.from_numpy(target[part]),
                   loss_sum=torch.tensor(losses[part].sum()),
                   scores=None if scores is None else torch.from_numpy(scores[part]))


@pytest.mark.parametrize("seed", SEEDS)
def test_streaming_equals_functional_equals_sklearn(seed: int) -> None:
    preds, target, scores, losses, num_classes = random_pass(seed)
    labels = list(range(num_classes))
    acc = MetricAccumulator(num_classes)
    stream(acc, preds, target, scores, losses, np.random.default_rng(seed + 1000))
    positive = seed % 4 // 2 if num_classes == 2 else None  # positive 0 half of the binary cases
    m = acc.compute(positive=positive)
    assert list(m) == METRIC_KEYS[:8] + ["labels"] + (["positive_label"] if num_classes == 2 else []) + \
        ["confusion_matrix"] + (BINARY_KEYS[1:] if num_classes == 2 else []) + METRIC_KEYS[10:] + \
        (["average_precision", "roc_auc"] if num_classes == 2 else [])
    json.dumps(m, allow_nan=False)  # plain numbers, JSON-ready

    one_shot = F.confusion_matrix(torch.from_numpy(preds), torch.from_numpy(target), num_classes)
    assert torch.equal(acc.confusion_matrix(), one_shot)
    assert m["confusion_matrix"] == skm.confusion_matrix(target, preds, labels=labels).tolist()
    assert m["num_samples"] == len(target)
    np.testing.assert_allclose(m["loss"], losses.mean(), rtol=1e-12)
    np.testing.assert_allclose(m["accuracy"], skm.accuracy_score(target, preds), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(m["balanced_accuracy"], skm.balanced_accuracy_score(target, preds), rtol=1e-12)

    if num_classes == 2:
        pos = 1 if positive is None else positive
        expected = skm.precision_recall_fscore_support(target, preds, labels=labels, average="binary",
                                                       pos_label=pos, zero_division=0)[:3]
        assert m["average"] == "binary" and m["positive_label"] == str(pos)
        (tn, fp), (fn, tp) = skm.confusion_matrix(target == pos, preds == pos, labels=[False, True])
        assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (tp, fp, tn, fn)
    else:
        expected = skm.precision_recall_fscore_support(target, preds, labels=labels, average="macro",
                                                       zero_division=0)[:3]
        assert m["average"] == "macro" and "positive_label" not in m
    np.testing.assert_allclose([m["precision"], m["recall"], m["f1"]], expected, rtol=1e-12)
    for average in ("macro", "micro", "weighted"):
        expected = skm.precision_recall_fscore_support(target, preds, labels=labels, average=average,
                                                       zero_division=0)[:3]
        np.testing.assert_allclose([m[average][k] for k in ("precision", "recall", "f1")], expected,
                                   rtol=1e-12, err_msg=average)
    p, r, f, s = skm.precision_recall_fscore_support(target, preds, labels=labels, zero_division=0)
    for i, name in enumerate(m["labels"]):
        np.testing.assert_allclose([m["per_class"][name][k] for k in ("precision", "recall", "f1")],
                                   [p[i], r[i], f[i]], rtol=1e-12)
        assert m["per_class"][name]["support"] == s[i]

    if num_classes == 2:  # from the histograms: exactly the functional curves of the binned scores
        pos = 1 if positive is None else positive
        y = (target == pos).astype(np.int64)
        hist = ScoreHistogram()
        hist.update(torch.from_numpy(scores), torch.from_numpy(y))
        if y.sum():
            assert m["average_precision"] == float(hist.average_precision())
            assert abs(m["average_precision"] - skm.average_precision_score(y, scores)) < 0.02
        else:
            assert m["average_precision"] is None
        if 0 < y.sum() < len(y):
            assert m["roc_auc"] == float(hist.roc_auc())
            assert abs(m["roc_auc"] - skm.roc_auc_score(y, scores)) < 0.01
        else:
            assert m["roc_auc"] is None


@pytest.mark.parametrize("seed", range(6))
def test_thresholds_exact_at_the_chosen_threshold(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    target = (rng.random(n) < 0.1).astype(np.int64)
    p1 = (1 / (1 + np.exp(-(rng.normal(-2, 1.5, n) + 3 * target)))).astype(np.float32)
    positive = seed % 2
    scores = p1 if positive == 1 else 1 - p1  # the positive class's probability
    acc = MetricAccumulator(2, binary_scores=True)
    preds = np.where(scores >= 0.5, positive, 1 - positive)
    stream(acc, preds, target, scores, np.zeros(n), rng)
    acc.compute(positive=positive)
    out = acc.thresholds(target_recall=[0.8, 0.99], target_precision=0.6, beta=2.0)
    assert list(out) == ["best_f2", "recall@0.8", "recall@0.99", "precision@0.6"]
    y = (target == positive).astype(np.int64)
    for key, choice in out.items():
        assert choice is not None, key
        predicted = (scores >= choice["threshold"]).astype(np.int64)
        p, r, f, _ = skm.precision_recall_fscore_support(y, predicted, average="binary", zero_division=0)
        np.testing.assert_allclose([choice["precision"], choice["recall"], choice["f1"]], [p, r, f], rtol=1e-14)
        assert choice["tp"] == int((predicted & y).sum()) and choice["fp"] == int((predicted & (1 - y)).sum())
        assert choice["tp"] + choice["fn"] == y.sum() and choice["fp"] + choice["tn"] == n - y.sum()
    assert out["recall@0.8"]["recall"] >= 0.8 and out["precision@0.6"]["precision"] >= 0.6
    assert acc.thresholds(positive=positive) == {"best_f1": acc.thresholds()["best_f1"]}
    json.dumps(out, allow_nan=False)


def test_state_round_trip_and_sum_is_one_pass() -> None:
    rng = np.random.default_rng(3)
    preds, target, scores, losses, _ = random_pass(4)
    half = len(preds) // 2
    both, first, second = (MetricAccumulator(2) for _ in range(3))
    stream(both, preds, target, scores, losses, rng)
    stream(first, preds[:half], target[:half], scores[:half], losses[:half], rng)
    stream(second, preds[half:], target[half:], scores[half:], losses[half:], rng)

    state = first.state()
    assert state.dtype == torch.float64 and state.ndim == 1
    summed = MetricAccumulator(2)
    summed.load_state(first.state() + second.state())  # what one all-reduce does
    np.testing.assert_allclose(summed.state().numpy(), both.state().numpy(), rtol=1e-15, atol=0)
    summed_metrics, both_metrics = summed.compute(), both.compute()
    np.testing.assert_allclose(summed_metrics.pop("loss"), both_metrics.pop("loss"), rtol=1e-15)
    assert summed_metrics == both_metrics

    restored = MetricAccumulator(2)
    restored.load_state(first.state().clone())
    assert restored.compute() == first.compute()
    assert restored.thresholds(0.5) == first.thresholds(0.5)

    first.reset()
    assert int(first.state().count_nonzero()) == 0
    with pytest.raises(ValueError, match="Expected a state of shape"):
        MetricAccumulator(3).load_state(state)


def test_state_layout() -> None:
    acc = MetricAccumulator(3)
    acc.update(torch.tensor([0, 2, 2]), torch.tensor([0, 1, 2]), loss_sum=torch.tensor(1.5))
    acc.update(torch.tensor([1]), torch.tensor([1]))  # no loss for this batch
    state = acc.state()
    assert state.shape == (2 + 9 + 1,)  # loss_sum, count, cm, bad_labels: no histograms
    assert state[:2].tolist() == [1.5, 3.0]
    assert state[2:11].view(3, 3).tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert acc.compute()["loss"] == 0.5  # over the samples that came with a loss
    binary = MetricAccumulator(2)
    assert binary.binary_scores and binary.state().numel() == 2 + 4 + 1 + 2 * len(ScoreHistogram().edges) + 1


def test_no_loss_no_scores_and_labels() -> None:
    acc = MetricAccumulator(2)
    acc.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
    m = acc.compute(labels=["ok", "fraud"])
    assert m["loss"] is None and "average_precision" not in m and "roc_auc" not in m
    assert m["labels"] == ["ok", "fraud"] and m["positive_label"] == "fraud"
    assert set(m["per_class"]) == {"ok", "fraud"}
    assert acc.thresholds() == {"best_f1": None}
    empty = MetricAccumulator(4).compute()
    assert empty["num_samples"] == 0 and empty["accuracy"] == 0.0 and empty["loss"] is None


def test_update_never_syncs_with_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    acc = MetricAccumulator(2)
    batches = [(torch.randint(0, 2, (64,)), torch.randint(0, 2, (64,)), torch.rand(64)) for _ in range(3)]

    def sync(*args, **kwargs):
        raise AssertionError("host sync in update()")

    for name in ("item", "tolist", "__bool__", "cpu", "numpy", "__int__", "__float__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, sync)
    with torch.inference_mode():
        for preds, target, scores in batches:
            acc.update(preds, target, loss_sum=torch.tensor(2.0), scores=scores)
    monkeypatch.undo()
    acc.reset()  # the state is no inference tensor
    assert acc.compute()["num_samples"] == 0


def test_device_follows_the_first_batch_or_is_enforced() -> None:
    acc = MetricAccumulator(2, device="meta")
    with pytest.raises(ValueError, match="Expected inputs on meta"):
        acc.update(torch.tensor([0]), torch.tensor([0]))
    follower = MetricAccumulator(2)
    follower.update(torch.tensor([0]), torch.tensor([0]))
    assert follower.state().device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_update_without_host_sync() -> None:
    acc = MetricAccumulator(2, device="cuda")
    preds, target = torch.randint(0, 2, (4096,), device="cuda"), torch.randint(0, 2, (4096,), device="cuda")
    scores, loss_sum = torch.rand(4096, device="cuda"), torch.tensor(3.0, device="cuda")  # made before: a copy
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        acc.update(preds, target, loss_sum=loss_sum, scores=scores)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    m = acc.compute()
    assert m["confusion_matrix"] == F.confusion_matrix(preds.cpu(), target.cpu(), 2).tolist()


def test_bad_inputs_are_reported() -> None:
    acc = MetricAccumulator(3)
    acc.update(torch.tensor([0, 5]), torch.tensor([0, 1]))
    with pytest.raises(InputError, match=r"labels in \[0, 3\), but 1 samples"):
        acc.compute()
    binary = MetricAccumulator(2)
    binary.update(torch.tensor([0, 1]), torch.tensor([0, 1]), scores=torch.tensor([0.2, 3.0]))
    with pytest.raises(InputError, match="probabilities in \\[0, 1\\], but 1 were .* not logits"):
        binary.compute()
    partial = MetricAccumulator(2)
    partial.update(torch.tensor([0, 1]), torch.tensor([0, 1]), scores=torch.tensor([0.2, 0.7]))
    partial.update(torch.tensor([0]), torch.tensor([0]))
    with pytest.raises(ValueError, match="scores for every sample or for none, but got 2 scores for 3"):
        partial.compute()
    with pytest.raises(ValueError, match="Expected `num_classes` to be an int >= 2, but got 1"):
        MetricAccumulator(1)
    with pytest.raises(ValueError, match="`binary_scores` only for num_classes == 2"):
        MetricAccumulator(3, binary_scores=True)
    with pytest.raises(ValueError, match="Expected no `scores`"):
        MetricAccumulator(3).update(torch.tensor([0]), torch.tensor([0]), scores=torch.tensor([0.5]))
    with pytest.raises(ValueError, match="integer class indices"):
        acc.update(torch.tensor([0.5]), torch.tensor([0]))
    with pytest.raises(ValueError, match="same shape"):
        acc.update(torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ValueError, match="one number"):
        acc.update(torch.tensor([0, 1]), torch.tensor([0, 1]), loss_sum=torch.ones(2))
    with pytest.raises(ValueError, match="3 distinct class names"):
        MetricAccumulator(3).compute(labels=["a", "b"])
    with pytest.raises(ValueError, match="`positive` to be 0 or 1"):
        MetricAccumulator(2).compute(positive=2)
    with pytest.raises(ValueError, match="`positive` only for binary tasks"):
        MetricAccumulator(3).compute(positive=1)
    with pytest.raises(ValueError, match="binary_scores is off"):
        MetricAccumulator(2, binary_scores=False).thresholds()


def test_nan_loss_is_reported_as_nan() -> None:
    acc = MetricAccumulator(2)
    acc.update(torch.tensor([0]), torch.tensor([0]), loss_sum=torch.tensor(float("nan")))
    assert math.isnan(acc.compute()["loss"])  # the divergence detector needs to see it


def test_readings_follow_the_state_after_more_batches_or_a_summed_state() -> None:
    """compute, thresholds and pr_curve share one histogram per state: it must be rebuilt whenever the
    state changes -- another batch, a reset, a loaded or all-reduced state."""
    g = torch.Generator().manual_seed(5)
    target = torch.randint(0, 2, (500,), generator=g)
    scores = (0.6 * target + 0.5 * torch.rand(500, generator=g)).clamp(0, 1)
    acc = MetricAccumulator(2)
    acc.update((scores >= 0.5).long()[:250], target[:250], scores=scores[:250])
    first = (acc.compute()["average_precision"], acc.thresholds(target_recall=0.9), acc.pr_curve())
    acc.update((scores >= 0.5).long()[250:], target[250:], scores=scores[250:])
    whole = MetricAccumulator(2)
    whole.update((scores >= 0.5).long(), target, scores=scores)
    expected = (whole.compute()["average_precision"], whole.thresholds(target_recall=0.9), whole.pr_curve())
    assert (acc.compute()["average_precision"], acc.thresholds(target_recall=0.9), acc.pr_curve()) == expected
    assert expected != first
    acc.state().mul_(2)                          # as an all-reduce over two identical ranks would leave it
    assert acc.thresholds(target_recall=0.9)["recall@0.9"]["tp"] == 2 * expected[1]["recall@0.9"]["tp"]
    acc.reset()
    acc.update((scores >= 0.5).long()[:250], target[:250], scores=scores[:250])
    assert (acc.compute()["average_precision"], acc.thresholds(target_recall=0.9), acc.pr_curve()) == first
