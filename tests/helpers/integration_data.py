"""Data for the framework callbacks' tests (tests/test_integrations_*.py): small, real, a second to train on."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer


def noisy_cancer(n_train: int = 80, flip: float = 0.2, seed: int = 0):
    """scikit-learn's breast cancer table, standardized: a small training slice with ``flip`` of its labels
    flipped (a wide network memorizes it) and 269 clean validation rows. float32 features, int64 labels."""
    X, y = load_breast_cancer(return_X_y=True)
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    train, val = order[:n_train], order[300:]
    y_train = y[train].copy()
    flipped = rng.random(n_train) < flip
    y_train[flipped] = 1 - y_train[flipped]
    return (X[train], y_train.astype(np.int64)), (X[val], y[val].astype(np.int64))


def blobs(n: int = 600, d: int = 8, seed: int = 0):
    """Two Gaussian blobs 3 standard deviations apart (about 7 % of rows on the wrong side), split 400/200: a
    small model learns them in a few epochs and settles."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = (rng.normal(size=(n, d)) + 1.5 * (2 * y[:, None] - 1) / np.sqrt(d)).astype(np.float32)
    return (X[:400], y[:400].astype(np.int64)), (X[400:], y[400:].astype(np.int64))
