"""The end-of-run summary in the terminal: epochs, final metrics, confusion matrix, findings, verdict.

Reads plain data (a summary dict) only, so it renders a live run and a saved `summary.json` alike.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from trainwise.diagnostics.quality import baseline_sentence, calibration_sentence

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
VERDICT_STYLE = {"good": "bold green", "warning": "bold yellow", "bad": "bold red"}
VERDICT_WORDS = {"good": "GOOD", "warning": "CHECK THE WARNINGS", "bad": "NOT READY"}

EPOCH_COLUMNS = (("epoch", "epoch", "d"), ("train_loss", "train loss", ".4f"), ("val_loss", "val loss", ".4f"),
                 ("val_accuracy", "accuracy", ".3f"), ("val_precision", "precision", ".3f"),
                 ("val_recall", "recall", ".3f"), ("val_f1", "F1", ".3f"), ("lr", "lr", ".3g"),
                 ("seconds", "s", ".2f"))


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def epoch_table(history: list[dict], best_epoch: int | None = None, title: str = "Epochs") -> Table:
    present = [c for c in EPOCH_COLUMNS if any(r.get(c[0]) is not None for r in history)]
    table = Table(title=title, title_justify="left")
    for _, header, _ in present:
        table.add_column(header, justify="right")
    for record in history:
        row = [_fmt(record.get(key), spec) for key, _, spec in present]
        style = "bold" if record.get("epoch") == best_epoch else None
        table.add_row(*row, style=style)
    return table


def confusion_table(metrics: dict) -> Table:
    """Rows are true classes, columns predicted classes (as scikit-learn); binary cells are named."""
    labels = metrics["labels"]
    cm = metrics["confusion_matrix"]
    table = Table(title="Confusion matrix (rows: true class, columns: predicted)", title_justify="left")
    table.add_column("true \\ predicted")
    for label in labels:
        table.add_column(str(label), justify="right")
    names = _binary_cell_names(metrics)
    for i, label in enumerate(labels):
        cells = [f"{cm[i][j]}" + (f" {names[(i, j)]}" if names else "") for j in range(len(labels))]
        table.add_row(str(label), *cells)
    return table


def label_table(metrics: dict) -> Table:
    """A multi-label task's labels, one row each: precision, recall, F1 and the 2x2 counts."""
    table = Table(title="Labels (multi-label)", title_justify="left")
    for header in ("label", "precision", "recall", "F1", "support", "TP", "FP", "FN", "TN"):
        table.add_column(header, justify="left" if header == "label" else "right")
    for label, m in metrics["per_label"].items():
        table.add_row(str(label), *(_fmt(m[k], ".3f") for k in ("precision", "recall", "f1")),
                      *(str(m[k]) for k in ("support", "tp", "fp", "fn", "tn")))
    return table


def _binary_cell_names(metrics: dict) -> dict[tuple[int, int], str] | None:
    if metrics.get("positive_label") is None:
        return None
    p = metrics["labels"].index(metrics["positive_label"])
    n = 1 - p
    return {(p, p): "TP", (n, p): "FP", (n, n): "TN", (p, n): "FN"}


def metrics_table(metrics: dict) -> Table:
    table = Table(title="Validation metrics", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    which = f" (class {metrics['positive_label']})" if metrics.get("positive_label") is not None else " (macro)"
    accuracy = "subset accuracy" if "subset_accuracy" in metrics else "accuracy"
    rows = [("loss", metrics.get("loss")), (accuracy, metrics.get("accuracy")),
            ("Hamming loss", metrics.get("hamming_loss")),
            ("balanced accuracy", metrics.get("balanced_accuracy")), (f"precision{which}", metrics.get("precision")),
            (f"recall{which}", metrics.get("recall")), (f"F1{which}", metrics.get("f1")),
            ("average precision", metrics.get("average_precision")), ("ROC AUC", metrics.get("roc_auc"))]
    for name, value in rows:
        if value is not None:
            table.add_row(name, _fmt(value, ".4f"))
    return table


def findings_text(findings: list[dict]) -> Text:
    text = Text()
    order = {"error": 0, "warning": 1, "info": 2}
    for f in sorted(findings, key=lambda f: order.get(f["severity"], 3)):
        style = SEVERITY_STYLE.get(f["severity"], "")
        text.append(f"{f['severity'].upper():<8}", style=style)
        text.append(f"{f['code']}: ", style="bold")
        text.append(f"{f['message']}\n")
        if f.get("advice"):
            text.append(f"{'':8}→ {f['advice']}\n", style="dim")
    return text


def verdict_text(verdict: str, findings: list[dict]) -> Text:
    text = Text("Verdict: ")
    text.append(VERDICT_WORDS.get(verdict, verdict), style=VERDICT_STYLE.get(verdict, ""))
    worst = [f for f in findings if f["severity"] == "error"] or [f for f in findings if f["severity"] == "warning"]
    if worst:
        text.append(f" — {worst[0]['message']}")
    elif verdict == "good":
        text.append(" — no warning signs in the curves or the confusion matrix.")
    return text


def print_summary(summary: dict, console: Console, *, title: str | None = None) -> None:
    """Epochs, metrics, confusion matrix, findings and the verdict."""
    if title:
        console.rule(title)
    defaults = summary.get("defaults") or {}
    for name in defaults.get("chosen") or []:
        reason = (defaults.get("reasons") or {}).get(name)
        if reason:
            console.print(Text("Chosen from the data: ", style="bold") + Text(reason))
    if summary.get("history"):
        console.print(epoch_table(summary["history"], summary.get("best_epoch")))
    metrics = summary.get("metrics")
    if metrics:
        console.print(metrics_table(metrics))
        console.print(label_table(metrics) if "per_label" in metrics else confusion_table(metrics))
        for name, sentence in (("Baseline", baseline_sentence(metrics.get("baseline"))),
                               ("Calibration", calibration_sentence(metrics.get("calibration")))):
            if sentence:
                console.print(Text(f"{name}: ", style="bold") + Text(sentence))
    findings = summary.get("findings") or []
    if findings:
        console.print(Text("Findings", style="bold underline"))
        console.print(findings_text(findings))
    console.print(verdict_text(summary["verdict"], findings))
