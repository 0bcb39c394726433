"""The report's figures, drawn with matplotlib from plain data (a summary dict): SVG for the HTML
report, PNG files for slides.

Figures are ``matplotlib.figure.Figure`` objects on an Agg canvas: pyplot is never imported, so no
global figure registry fills up and no GUI backend is touched. Style settings apply inside
``rc_context`` only and are restored afterwards.

User-provided strings (class labels, run names) reach matplotlib through ``plain()``, so a ``$`` in a
label is drawn as a dollar sign instead of starting mathtext; matplotlib's SVG writer escapes XML.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# matplotlib is imported where a figure is drawn, not here: `trainwise evaluate` and the terminal
# summary import this package too, and should not pay a second for a library they do not use.

TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#d62728"
METRIC_COLORS = {"val_accuracy": "#1f77b4", "val_precision": "#2ca02c", "val_recall": "#d62728",
                 "val_f1": "#9467bd", "val_balanced_accuracy": "#8c564b", "train_accuracy": "#7f7f7f"}
METRIC_NAMES = {"val_accuracy": "accuracy", "val_precision": "precision", "val_recall": "recall",
                "val_f1": "F1", "val_balanced_accuracy": "balanced accuracy", "train_accuracy": "train accuracy"}
RUN_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
STYLE = {
    "font.size": 9.5, "axes.titlesize": 10.5, "axes.titleweight": "bold", "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3, "legend.frameon": False,
    "legend.fontsize": 8.5, "svg.fonttype": "none",   # text stays text: smaller files, selectable labels
}
MAX_ANNOTATED_CLASSES = 15      # above this the confusion matrix cells are too small to hold numbers
MAX_LABEL_CHARS = 18
LOG_SCALE_RATIO = 5             # loss plotted on a log axis when its largest value is this many times its smallest

FIGURE_FILES = {"loss": "loss.png", "metrics": "metrics.png", "confusion_matrix": "confusion_matrix.png",
                "pr_curve": "pr_curve.png", "comparison": "comparison.png", "lr_find": "lr_find.png",
                "reliability": "reliability.png"}


def plain(text: Any, limit: int | None = None) -> str:
    """``text`` as matplotlib should draw it literally: ``$`` escaped, optionally shortened."""
    text = str(text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


@contextmanager
def style(name: str = "figure") -> Iterator[None]:
    """The report's matplotlib style, applied for the duration only. ``svg.hashsalt`` makes the SVG
    ids deterministic and distinct between the figures of one HTML page."""
    import matplotlib

    with matplotlib.rc_context({**STYLE, "svg.hashsalt": f"trainwise-{name}"}):
        yield


def new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _value(record: dict, key: str) -> float:
    """A history value as a float; missing, null or non-finite become NaN (a gap in the line)."""
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return math.nan
    return float(value)


def _not_finite(record: dict, key: str) -> bool:
    """NaN or Inf; in a saved summary these are ``null``, so a present-but-null training loss counts
    too (every epoch of a trainwise run records one; a missing key is a log that has none)."""
    if key not in record:
        return False
    value = record[key]
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _has(history: Sequence[dict], key: str) -> bool:
    return any(not math.isnan(_value(r, key)) for r in history)


def _marker(n: int) -> str | None:
    return "o" if n <= 30 else None


# --------------------------------------------------------------------------------------------- loss
def overfitting_onset(findings: Sequence[dict]) -> int | None:
    """The epoch where the ``overfitting`` finding says validation loss started to rise."""
    for f in findings:
        if f.get("code") != "overfitting":
            continue
        evidence = f.get("evidence") or {}
        for value in (evidence.get("onset_epoch"), evidence.get("start_epoch"), evidence.get("onset"),
                      f.get("epoch"), evidence.get("best_epoch")):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                return int(value)
    return None


def loss_figure(history: Sequence[dict], best_epoch: int | None, findings: Sequence[dict]) -> Figure | None:
    """Train and validation loss per epoch; the best epoch marked, the overfitting stretch shaded."""
    if not history or not (_has(history, "train_loss") or _has(history, "val_loss")):
        return None
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(history)]
    fig = new_figure(7.2, 3.4)
    ax = fig.add_subplot()
    finite: list[float] = []
    for key, label, color in (("train_loss", "train loss", TRAIN_COLOR), ("val_loss", "validation loss", VAL_COLOR)):
        if _has(history, key):
            ys = [_value(r, key) for r in history]
            finite += [y for y in ys if not math.isnan(y)]
            ax.plot(epochs, ys, label=label, color=color, marker=_marker(len(epochs)), markersize=3.5)
    onset = overfitting_onset(findings)
    if onset is not None:
        ax.axvspan(onset, max(epochs[-1], onset + 0.5), color=VAL_COLOR, alpha=0.1,
                   label=f"overfitting from epoch {onset}")
    if best_epoch is not None and best_epoch in epochs:
        key = "val_loss" if _has(history, "val_loss") else "train_loss"
        y = _value(history[epochs.index(best_epoch)], key)
        ax.axvline(best_epoch, color="#555555", linestyle=":", linewidth=1)
        if not math.isnan(y):
            ax.plot([best_epoch], [y], marker="*", markersize=13, color="#ffbf00", markeredgecolor="#333333",
                    linestyle="none", label=f"best epoch {best_epoch} ({y:.4g})", zorder=5)
    broken = [e for e, r in zip(epochs, history, strict=True) if _not_finite(r, "train_loss")]
    if broken:
        ax.text(0.01, 0.97, f"loss not finite from epoch {broken[0]}", transform=ax.transAxes, va="top",
                color=VAL_COLOR, fontsize=8.5)
    positive = [y for y in finite if y > 0]
    if positive and len(positive) == len(finite) and max(positive) / min(positive) > LOG_SCALE_RATIO:
        # a first epoch far above the rest would flatten every later epoch onto one line
        from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:.3g}"))   # 0.05, not 5×10⁻²
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("loss (mean per sample, log scale)")
    else:
        ax.set_ylabel("loss (mean per sample)")
    ax.set_xlabel("epoch")
    ax.set_title("Loss per epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="best")
    return fig


# ------------------------------------------------------------------------------------------ metrics
def metrics_figure(history: Sequence[dict], which: str = "") -> Figure | None:
    """Accuracy, precision, recall and F1 per epoch, on a fixed 0-1 scale so gaps read honestly."""
    keys = [k for k in METRIC_COLORS if _has(history, k)]
    if not history or not keys:
        return None
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(history)]
    fig = new_figure(7.2, 3.4)
    ax = fig.add_subplot()
    for key in keys:
        dashed = key.startswith("train_")
        ax.plot(epochs, [_value(r, key) for r in history], label=METRIC_NAMES[key], color=METRIC_COLORS[key],
                linestyle="--" if dashed else "-", linewidth=1.2 if dashed else 1.6,
                marker=None if dashed else _marker(len(epochs)), markersize=3)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation score" if any(k.startswith("val_") for k in keys) else "score")
    ax.set_title("Accuracy, precision, recall, F1 per epoch" + (f" ({plain(which)})" if which else ""))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="lower right", ncols=min(3, len(keys)))
    return fig


# --------------------------------------------------------------------------------- confusion matrix
def binary_cell_names(metrics: dict) -> dict[tuple[int, int], str]:
    """``{(row, column): "TP" | "FP" | "TN" | "FN"}`` for binary tasks, else empty."""
    labels = [str(label) for label in metrics.get("labels") or []]
    positive = metrics.get("positive_label")
    if len(labels) != 2 or positive is None or str(positive) not in labels:
        return {}
    p = labels.index(str(positive))
    n = 1 - p
    return {(p, p): "TP", (n, p): "FP", (n, n): "TN", (p, n): "FN"}


def row_rates(cm: Sequence[Sequence[int]]) -> list[list[float | None]]:
    """Each cell's share of its row (the true class); ``None`` for a class with no rows."""
    rates: list[list[float | None]] = []
    for row in cm:
        total = sum(row)
        rates.append([c / total if total else None for c in row])
    return rates


def confusion_figure(metrics: dict) -> Figure | None:
    """Heatmap coloured by row-normalized rate, each cell with its count and rate (and TP/FP/TN/FN)."""
    cm = metrics.get("confusion_matrix")
    if not cm:
        return None
    n = len(cm)
    labels = [str(label) for label in metrics.get("labels") or range(n)]
    rates = row_rates(cm)
    names = binary_cell_names(metrics)
    side = min(max(3.6, 0.55 * n + 2.2), 11.0)
    fig = new_figure(side + 1.3, side)
    ax = fig.add_subplot()
    colors = [[r if r is not None else 0.0 for r in row] for row in rates]
    mesh = ax.pcolormesh(colors, cmap="Blues", vmin=0.0, vmax=1.0, edgecolors="white", linewidth=1.5)
    ax.set_aspect("equal")
    ax.invert_yaxis()                   # row 0 on top, as the matrix is printed
    ax.grid(False)
    ticks = [i + 0.5 for i in range(n)]
    short = [plain(label, MAX_LABEL_CHARS) for label in labels]
    upright = n <= 4 and max(len(label) for label in short) <= 10
    # the x labels sit on top, above the matrix: slanted ones lean to the right from their tick
    ax.set_xticks(ticks, short, rotation=0 if upright else 40, ha="center" if upright else "left",
                  rotation_mode="anchor")
    ax.set_yticks(ticks, short)
    ax.tick_params(length=0)
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= MAX_ANNOTATED_CLASSES:
        size = 10 if n <= 4 else max(5.5, 10 - 0.35 * n)
        for i in range(n):
            for j in range(n):
                rate = rates[i][j]
                lines = ([names[(i, j)]] if (i, j) in names else []) + [f"{cm[i][j]:,}"]
                lines.append("–" if rate is None else f"{rate:.1%}")
                ax.text(j + 0.5, i + 0.5, "\n".join(lines), ha="center", va="center", fontsize=size,
                        color="white" if (rate or 0) > 0.55 else "#222222",
                        fontweight="bold" if i == j else "normal")
    bar = fig.colorbar(mesh, ax=ax, shrink=0.8)
    bar.set_label("share of the true class (row)")
    ax.set_title("Confusion matrix: counts and row rates", pad=12)
    return fig


# --------------------------------------------------------------------------------------- PR curve
def pr_curve_data(thresholds: dict | None) -> tuple[list[float], list[float]] | None:
    """Precision and recall arrays from ``thresholds["curve"]`` (or ``pr_curve``), if recorded."""
    if not isinstance(thresholds, dict):
        return None
    curve = thresholds.get("curve") or thresholds.get("pr_curve")
    if not isinstance(curve, dict):
        return None
    precision, recall = curve.get("precision"), curve.get("recall")
    if not isinstance(precision, list) or not isinstance(recall, list) or len(precision) != len(recall):
        return None
    pairs = [(float(p), float(r)) for p, r in zip(precision, recall, strict=True)
             if isinstance(p, (int, float)) and isinstance(r, (int, float))]
    if len(pairs) < 2:
        return None
    # Recall rising, and within equal recall precision falling: the order of a falling threshold,
    # whichever order (scikit-learn's or its reverse) the arrays were stored in.
    pairs.sort(key=lambda pr: (pr[1], -pr[0]))
    return [p for p, _ in pairs], [r for _, r in pairs]


def threshold_points(thresholds: dict | None) -> dict[str, dict]:
    """Named operating points in ``thresholds`` (``best_f1``, target recall/precision, ...)."""
    if not isinstance(thresholds, dict):
        return {}
    return {str(name): point for name, point in thresholds.items()
            if isinstance(point, dict) and isinstance(point.get("precision"), (int, float))
            and isinstance(point.get("recall"), (int, float))}


def point_name(key: str) -> str:
    """``best_f1`` -> ``best F1``; other keys with underscores as spaces."""
    return key.replace("_", " ").replace("f1", "F1").replace("fbeta", "F-beta")


def positive_share(metrics: dict) -> float | None:
    """The positive class's share of the evaluated rows: the precision of guessing at random."""
    cm = metrics.get("confusion_matrix")
    names = binary_cell_names(metrics)
    if not cm or not names:
        return None
    p = next(i for (i, j), name in names.items() if name == "TP")
    total = sum(sum(row) for row in cm)
    return sum(cm[p]) / total if total else None


def pr_curve_figure(metrics: dict, thresholds: dict | None, applied: float | None) -> Figure | None:
    """Precision against recall for a binary task, with the threshold in use and the best-F1 point."""
    curve = pr_curve_data(thresholds)
    points = threshold_points(thresholds)
    in_use = (isinstance(metrics.get("precision"), (int, float)) and isinstance(metrics.get("recall"), (int, float)))
    if curve is None and not points:
        return None
    fig = new_figure(5.6, 4.2)
    ax = fig.add_subplot()
    if curve is not None:
        precision, recall = curve
        ax.plot(recall, precision, color=TRAIN_COLOR, linewidth=1.6, label="precision-recall curve")
    else:
        ax.text(0.98, 0.06, "curve not recorded: operating points only", transform=ax.transAxes, ha="right",
                color="#777777", fontsize=8.5)
    base = positive_share(metrics)
    if base is not None:
        ax.axhline(base, color="#999999", linestyle="--", linewidth=1, label=f"random guessing ({base:.1%})")
    markers = iter(("s", "D", "^", "v", "P", "X"))
    for name, point in points.items():
        best = name == "best_f1"
        t = point.get("threshold")
        text = plain(point_name(name)) + (f" t={t:.3g}" if isinstance(t, (int, float)) else "")
        ax.plot([point["recall"]], [point["precision"]], linestyle="none", zorder=5,
                marker="*" if best else next(markers, "o"), markersize=14 if best else 8,
                color="#ffbf00" if best else "#2ca02c", markeredgecolor="#333333", label=text)
    if in_use:
        t = f" t={applied:.3g}" if applied is not None else ""
        ax.plot([metrics["recall"]], [metrics["precision"]], linestyle="none", marker="o", markersize=9,
                color=VAL_COLOR, markeredgecolor="#333333", zorder=6, label=f"threshold in use{t}")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("recall (share of positives found)")
    ax.set_ylabel("precision (share of alarms right)")
    positive = metrics.get("positive_label")
    ax.set_title("Precision-recall curve" + (f" (class {plain(positive, MAX_LABEL_CHARS)})" if positive else ""))
    ax.legend(loc="best")
    return fig


# ------------------------------------------------------------------------------------- comparison
def comparison_figure(comparison: dict) -> Figure | None:
    """Every run's loss curves on one axis, and its validation F1 (or accuracy) on a second."""
    runs = comparison.get("runs") if isinstance(comparison, dict) else None
    if not isinstance(runs, dict) or not runs:
        return None
    winner = winner_name(comparison)
    histories = {str(name): (run or {}).get("history") or [] for name, run in runs.items()}
    score = next((k for k in ("val_f1", "val_accuracy", "train_accuracy")
                  if any(_has(h, k) for h in histories.values())), None)
    fig = new_figure(9.0, 3.5)
    loss_ax, score_ax = fig.subplots(1, 2)
    for i, (name, history) in enumerate(histories.items()):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        epochs = [r.get("epoch", k + 1) for k, r in enumerate(history)]
        label = plain(name, 24) + (" (winner)" if name == winner else "")
        width = 2.2 if name == winner else 1.4
        if _has(history, "val_loss"):
            loss_ax.plot(epochs, [_value(r, "val_loss") for r in history], color=color, linewidth=width,
                         label=f"{label} validation")
        if _has(history, "train_loss"):
            loss_ax.plot(epochs, [_value(r, "train_loss") for r in history], color=color, linewidth=1,
                         linestyle="--", alpha=0.8, label=f"{label} train")
        if score is not None and _has(history, score):
            score_ax.plot(epochs, [_value(r, score) for r in history], color=color, linewidth=width, label=label)
    loss_ax.set_title("Loss per epoch (solid: validation, dashed: train)")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.legend(fontsize=7.5)
    score_ax.set_title((METRIC_NAMES.get(score or "", "score")).capitalize() + " per epoch")
    score_ax.set_xlabel("epoch")
    score_ax.set_ylim(-0.02, 1.02)
    score_ax.legend(fontsize=7.5)
    for ax in (loss_ax, score_ax):
        ax.xaxis.get_major_locator().set_params(integer=True)
    return fig


def winner_name(comparison: dict) -> str | None:
    """The winner's run name, whether ``winner`` is a name or a dict holding one."""
    winner = comparison.get("winner")
    if isinstance(winner, dict):
        winner = winner.get("name") or winner.get("optimizer") or winner.get("run")
    return None if winner is None else str(winner)


# --------------------------------------------------------------------------------------- LR finder
def lr_find_figure(lr_find: dict) -> Figure | None:
    """Loss against learning rate (log scale), with the suggested LR marked."""
    lrs = lr_find.get("lrs") or []
    smoothed = _lr_pairs(lrs, lr_find.get("smoothed"))
    raw = _lr_pairs(lrs, lr_find.get("losses"))
    pairs = smoothed or raw
    if len(pairs) < 2:
        return None
    fig = new_figure(6.4, 3.4)
    ax = fig.add_subplot()
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    if smoothed and raw:
        ax.plot([p[0] for p in raw], [p[1] for p in raw], color=TRAIN_COLOR, linewidth=0.8, alpha=0.35,
                label="batch loss")
    ax.plot(xs, ys, color=TRAIN_COLOR, linewidth=1.6, label="smoothed loss" if smoothed else "loss")
    ax.set_xscale("log")
    first, low = ys[0], min(ys)
    top = min(max(ys), first + 1.5 * (first - low)) if first > low else max(ys)
    ax.set_ylim(low - 0.05 * (top - low + 1e-12), top + 0.05 * (top - low + 1e-12))
    suggestion = lr_find.get("suggestion")
    if isinstance(suggestion, (int, float)) and suggestion > 0:
        how = f" ({plain(lr_find['method'])})" if isinstance(lr_find.get("method"), str) else ""
        ax.axvline(suggestion, color=VAL_COLOR, linestyle="--", linewidth=1.2,
                   label=f"suggested LR {suggestion:.2g}{how}")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title("LR range test")
    ax.legend(loc="best")
    return fig


# ------------------------------------------------------------------------------------ calibration
def reliability_figure(calibration: dict | None) -> Figure | None:
    """The reliability diagram: per bin, the share of rows that came true against the mean confidence
    (on the diagonal: calibrated); bar widths are the bins, the dots' sizes their rows. With a fitted
    temperature, the rescaled probabilities' bins too."""
    bins = (calibration or {}).get("bins") or []
    if not bins:
        return None
    fig = new_figure(5.6, 4.2)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="calibrated")
    largest = max(b["count"] for b in bins)
    ax.bar([b["lower"] for b in bins], [b["accuracy"] for b in bins],
           width=[max(b["upper"] - b["lower"], 0.01) for b in bins], align="edge", color=TRAIN_COLOR, alpha=0.25,
           edgecolor=TRAIN_COLOR, linewidth=0.6)
    ax.scatter([b["confidence"] for b in bins], [b["accuracy"] for b in bins],
               s=[12 + 120 * b["count"] / largest for b in bins], color=TRAIN_COLOR, zorder=4,
               label=f"model (ECE {calibration['ece']:.3f})")
    after = calibration.get("bins_after") or []
    if after:
        ax.plot([b["confidence"] for b in after], [b["accuracy"] for b in after], color=VAL_COLOR, marker="o",
                markersize=4, linewidth=1.2, zorder=5,
                label=f"temperature {calibration['temperature']:.3g} (ECE {calibration['ece_after']:.3f})")
    binary = calibration.get("kind") == "binary"
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("predicted probability of the positive class" if binary else "confidence (top-class probability)")
    ax.set_ylabel("share of positives" if binary else "accuracy")
    ax.set_title("Reliability diagram")
    ax.legend(loc="upper left")
    return fig


# ------------------------------------------------------------------------------------------ all
def build_figures(summary: dict, *, comparison: dict | None = None, lr_find: dict | None = None) -> dict[str, Figure]:
    """Every figure the data allows, keyed by name (see ``FIGURE_FILES``), in report order."""
    history = summary.get("history") or []
    metrics = summary.get("metrics") or {}
    figures: dict[str, Figure | None] = {}
    with style():
        figures["loss"] = loss_figure(history, summary.get("best_epoch"), summary.get("findings") or [])
        figures["metrics"] = metrics_figure(history, metric_scope(metrics))
        figures["confusion_matrix"] = confusion_figure(metrics) if metrics else None
        if binary_cell_names(metrics):
            figures["pr_curve"] = pr_curve_figure(metrics, summary.get("thresholds"), applied_threshold(summary))
        figures["reliability"] = reliability_figure(metrics.get("calibration"))
        if comparison:
            figures["comparison"] = comparison_figure(comparison)
        if lr_find:
            figures["lr_find"] = lr_find_figure(lr_find)
    return {name: fig for name, fig in figures.items() if fig is not None}


def metric_scope(metrics: dict) -> str:
    """Which precision/recall/F1 the summary holds: the positive class's, or macro averages."""
    if metrics.get("positive_label") is not None:
        return f"class {metrics['positive_label']}"
    return "macro average" if metrics.get("average") == "macro" else ""


def applied_threshold(summary: dict) -> float:
    """The decision threshold behind the reported metrics (binary tasks): ``thresholds["applied"]``
    (``{"rule", "threshold", ...}``, written by the Trainer and by ``trainwise evaluate``), else the
    configured one, else 0.5. An applied rule that found no threshold has ``"threshold": None``: 0.5 was kept."""
    thresholds = summary.get("thresholds") if isinstance(summary.get("thresholds"), dict) else {}
    applied = thresholds.get("applied") if isinstance(thresholds.get("applied"), dict) else {}
    value = applied.get("threshold")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    configured = (summary.get("config") or {}).get("threshold")
    if isinstance(configured, (int, float)) and not isinstance(configured, bool):
        return float(configured)
    return 0.5


def _lr_pairs(lrs: Sequence[Any], losses: Any) -> list[tuple[float, float]]:
    if not isinstance(losses, list):
        return []
    return [(float(lr), float(loss)) for lr, loss in zip(lrs, losses, strict=False)
            if isinstance(lr, (int, float)) and lr > 0 and isinstance(loss, (int, float)) and math.isfinite(loss)]


# ------------------------------------------------------------------------------------------ output
_GROUP_ID = re.compile(r'<g id="[A-Za-z][\w.]*_\d+">')
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}


def to_svg(fig: Figure, name: str, alt: str) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no comments, no generic group ids,
    so several can share one HTML page), labelled for screen readers with ``alt`` (escaped)."""
    buf = io.StringIO()
    with style(name):
        fig.savefig(buf, format="svg", metadata=_NO_METADATA)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = _COMMENT.sub("", _GROUP_ID.sub("<g>", svg))
    return svg.replace("<svg ", f'<svg role="img" aria-label="{escape(alt, quote=True)}" class="figure" ', 1)


def render(fig: Figure, name: str, alt: str) -> tuple[str, bytes]:
    """The figure as inline SVG and as PNG bytes. The layout is solved once, in the PNG pass, and then
    frozen: the SVG pass reuses it (a third faster, same picture)."""
    png = to_png(fig)
    fig.set_layout_engine("none")
    return to_svg(fig, name, alt), png


def to_png(fig: Figure, dpi: int = 150) -> bytes:
    buf = io.BytesIO()
    with style():
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
