"""Findings from the data facts: validation rows that also sit in the training set.

The data facts dict (built by ``trainwise.data``): ``{"class_counts": [...], "labels": [...],
"leakage": {"count", "share", "examples"}, "n_train", "n_val"}``; ``leakage`` counts validation rows
whose raw features (before preprocessing) are identical to a training row's, found by hashing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainwise.diagnostics.findings import Finding, Severity

# data_leakage: error from this share of validation rows duplicated in training; warning below it.
LEAKAGE_ERROR_SHARE = 0.01
MAX_EXAMPLES = 5


def data_leakage(data: Mapping[str, Any]) -> list[Finding]:
    """Validation rows duplicated from training rows.

    Rule: ``leakage.count > 0``; error when ``leakage.share`` (duplicated / validation rows) is at
    least 1 %, warning below (a handful of exact duplicates happens in tables with few, coarse
    features, but it still flatters the score). Evidence: ``count``, ``share``, ``n_val``,
    ``examples`` (at most five, as given: ``{"val_row", "train_row"}`` pairs, 0-based, or row numbers).
    """
    leakage = data.get("leakage") or {}
    count = int(leakage.get("count") or 0)
    if count <= 0:
        return []
    n_val = data.get("n_val")
    share = leakage.get("share")
    if share is None and n_val:
        share = count / n_val
    examples = list(leakage.get("examples") or [])[:MAX_EXAMPLES]
    severity = Severity.ERROR if share is None or share >= LEAKAGE_ERROR_SHARE else Severity.WARNING
    of = f" of {n_val}" if n_val else ""
    share_text = f" ({share:.1%})" if share is not None else ""
    validation = data.get("validation")
    one_file = isinstance(validation, Mapping) and validation.get("kind") == "split"
    shown = _examples(examples[:3], one_file)
    message = (f"{count}{of} validation rows{share_text} are identical to training rows"
               + (f" (e.g. {shown})" if shown else "")
               + ": the model is scored on samples it trained on, so validation metrics overstate "
                 "how it does on new data.")
    if severity is Severity.WARNING:
        message += " The share is small, so the effect on the scores is small too."
    advice = ("Drop duplicate rows before splitting, or split by an entity id (customer, patient, "
              "session) so that copies land on the same side; then train and evaluate again.")
    evidence = {"count": count, "share": share, "n_val": n_val, "examples": examples}
    return [Finding("data_leakage", severity, message, advice, None, evidence)]


def _examples(examples: list[Any], one_file: bool) -> str:
    """"file rows 12 and 619, 45 and 643 (0-based)" for a split of one file, else validation = training."""
    if not examples:
        return ""
    if all(isinstance(x, Mapping) and {"val_row", "train_row"} <= set(x) for x in examples):
        if one_file:
            pairs = ", ".join(f"{x['val_row']} and {x['train_row']}" for x in examples)
            return f"file rows {pairs}; 0-based"
        pairs = "; ".join(f"validation row {x['val_row']} = training row {x['train_row']}" for x in examples)
        return f"{pairs}; 0-based"
    return "rows " + ", ".join(str(x.get("val_row", x)) if isinstance(x, Mapping) else str(x) for x in examples)
