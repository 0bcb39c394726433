"""report.html and its PNG figures, read as files: self-contained, escaped, complete, and robust to
missing pieces. (tests/test_report_browser.py opens the same reports in Chromium.)"""

from __future__ import annotations

import json
import math
import re
import sys
from fnmatch import fnmatch
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import matplotlib
import pytest
from matplotlib import _pylab_helpers

from test_report_samples import XSS, binary_history, binary_summary, written_report
from trainwise.io import jsonable, write_json
from trainwise.report import write_report
from trainwise.report.figures import applied_threshold, build_figures, overfitting_onset
from trainwise.report.html import _templates, render_html

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


class Reader(Elements):
    """Start tags, end tags and the text a browser would show (entities decoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[str] = []
        self.text: list[str] = []

    def handle_endtag(self, tag: str) -> None:
        self.ends.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


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
    # a rule that found no threshold on the validation set kept 0.5 (loop._apply_rule)
    assert applied_threshold({"thresholds": {"applied": {"rule": "recall=0.99", "threshold": None}},
                              "config": {"threshold": "recall=0.99"}}) == 0.5


def _hostile(place: str) -> str:
    """A string that breaks the page if it reaches it unescaped, tagged with the place it was put."""
    return f"<script>alert('{place}')</script>\"{place}\" & '</table>"


def _hostile_inputs(say) -> list[tuple[dict, dict]]:
    """Summaries (with their render_html options) holding ``say(place)`` in every field a person or a
    data file can choose: labels, column and file names, findings, settings, run names, texts."""
    neg, pos = say("negative-label"), say("positive-label")
    summary = binary_summary(negative=neg, positive=pos, source=say("file-name"), target=say("target-column"))
    summary.update(verdict=say("verdict"), stop_reason=say("stop-reason"), environment={
        "python": say("environment-value"), say("environment-key"): "x"})
    summary["findings"] = [
        {"code": say("code"), "severity": "error", "epoch": say("epoch"), "message": say("headline"),
         "advice": say("advice"), "evidence": {say("evidence-key"): say("evidence-value"),
                                               "nested": [say("evidence-nested")]}},
        {"code": "x", "severity": say("severity"), "epoch": None, "message": "m", "advice": None, "evidence": {}}]
    summary["metrics"]["per_class"][say("per-class-label")] = {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    summary["thresholds"][say("operating-point")] = {"threshold": 0.3, "precision": 0.5, "recall": 0.5}
    summary["data"].update(columns=[say("feature-column")], validation={say("validation-key"): say("validation-value")},
                           rows={say("split"): 10}, leakage={"count": 1, "share": 0.1, "examples": [
                               {"val_row": say("leaked-row"), "train_row": 1}]})
    summary["config"][say("config-key")] = say("config-value")
    run = say("run-name")
    comparison = {"runs": {run: {"verdict": say("run-verdict"), "findings": [{"code": say("run-finding")}]}},
                  "winner": {"name": say("winner"), "sentence": say("winner-sentence"), "reason": say("reason"),
                             "rule": say("winner-rule")},
                  "sentence": say("sentence"), "summary": say("summary"), "rule": say("rule"),
                  "table": [{"name": run, "lr": say("run-lr"), "stability": say("stability"),
                             "epochs_to_target": say("epochs-to-target")}]}
    other = {"verdict": "bad", "findings": [{"code": "data_leakage", "severity": "error", "message": say("leak")}],
             "data": {"labels": [say("old-label")], "class_counts": [3], "n_train": 3}}
    return [(summary, {"comparison": comparison, "lr_find": {"suggestion": 0.01, "method": say("lr-method")}}),
            (other, {"title": say("title")})]


def test_every_user_string_is_escaped_where_it_appears() -> None:
    said: dict[str, str] = {}

    def say(place: str) -> str:
        said[place] = _hostile(place)
        return said[place]

    shown = {"severity": str.upper, "evidence-nested": json.dumps, "feature-column": json.dumps}  # as written
    text = []
    for summary, options in _hostile_inputs(say):
        page = render_html(jsonable(summary), {}, **options)
        reader = Reader()
        reader.feed(page)
        tags = [tag for tag, _ in reader.tags]
        # nothing came out as markup: no script, every table closes where the page closes it, every
        # & starts an entity, and only the page's own elements are there
        assert "<script" not in page.lower() and "script" not in tags
        assert tags.count("table") == reader.ends.count("table") == page.count("</table>")
        assert not re.findall(r"&(?![a-z]+;|#[0-9]+;|#x[0-9a-f]+;)", page, re.IGNORECASE)
        assert set(tags) <= {"html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2", "h3",
                             "p", "nav", "a", "section", "div", "strong", "b", "i", "span", "article", "code",
                             "table", "thead", "tbody", "tr", "th", "td", "details", "summary"}
        text.append("".join(reader.text))
    shown_text = "\n".join(text)
    missing = [place for place, value in said.items() if shown.get(place, str)(value) not in shown_text]
    assert missing == []                            # each shown, as the text it was


def test_figures_are_the_only_markup_let_through() -> None:
    svg = '<svg role="img" aria-label="Loss" class="figure"><text>train &amp; validation</text></svg>'
    page = render_html({"verdict": "good", "data": {"source": svg}}, {"loss": svg})
    assert page.count(svg) == 1                                      # the figure, once, as it was drawn
    assert "&lt;svg role=&#34;img&#34;" in page                      # the same text as a file name: escaped


def test_templates_ship_with_the_package() -> None:
    """Templates are read through the package (importlib.resources), so an installed trainwise has
    them only when pyproject's package-data lists them: every file there is covered, and every template
    the page imports or includes is there."""
    from jinja2 import meta

    shipped = resources.files("trainwise.report") / "templates"
    names = sorted(entry.name for entry in shipped.iterdir() if entry.is_file())
    assert "report.html.j2" in names
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    patterns = json.loads(re.search(r"\[tool\.setuptools\.package-data\]\s*trainwise = (\[.*?\])", pyproject,
                                    re.DOTALL).group(1))
    assert [n for n in names if not any(fnmatch(f"report/templates/{n}", p) for p in patterns)] == []
    env = _templates()
    for name in names:
        if name.endswith(".j2"):
            source = (shipped / name).read_text(encoding="utf-8")
            assert set(meta.find_referenced_templates(env.parse(source))) <= set(names), name
