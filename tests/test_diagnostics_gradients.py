"""Gradient-norm detectors on hand-built histories."""

from __future__ import annotations

import math

import pytest

from trainwise.diagnostics import gradients
from trainwise.diagnostics.findings import Severity


def hist(means, maxes=None, loss=None, layers=None):
    records = []
    for i, m in enumerate(means):
        r = {"epoch": i + 1, "grad_norm_mean": m, "grad_norm_max": (maxes or means)[i],
             "grad_top_layer": (layers or ["net.0.weight"] * len(means))[i]}
        if loss is not None:
            r["train_loss"] = loss[i]
        records.append(r)
    return records


HEALTHY = hist([0.9, 0.89, 0.78, 0.61, 0.54, 0.45, 0.39, 0.31, 0.3, 0.26],
               [3.1, 2.5, 2.3, 1.0, 1.3, 3.5, 1.7, 3.0, 0.47, 0.71],
               [2.1, 1.7, 1.2, 0.89, 0.65, 0.49, 0.39, 0.32, 0.27, 0.23])


def test_exploding_gradients_names_the_epoch_and_the_layer():
    records = hist([0.5, 0.4, 0.45, 60.0, 0.4], [1.0, 0.9, 1.1, 900.0, 0.8],
                   layers=["a", "b", "c", "net.2.weight", "d"])
    [f] = gradients.exploding_gradients(records)
    assert f.severity is Severity.WARNING and f.epoch == 4
    assert f.evidence["layer"] == "net.2.weight" and f.evidence["grad_norm"] == 900.0
    assert f.evidence["typical"] == 0.45 and f.evidence["ratio"] == pytest.approx(2000)
    assert "'net.2.weight'" in f.message


def test_exploding_gradients_is_an_error_from_10000x_or_nonfinite():
    [f] = gradients.exploding_gradients(hist([7.5e6, 0.21, 0.14, 0.12, 0.15], [1e8, 0.4, 0.26, 0.3, 0.33]))
    assert f.severity is Severity.ERROR and f.epoch == 1
    [g] = gradients.exploding_gradients(hist([0.5, 0.4, math.inf]))
    assert g.severity is Severity.ERROR and g.epoch == 3 and g.evidence["grad_norm"] is None


@pytest.mark.parametrize("records", [
    HEALTHY,
    hist([0.5, 30.0]),  # too few epochs to know what is typical
    [{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "grad_norm_mean": None}],
])
def test_exploding_gradients_negatives(records):
    assert gradients.exploding_gradients(records) == []


DYING = hist([0.55, 0.3, 0.17, 0.09, 0.05, 0.03, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 9e-8],
             loss=[0.694, 0.671, 0.664, 0.662, 0.661, 0.661, 0.6607, 0.6607, 0.6607, 0.6607, 0.6607, 0.6607],
             layers=["out.bias"] * 12)


def test_vanishing_gradients_when_the_norm_dies_and_the_loss_stalls():
    [f] = gradients.vanishing_gradients(DYING)
    assert f.severity is Severity.WARNING and f.epoch == 12
    assert f.evidence["first_grad_norm"] == 0.55 and f.evidence["fall"] > 1e5
    assert f.evidence["layer"] == "out.bias"
    assert f.evidence["loss_change"] == pytest.approx(0.6607 / 0.694 - 1)


def test_a_dying_norm_is_not_also_reported_as_exploding():
    assert gradients.exploding_gradients(DYING) == []


@pytest.mark.parametrize("records", [
    HEALTHY,
    # norms fall 10,000x because training converged: the loss fell too
    hist([1.0, 0.1, 0.01, 1e-3, 1e-4, 1e-4], loss=[2.0, 0.5, 0.05, 5e-3, 5e-4, 4e-4]),
    hist([1.0, 0.5]),
])
def test_vanishing_gradients_negatives(records):
    assert gradients.vanishing_gradients(records) == []
