"""report.html: one self-contained file per run (or per comparison) that opens offline.

No script, font or stylesheet is loaded from anywhere: the CSS is inline, the figures are inline SVG
drawn by matplotlib (vector, small, text stays selectable), and a Content-Security-Policy forbids
scripts and network loads outright. Every string that comes from the user's data (labels, column and
file names, finding messages, config values) passes through ``esc``; the CSP is a second wall, not the
first. The same figures are written as PNG files beside the report for slides.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
from collections.abc import Iterable, Sequence
from html import escape
from importlib import metadata
from pathlib import Path
from typing import Any

from trainwise.io import atomic_write, jsonable
from trainwise.report import figures as figs
from trainwise.report.terminal import EPOCH_COLUMNS, VERDICT_WORDS

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
FIGURE_ALT = {"loss": "Training and validation loss per epoch", "metrics": "Validation metrics per epoch",
              "confusion_matrix": "Confusion matrix heatmap", "pr_curve": "Precision-recall curve",
              "comparison": "Optimizer comparison: loss and score per epoch", "lr_find": "LR range test curve"}
CSS = """
:root{--good:#1a7f37;--warning:#9a6700;--bad:#cf222e;--info:#0969da;--line:#d0d7de;--muted:#57606a}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1f2328;background:#f6f8fa}
main{max-width:1040px;margin:0 auto;padding:24px 28px 48px;background:#fff;min-height:100vh}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.25em;margin:0 0 10px;padding-top:8px}
h3{font-size:1em;margin:14px 0 6px}
section{border-top:1px solid var(--line);padding:14px 0 18px}
.meta,.note{color:var(--muted);font-size:.9em}
nav{font-size:.9em;margin:10px 0 6px}nav a{margin-right:14px;color:var(--info);text-decoration:none}
.verdict{border-radius:8px;padding:14px 18px;color:#fff;font-size:1.05em}
.verdict strong{font-size:1.3em;letter-spacing:.03em;margin-right:10px}
.verdict.good{background:var(--good)}.verdict.warning{background:var(--warning)}.verdict.bad{background:var(--bad)}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.tile{border:1px solid var(--line);border-radius:8px;padding:6px 14px;min-width:110px}
.tile b{display:block;font-size:1.3em}.tile span{color:var(--muted);font-size:.85em}
.finding{border-left:5px solid var(--line);padding:6px 14px;margin:10px 0;background:#fafbfc;border-radius:0 6px 6px 0}
.finding.error{border-color:var(--bad)}.finding.warning{border-color:var(--warning)}.finding.info{border-color:var(--info)}
.finding p{margin:4px 0}.advice{font-weight:600}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:.8em;color:#fff;font-weight:700;margin-right:6px}
.badge.error{background:var(--bad)}.badge.warning{background:var(--warning)}.badge.info{background:var(--info)}
code{font:.88em ui-monospace,"DejaVu Sans Mono",monospace;background:#eff1f3;padding:1px 4px;border-radius:4px;word-break:break-all}
table{border-collapse:collapse;margin:6px 0 10px;font-size:.9em}
th,td{border:1px solid var(--line);padding:3px 9px;text-align:right;vertical-align:top}
th{background:#f6f8fa}td.l,th.l{text-align:left}tr.best td{font-weight:700;background:#fff8c5}
table.kv th{font-weight:600;background:#f6f8fa;white-space:nowrap}table.kv td{max-width:640px;overflow-wrap:anywhere}
table.evidence{font-size:.82em;margin:4px 0}
figure{margin:8px 0}svg.figure{display:block;max-width:100%;height:auto}
details summary{cursor:pointer;color:var(--info)}
.ok{color:var(--good);font-weight:600}.alarm{color:var(--bad);font-weight:600}
"""


def esc(value: Any) -> str:
    """Text for HTML: ``<``, ``>``, ``&`` and quotes escaped."""
    return escape("" if value is None else str(value), quote=True)


def num(value: Any, spec: str = ".4g") -> str:
    """A number for a table cell: integers with separators, floats to 4 significant digits."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:{spec}}" if math.isfinite(value) else str(value)
    return esc(value)


def pct(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "–"


def compact(value: Any, limit: int = 300) -> str:
    """A value of any shape as short escaped text: numbers formatted, the rest as JSON."""
    if value is None or isinstance(value, (int, float)):
        return num(value)
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(_rounded(jsonable(value)), separators=(", ", ": "), ensure_ascii=False)
    return esc(text if len(text) <= limit else text[: limit - 1] + "…")


def _rounded(value: Any) -> Any:
    """Floats inside lists and dicts to 4 significant digits, for reading, not for computing."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, left: int = 1, css: str = "",
          row_classes: Sequence[str] | None = None) -> str:
    """A table from already-escaped cells; the first ``left`` columns are left-aligned."""
    head = "".join(f'<th class="l">{h}</th>' if i < left else f"<th>{h}</th>" for i, h in enumerate(headers))
    body = []
    for k, row in enumerate(rows):
        cls = f' class="{row_classes[k]}"' if row_classes and row_classes[k] else ""
        cells = "".join(f'<td class="l">{c}</td>' if i < left else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def kv_table(rows: Iterable[Sequence[str]], *, css: str = "kv") -> str:
    """Two columns, name and value, both left-aligned, no header; cells already escaped."""
    body = "".join(f"<tr><th class=\"l\">{k}</th><td class=\"l\">{v}</td></tr>" for k, v in rows)
    return f'<table class="{css}"><tbody>{body}</tbody></table>'


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


def figure(svgs: dict[str, str], name: str, missing: str) -> str:
    if name in svgs:
        png = figs.FIGURE_FILES[name]
        return (f"<figure>{svgs[name]}<figcaption class=\"note\">Also saved as <code>{esc(png)}</code> "
                "in the run folder.</figcaption></figure>")
    return f'<p class="note">{esc(missing)}</p>'


# ------------------------------------------------------------------------------------------ sections
def verdict_section(summary: dict) -> str:
    verdict = str(summary.get("verdict") or "unknown")
    findings = sorted(summary.get("findings") or [], key=lambda f: SEVERITY_ORDER.get(f.get("severity"), 3))
    worst = next((f for f in findings if f.get("severity") in ("error", "warning")), None)
    headline = worst["message"] if worst else "No warning signs in the curves or the confusion matrix."
    css = verdict if verdict in ("good", "warning", "bad") else "warning"
    parts = [f'<div class="verdict {css}"><strong>{esc(VERDICT_WORDS.get(verdict, verdict))}</strong>'
             f"{esc(headline)}</div>", tiles(summary)]
    if summary.get("stop_reason"):
        parts.append(f'<p class="note">Training stopped early: {esc(summary["stop_reason"])}</p>')
    if not findings:
        parts.append('<p class="ok">No findings.</p>')
    for f in findings:
        severity = str(f.get("severity"))
        sev = severity if severity in SEVERITY_ORDER else "info"
        epoch = f" · epoch {num(f.get('epoch'))}" if f.get("epoch") is not None else ""
        evidence = f.get("evidence") or {}
        ev = kv_table([[esc(k), compact(v)] for k, v in evidence.items()], css="kv evidence") if evidence else ""
        advice = f'<p class="advice">→ {esc(f["advice"])}</p>' if f.get("advice") else ""
        parts.append(f'<article class="finding {sev}"><p><span class="badge {sev}">{esc(severity.upper())}</span>'
                     f"<code>{esc(f.get('code'))}</code>{epoch}</p><p>{esc(f.get('message'))}</p>{advice}{ev}</article>")
    return section("verdict", "Verdict and findings", "".join(parts))


def tiles(summary: dict) -> str:
    metrics = summary.get("metrics") or {}
    history = summary.get("history") or []
    scope = figs.metric_scope(metrics)
    items = [("accuracy", pct(metrics.get("accuracy"))), ("balanced accuracy", pct(metrics.get("balanced_accuracy"))),
             (f"precision ({scope})" if scope else "precision", pct(metrics.get("precision"))),
             (f"recall ({scope})" if scope else "recall", pct(metrics.get("recall"))),
             ("F1", num(metrics.get("f1"), ".3f")), ("validation loss", num(metrics.get("loss"))),
             ("best epoch", num(summary.get("best_epoch"))), ("epochs run", num(len(history)) if history else "–")]
    shown = [f"<div class=\"tile\"><b>{value}</b><span>{esc(name)}</span></div>" for name, value in items if value != "–"]
    return f'<div class="tiles">{"".join(shown)}</div>' if shown else ""


def loss_section(summary: dict, svgs: dict[str, str]) -> str:
    history = summary.get("history") or []
    body = [figure(svgs, "loss", "No loss values were recorded.")]
    if history:
        columns = list(EPOCH_COLUMNS) + [("train_accuracy", "train accuracy", ".3f"),
                                         ("grad_norm_mean", "grad norm (mean)", ".3g")]
        present = [c for c in columns if any(r.get(c[0]) is not None for r in history)]
        best = summary.get("best_epoch")
        rows = [[num(r.get(key), spec) if key != "epoch" else num(r.get(key)) for key, _, spec in present]
                for r in history]
        marks = ["best" if r.get("epoch") == best else "" for r in history]
        body.append(f"<details><summary>Every epoch ({len(history)})</summary>"
                    f"{table([esc(h) for _, h, _ in present], rows, left=0, row_classes=marks)}</details>")
    return section("loss", "Loss per epoch", "".join(body))


def metrics_section(summary: dict, svgs: dict[str, str]) -> str:
    metrics = summary.get("metrics") or {}
    body = [figure(svgs, "metrics", "No per-epoch validation metrics were recorded.")]
    if metrics:
        scope = figs.metric_scope(metrics)
        which = f" ({esc(scope)})" if scope else ""
        rows = [[esc(name) + (which if scoped else ""), num(metrics.get(key))]
                for name, key, scoped in (("loss", "loss", False), ("accuracy", "accuracy", False),
                                          ("balanced accuracy", "balanced_accuracy", False),
                                          ("precision", "precision", True), ("recall", "recall", True),
                                          ("F1", "f1", True), ("average precision", "average_precision", True),
                                          ("ROC AUC", "roc_auc", True), ("rows evaluated", "num_samples", False))
                if metrics.get(key) is not None]
        body.append("<h3>Final validation metrics</h3>" + table(["metric", "value"], rows))
        per_class = metrics.get("per_class") or {}
        if per_class:
            rows = [[esc(label), num(m.get("precision"), ".3f"), num(m.get("recall"), ".3f"), num(m.get("f1"), ".3f"),
                     num(m.get("support"))] for label, m in per_class.items()]
            for avg in ("macro", "micro", "weighted"):
                if isinstance(metrics.get(avg), dict):
                    m = metrics[avg]
                    rows.append([f"<i>{avg} average</i>", num(m.get("precision"), ".3f"), num(m.get("recall"), ".3f"),
                                 num(m.get("f1"), ".3f"), ""])
            body.append("<h3>Per class</h3>" + table(["class", "precision", "recall", "F1", "support"], rows))
    return section("metrics", "Accuracy, precision, recall, F1", "".join(body))


def confusion_section(summary: dict, svgs: dict[str, str]) -> str:
    metrics = summary.get("metrics") or {}
    cm = metrics.get("confusion_matrix")
    body = [figure(svgs, "confusion_matrix", "No confusion matrix: the run had no validation data.")]
    if cm:
        labels = [str(label) for label in metrics.get("labels") or range(len(cm))]
        names = figs.binary_cell_names(metrics)
        rates = figs.row_rates(cm)
        rows = []
        for i, label in enumerate(labels):
            cells = []
            for j in range(len(labels)):
                name = f"<b>{names[(i, j)]}</b> " if (i, j) in names else ""
                cells.append(f"{name}{num(cm[i][j])} <span class=\"note\">({pct(rates[i][j])})</span>")
            rows.append([esc(label), *cells])
        body.append("<p class=\"note\">Rows are true classes, columns predicted classes (as in scikit-learn); "
                    "the rate is the share of the row.</p>")
        body.append(table(["true \\ predicted", *[esc(label) for label in labels]], rows))
        if names:
            pos = esc(metrics.get("positive_label"))
            tp, fn, fp = (metrics.get(k) for k in ("tp", "fn", "fp"))
            if isinstance(tp, int) and isinstance(fn, int) and isinstance(fp, int):
                body.append(f"<p>Of {num(tp + fn)} rows of class <code>{pos}</code>, the model found {num(tp)} "
                            f"and missed {num(fn)}; {num(fp)} of its {num(tp + fp)} alarms were wrong.</p>")
    return section("confusion", "Confusion matrix", "".join(body))


def threshold_section(summary: dict, svgs: dict[str, str]) -> str:
    metrics = summary.get("metrics") or {}
    body = [figure(svgs, "pr_curve", "No precision-recall curve: the run recorded no scores for it.")]
    points = figs.threshold_points(summary.get("thresholds"))
    applied = figs.applied_threshold(summary)
    rows = [["threshold in use", num(applied), num(metrics.get("precision"), ".3f"), num(metrics.get("recall"), ".3f"),
             num(metrics.get("f1"), ".3f")]]
    rows += [[esc(figs.point_name(name)), num(p.get("threshold")), num(p.get("precision"), ".3f"),
              num(p.get("recall"), ".3f"), num(p.get("f1"), ".3f")] for name, p in points.items()]
    body.append(table(["operating point", "threshold", "precision", "recall", "F1"], rows))
    extra = [f"{name} {num(metrics.get(key), '.3f')}" for name, key in (("average precision", "average_precision"),
                                                                     ("ROC AUC", "roc_auc")) if metrics.get(key) is not None]
    if extra:
        body.append(f"<p>{esc(', '.join(extra))}.</p>")
    return section("threshold", "Precision and recall by threshold", "".join(body))


def comparison_section(comparison: dict, svgs: dict[str, str]) -> str:
    runs = comparison.get("runs") or {}
    winner = figs.winner_name(comparison)
    body = []
    said = [comparison.get(k) for k in ("sentence", "summary")]
    rules = [comparison.get("rule")]
    if isinstance(comparison.get("winner"), dict):
        said += [comparison["winner"].get(k) for k in ("sentence", "reason")]
        rules.append(comparison["winner"].get("rule"))
    if winner is not None:
        body.append(f"<p>Winner: <b>{esc(winner)}</b>.</p>")
    body += [f"<p>{esc(text)}</p>" for text in dict.fromkeys(s for s in said if isinstance(s, str) and s)]
    body += [f'<p class="note">Rule: {esc(text)}.</p>'
             for text in dict.fromkeys(s for s in rules if isinstance(s, str) and s)]
    body.append(figure(svgs, "comparison", "No curves to compare."))
    table_rows = {str(r.get("name")): r for r in comparison.get("table") or [] if isinstance(r, dict)}
    rows, marks = [], []
    for name, run in runs.items():
        run = run or {}
        row = table_rows.get(str(name), {})
        history, metrics = run.get("history") or [], run.get("metrics") or {}
        losses = [(r["val_loss"], r.get("epoch")) for r in history
                  if isinstance(r.get("val_loss"), (int, float)) and math.isfinite(r["val_loss"])]
        best = min(losses, key=lambda p: p[0]) if losses else (row.get("best_val_loss"), row.get("best_epoch"))
        lr = row.get("lr", ((run.get("config") or {}).get("optimizer_settings") or {}).get("lr"))
        reached = row.get("epochs_to_target")
        seconds = row.get("seconds_to_target")
        to_target = "not reached" if "epochs_to_target" in row and reached is None else (
            f"{num(reached)}" + (f" ({num(seconds, '.2g')} s)" if isinstance(seconds, (int, float)) else ""))
        codes = ", ".join(str(f.get("code")) for f in run.get("findings") or [])
        rows.append([esc(name), esc(run.get("verdict")), num(lr, ".3g"), f"{num(best[0])} (epoch {num(best[1])})",
                     to_target if row else "–", pct(metrics.get("accuracy")), num(metrics.get("precision"), ".3f"),
                     num(metrics.get("recall"), ".3f"), num(metrics.get("f1"), ".3f"),
                     esc(row.get("stability")) or "–", esc(codes) or "–"])
        marks.append("best" if str(name) == winner else "")
    target = comparison.get("target_val_loss")
    reach = f"epochs to {num(target)}" if isinstance(target, (int, float)) else "epochs to target"
    body.append(table(["run", "verdict", "LR", "best val loss", reach, "accuracy", "precision", "recall", "F1",
                       "stability", "findings"], rows, left=2, row_classes=marks))
    return section("comparison", "Optimizer comparison", "".join(body))


def lr_find_section(lr_find: dict, svgs: dict[str, str]) -> str:
    body = [figure(svgs, "lr_find", "The LR range test recorded too few finite losses to draw.")]
    suggestion = lr_find.get("suggestion")
    if isinstance(suggestion, (int, float)):
        how = f" ({esc(lr_find['method'])})" if lr_find.get("method") else ""
        body.append(f"<p>Suggested learning rate: <b>{num(float(suggestion), '.3g')}</b>{how}.</p>")
    return section("lr-find", "LR range test", "".join(body))


def data_section(summary: dict) -> str:
    data = summary.get("data") or {}
    body = []
    facts = [("source", data.get("source")), ("target column", data.get("target")),
             ("feature columns", data.get("columns")), ("model inputs", data.get("features"))]
    validation = data.get("validation")
    if isinstance(validation, dict):
        facts.append(("validation", ", ".join(f"{k} {v}" for k, v in validation.items())))
    rows = [[esc(k), compact(v)] for k, v in facts if v is not None]
    counts = data.get("rows") if isinstance(data.get("rows"), dict) else {
        "train": data.get("n_train"), "val": data.get("n_val")}
    rows += [[esc(f"rows ({k})"), num(v)] for k, v in counts.items() if v is not None]
    if rows:
        body.append(kv_table(rows))
    classes = data.get("classes")
    if not classes and data.get("labels") and data.get("class_counts"):
        total = sum(data["class_counts"]) or 1
        classes = [{"label": label, "count": c, "share": c / total}
                   for label, c in zip(data["labels"], data["class_counts"], strict=False)]
    if classes:
        has_split = any("train" in c for c in classes)
        rows = [[esc(c.get("label")), num(c.get("count")), pct(c.get("share"))]
                + ([num(c.get("train")), num(c.get("val"))] if has_split else []) for c in classes]
        body.append("<h3>Classes</h3>" + table(["class", "rows", "share"] + (["train", "validation"] if has_split else []),
                                              rows))
    body.append("<h3>Leakage check</h3>" + leakage_text(data, summary.get("findings") or []))
    return section("data", "Data", "".join(body))


def leakage_text(data: dict, findings: Sequence[dict]) -> str:
    leak = data.get("leakage")
    if not isinstance(leak, dict):
        flagged = [f for f in findings if f.get("code") == "data_leakage"]
        if flagged:
            return f'<p class="alarm">{esc(flagged[0].get("message"))}</p>'
        return '<p class="note">Not run: the data did not come from tables trainwise read.</p>'
    count = leak.get("count") or 0
    if not count:
        return '<p class="ok">No validation row duplicates a training row.</p>'
    examples = ", ".join(f"validation row {e.get('val_row')} = training row {e.get('train_row')}"
                         for e in leak.get("examples") or [] if isinstance(e, dict))
    return (f'<p class="alarm">{num(count)} validation rows ({pct(leak.get("share"))}) duplicate a training row: '
            f"the validation score overstates how the model does on new data.</p>"
            + (f'<p class="note">Examples (0-based): {esc(examples)}.</p>' if examples else ""))


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


def config_section(summary: dict) -> str:
    config = summary.get("config") or {}
    env = environment(summary)
    body = []
    if config:
        body.append("<h3>Configuration</h3>" + kv_table([[esc(k), compact(v)] for k, v in config.items()]))
    body.append("<h3>Environment</h3>" + kv_table([[esc(k), compact(v)] for k, v in env.items()]))
    return section("config", "Configuration and environment", "".join(body))


# ---------------------------------------------------------------------------------------------- page
def render_html(summary: dict, svgs: dict[str, str], *, comparison: dict | None = None, lr_find: dict | None = None,
                title: str | None = None) -> str:
    """The whole page as a string, from the summary and the figures already rendered as SVG."""
    metrics = summary.get("metrics") or {}
    source = (summary.get("data") or {}).get("source")
    title = title or ("trainwise report" + (f" — {source}" if source else ""))
    parts = [("verdict", "Verdict", verdict_section(summary)), ("loss", "Loss", loss_section(summary, svgs)),
             ("metrics", "Metrics", metrics_section(summary, svgs)),
             ("confusion", "Confusion matrix", confusion_section(summary, svgs))]
    if figs.binary_cell_names(metrics):
        parts.append(("threshold", "Precision/recall", threshold_section(summary, svgs)))
    if comparison:
        parts.append(("comparison", "Comparison", comparison_section(comparison, svgs)))
    if lr_find:
        parts.append(("lr-find", "LR finder", lr_find_section(lr_find, svgs)))
    parts += [("data", "Data", data_section(summary)), ("config", "Config", config_section(summary))]
    nav = "".join(f'<a href="#{anchor}">{esc(name)}</a>' for anchor, name, _ in parts)
    written = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
        f'<header><h1>{esc(title)}</h1><p class="meta">Written {esc(written)} by trainwise. '
        "One self-contained file: no scripts, nothing loaded from the network.</p></header>"
        f"<nav>{nav}</nav>{''.join(body for _, _, body in parts)}</main></body></html>\n"
    )


def write_report(folder: str | os.PathLike, summary: dict, *, comparison: dict | None = None,
                 lr_find: dict | None = None, title: str | None = None) -> Path:
    """Write ``report.html`` and the figures as PNG files (``loss.png``, ``metrics.png``,
    ``confusion_matrix.png``, ``pr_curve.png``, ``comparison.png``, ``lr_find.png`` — those the data
    allows) into ``folder``; return the report's path.

    ``summary`` is a run's summary dict (`Run.summary()` or a saved ``summary.json``); for a comparison,
    pass the run to show in detail (e.g. the winner's) and the whole comparison (``{"runs": {name:
    summary}, "winner": name}``). ``lr_find`` is ``{"lrs": [...], "losses": [...], "suggestion": lr}``.
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
            atomic_write(folder / filename, lambda fh, data=png: fh.write(data), binary=True)
        elif (folder / filename).exists():
            (folder / filename).unlink()        # a figure of an earlier report this data no longer supports
    page = render_html(summary, svgs, comparison=comparison, lr_find=lr_find, title=title)
    return atomic_write(folder / "report.html", lambda fh: fh.write(page))
