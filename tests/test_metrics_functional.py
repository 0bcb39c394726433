"""The functional core against scikit-learn: confusion matrix and every score and average."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
import torch

from trainwise.errors import InputError
from trainwise.metrics import functional as F

SEEDS = range(200)


def random_case(seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(preds, target, C), one of five shapes of trouble chosen by the seed."""
    rng = np.random.default_rng(seed)
    kind = seed % 5
    num_classes = 2 if kind in (0, 1) else int(rng.integers(3, 8))
    n = int(rng.integers(1, 6)) if kind == 4 else int(rng.integers(20, 300))
    target = rng.integers(0, num_classes, n)
    if kind == 1:  # imbalanced, and a model that predicts one class only
        target = (rng.random(n) < 0.05).astype(np.int64)
        preds = np.full(n, int(rng.integers(0, 2)))
    else:  # right about half the time, else a random class
        preds = np.where(rng.random(n) < 0.5, target, rng.integers(0, num_classes, n))
    if kind == 3:  # a class missing from the targets, another missing from the predictions
        missing_true, missing_pred = rng.choice(num_classes, 2, replace=False)
        target = np.where(target == missing_true, (missing_true + 1) % num_classes, target)
        preds = np.where(preds == missing_pred, (missing_pred + 1) % num_classes, preds)
    return preds.astype(np.int64), target.astype(np.int64), num_classes


@pytest.mark.parametrize("seed", SEEDS)
def test_matches_sklearn(seed: int) -> None:
    preds, target, num_classes = random_case(seed)
    labels = list(range(num_classes))
    cm = F.confusion_matrix(torch.from_numpy(preds), torch.from_numpy(target), num_classes)
    np.testing.assert_array_equal(cm.numpy(), skm.confusion_matrix(target, preds, labels=labels))

    np.testing.assert_allclose(F.accuracy(cm), skm.accuracy_score(target, preds), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        expected = skm.balanced_accuracy_score(target, preds)
    np.testing.assert_allclose(F.balanced_accuracy(cm), expected, rtol=1e-12)
    np.testing.assert_array_equal(F.support(cm).numpy(), np.bincount(target, minlength=num_classes))

    beta = (0.5, 2.0, 1.0)[seed % 3]
    fbeta = F.f1 if beta == 1.0 else lambda cm, *args: F.fbeta(cm, beta, *args)
    for average in ("macro", "micro", "weighted", None):
        expected = skm.precision_recall_fscore_support(target, preds, beta=beta, labels=labels,
                                                       average=average, zero_division=0)[:3]
        got = (F.precision(cm, average), F.recall(cm, average), fbeta(cm, average))
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-12, err_msg=str(average))
        if average is None:
            per_class = expected

    for positive in labels:  # "binary": the positive class's own value, any number of classes
        if num_classes == 2:
            expected = skm.precision_recall_fscore_support(target, preds, beta=beta, labels=labels,
                                                           average="binary", pos_label=positive,
                                                           zero_division=0)[:3]
        else:
            expected = [values[positive] for values in per_class]
        got = (F.precision(cm, "binary", positive), F.recall(cm, "binary", positive),
               fbeta(cm, "binary", positive))
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=f"positive={positive}")


def test_zero_division_gives_exact_zero_and_perfect_scores_exact_one() -> None:
    # class 2 is never predicted and never true; class 1 is true but never predicted
    cm = torch.tensor([[5, 0, 0], [3, 0, 0], [0, 0, 0]])
    assert F.precision(cm, None).tolist() == [5 / 8, 0.0, 0.0]
    assert F.recall(cm, None).tolist() == [1.0, 0.0, 0.0]
    assert F.f1(cm, "binary", positive=1).item() == 0.0
    assert F.balanced_accuracy(cm).item() == 0.5  # class 2 has no support: left out
    empty = torch.zeros(2, 2, dtype=torch.long)
    for value in (F.accuracy(empty), F.balanced_accuracy(empty), F.precision(empty), F.recall(empty),
                  F.f1(empty, "weighted"), F.f1(empty, "micro")):
        assert value.item() == 0.0
    perfect = torch.tensor([[3, 0], [0, 7]])  # an epsilon fudge would read 0.999...
    for fn in (F.precision, F.recall, F.f1):
        for average in ("binary", "macro", "micro", "weighted"):
            assert fn(perfect, average).item() == 1.0
    assert F.accuracy(perfect).item() == 1.0


def test_inferred_num_classes() -> None:
    cm = F.confusion_matrix(torch.tensor([0, 2, 1]), torch.tensor([0, 1, 1]))
    assert cm.shape == (3, 3)
    assert F.confusion_matrix(torch.tensor([0, 0]), torch.tensor([0, 0])).shape == (2, 2)  # at least 2
    assert F.confusion_matrix(torch.tensor([0, 0]), torch.tensor([0, 0]), 5).shape == (5, 5)


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.int32, torch.int64, torch.bool])
def test_label_dtypes_and_shapes(dtype: torch.dtype) -> None:
    preds = torch.tensor([[1, 0], [1, 1]]).to(dtype)
    target = torch.tensor([[1, 0], [0, 1]]).to(dtype)
    cm = F.confusion_matrix(preds, target, 2)
    assert cm.dtype == torch.long
    assert cm.tolist() == [[1, 1], [0, 2]]


def test_results_stay_on_the_device_in_float64() -> None:
    cm = F.confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 2)
    assert cm.device.type == "cpu" and cm.dtype == torch.long
    assert F.accuracy(cm).dtype == torch.float64 and F.accuracy(cm).shape == ()
    assert F.precision(cm, None).shape == (2,) and F.precision(cm, None).dtype == torch.float64
    assert F.support(cm).dtype == torch.long


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_confusion_matrix_without_host_sync() -> None:
    preds = torch.randint(0, 4, (1000,), device="cuda")
    target = torch.randint(0, 4, (1000,), device="cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        cm = F.confusion_matrix(preds, target, 4, validate=False)
        value = F.f1(cm, "macro")
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert cm.device == preds.device and value.device == preds.device
    np.testing.assert_array_equal(cm.cpu().numpy(), skm.confusion_matrix(
        target.cpu().numpy(), preds.cpu().numpy(), labels=range(4)))


def test_no_host_sync_with_num_classes_and_validate_false(monkeypatch: pytest.MonkeyPatch) -> None:
    def sync(*args, **kwargs):
        raise AssertionError("host sync")

    for name in ("item", "tolist", "__bool__", "cpu", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, sync)
    cm = F.confusion_matrix(torch.tensor([0, 1, 9]), torch.tensor([0, 1, 1]), 3, validate=False)
    F.precision(cm), F.recall(cm, None), F.fbeta(cm, 2.0, "weighted"), F.balanced_accuracy(cm)
    monkeypatch.undo()
    assert cm.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]  # the out-of-range pair is left out


@pytest.mark.parametrize("num_classes", [1, 0, -3, 2.5, True, "3"])
def test_bad_num_classes(num_classes: object) -> None:
    with pytest.raises(ValueError, match=f"Expected `num_classes` to be an int >= 2, but got {num_classes!r}"):
        F.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 1]), num_classes)


def test_labels_out_of_range_name_the_value() -> None:
    with pytest.raises(InputError, match=r"`target` to hold class indices in \[0, 3\), but got 7"):
        F.confusion_matrix(torch.tensor([0, 1, 2]), torch.tensor([0, 7, 1]), 3)
    with pytest.raises(ValueError, match=r"`preds` to hold class indices in \[0, 3\), but got -1"):
        F.confusion_matrix(torch.tensor([0, -1, 2]), torch.tensor([0, 1, 1]), 3)
    with pytest.raises(ValueError, match="but got -2"):
        F.confusion_matrix(torch.tensor([0, 1]), torch.tensor([-2, 1]))


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"same shape, but got \(3,\) and \(2,\)"):
        F.confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1]), 2)
    with pytest.raises(ValueError, match="integer class indices.*argmax"):
        F.confusion_matrix(torch.tensor([0.2, 0.9]), torch.tensor([0, 1]), 2)
    with pytest.raises(ValueError, match="empty; pass num_classes"):
        F.confusion_matrix(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long))
    assert F.confusion_matrix(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), 2).sum() == 0
    cm = torch.tensor([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="Expected `average` to be one of .* but got 'mean'"):
        F.precision(cm, "mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`positive` to be a class index in \[0, 2\), but got 2"):
        F.recall(cm, "binary", positive=2)
    with pytest.raises(ValueError, match="`beta` to be a finite number >= 0, but got -1"):
        F.fbeta(cm, -1)
    with pytest.raises(ValueError, match=r"square \[C, C\] confusion matrix, but got shape \(2, 3\)"):
        F.accuracy(torch.zeros(2, 3))
