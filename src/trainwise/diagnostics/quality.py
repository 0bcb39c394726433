"""Findings about how good the model is beyond its own curves: a simpler model on the same features does
clearly better (``weaker_than_baseline``), or its probabilities do not mean what they say
(``miscalibrated``). Both read the ``baseline`` and ``calibration`` sections that `trainwise.assessment`
adds to a run's validation metrics, so ``trainwise diagnose RUN`` finds them again from summary.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainwise.diagnostics.findings import Finding, Severity

# miscalibrated: ECE at least this high...
ECE_LEVEL = 0.05
# ...and this many times the ECE a perfectly calibrated model shows on as many rows (sampling noise)...
ECE_NOISE_FACTOR = 2.0
# ...with a clear direction: the signed gap at least this share of the ECE (else errors cancel out by bin).
GAP_SHARE = 0.5

__all__ = ["baseline_sentence", "calibration_sentence", "miscalibrated", "quality_findings", "weaker_than_baseline"]


def quality_findings(metrics: Mapping[str, Any]) -> list[Finding]:
    """Every finding of this module from a run's validation metrics."""
    return weaker_than_baseline(metrics.get("baseline")) + miscalibrated(metrics.get("calibration"))


def weaker_than_baseline(baseline: Mapping[str, Any] | None) -> list[Finding]:
    """A logistic regression on the same features and rows does clearly better than the network (warning).

    Rule (`trainwise.baseline`): on the same validation rows, the baseline's accuracy -- ROC AUC in binary
    tasks whose rarer class is under 20 % of the rows -- is at least 1 point higher, and the paired test
    (McNemar's exact test, or DeLong's for AUC) gives p < 0.05. Evidence: ``metric``, ``network``,
    ``baseline``, ``difference``, ``p_value``, ``network_only``/``baseline_only`` (rows only that model
    gets right, for accuracy), ``baseline_metrics``.
    """
    if not isinstance(baseline, Mapping) or baseline.get("outcome") != "weaker":
        return []
    metric, net, base = baseline["metric"], baseline["network"], baseline["baseline"]
    rows = ""
    if baseline.get("baseline_only") is not None:
        rows = (f"; the baseline alone is right on {baseline['baseline_only']} rows, the network alone on "
                f"{baseline['network_only']}")
    message = (f"A {baseline.get('model', 'logistic regression')} on the same features scores "
               f"{_value(metric, base)} on the same validation rows against the network's {_value(metric, net)}: "
               f"{_gap(metric, base - net)} lower (p = {baseline['p_value']:.2g}{rows}). The network does not "
               "yet earn its complexity.")
    advice = ("Give the network more optimizer steps (more epochs, smaller batches; see not_converged), tune the "
              "learning rate (trainwise lr-find), or add weight decay; if nothing closes the gap, the relation "
              "may be close to linear, and the logistic regression itself is the better model.")
    evidence = {key: baseline.get(key) for key in ("metric", "network", "baseline", "difference", "p_value",
                                                   "network_only", "baseline_only")}
    evidence["baseline_metrics"] = baseline.get("metrics")
    return [Finding("weaker_than_baseline", Severity.WARNING, message, advice, None, evidence)]


def miscalibrated(calibration: Mapping[str, Any] | None) -> list[Finding]:
    """The predicted probabilities are clearly over- or under-confident (warning; info when a fitted
    temperature brings them back).

    Rule, on the final model's validation rows (15 bins; binary: the positive class's probability against
    the share of positives, multiclass: the top class's probability against accuracy): expected calibration
    error ECE >= 0.05, at least twice the ECE a perfectly calibrated model would show on as many rows per
    bin (``noise``), and the signed ``gap`` at least half the ECE in size (> 0 over-confident, < 0
    under-confident). Calibration: well-trained MLPs on iris, wine, breast cancer and digits end at ECE
    0.01-0.07, each within 1.1x its noise level; the same tables under-trained (20 steps) are
    under-confident at 0.35-0.37 (iris, wine). With ``calibrate`` the finding is info when the
    temperature brings the ECE under the rule (measured on the rows it was fitted on: optimistic).
    Evidence: ``ece``, ``gap``, ``noise``, ``samples``, ``kind``, ``temperature``, ``ece_after``.
    """
    if not isinstance(calibration, Mapping) or not _clearly_off(calibration.get("ece"), calibration.get("gap"),
                                                                 calibration.get("noise")):
        return []
    ece, gap = calibration["ece"], calibration["gap"]
    over = gap > 0
    what = ("the positive class's probability" if calibration.get("kind") == "binary"
            else "the probability of the predicted class")
    if over:
        seen = (f"The model is over-confident: {what} overstates how often it is right; the expected calibration "
                f"error is {ece:.3f} (scores on average {gap:.3f} further from 0.5 than the outcomes justify)"
                if calibration.get("kind") == "binary" else
                f"The model is over-confident: {what} averages {abs(gap):.3f} above its accuracy; the expected "
                f"calibration error is {ece:.3f}")
        cause = "Over-confidence usually comes with overfitting: early stopping, weight decay or dropout help."
    else:
        seen = (f"The model is under-confident: {what} understates how often it is right; the expected "
                f"calibration error is {ece:.3f} (gap {gap:+.3f})")
        cause = "Under-confidence usually means an under-trained or heavily regularised model."
    message = (seen + f" over {calibration.get('samples')} validation rows, {ece / calibration['noise']:.1f}x what "
               "sampling noise gives a calibrated model. Scores and probabilities should not be read as "
               "chances as they are.")
    advice = (f"Fit a temperature on the validation rows (--calibrate; Trainer(calibrate=True)): it rescales the "
              f"probabilities without changing a single prediction. {cause}")
    severity = Severity.WARNING
    temperature = calibration.get("temperature")
    if temperature is not None:
        after = calibration.get("ece_after")
        fixed = not _clearly_off(after, calibration.get("gap_after"), calibration.get("noise_after"))
        message += (f" A temperature of {temperature:.3g} brings the error to {after:.3f} on the same rows"
                    + (" (trainwise predict applies it to the probabilities it hands out)." if fixed else
                       ", still clearly off."))
        if fixed:
            severity = Severity.INFO
            advice = f"Nothing more to do for the probabilities (temperature {temperature:.3g} applied). {cause}"
    evidence = {key: calibration.get(key) for key in ("ece", "gap", "noise", "samples", "kind", "temperature",
                                                       "ece_after")}
    return [Finding("miscalibrated", severity, message, advice, None, evidence)]


def _clearly_off(ece: Any, gap: Any, noise: Any) -> bool:
    if not all(isinstance(x, (int, float)) for x in (ece, gap, noise)):
        return False
    return ece >= ECE_LEVEL and ece >= ECE_NOISE_FACTOR * noise and abs(gap) >= GAP_SHARE * ece


def baseline_sentence(baseline: Mapping[str, Any] | None) -> str | None:
    """The baseline's outcome in one sentence, for the terminal summary and the report; None without one."""
    if not isinstance(baseline, Mapping):
        return None
    if not baseline.get("ran"):
        return f"No baseline: {baseline.get('reason') or 'not run'}."
    metric, net, base = baseline["metric"], baseline["network"], baseline["baseline"]
    model, p = baseline.get("model", "logistic regression"), baseline["p_value"]
    result = baseline.get("outcome")
    if result == "better":
        return (f"The network beats a {model} on the same features by {_gap(metric, net - base)} of "
                f"{_name(metric)} ({_number(metric, net)} vs {_number(metric, base)} on the same validation rows, "
                f"p = {p:.2g}): it earns its complexity.")
    if result == "weaker":
        return (f"A {model} on the same features scores {_value(metric, base)} against the network's {_value(metric, net)}: "
                f"the network is clearly weaker (p = {p:.2g}; see weaker_than_baseline).")
    return (f"A {model} on the same features scores {_value(metric, base)}, the network's {_value(metric, net)}, "
            f"on the same validation rows: no clear difference (p = {p:.2g}), so a simpler model would do about "
            "as well.")


def calibration_sentence(calibration: Mapping[str, Any] | None) -> str | None:
    """The calibration in one sentence (ECE, direction against noise, temperature); None without one."""
    if not isinstance(calibration, Mapping) or calibration.get("ece") is None:
        return None
    ece, gap, noise = calibration["ece"], calibration["gap"], calibration["noise"]
    what = "positive-class probability" if calibration.get("kind") == "binary" else "top-class probability"
    text = f"Expected calibration error {ece:.3f} ({what}, {calibration.get('n_bins')} bins, "
    text += f"{calibration.get('samples')} rows; {noise:.3f} is what sampling noise gives a calibrated model)"
    if _clearly_off(ece, gap, noise):
        text += ": " + ("over-confident" if gap > 0 else "under-confident")
    if calibration.get("temperature") is not None:
        text += f"; temperature {calibration['temperature']:.3g} brings it to {calibration['ece_after']:.3f}"
    return text + "."


def _name(metric: str) -> str:
    return "accuracy" if metric == "accuracy" else "ROC AUC"


def _number(metric: str, value: float) -> str:
    return f"{value:.1%}" if metric == "accuracy" else f"{value:.3f}"


def _value(metric: str, value: float) -> str:
    return f"accuracy {value:.1%}" if metric == "accuracy" else f"ROC AUC {value:.3f}"


def _gap(metric: str, diff: float) -> str:
    return f"{100 * diff:.1f} points" if metric == "accuracy" else f"{diff:.3f}"
