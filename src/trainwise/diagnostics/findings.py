"""A finding: one thing seen in a run, how serious it is, the numbers behind it and what to try."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

Verdict = Literal["good", "warning", "bad"]

# How serious each severity is, keyed by its JSON string (so findings read back from JSON rank too):
# 0 for info, 1 for warning, 2 for error. The one ranking: Severity.rank and the report read it.
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2}


class Severity(str, Enum):
    """How serious a finding is. A ``str`` enum: ``Severity.ERROR == "error"`` holds."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for error: for sorting and ``--fail-on`` gates."""
        return SEVERITY_RANK[self.value]

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Finding:
    """One finding (PRODUCT.md "Findings", a stable contract).

    ``code`` is one of the stable codes; ``message`` says what was seen, with numbers, and why it
    matters; ``advice`` says what to try; ``epoch`` is the epoch the finding points at (the file's own
    numbering for imported logs) or ``None``; ``evidence`` holds the numbers behind the message.
    """

    code: str
    severity: Severity
    message: str
    advice: str
    epoch: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Accept "warning" as well as Severity.WARNING; anything else is a programming error.
        object.__setattr__(self, "severity", Severity(self.severity))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: plain strings and numbers; non-finite floats become ``null``."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "advice": self.advice,
            "epoch": self.epoch,
            "evidence": _plain(self.evidence),
        }


def verdict(findings: Iterable[Finding]) -> Verdict:
    """``"bad"`` if any finding is an error, ``"warning"`` if any is a warning, else ``"good"``."""
    worst = max((f.severity.rank for f in findings), default=0)
    return ("good", "warning", "bad")[worst]


def at_least(findings: Iterable[Finding], severity: Severity | str) -> list[Finding]:
    """The findings at or above ``severity`` (what ``--fail-on`` gates on)."""
    floor = Severity(severity).rank
    return [f for f in findings if f.severity.rank >= floor]


def _plain(value: Any) -> Any:
    """Evidence as strict JSON: tuples to lists, numpy/torch scalars to Python, NaN/Inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy or torch scalar
        return _plain(value.item())
    return str(value)
