"""Seeded, stratified train/validation split."""

from __future__ import annotations

import numpy as np

from trainwise.errors import InputError

__all__ = ["stratified_split"]


def stratified_split(y_codes: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train_idx, val_idx)``, each sorted ascending, int64.

    Every class keeps its share: a class of ``n`` rows sends ``round(n * val_fraction)`` of them to
    validation, clamped so that a class with at least 2 rows has at least one row on each side; a class
    with a single row stays in training (a model cannot be judged on a class it never saw). Which rows
    go is drawn with ``numpy.random.default_rng(seed)``: the same codes, fraction and seed give the same
    split on every run and platform.
    """
    if not isinstance(val_fraction, int | float) or not 0.0 < float(val_fraction) < 1.0:
        raise InputError(
            f"validation fraction must be between 0 and 1 (exclusive), got {val_fraction!r}; "
            "pass e.g. --val-fraction 0.2."
        )
    y = np.asarray(y_codes)
    if y.ndim != 1:
        raise ValueError(f"Expected `y_codes` to be 1-D, but got shape {y.shape}")
    rng = np.random.default_rng(seed)
    # A random permutation, then a stable sort by class: rows grouped by class, random within each group.
    shuffled = rng.permutation(y.size)
    grouped = shuffled[np.argsort(y[shuffled], kind="stable")]
    _, starts, sizes = np.unique(y[grouped], return_index=True, return_counts=True)
    is_val = np.zeros(y.size, dtype=bool)
    for start, size in zip(starts, sizes, strict=True):
        n_val = 0 if size < 2 else min(max(round(size * val_fraction), 1), size - 1)
        is_val[grouped[start : start + n_val]] = True
    return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)
