"""report.html: one self-contained file per run (or per comparison) that opens offline.

No script, font or stylesheet is loaded from anywhere: the CSS is inline, the figures are inline SVG
drawn by matplotlib (vector, small, text stays selectable), and a Content-Security-Policy forbids
scripts and network loads outright. The same figures are written as PNG files beside the report.

This module turns a summary into plain data (a view model of strings, numbers already formatted for
reading); the Jinja2 templates in ``templates/`` lay it out. They are rendered with autoescaping, so
every string from the user's data (labels, column and file names, finding messages, config values) is
escaped by construction. The one exception is the figures' SVG, marked trusted in ``_figure``. The CSP
is a second wall, not the first.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainwise.diagnostics.findings import SEVERITY_RANK
from trainwise.diagnostics.quality import baseline_sentence, calibration_sentence
from trainwise.io import atomic_write, jsonable
from trainwise.report import figures as figs
from trainwise.report.terminal import EPOCH_COLUMNS, VERDICT_WORDS

if TYPE_CHECKING:
    from jinja2 import Environment

FIGURE_ALT = {"loss": "Training and validation loss per epoch", "metrics": "Validation metrics per epoch",
              "confusion_matrix": "Confusion matrix heatmap", "pr_curve": "Precision-recall curve",
              "comparison": "Optimizer comparison: loss and score per epoch", "lr_find": "LR range test curve",
              "reliability": "Reliability diagram: predicted probability against observed frequency"}
EMPTY = "–"         # a cell or tile without a value


@functools.cache
def _templates() -> Environment:
    # jinja2 is imported when a report is written, not here: `trainwise evaluate` and the terminal
    # summary import this package too.
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("trainwise.report", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                       finalize=lambda value: "" if value is None else value)      # None prints as nothing


# ------------------------------------------------------------------------------------ plain text
def num(value: Any, spec: str = ".4g") -> str:
    """A number for a table cell: integers with separators, floats to 4 significant digits."""
    if value is None:
        return EMPTY
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:{spec}}" if math.isfinite(value) else str(value)
    return str(value)


def pct(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) and not isinstance(value, bool) else EMPTY


def compact(value: Any, limit: int = 300) -> str:
    """A value of any shape as short text: numbers formatted, the rest as JSON."""
    if value is None or isinstance(value, (int, float)):
        return num(value)
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(_rounded(jsonable(value)), separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rounded(value: Any) -> Any:
    """Floats inside lists and dicts to 4 significant digits, for reading, not for computing."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


# ---------------------------------------------------------------------------- view-model pieces
def _table(headers: Sequence[str], rows: list[list[Any]], *, left: int = 1, css: str = "",
           marks: Sequence[str] | None = None) -> dict:
    """A table for the ``table`` macro; the first ``left`` columns are left-aligned; ``marks`` holds a
    CSS class per row. A cell is text, ``{"em": text}``, or a confusion cell (see ``cm_cell``)."""
    return {"headers": list(headers), "rows": rows, "left": left, "css": css,
            "marks": list(marks) if marks else [""] * len(rows)}


def _pairs(mapping: dict) -> list[tuple[str, str]]:
    """Name-value rows for the ``kv_table`` macro."""
    return [(str(k), compact(v)) for k, v in mapping.items()]


def _figure(svgs: dict[str, str], name: str, missing: str) -> dict:
    if name not in svgs:
        return {"svg": None, "png": None, "missing": missing}
    from markupsafe import Markup

    # The one place markup enters the page unescaped. The SVG is not user text: matplotlib drew it from
    # our own calls and escaped every string in it (labels reach it through figures.plain, the
    # aria-label through figures.to_svg). Escaping it again would print the markup instead of the figure.
    return {"svg": Markup(svgs[name]), "png": figs.FIGURE_FILES[name], "missing": None}


def _scoped(name: str, scope: str) -> str:
    return f"{name} ({scope})" if scope else name


# ------------------------------------------------------------------------------------- sections
def verdict_view(summary: dict) -> dict:
    verdict = str(summary.get("verdict") or "unknown")
    findings = sorted(summary.get("findings") or [], key=lambda f: -SEVERITY_RANK.get(f.get("severity"), -1))
    worst = next((f for f in findings if f.get("severity") in ("error", "warning")), None)
    return {"css": verdict if verdict in ("good", "warning", "bad") else "warning",
            "word": VERDICT_WORDS.get(verdict, verdict),
            "headline": worst["message"] if worst else "No warning signs in the curves or the confusion matrix.",
            "tiles": tiles(summary), "stop_reason": summary.get("stop_reason"),
            "findings": [finding_view(f) for f in findings]}


def finding_view(finding: dict) -> dict:
    severity = str(finding.get("severity"))
    return {"css": severity if severity in SEVERITY_RANK else "info", "badge": severity.upper(),
            "code": finding.get("code"), "message": finding.get("message"), "advice": finding.get("advice"),
            "epoch": None if finding.get("epoch") is None else num(finding["epoch"]),
            "evidence": _pairs(finding.get("evidence") or {})}


def tiles(summary: dict) -> list[tuple[str, str]]:
    """The key numbers under the verdict, as (name, value); those without a value are left out."""
    metrics = summary.get("metrics") or {}
    history = summary.get("history") or []
    scope = figs.metric_scope(metrics)
    items = [("accuracy", pct(metrics.get("accuracy"))), ("balanced accuracy", pct(metrics.get("balanced_accuracy"))),
             (_scoped("precision", scope), pct(metrics.get("precision"))),
             (_scoped("recall", scope), pct(metrics.get("recall"))),
             ("F1", num(metrics.get("f1"), ".3f")), ("validation loss", num(metrics.get("loss"))),
             ("best epoch", num(summary.get("best_epoch"))), ("epochs run", num(len(history)) if history else EMPTY)]
    return [(name, value) for name, value in items if value != EMPTY]


def loss_view(summary: dict, svgs: dict[str, str]) -> dict:
    history = summary.get("history") or []
    view = {"figure": _figure(svgs, "loss", "No loss values were recorded."), "epochs": None}
    if history:
        columns = list(EPOCH_COLUMNS) + [("train_accuracy", "train accuracy", ".3f"),
                                         ("grad_norm_mean", "grad norm (mean)", ".3g")]
        present = [c for c in columns if any(r.get(c[0]) is not None for r in history)]
        rows = [[num(r.get(key), spec) if key != "epoch" else num(r.get(key)) for key, _, spec in present]
                for r in history]
        marks = ["best" if r.get("epoch") == summary.get("best_epoch") else "" for r in history]
        view["epochs"] = _table([header for _, header, _ in present], rows, left=0, marks=marks)
    return view


def metrics_view(summary: dict, svgs: dict[str, str]) -> dict:
    metrics = summary.get("metrics") or {}
    view = {"figure": _figure(svgs, "metrics", "No per-epoch validation metrics were recorded."), "final": None,
            "per_class": None}
    if not metrics:
        return view
    scope = figs.metric_scope(metrics)
    rows = [[_scoped(name, scope) if scoped else name, num(metrics.get(key))]
            for name, key, scoped in (("loss", "loss", False), ("accuracy", "accuracy", False),
                                      ("balanced accuracy", "balanced_accuracy", False),
                                      ("precision", "precision", True), ("recall", "recall", True),
                                      ("F1", "f1", True), ("average precision", "average_precision", True),
                                      ("ROC AUC", "roc_auc", True), ("rows evaluated", "num_samples", False))
            if metrics.get(key) is not None]
    view["final"] = _table(["metric", "value"], rows)
    per_class = metrics.get("per_class") or metrics.get("per_label") or {}   # per_label: multi-label tasks
    if per_class:
        rows = [[label, *_prf(m), num(m.get("support"))] for label, m in per_class.items()]
        rows += [[{"em": f"{avg} average"}, *_prf(metrics[avg]), ""]
                 for avg in ("macro", "micro", "weighted") if isinstance(metrics.get(avg), dict)]
        kind = "label" if "per_label" in metrics else "class"
        view["per_class"] = _table([kind, "precision", "recall", "F1", "support"], rows)
    return view


def _prf(m: dict) -> list[str]:
    return [num(m.get(key), ".3f") for key in ("precision", "recall", "f1")]


def confusion_view(summary: dict, svgs: dict[str, str]) -> dict:
    metrics = summary.get("metrics") or {}
    cm = metrics.get("confusion_matrix")
    missing = ("A multi-label task: each label's counts are in the per-label table." if "per_label" in metrics
               else "No confusion matrix: the run had no validation data.")
    view = {"figure": _figure(svgs, "confusion_matrix", missing),
            "table": None, "binary": None}
    if not cm:
        return view
    labels = [str(label) for label in metrics.get("labels") or range(len(cm))]
    names = figs.binary_cell_names(metrics)
    rates = figs.row_rates(cm)
    rows = [[label, *({"tag": names.get((i, j)), "count": num(cm[i][j]), "rate": pct(rates[i][j])}
                      for j in range(len(labels)))] for i, label in enumerate(labels)]
    view["table"] = _table(["true \\ predicted", *labels], rows)
    tp, fn, fp = (metrics.get(k) for k in ("tp", "fn", "fp"))
    if names and all(isinstance(v, int) for v in (tp, fn, fp)):
        view["binary"] = {"label": metrics.get("positive_label"), "positives": num(tp + fn), "tp": num(tp),
                          "fn": num(fn), "fp": num(fp), "alarms": num(tp + fp)}
    return view


def threshold_view(summary: dict, svgs: dict[str, str]) -> dict:
    metrics = summary.get("metrics") or {}
    points = figs.threshold_points(summary.get("thresholds"))
    rows = [["threshold in use", num(figs.applied_threshold(summary)), *_prf(metrics)]]
    rows += [[figs.point_name(name), num(p.get("threshold")), *_prf(p)] for name, p in points.items()]
    scores = [f"{name} {num(metrics.get(key), '.3f')}" for name, key in (("average precision", "average_precision"),
                                                                      ("ROC AUC", "roc_auc")) if metrics.get(key) is not None]
    return {"figure": _figure(svgs, "pr_curve", "No precision-recall curve: the run recorded no scores for it."),
            "table": _table(["operating point", "threshold", "precision", "recall", "F1"], rows),
            "scores": ", ".join(scores)}


def quality_view(summary: dict, svgs: dict[str, str]) -> dict:
    """The logistic-regression baseline on the same rows, and the calibration with its reliability diagram."""
    metrics = summary.get("metrics") or {}
    baseline = metrics.get("baseline") or {}
    view = {"baseline": baseline_sentence(baseline), "table": None, "calibration": calibration_sentence(
        metrics.get("calibration")), "figure": _figure(svgs, "reliability", "No calibration was recorded.")}
    theirs = baseline.get("metrics") or {}
    if baseline.get("ran") and theirs:
        keys = (("loss", "loss"), ("accuracy", "accuracy"), ("balanced accuracy", "balanced_accuracy"),
                ("precision", "precision"), ("recall", "recall"), ("F1", "f1"), ("ROC AUC", "roc_auc"))
        rows = [[name, num(metrics.get(key)), num(theirs.get(key))] for name, key in keys
                if theirs.get(key) is not None]
        view["table"] = _table(["metric", "network", "logistic regression"], rows)
    return view


def comparison_view(comparison: dict, svgs: dict[str, str]) -> dict:
    winner = figs.winner_name(comparison)
    said = [comparison.get(k) for k in ("sentence", "summary")]
    rules = [comparison.get("rule")]
    if isinstance(comparison.get("winner"), dict):
        said += [comparison["winner"].get(k) for k in ("sentence", "reason")]
        rules.append(comparison["winner"].get("rule"))
    table_rows = {str(r.get("name")): r for r in comparison.get("table") or [] if isinstance(r, dict)}
    rows = [_comparison_row(name, run or {}, table_rows.get(str(name), {}))
            for name, run in (comparison.get("runs") or {}).items()]
    marks = ["best" if str(name) == winner else "" for name in comparison.get("runs") or {}]
    target = comparison.get("target_val_loss")
    reach = f"epochs to {num(target)}" if isinstance(target, (int, float)) else "epochs to target"
    headers = ["run", "verdict", "LR", "best val loss", reach, "accuracy", "precision", "recall", "F1", "stability",
               "findings"]
    return {"winner": winner, "said": _distinct(said), "rules": _distinct(rules),
            "figure": _figure(svgs, "comparison", "No curves to compare."),
            "table": _table(headers, rows, left=2, marks=marks)}


def _distinct(texts: list[Any]) -> list[str]:
    """The non-empty strings, each once, in order."""
    return list(dict.fromkeys(s for s in texts if isinstance(s, str) and s))


def _comparison_row(name: str, run: dict, row: dict) -> list[str]:
    """One run of a comparison: ``run`` is its summary, ``row`` its line of the comparison's table."""
    history, metrics = run.get("history") or [], run.get("metrics") or {}
    losses = [(r["val_loss"], r.get("epoch")) for r in history
              if isinstance(r.get("val_loss"), (int, float)) and math.isfinite(r["val_loss"])]
    best = min(losses, key=lambda p: p[0]) if losses else (row.get("best_val_loss"), row.get("best_epoch"))
    lr = row.get("lr", ((run.get("config") or {}).get("optimizer_settings") or {}).get("lr"))
    reached, seconds = row.get("epochs_to_target"), row.get("seconds_to_target")
    to_target = "not reached" if "epochs_to_target" in row and reached is None else (
        num(reached) + (f" ({num(seconds, '.2g')} s)" if isinstance(seconds, (int, float)) else ""))
    codes = ", ".join(str(f.get("code")) for f in run.get("findings") or [])
    stability = row.get("stability")
    return [str(name), run.get("verdict"), num(lr, ".3g"), f"{num(best[0])} (epoch {num(best[1])})",
            to_target if row else EMPTY, pct(metrics.get("accuracy")), *_prf(metrics),
            EMPTY if stability in (None, "") else str(stability), codes or EMPTY]


def lr_find_view(lr_find: dict, svgs: dict[str, str]) -> dict:
    suggestion = lr_find.get("suggestion")
    return {"figure": _figure(svgs, "lr_find", "The LR range test recorded too few finite losses to draw."),
            "suggestion": num(float(suggestion), ".3g") if isinstance(suggestion, (int, float)) else None,
            "method": lr_find.get("method") or None}


def data_view(summary: dict) -> dict:
    data = summary.get("data") or {}
    counts, classes = _split_and_class_counts(data)
    facts = {"source": data.get("source"), "target column": data.get("target"),
             "feature columns": data.get("columns"), "model inputs": data.get("features")}
    if isinstance(data.get("validation"), dict):
        facts["validation"] = ", ".join(f"{k} {v}" for k, v in data["validation"].items())
    rows = [(name, compact(v)) for name, v in facts.items() if v is not None]
    rows += [(f"rows ({k})", num(v)) for k, v in counts.items() if v is not None]
    has_split = any("train" in c for c in classes)
    class_rows = [[c.get("label"), num(c.get("count")), pct(c.get("share"))]
                  + ([num(c.get("train")), num(c.get("val"))] if has_split else []) for c in classes]
    headers = ["class", "rows", "share"] + (["train", "validation"] if has_split else [])
    return {"facts": rows, "classes": _table(headers, class_rows) if classes else None,
            "leakage": leakage_view(data, summary.get("findings") or [])}


def _split_and_class_counts(data: dict) -> tuple[dict, list[dict]]:
    """Rows per split and the classes, from either vocabulary of data facts a summary holds: ``rows``
    and ``classes`` (tables trainwise read), or ``n_train``/``n_val`` and ``labels``/``class_counts``
    (arrays, tensors, datasets). The one place the two meet, until there is one vocabulary."""
    counts = data["rows"] if isinstance(data.get("rows"), dict) else {"train": data.get("n_train"),
                                                                       "val": data.get("n_val")}
    classes = data.get("classes") or []
    if not classes and data.get("labels") and data.get("class_counts"):
        total = sum(data["class_counts"]) or 1
        classes = [{"label": label, "count": c, "share": c / total}
                   for label, c in zip(data["labels"], data["class_counts"], strict=False)]
    return counts, classes


def leakage_view(data: dict, findings: Sequence[dict]) -> dict:
    """``state`` is ``found`` (duplicates counted), ``clean``, ``flagged`` (only a finding says so) or
    ``not_run``; the template words each."""
    leak = data.get("leakage")
    if not isinstance(leak, dict):
        flagged = [f for f in findings if f.get("code") == "data_leakage"]
        return {"state": "flagged", "message": flagged[0].get("message")} if flagged else {"state": "not_run"}
    if not leak.get("count"):
        return {"state": "clean"}
    examples = ", ".join(f"validation row {e.get('val_row')} = training row {e.get('train_row')}"
                         for e in leak.get("examples") or [] if isinstance(e, dict))
    return {"state": "found", "count": num(leak["count"]), "share": pct(leak.get("share")), "examples": examples}


def environment(summary: dict) -> dict[str, Any]:
    """The run's recorded environment, or this machine's (said so) when the summary has none."""
    config = summary.get("config") or {}
    recorded = summary.get("environment")
    if isinstance(recorded, dict) and recorded:
        env = dict(recorded)
    else:
        env = {"python": platform.python_version(), "torch": _version("torch"), "trainwise": _version("trainwise"),
               "platform": platform.platform(terse=True)}
    if "device" not in env and config.get("device") is not None:
        env["device"] = f"{config['device']} (as configured)"
    env.setdefault("seed", config.get("seed"))
    if not (isinstance(recorded, dict) and recorded):
        env["note"] = "versions of the machine that wrote this report: the run recorded none"
    return {k: v for k, v in env.items() if v is not None}


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def config_view(summary: dict) -> dict:
    return {"config": _pairs(summary.get("config") or {}), "environment": _pairs(environment(summary))}


# ---------------------------------------------------------------------------------------------- page
def render_html(summary: dict, svgs: dict[str, str], *, comparison: dict | None = None, lr_find: dict | None = None,
                title: str | None = None) -> str:
    """The whole page as a string, from the summary and the figures already rendered as SVG."""
    source = (summary.get("data") or {}).get("source")
    # (anchor, link in the navigation, heading, view model); each anchor has a macro in sections.html.j2
    sections = [("verdict", "Verdict", "Verdict and findings", verdict_view(summary)),
                ("loss", "Loss", "Loss per epoch", loss_view(summary, svgs)),
                ("metrics", "Metrics", "Accuracy, precision, recall, F1", metrics_view(summary, svgs)),
                ("confusion", "Confusion matrix", "Confusion matrix", confusion_view(summary, svgs))]
    if figs.binary_cell_names(summary.get("metrics") or {}):
        sections.append(("threshold", "Precision/recall", "Precision and recall by threshold",
                         threshold_view(summary, svgs)))
    metrics = summary.get("metrics") or {}
    if metrics.get("baseline") or metrics.get("calibration"):
        sections.append(("quality", "Baseline", "Baseline and calibration", quality_view(summary, svgs)))
    if comparison:
        sections.append(("comparison", "Comparison", "Optimizer comparison", comparison_view(comparison, svgs)))
    if lr_find:
        sections.append(("lr-find", "LR finder", "LR range test", lr_find_view(lr_find, svgs)))
    sections += [("data", "Data", "Data", data_view(summary)),
                 ("config", "Config", "Configuration and environment", config_view(summary))]
    page = {"title": title or ("trainwise report" + (f" — {source}" if source else "")),
            "written": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "sections": [{"anchor": a, "nav": nav, "heading": h, "view": v} for a, nav, h, v in sections]}
    return _templates().get_template("report.html.j2").render(page)


def write_report(folder: str | os.PathLike, summary: dict, *, comparison: dict | None = None,
                 lr_find: dict | None = None, title: str | None = None,
                 fix: str = "free disk space or choose another --out") -> Path:
    """Write ``report.html`` and the figures as PNG files (``loss.png``, ``metrics.png``,
    ``confusion_matrix.png``, ``pr_curve.png``, ``comparison.png``, ``lr_find.png`` — those the data
    allows) into ``folder``; return the report's path.

    ``summary`` is a run's summary dict (`Run.summary()` or a saved ``summary.json``); for a comparison,
    pass the run to show in detail (e.g. the winner's) and the whole comparison (``{"runs": {name:
    summary}, "winner": name}``). ``lr_find`` is ``{"lrs": [...], "losses": [...], "suggestion": lr}``.
    ``fix`` ends the one-line error of a file that cannot be written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary = jsonable(summary)
    comparison = jsonable(comparison) if comparison else None
    lr_find = jsonable(lr_find) if lr_find else None
    figures = figs.build_figures(summary, comparison=comparison, lr_find=lr_find)
    svgs: dict[str, str] = {}
    for name, filename in figs.FIGURE_FILES.items():
        if name in figures:
            svgs[name], png = figs.render(figures[name], name, FIGURE_ALT[name])
            atomic_write(folder / filename, lambda fh, data=png: fh.write(data), binary=True, fix=fix)
        elif (folder / filename).exists():
            (folder / filename).unlink()        # a figure of an earlier report this data no longer supports
    page = render_html(summary, svgs, comparison=comparison, lr_find=lr_find, title=title)
    return atomic_write(folder / "report.html", lambda fh: fh.write(page), fix=fix)
