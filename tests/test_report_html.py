"""report.html and its PNG figures, read as files: self-contained, escaped, complete, and robust to
missing pieces. (tests/test_report_browser.py opens the same reports in Chromium.)"""

from __future__ import annotations

import json
import math
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pytest
from matplotlib import _pylab_helpers

from test_report_samples import XSS, binary_history, binary_summary, written_report
from trainwise.io import write_json
from trainwise.report import write_report
from trainwise.report.figures import applied_threshold, build_figures, overfitting_onset
from trainwise.report.html import render_html

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Elements(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _elements(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(page)
    return parser.tags


@pytest.fixture(scope="module")
def full() -> tuple[Path, str]:
    """One report with every section, shared with the browser tests."""
    path = written_report("full")
    return path.parent, path.read_text(encoding="utf-8")


def test_report_and_png_files(full: tuple[Path, str]) -> None:
    folder, page = full
    assert sorted(p.name for p in folder.iterdir()) == ["comparison.png", "confusion_matrix.png", "loss.png",
                                                        "lr_find.png", "metrics.png", "pr_curve.png", "report.html"]
    for png in folder.glob("*.png"):
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, png.name
    assert len(page.encode()) < 250_000                     # small enough to mail


def test_self_contained_and_offline(full: tuple[Path, str]) -> None:
    tags = _elements(full[1])
    names = [t for t, _ in tags]
    assert "script" not in names and "link" not in names and "iframe" not in names and "img" not in names
    for tag, attrs in tags:                                  # nothing to fetch: only in-page links and data:
        for key in ("src", "href", "xlink:href"):
            value = attrs.get(key)
            assert value is None or value.startswith(("#", "data:")), (tag, key, value)
    assert "@import" not in full[1] and not re.search(r"url\((?!#|data:)", full[1])
    assert "default-src 'none'" in full[1]                  # Content-Security-Policy: no scripts, no fetches


def test_sections_in_order_and_figures_show_what_they_must(full: tuple[Path, str]) -> None:
    page = full[1]
    tags = _elements(page)
    sections = [attrs["id"] for tag, attrs in tags if tag == "section"]
    assert sections == ["verdict", "loss", "metrics", "confusion", "threshold", "comparison", "lr-find", "data",
                        "config"]
    assert [attrs["aria-label"] for tag, attrs in tags if tag == "svg"] == [
        "Training and validation loss per epoch", "Validation metrics per epoch", "Confusion matrix heatmap",
        "Precision-recall curve", "Optimizer comparison: loss and score per epoch", "LR range test curve"]
    # read from the SVG text (text stays text in our SVGs)
    assert "overfitting from epoch 7" in page and "best epoch 6 (" in page
    for cell in ("TP", "FP", "TN", "FN"):
        assert f">{cell}<" in page and f"<b>{cell}</b>" in page        # in the heatmap and in the table
    assert "best F1 t=0.487" in page and "threshold in use t=0.5" in page
    assert "adam (winner)" in page and "suggested LR 0.003" in page
    assert "NOT READY" in page and "No validation row duplicates a training row." in page
    assert "Lower the decision threshold" in page            # findings come with their advice
    for text in ("python", "torch", "trainwise", "device", "seed"):
        assert f'<th class="l">{text}</th>' in page


def test_no_matplotlib_state_leaks(tmp_path: Path) -> None:
    rc_before = dict(matplotlib.rcParams)
    write_report(tmp_path, {"verdict": "good", "history": [{"epoch": 1, "train_loss": 0.5}]})
    assert dict(matplotlib.rcParams) == rc_before            # styles applied inside rc_context only
    assert _pylab_helpers.Gcf.get_all_fig_managers() == []    # no pyplot figures left open
    assert "matplotlib.pyplot" not in sys.modules or _pylab_helpers.Gcf.get_num_fig_managers() == 0


def test_hostile_strings_are_escaped_everywhere() -> None:
    path = written_report("hostile")
    page = path.read_text(encoding="utf-8")
    assert XSS not in page
    assert "<b>bold</b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in page             # the file name, in the data section
    tags = _elements(page)
    assert not any(tag == "img" or "onerror" in attrs for tag, attrs in tags)
    assert "$x$ &amp; &lt;b&gt;bold&lt;/b&gt;" in page                  # a $ pair drawn as text, not math
    assert not (path.parent / "pr_curve.png").exists()                  # multiclass: no PR curve


def _texts(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_missing_pieces_degrade_to_notes(tmp_path: Path) -> None:
    # binary task without recorded thresholds: a note instead of the PR curve
    summary = binary_summary()
    summary["thresholds"] = None
    assert "pr_curve" not in build_figures(summary)
    assert "No precision-recall curve" in render_html(summary, {})

    # thresholds without the curve: the operating points alone
    summary["thresholds"] = {"best_f1": binary_summary()["thresholds"]["best_f1"], "recall@0.8": None}
    assert "curve not recorded" in _texts(build_figures(summary)["pr_curve"])

    # no validation data: no metrics, no confusion matrix, history with train values only
    bare = {"verdict": "good", "findings": [], "metrics": None, "best_epoch": 2, "thresholds": None,
            "history": [{"epoch": e, "train_loss": 1 / e, "train_accuracy": 0.5 + e / 10, "lr": 0.1}
                        for e in (1, 2, 3)], "data": {}, "config": {}}
    page = write_report(tmp_path / "c", bare).read_text(encoding="utf-8")
    assert "No confusion matrix" in page and "GOOD" in page
    assert sorted(p.name for p in (tmp_path / "c").glob("*.png")) == ["loss.png", "metrics.png"]

    # nothing at all but a verdict
    page = write_report(tmp_path / "d", {"verdict": "good"}).read_text(encoding="utf-8")
    assert "No loss values were recorded." in page


def test_diverged_run_live_and_from_json(tmp_path: Path) -> None:
    history = binary_history(6)
    history[4]["train_loss"] = math.inf
    history[5]["train_loss"] = math.nan
    history[5]["val_loss"] = math.nan
    summary = binary_summary(history=history)
    assert "loss not finite from epoch 5" in _texts(build_figures(summary)["loss"])
    write_json(tmp_path / "summary.json", summary)          # NaN/Inf become null, as on disk
    saved = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert saved["history"][4]["train_loss"] is None
    assert "loss not finite from epoch 5" in _texts(build_figures(saved)["loss"])
    assert "Every epoch (6)" in render_html(saved, {})


def test_rebuilding_drops_figures_the_data_no_longer_has(tmp_path: Path) -> None:
    (tmp_path / "pr_curve.png").write_bytes(b"from an earlier report")
    (tmp_path / "notes.png").write_bytes(b"mine")
    write_report(tmp_path, {"verdict": "good", "history": [{"epoch": 1, "train_loss": 0.5}]})
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["loss.png", "notes.png"]
    assert (tmp_path / "notes.png").read_bytes() == b"mine"     # only our own file names are touched


def test_overfitting_onset_and_threshold_choice() -> None:
    finding = {"code": "overfitting", "epoch": 9, "evidence": {"best_epoch": 8}}
    assert overfitting_onset([finding]) == 9
    assert overfitting_onset([{**finding, "epoch": None}]) == 8
    assert overfitting_onset([{**finding, "evidence": {"onset_epoch": 10}}]) == 10
    assert overfitting_onset([{"code": "not_converged", "epoch": 3}]) is None
    assert applied_threshold({"config": {"threshold": None}}) == 0.5
    assert applied_threshold({"config": {"threshold": 0.3}}) == 0.3
    assert applied_threshold({"thresholds": {"applied": {"threshold": 0.2}}, "config": {"threshold": 0.3}}) == 0.2
