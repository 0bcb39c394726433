"""The logistic-regression baseline: scikit-learn's model, paired tests checked against scipy and scikit-learn,
and the Trainer's end-of-fit assessment on real tables and on synthetic cases whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import trainwise as tw
from trainwise.baseline import compare_accuracy, compare_auc, fit_logistic, mcnemar_p, outcome
from trainwise.config import TrainConfig
from trainwise.data import prepare_tabular
from trainwise.defaults import choose_defaults
from trainwise.diagnostics import diagnose
from trainwise.errors import InputError
from trainwise.tabular import fit_table


def table_run(load, *, seed=0, **settings):
    """`trainwise fit` on one of scikit-learn's tables, as the CLI runs it."""
    data = prepare_tabular(load(as_frame=True).frame, "target", seed=seed)
    return fit_table(data, TrainConfig(seed=seed, **settings))


def codes(run, severity=None):
    return {f.code for f in run.findings if severity is None or f.severity.value == severity}


# ---------------------------------------------------------------------- the model and the statistics
@pytest.mark.parametrize("load", [datasets.load_breast_cancer, datasets.load_wine])
def test_the_baseline_is_scikit_learns_logistic_regression(load):
    X, y = load(return_X_y=True)
    reference = LogisticRegression(C=1.0, max_iter=10_000, tol=1e-8).fit(StandardScaler().fit_transform(X), y)
    model = fit_logistic(torch.tensor(X, dtype=torch.float32), torch.tensor(y), len(np.unique(y)))
    ours = model.logits(torch.tensor(X, dtype=torch.float32)).softmax(1).numpy()
    theirs = reference.predict_proba(StandardScaler().fit_transform(X))
    assert np.abs(ours - theirs).max() < 2e-3
    assert (ours.argmax(1) == theirs.argmax(1)).all()


@pytest.mark.parametrize(("network_only", "baseline_only"), [(0, 0), (0, 3), (1, 9), (12, 5), (40, 70), (0, 400)])
def test_mcnemar_is_the_exact_binomial_test(network_only, baseline_only):
    import scipy.stats as stats
    n = network_only + baseline_only
    expected = 1.0 if n == 0 else stats.binomtest(network_only, n, 0.5).pvalue
    assert mcnemar_p(network_only, baseline_only) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_paired_accuracy_and_auc_comparisons():
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(3000, generator=g) < 0.1).long()
    good = y + 0.8 * torch.randn(3000, generator=g)
    worse = y + 2.0 * torch.randn(3000, generator=g)
    tied = (good * 4).round() / 4                               # ties within and across classes
    result = compare_auc(tied, worse, y == 1)
    assert result["network"] == pytest.approx(roc_auc_score(y, tied))
    assert result["baseline"] == pytest.approx(roc_auc_score(y, worse))
    assert result["p_value"] < 1e-6 and outcome(result) == "better"
    same = compare_auc(good, good + 1e-4 * torch.randn(3000, generator=g), y == 1)
    assert same["p_value"] > 0.05 and outcome(same) == "on_par"
    assert compare_auc(good, worse, torch.zeros(3000, dtype=torch.bool)) is None    # one class only
    acc = compare_accuracy(torch.tensor([1, 1, 0, 0, 1]), torch.tensor([1, 1, 1, 1, 1]))
    assert acc == {"metric": "accuracy", "network": 0.6, "baseline": 1.0, "network_only": 0, "baseline_only": 2,
                   "p_value": 0.5}
    assert outcome(acc) == "on_par"                              # 2 rows: no evidence either way


# ---------------------------------------------------------------------- real tables: the cases
def test_an_under_trained_network_is_weaker_than_the_baseline():
    """Wine at 20 epochs of batch 256 (20 optimizer steps): 0.806 against the baseline's 0.972."""
    run = table_run(datasets.load_wine, epochs=20, batch_size=256)
    b = run.baseline
    assert b["ran"] and b["metric"] == "accuracy" and b["outcome"] == "weaker"
    assert b["network"] == pytest.approx(run.metrics["accuracy"])        # the same rows, the same predictions
    assert b["baseline"] > 0.95 > run.metrics["accuracy"]
    assert b["metrics"]["accuracy"] == b["baseline"] and b["metrics"]["loss"] < run.metrics["loss"]
    assert {"weaker_than_baseline", "not_converged"} <= codes(run, "warning")
    assert run.verdict == "warning"
    [f] = [f for f in run.findings if f.code == "weaker_than_baseline"]
    assert "logistic regression" in f.message and f"{b['baseline']:.1%}" in f.message
    assert f.evidence["baseline_only"] > f.evidence["network_only"] and f.evidence["p_value"] < 0.05
    # the findings come back from the recorded data alone (trainwise diagnose RUN reads summary.json)
    assert {f.code for f in diagnose(run.history, metrics=run.metrics, data=run.data)} == codes(run)


def test_no_false_alarm_on_a_well_trained_model():
    """Breast cancer at 300 epochs (0.973): the baseline's 0.991 is 2 rows of 114 away -- on par."""
    run = table_run(datasets.load_breast_cancer, epochs=300, batch_size=256)
    assert run.metrics["accuracy"] > 0.96
    assert run.baseline["outcome"] == "on_par"
    assert not codes(run) & {"weaker_than_baseline", "miscalibrated"}
    assert "not_converged" not in codes(run, "warning")


def test_the_chosen_defaults_reach_the_baseline():
    """Iris with the defaults chosen for 120 rows: no longer 0.833 after 20 steps."""
    run = table_run(datasets.load_iris, **choose_defaults(120).settings())
    assert run.metrics["accuracy"] >= run.baseline["baseline"] - 0.01
    assert run.baseline["outcome"] != "weaker" and run.stop_reason.startswith("early stopping")
    assert "not_converged" not in codes(run)


# ---------------------------------------------------------------------- synthetic: the truth is known
def linear_data(n=2000, features=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, features, generator=g)
    w = torch.randn(features, generator=g)
    y = (X @ w + 0.5 * torch.randn(n, generator=g) > 0).long()
    cut = n * 4 // 5
    return (X[:cut], y[:cut]), (X[cut:], y[cut:])


def mlp(features, classes, hidden=32):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def test_a_linear_problem_does_not_call_a_trained_network_weaker():
    train, val = linear_data()
    run = tw.Trainer(optimizer="adam", lr=1e-3, seed=0, device="cpu",
                     **choose_defaults(1600).settings()).fit(mlp(10, 2), train, val)
    assert run.baseline["outcome"] in ("on_par", "better")
    assert run.baseline["baseline"] > 0.9 and "weaker_than_baseline" not in codes(run)


def test_a_nonlinear_problem_shows_the_network_is_better():
    g = torch.Generator().manual_seed(1)
    X = torch.rand(3000, 2, generator=g) * 2 - 1
    y = ((X[:, 0] * X[:, 1]) > 0).long()                      # XOR: no line separates it
    run = tw.Trainer(optimizer="adam", lr=1e-2, epochs=30, batch_size=64, seed=0, device="cpu").fit(
        mlp(2, 2), (X[:2400], y[:2400]), (X[2400:], y[2400:]))
    b = run.baseline
    assert b["outcome"] == "better" and b["difference"] > 0.3 and b["baseline"] < 0.65
    assert "weaker_than_baseline" not in codes(run)


def test_rare_positives_are_compared_on_roc_auc_with_one_logit_models():
    g = torch.Generator().manual_seed(2)
    X = torch.randn(4000, 6, generator=g)
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.7 * torch.randn(4000, generator=g) > 2.0).long()     # about 6% positives
    model = mlp(6, 1)
    run = tw.Trainer(optimizer="adam", lr=1e-3, epochs=2, batch_size=512, seed=0, device="cpu").fit(
        model, (X[:3000], y[:3000]), (X[3000:], y[3000:]))
    b = run.baseline
    assert b["metric"] == "roc_auc" and "network_only" not in b
    assert b["network"] == pytest.approx(run.metrics["roc_auc"], abs=0.01)     # exact vs binned
    assert b["baseline"] > 0.95


def test_class_weights_reach_the_baseline():
    train, val = linear_data(1000)
    run = tw.Trainer(epochs=3, batch_size=64, seed=0, device="cpu", class_weights="balanced").fit(
        mlp(10, 2), train, val)
    assert run.baseline["ran"]


# ---------------------------------------------------------------------- where it does not apply
def test_turned_off_and_not_applicable():
    train, val = linear_data(600)
    off = tw.Trainer(epochs=2, batch_size=64, seed=0, device="cpu", baseline=False).fit(mlp(10, 2), train, val)
    assert off.baseline == {"model": off.baseline["model"], "ran": False,
                            "reason": "turned off (baseline=False, --no-baseline)"}
    loader = tw.Trainer(epochs=2, batch_size=64, seed=0, device="cpu").fit(
        mlp(10, 2), DataLoader(TensorDataset(*train), batch_size=64), DataLoader(TensorDataset(*val), batch_size=64))
    assert not loader.baseline["ran"] and "DataLoader" in loader.baseline["reason"]
    assert loader.calibration["samples"] == len(val[1])              # calibration needs no table
    images = tw.Trainer(epochs=1, batch_size=64, seed=0, device="cpu").fit(
        nn.Sequential(nn.Flatten(), mlp(10, 2)), (train[0].reshape(-1, 2, 5), train[1]),
        (val[0].reshape(-1, 2, 5), val[1]))
    assert not images.baseline["ran"] and "not a 2-D float table" in images.baseline["reason"]
    with pytest.raises(InputError, match="baseline"):
        tw.Trainer(baseline="no")
