"""Findings: judge a run from its curves, its gradients, its confusion matrix and its data.

One module per family of detectors; ``diagnose`` runs them all. Every detector is a pure function
over recorded data that returns a list of :class:`Finding`.
"""

from trainwise.diagnostics.findings import Finding, Severity, at_least, verdict
from trainwise.diagnostics.run import diagnose, diagnose_log, diagnose_path

__all__ = ["Finding", "Severity", "at_least", "diagnose", "diagnose_log", "diagnose_path", "verdict"]
