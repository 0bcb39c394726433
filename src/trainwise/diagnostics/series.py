"""Small helpers shared by the detectors: per-epoch series out of history records, and formatting."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

Point = tuple[int | float, float]  # (epoch, value); an imported log's epoch may be fractional (2.4)


def series(history: Sequence[Mapping[str, Any]], key: str, *, keep_nonfinite: bool = False) -> list[Point]:
    """``(epoch, value)`` for every record holding a number under ``key``, in record order.

    Missing and ``None`` values are skipped; NaN and Inf are skipped too unless ``keep_nonfinite``.
    A record without an epoch is numbered by its position, from 1. Epochs keep their value: a whole
    number stays an int, an evaluation inside an epoch (the Hugging Face Trainer's 2.4) a float.
    """
    points: list[Point] = []
    for i, record in enumerate(history):
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        value = float(value)
        if not keep_nonfinite and not math.isfinite(value):
            continue
        epoch = record.get("epoch")
        if isinstance(epoch, float) and epoch.is_integer():
            epoch = int(epoch)
        points.append((epoch if isinstance(epoch, (int, float)) and not isinstance(epoch, bool) else i + 1, value))
    return points


def values(points: Sequence[Point]) -> list[float]:
    return [v for _, v in points]


def median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def loss_key(history: Sequence[Mapping[str, Any]], prefer: str = "train_loss") -> str | None:
    """``prefer`` when some record has a finite value for it, else the other loss, else ``None``."""
    other = "val_loss" if prefer == "train_loss" else "train_loss"
    for key in (prefer, other):
        if series(history, key):
            return key
    return None


def chance_loss(num_classes: int | None = None, class_counts: Sequence[int] | None = None) -> float | None:
    """Cross-entropy of a model that learned nothing but the class frequencies.

    The entropy of the class shares when counts are known (ln 2 = 0.693 for balanced binary data, 0.098
    for 2 % frauds), else ``ln(num_classes)``, else ``None``.
    """
    if class_counts:
        total = sum(class_counts)
        if total > 0:
            return -sum(c / total * math.log(c / total) for c in class_counts if c > 0)
    if num_classes and num_classes >= 2:
        return math.log(num_classes)
    return None


def fmt(x: float | None) -> str:
    """A loss or norm for a message: 0.123, 12.3, 4.5e+06, nan."""
    if x is None:
        return "n/a"
    if not math.isfinite(x):
        return str(x)
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        return f"{x:.3g}"
    return f"{x:.2g}"


def pct(x: float) -> str:
    """A relative change for a message: 45%, 1.5%, 2.3e+03%."""
    p = 100 * x
    if abs(p) >= 1e4:
        return f"{p:.1e}%"
    if 99.5 <= abs(p) < 100:  # "fell 99.97%", not "fell 100%"
        digits = 1
        while f"{abs(p):.{digits}f}".startswith("100") and digits < 6:
            digits += 1
        return f"{p:.{digits}f}%"
    return f"{p:.0f}%" if abs(p) >= 10 else f"{p:.1f}%"
