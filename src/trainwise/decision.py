"""The decision threshold of a binary task: a rule parsed once into a type, resolved once.

A threshold is a number in (0, 1) on the positive class's probability, or a rule resolved on the
validation scores at the end of a fit: ``best_f1`` (``best_f2``, ... F-beta), ``recall=0.8``,
``precision=0.9``. Torch-free: the CLI parses ``--threshold`` with it before importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from trainwise.errors import InputError
from trainwise.policy import DEFAULT_THRESHOLD

MAX_BETA = 100.0     # F-beta beyond this is recall alone; larger values overflowed (best_f1e200)
Kind = Literal["fixed", "best_f", "recall", "precision"]
HELP = "a number in (0, 1), best_f1, recall=R or precision=P"


@dataclass(frozen=True)
class ThresholdRule:
    """``kind`` ``fixed`` holds the threshold in ``value``; ``best_f`` the beta; ``recall``/``precision``
    the goal in (0, 1]."""

    kind: Kind
    value: float

    @property
    def fixed(self) -> float | None:
        """The threshold itself when it needs no validation scores, else None."""
        return self.value if self.kind == "fixed" else None

    def __str__(self) -> str:
        if self.kind == "fixed":
            return f"{self.value:g}"
        if self.kind == "best_f":
            return f"best_f{self.value:g}"
        return f"{self.kind}={self.value:g}"

    def to_json(self) -> float | str:
        """As config.json keeps it: the number for a fixed threshold, else the rule's text."""
        return self.value if self.kind == "fixed" else str(self)


def parse_threshold(value: object) -> ThresholdRule:
    """Parse ``0.37``, ``"best_f1"``, ``"recall=0.8"``, ``"precision=0.9"`` (or a ThresholdRule)."""
    if isinstance(value, ThresholdRule):
        return value
    text = str(value).strip()
    number = _number(text)
    if number is not None:
        if 0.0 < number < 1.0:
            return ThresholdRule("fixed", number)
        raise InputError(f"Expected `threshold` to be between 0 and 1, but got {value!r}.")
    kind, sep, goal = text.partition("=")
    if text.startswith("best_f") and not sep:
        beta = _number(text[len("best_f"):])
        if beta is not None and 0 < beta <= MAX_BETA:
            return ThresholdRule("best_f", beta)
    elif kind in ("recall", "precision"):
        target = _number(goal)
        if target is not None and 0 < target <= 1:
            return ThresholdRule(kind, target)  # type: ignore[arg-type]
    raise InputError(f"Expected `threshold` to be {HELP} (best_fBETA: beta up to {MAX_BETA:g}), but got {value!r}.")


def default_threshold(rule: ThresholdRule | None) -> float:
    """The threshold in use before (or without) a rule's resolution."""
    return rule.fixed if rule is not None and rule.fixed is not None else DEFAULT_THRESHOLD


def resolve(rule: ThresholdRule, thresholds: dict[str, Any], scores: Any) -> dict[str, Any]:
    """The ``thresholds["applied"]`` entry of a run: a fixed threshold as it is; a rule resolved on the
    validation ``scores`` (a MetricAccumulator, or anything with its ``thresholds(...)`` method), reusing
    the entry already in ``thresholds`` when there is one."""
    text = str(rule)
    if rule.kind == "fixed":
        return {"rule": text, "threshold": rule.value}
    if rule.kind == "recall":
        choice = scores.thresholds(target_recall=rule.value)[f"recall@{rule.value:g}"]
    elif rule.kind == "precision":
        choice = scores.thresholds(target_precision=rule.value)[f"precision@{rule.value:g}"]
    else:
        choice = thresholds.get(text) or scores.thresholds(beta=rule.value)[text]
    if choice is None:
        return {"rule": text, "threshold": None,
                "note": f"no threshold reaches {text} on the validation set; the default {DEFAULT_THRESHOLD:g} "
                        "was kept"}
    return {"rule": text, "threshold": choice["threshold"],
            "note": "chosen on the validation set, so its metrics there are optimistic: confirm on held-out data"}


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None
