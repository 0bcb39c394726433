"""Findings from checking new data against the training data: categories never seen, columns that moved.

The check dict (built by :class:`trainwise.serve.check.DataCheck` while rows are predicted)::

    {"rows": N,
     "numeric": {name: {"rows", "missing", "mean", "train_mean", "train_std", "shift_std",
                        "outside", "outside_share", "train_range"}},
     "categorical": {name: {"rows", "missing", "unseen", "unseen_share", "examples", "capped",
                            "train_other_share"}}}

``shift_std`` is the mean's move in training standard deviations (``None`` for a constant training
column); ``outside_share`` the share of observed values outside ``train_range`` (``None`` when the run
folder predates recording the range). ``unseen`` counts rows whose value is not among the categories the
model encodes; for a capped column (more than 50 training levels) these include the rare training levels
too, whose training share is ``train_other_share``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from trainwise.diagnostics.findings import Finding, Severity
from trainwise.errors import shown_name

# feature_drift: the mean moved by this many training standard deviations, and by more than
# SHIFT_STANDARD_ERRORS standard errors of a mean of this many rows (a few rows' mean is noisy) ...
SHIFT_STD = 0.5
SHIFT_STANDARD_ERRORS = 3.0
# ... or this share of the values lies outside the training range (rows from the training distribution
# fall outside it with probability about 2 / (training rows + 1)).
OUTSIDE_SHARE = 0.05
# unseen_categories: warning from this share of rows holding an unseen category (beyond the training share
# of rare levels for a capped column), info below it.
UNSEEN_WARNING_SHARE = 0.01
# a capped column is reported when its share outside the kept categories exceeds training's by this much
CAPPED_EXCESS_SHARE = 0.01
SHOWN = 3          # columns named in a message


def unseen_categories(check: Mapping[str, Any]) -> list[Finding]:
    """Categorical columns holding values the model never saw in training (encoded as all zeros).

    Rule: an uncapped column with any unseen row; a capped column whose share outside the kept categories
    exceeds the training share of rare levels by ``CAPPED_EXCESS_SHARE`` (any such row when that training
    share was not recorded). Warning when a reported column's excess share is at least
    ``UNSEEN_WARNING_SHARE``, else info. Evidence: ``rows`` and, per column, ``unseen``, ``share``,
    ``excess_share``, ``examples`` (the most frequent unseen values and their rows), ``capped``.
    """
    reported: dict[str, dict[str, Any]] = {}
    for name, col in (check.get("categorical") or {}).items():
        unseen, share = int(col.get("unseen") or 0), float(col.get("unseen_share") or 0.0)
        if unseen == 0:
            continue
        expected = col.get("train_other_share")
        if col.get("capped"):
            if expected is not None and share - expected < CAPPED_EXCESS_SHARE:
                continue
        else:
            expected = 0.0
        reported[name] = {"unseen": unseen, "share": share,
                          "excess_share": share - (expected or 0.0), "examples": col.get("examples") or {},
                          "capped": bool(col.get("capped"))}
    if not reported:
        return []
    worst = max(c["excess_share"] for c in reported.values())
    severity = Severity.WARNING if worst >= UNSEEN_WARNING_SHARE else Severity.INFO
    order = sorted(reported, key=lambda n: -reported[n]["share"])
    parts = [f"{shown_name(n)} ({reported[n]['unseen']} rows, {reported[n]['share']:.1%}"
             + (f", e.g. {_examples(reported[n]['examples'])}" if reported[n]["examples"] else "") + ")"
             for n in order[:SHOWN]]
    more = f" and {len(order) - SHOWN} more columns" if len(order) > SHOWN else ""
    message = (f"Values never seen in training: {', '.join(parts)}{more}. The model encodes them as 'none of "
               "the known categories', so their predictions rest on the other columns alone.")
    advice = ("Check for typos, renamed or new categories (map them to the training names where they mean the "
              "same); if the new categories are real, retrain on data that includes them.")
    return [Finding("unseen_categories", severity, message, advice, None,
                    {"rows": check.get("rows"), "columns": reported})]


def feature_drift(check: Mapping[str, Any]) -> list[Finding]:
    """Numeric columns whose values moved away from the training data.

    Rule, per column: the mean moved by at least ``SHIFT_STD`` training standard deviations and by more
    than ``SHIFT_STANDARD_ERRORS`` standard errors of the new rows' mean, or at least ``OUTSIDE_SHARE`` of
    the values lie outside the training range. One warning naming the columns, largest move first.
    Evidence: ``rows`` and, per column, ``shift_std``, ``outside_share``, ``mean``, ``train_mean``,
    ``train_std``, ``train_range``.
    """
    moved: dict[str, dict[str, Any]] = {}
    for name, col in (check.get("numeric") or {}).items():
        shift, outside, n = col.get("shift_std"), col.get("outside_share"), int(col.get("rows") or 0)
        shifted = (shift is not None and n > 0 and abs(shift) >= SHIFT_STD
                   and abs(shift) > SHIFT_STANDARD_ERRORS / math.sqrt(n))
        beyond = outside is not None and outside >= OUTSIDE_SHARE
        if shifted or beyond:
            moved[name] = {key: col.get(key) for key in ("shift_std", "outside_share", "mean", "train_mean",
                                                          "train_std", "train_range")}
    if not moved:
        return []
    order = sorted(moved, key=lambda n: -max(abs(moved[n]["shift_std"] or 0.0), 10 * (moved[n]["outside_share"] or 0)))
    parts = [f"{shown_name(n)} ({_movement(moved[n])})" for n in order[:SHOWN]]
    more = f" and {len(order) - SHOWN} more" if len(order) > SHOWN else ""
    total = len(check.get("numeric") or {})
    message = (f"{len(moved)} of {total} numeric columns moved away from the training data: "
               f"{', '.join(parts)}{more}. Where the data moved, the model extrapolates and its validation "
               "metrics no longer describe it.")
    advice = ("Check those columns' units and sources (a changed unit or a broken feed looks like this); if the "
              "new data is right, retrain on data that includes it, and confirm on labelled new rows.")
    return [Finding("feature_drift", Severity.WARNING, message, advice, None,
                    {"rows": check.get("rows"), "columns": moved})]


def _movement(col: Mapping[str, Any]) -> str:
    parts = []
    if col.get("shift_std") is not None:
        parts.append(f"mean {col['shift_std']:+.2g} training std")
    if col.get("outside_share"):
        low, high = col["train_range"]
        parts.append(f"{col['outside_share']:.0%} outside the training range {low:.4g} to {high:.4g}")
    return "; ".join(parts)


def _examples(examples: Mapping[str, int]) -> str:
    return ", ".join(repr(str(value)) for value in list(examples)[:SHOWN])
