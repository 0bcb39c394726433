"""Findings of a multi-label task, label by label, and of how its outputs meet the loss.

A multi-label metrics dict (``task: "multilabel"``) holds ``per_label`` entries (precision, recall, F1,
support, predicted, tp/fp/fn/tn); the data facts hold each label's positives (``class_counts``) and rows
(``n_train + n_val``). The codes are the single-label ones, judged per label: ``low_recall`` (a label
rarely or never found), ``low_precision``, ``class_imbalance`` (a rare label). Thresholds as in
:mod:`trainwise.diagnostics.classification`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trainwise.diagnostics.classification import PRECISION_WARNING, RECALL_ERROR, RECALL_WARNING
from trainwise.diagnostics.findings import Finding, Severity

RARE_LABEL_SHARE = 0.05    # class_imbalance: a label positive in fewer than 5% of the rows
SHOWN = 4                  # labels a message names before "and N more"


def _pct(x: float) -> str:
    return f"{x:.0%}" if x >= 0.1 or x == 0 else f"{x:.1%}"


def _more(rows: Sequence[str]) -> str:
    return ", ".join(rows[:SHOWN]) + (f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else "")


def label_recall(metrics: Mapping[str, Any], thresholds: Mapping[str, Any] | None = None) -> list[Finding]:
    """``low_recall`` per label: labels with positives in the validation data and recall < 0.5 (warning;
    error under 0.3, which includes a label never found). One finding lists them all, worst first.
    Evidence: ``labels`` (label, recall, support, missed, best_f1 threshold when known), ``label`` and
    ``recall`` of the worst."""
    per_label = metrics.get("per_label") or {}
    low = sorted(((name, m) for name, m in per_label.items() if m.get("support") and m["recall"] < RECALL_WARNING),
                 key=lambda item: item[1]["recall"])
    if not low:
        return []
    best = (thresholds or {}).get("per_label") or {}
    rows = [{"label": name, "recall": m["recall"], "support": m["support"], "missed": m["support"] - m["tp"],
             "best_f1": best.get(name)} for name, m in low]
    name, worst = low[0]
    never = [n for n, m in low if m["tp"] == 0]
    if never:
        message = (f"Label {name!r} is never found: all {worst['support']} of its validation positives are missed"
                   + (f"; also never found: {_more([repr(n) for n in never[1:]])}" if len(never) > 1 else ""))
    else:
        message = (f"Recall on label {name!r} is {_pct(worst['recall'])}: the model misses "
                   f"{worst['support'] - worst['tp']} of its {worst['support']} validation positives")
    rest = [f"{n!r} {_pct(m['recall'])}" for n, m in low[1:] if n not in never]
    if rest:
        message += f"; also low: {_more(rest)}"
    message += ". A label the model rarely finds is one it has not learned."
    fixes = [f"{n!r} at {entry['threshold']:.3g} (recall {_pct(entry['recall'])}, F1 {entry['f1']:.2f})"
             for n, entry in ((n, best.get(n)) for n, _ in low) if entry and entry.get("recall", 0) > 0]
    advice = ("Give the rare labels more weight (loss_fn=nn.BCEWithLogitsLoss(pos_weight=...)), check that they "
              "are labelled right, and lower their decision thresholds")
    advice += f": the best-F1 thresholds on the validation data are {_more(fixes)}." if fixes else "."
    severity = Severity.ERROR if worst["recall"] < RECALL_ERROR else Severity.WARNING
    return [Finding("low_recall", severity, message, advice, None,
                    {"label": name, "recall": worst["recall"], "labels": rows})]


def label_precision(metrics: Mapping[str, Any]) -> list[Finding]:
    """``low_precision`` per label: labels predicted at least once with precision < 0.5 (warning)."""
    per_label = metrics.get("per_label") or {}
    low = sorted(((name, m) for name, m in per_label.items() if m.get("predicted") and m["precision"] < PRECISION_WARNING),
                 key=lambda item: item[1]["precision"])
    if not low:
        return []
    name, worst = low[0]
    message = (f"Precision on label {name!r} is {_pct(worst['precision'])}: {worst['fp']} of the "
               f"{worst['predicted']} rows given it do not have it")
    if len(low) > 1:
        others = [f"{n!r} {_pct(m['precision'])}" for n, m in low[1:]]
        message += f"; also low: {_more(others)}"
    message += ". Every time it raises that label it has to be checked."
    advice = "Raise that label's decision threshold if false alarms are costly, or give the model more telling features."
    rows = [{"label": n, "precision": m["precision"], "predicted": m["predicted"], "false_positives": m["fp"]}
            for n, m in low]
    return [Finding("low_precision", Severity.WARNING, message, advice, None,
                    {"label": name, "precision": worst["precision"], "labels": rows})]


def rare_labels(positives: Sequence[int], rows: int, labels: Sequence[str] | None = None) -> list[Finding]:
    """``class_imbalance`` per label (info): labels positive in fewer than ``RARE_LABEL_SHARE`` of the rows.
    Evidence: ``labels`` (label, positives, share), ``rarest_label``, ``rarest_share``, ``rows``."""
    if rows <= 0 or not positives:
        return []
    labels = [str(x) for x in labels] if labels is not None else [str(i) for i in range(len(positives))]
    rare = sorted(((labels[i], int(c), int(c) / rows) for i, c in enumerate(positives) if int(c) / rows < RARE_LABEL_SHARE),
                  key=lambda item: item[2])
    if not rare:
        return []
    name, count, share = rare[0]
    others = [f"{n!r} {_pct(s)}" for n, _, s in rare[1:]]
    seen = f"is positive in {_pct(share)} of the rows ({count} of {rows})" if count else \
        f"is never positive (0 of {rows} rows): nothing can be learned about it"
    message = (f"Label {name!r} {seen}"
               + (f"; also rare: {_more(others)}" if others else "")
               + ". Subset accuracy and the Hamming loss look good whatever happens to a rare label.")
    advice = ("Read the label's own recall and precision (and the macro averages); weighting its positives up "
              "(pos_weight) helps the model notice it.")
    evidence = {"rarest_label": name, "rarest_share": share, "rows": rows,
                "labels": [{"label": n, "positives": c, "share": s} for n, c, s in rare]}
    return [Finding("class_imbalance", Severity.INFO, message, advice, None, evidence)]


def multilabel_findings(metrics: Mapping[str, Any], data: Mapping[str, Any],
                        thresholds: Mapping[str, Any] | None = None) -> list[Finding]:
    """Every per-label detector; rare labels from the data's positives when known, else the validation's."""
    findings = [*label_recall(metrics, thresholds), *label_precision(metrics)] if metrics else []
    counts, rows = data.get("class_counts"), (data.get("n_train") or 0) + (data.get("n_val") or 0)
    if counts and rows:
        findings += rare_labels(counts, rows, data.get("labels"))
    elif metrics.get("per_label"):
        per_label = metrics["per_label"]
        findings += rare_labels([m["support"] for m in per_label.values()], metrics.get("num_samples") or 0,
                                list(per_label))
    return findings


def probabilities_into_logit_loss(data: Mapping[str, Any]) -> list[Finding]:
    """The model ends in a sigmoid or softmax but the loss takes logits (warning).

    Rule: the data facts say ``outputs: "probabilities"`` and ``loss_input: "logits"`` (the loss's autograd
    graph shows cross-entropy or BCE with logits). The loss then squashes the probabilities a second time:
    its gradients shrink and it cannot fall to 0, so training is slow and the loss misleading, although
    trainwise judges the predictions as the probabilities they are. Evidence: ``outputs``, ``loss_input``.
    """
    if data.get("outputs") != "probabilities" or data.get("loss_input") != "logits":
        return []
    single = data.get("task") in ("binary", "multilabel")
    message = ("The model's outputs are already probabilities (it ends in a sigmoid or softmax), but the loss "
               "expects logits (cross-entropy or BCE with logits) and squashes them a second time: its gradients "
               "shrink and it cannot fall to 0.")
    fix = "loss_fn=nn.BCELoss()" if single else "loss_fn=lambda p, y: F.nll_loss(torch.log(p), y)"
    advice = f"Drop the final activation (return logits; trainwise reads them as logits), or pass {fix}."
    return [Finding("probabilities_into_logit_loss", Severity.WARNING, message, advice, None,
                    {"outputs": "probabilities", "loss_input": "logits"})]
