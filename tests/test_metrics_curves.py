"""Score curves and thresholds against scikit-learn: exact ones equal, binned ones close, and the
metrics at every chosen threshold exact."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
import torch

from trainwise.errors import InputError
from trainwise.metrics import curves as C

SEEDS = range(60)


def random_scores(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, target): sizes from 1 to 400, ties, float32 or float64, rare or missing positives."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 8)) if seed % 6 == 5 else int(rng.integers(20, 400))
    rate = (0.5, 0.1, 0.02, 0.0, 1.0, 0.3)[seed % 6]
    target = (rng.random(n) < rate).astype(np.int64)
    scores = 1 / (1 + np.exp(-(rng.normal(0, 1.5, n) + 1.5 * target)))
    if seed % 3 == 0:
        scores = np.round(scores, 1)  # many ties
    if seed % 2:
        scores = scores.astype(np.float32)
    return scores, target


def sklearn_at(scores: np.ndarray, target: np.ndarray, threshold: float) -> dict[str, float]:
    """What scikit-learn says about predicting positive where ``scores >= threshold``."""
    preds = (scores >= threshold).astype(np.int64)
    p, r, f, _ = skm.precision_recall_fscore_support(target, preds, labels=[0, 1], average="binary",
                                                     zero_division=0)
    tp, fp = int((preds & target).sum()), int((preds & (1 - target)).sum())
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "fp": fp, "tn": int((target == 0).sum()) - fp,
            "fn": int(target.sum()) - tp}


def assert_exact_at(choice: C.ThresholdChoice, scores: np.ndarray, target: np.ndarray) -> None:
    expected = sklearn_at(scores, target, choice.threshold)
    got = choice.to_dict()
    for key in ("tp", "fp", "tn", "fn"):
        assert got[key] == expected[key], key
    for key in ("precision", "recall", "f1"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-14, atol=0, err_msg=key)


def brute_force(scores: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct thresholds (decreasing) with their precision and recall, by counting."""
    thresholds = np.unique(scores)[::-1]
    predicted = scores[None, :] >= thresholds[:, None]
    tp = (predicted & (target == 1)).sum(1)
    fp = (predicted & (target == 0)).sum(1)
    precision = tp / (tp + fp)
    recall = tp / target.sum() if target.sum() else np.zeros(len(thresholds))
    return thresholds, precision, recall


@pytest.mark.parametrize("seed", SEEDS)
def test_exact_curves_equal_sklearn(seed: int) -> None:
    scores, target = random_scores(seed)
    s, t = torch.from_numpy(scores), torch.from_numpy(target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one-class targets
        expected_pr = skm.precision_recall_curve(target, scores)
        expected_roc = skm.roc_curve(target, scores)
        expected_roc_all = skm.roc_curve(target, scores, drop_intermediate=False)
        expected_ap = skm.average_precision_score(target, scores)
        expected_auc = skm.roc_auc_score(target, scores) if 0 < target.sum() < len(target) else np.nan
    for got, expected in ((C.precision_recall_curve(s, t), expected_pr), (C.roc_curve(s, t), expected_roc),
                          (C.roc_curve(s, t, drop_intermediate=False), expected_roc_all)):
        for g, e in zip(got, expected, strict=True):
            assert g.numpy().dtype == e.dtype
            np.testing.assert_array_equal(g.numpy(), e)
    np.testing.assert_allclose(C.average_precision(s, t), expected_ap, rtol=1e-12)
    np.testing.assert_allclose(C.roc_auc(s, t), expected_auc, rtol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_exact_thresholds(seed: int) -> None:
    scores, target = random_scores(seed)
    s, t = torch.from_numpy(scores), torch.from_numpy(target)
    thresholds, precision, recall = brute_force(scores, target)
    beta = (1.0, 2.0, 0.5)[seed % 3]

    best = C.best_fbeta_threshold(s, t, beta)
    if target.sum() == 0:
        assert best is None
    else:
        fbeta = (1 + beta**2) * precision * recall / np.maximum(beta**2 * precision + recall, 1e-300)
        assert best.threshold == thresholds[np.argmax(fbeta)]
        assert_exact_at(best, scores, target)

    for goal in (0.0, 0.5, 0.8, 1.0):
        chosen = C.threshold_for_recall(s, t, goal)
        reached = thresholds[recall >= goal]
        assert (chosen is None) == (len(reached) == 0)
        if chosen is not None:
            assert chosen.threshold == reached.max() and chosen.recall >= goal
            assert_exact_at(chosen, scores, target)

    for goal in (0.3, 0.7, 0.95, 1.0):
        chosen = C.threshold_for_precision(s, t, goal)
        reached = thresholds[precision >= goal]
        assert (chosen is None) == (len(reached) == 0)
        if chosen is not None:
            assert chosen.threshold == reached.min() and chosen.precision >= goal
            assert_exact_at(chosen, scores, target)


def test_unreachable_and_empty() -> None:
    scores, target = torch.tensor([0.9, 0.8, 0.1]), torch.tensor([0, 1, 1])
    assert C.threshold_for_precision(scores, target, 1.0) is None  # the top score is a negative
    assert C.threshold_for_precision(scores, target, 2 / 3).threshold == pytest.approx(0.1)
    assert C.best_fbeta_threshold(scores, torch.tensor([0, 0, 0])) is None
    empty = torch.tensor([])
    assert C.best_fbeta_threshold(empty, empty) is None
    assert C.threshold_for_recall(empty, empty, 0.5) is None
    assert C.threshold_for_precision(empty, empty, 0.5) is None


def test_bad_inputs() -> None:
    scores = torch.tensor([0.1, 0.7])
    with pytest.raises(InputError, match="0 or 1 .* but got 2"):
        C.roc_auc(scores, torch.tensor([0, 2]))
    with pytest.raises(InputError, match="without NaN"):
        C.average_precision(torch.tensor([0.1, float("nan")]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"same shape, but got \(2,\) and \(3,\)"):
        C.precision_recall_curve(scores, torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match=r"`recall` to be a number in \[0, 1\], but got 1.5"):
        C.threshold_for_recall(scores, torch.tensor([0, 1]), 1.5)
    with pytest.raises(ValueError, match="`beta` to be a finite number >= 0"):
        C.best_fbeta_threshold(scores, torch.tensor([0, 1]), beta=float("inf"))


# --------------------------------------------------------------------------- binned
def test_default_edges() -> None:
    edges = C.default_edges()
    assert edges.dtype == torch.float64 and edges[0] == 0 and edges[-1] == 1
    assert bool((edges[1:] > edges[:-1]).all())
    assert bool((edges.float().double() == edges).all())  # exact in float32
    widths = edges.diff()
    assert widths.max() <= 2**-13 + 1e-12  # 1.2e-4 or finer everywhere
    assert widths[:10].max() < 1e-6 and widths[-10:].max() < 1e-6  # much finer near 0 and 1


@pytest.fixture(scope="module")
def large() -> tuple[np.ndarray, np.ndarray, C.ScoreHistogram]:
    """100k float32 scores of a decent model on 5% positives, streamed in uneven chunks."""
    rng = np.random.default_rng(7)
    n = 100_000
    target = (rng.random(n) < 0.05).astype(np.int64)
    scores = (1 / (1 + np.exp(-(rng.normal(-3, 2, n) + 3 * target)))).astype(np.float32)
    scores[:50], target[:50] = 1.0, 1  # saturated sigmoids, and scores exactly on edges
    scores[50:100] = 0.0
    scores[100:200] = C.default_edges()[rng.integers(0, 1000, 100)].numpy()
    hist = C.ScoreHistogram()
    bounds = np.sort(rng.choice(n, 20, replace=False))
    for chunk in np.split(np.arange(n), bounds):
        hist.update(torch.from_numpy(scores[chunk]), torch.from_numpy(target[chunk]))
    return scores, target, hist


def test_binned_ap_and_auc_close_to_sklearn(large) -> None:
    scores, target, hist = large
    assert abs(float(hist.average_precision()) - skm.average_precision_score(target, scores)) < 2e-4
    assert abs(float(hist.roc_auc()) - skm.roc_auc_score(target, scores)) < 2e-5


def test_binned_curves_are_sklearns_on_scores_rounded_down_to_their_edge(large) -> None:
    scores, target, hist = large
    edges = C.default_edges().numpy()
    floored = edges[np.searchsorted(edges, scores.astype(np.float64), side="right") - 1]
    for got, expected in zip(hist.precision_recall_curve(), skm.precision_recall_curve(target, floored),
                             strict=True):
        np.testing.assert_array_equal(got.numpy(), expected)
    for got, expected in zip(hist.roc_curve(), skm.roc_curve(target, floored), strict=True):
        np.testing.assert_array_equal(got.numpy(), expected)
    np.testing.assert_allclose(hist.average_precision(), skm.average_precision_score(target, floored),
                               rtol=1e-12)
    np.testing.assert_allclose(hist.roc_auc(), skm.roc_auc_score(target, floored), rtol=1e-12)


def test_binned_thresholds_give_exact_metrics(large) -> None:
    scores, target, hist = large
    edges = set(C.default_edges().tolist())
    choices = [hist.best_fbeta_threshold(), hist.best_fbeta_threshold(beta=2.0),
               hist.threshold_for_recall(0.8), hist.threshold_for_recall(0.99),
               hist.threshold_for_precision(0.5), hist.threshold_for_precision(0.9)]
    for choice in choices:
        assert choice is not None and choice.threshold in edges
        assert_exact_at(choice, scores, target)  # float32 scores against a float64 edge: exact
    best_recall = hist.threshold_for_recall(0.8)
    assert best_recall.recall >= 0.8
    assert hist.threshold_for_precision(0.9).precision >= 0.9


def test_binned_edge_cases() -> None:
    hist = C.ScoreHistogram()
    assert hist.best_fbeta_threshold() is None and hist.threshold_for_precision(0.5) is None
    hist.update(torch.tensor([1.0, 1.0, 0.0]), torch.tensor([1, 0, 0]))
    choice = hist.threshold_for_recall(1.0)
    assert choice.threshold == 1.0 and (choice.tp, choice.fp, choice.tn, choice.fn) == (1, 1, 1, 0)
    hist.update(torch.tensor([0.5, 1.5]), torch.tensor([1, 0]))  # 1.5 is no probability
    with pytest.raises(InputError, match="probabilities in \\[0, 1\\].* 1 samples"):
        hist.roc_auc()
    other = C.ScoreHistogram()
    other.update(torch.tensor([0.5, float("nan")]), torch.tensor([2, 1]))
    assert int(other.num_invalid) == 2 and int(other.counts.sum()) == 0
    with pytest.raises(ValueError, match="float tensor of probabilities"):
        other.update(torch.tensor([0, 1]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="strictly increasing from 0 to 1 and exact in float32"):
        C.ScoreHistogram(torch.tensor([0.0, 0.1, 1.0], dtype=torch.float64))  # 0.1 is not exact in float32
    coarse = C.ScoreHistogram(torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    coarse.update(torch.tensor([0.3, 0.6, 0.9, 0.1]), torch.tensor([0, 1, 1, 0]))
    assert coarse.counts.tolist() == [[1, 1, 0, 0, 0], [0, 0, 1, 1, 0]]
    assert float(coarse.roc_auc()) == 1.0


def test_histogram_update_has_no_host_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    hist = C.ScoreHistogram()

    def sync(*args, **kwargs):
        raise AssertionError("host sync")

    for name in ("item", "tolist", "__bool__", "cpu", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, sync)
    hist.update(torch.rand(100), torch.randint(0, 2, (100,)))
    monkeypatch.undo()
    assert int(hist.counts.sum()) == 100
