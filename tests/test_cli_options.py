"""The command line itself: every flag documented with its default, no abbreviations, one error prefix,
hints for the usual mistakes, --version, report --json, and the quick commands without torch."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from trainwise import __version__
from trainwise.cli import main
from trainwise.cli import options as opts
from trainwise.cli.main import COMMANDS, build_parser

PREFIX = "trainwise: error: "
SRC = Path(__file__).resolve().parents[1] / "src"


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(code: int, out: str, err: str) -> str:
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(PREFIX), err
    assert err.count("error:") == 1 and err.count("trainwise:") == 1, err    # the prefix once, never doubled
    return err.strip()


def subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_the_closed_sets_are_the_librarys():
    """options.py keeps torch-free copies of names defined next to torch."""
    from trainwise.data.stream import SHUFFLE_ROWS
    from trainwise.lrfind import METHODS
    from trainwise.optim import OPTIMIZERS, SCHEDULES

    assert opts.OPTIMIZERS == tuple(OPTIMIZERS)
    assert opts.SCHEDULES == tuple(SCHEDULES)
    assert opts.LR_FIND_METHODS == tuple(METHODS)
    assert opts.SHUFFLE_ROWS == SHUFFLE_ROWS


def test_every_command_is_in_the_table_and_has_its_module():
    assert list(subcommands()) == list(COMMANDS)
    for command in COMMANDS.values():
        assert (SRC / "trainwise" / "cli" / f"{command.module}.py").is_file()


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_flag_has_help_and_shows_its_default(name):
    parser = subcommands()[name]
    text = parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, (name, action.dest)
        if action.default not in (None, False):
            shown = parser._get_formatter()._get_help_string(action)
            assert "%(default)" in shown, (name, action.dest)
    assert "(default: 20)" in text or name != "compare"
    assert "chosen from the number of training rows" in " ".join(text.split()) or name != "fit"   # trainwise.defaults


def test_help_and_version_exit_0(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out == f"trainwise {__version__}\n"
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "diagnose" in out and "--version" in out


def test_flags_are_never_abbreviated(capsys, tmp_path):
    line = one_error_line(*run_cli(capsys, "fit", tmp_path / "x.csv", "--target", "y", "--epoch", "3"))
    assert "unrecognized arguments: --epoch 3" in line and "did you mean --epochs?" in line
    assert "`trainwise fit --help`" in line


def test_unknown_command_names_it_once(capsys):
    line = one_error_line(*run_cli(capsys, "frobnicate"))
    assert "'frobnicate'" in line and "invalid choice" in line and "`trainwise --help`" in line


@pytest.mark.parametrize("argv, hint", [
    (["fit", "d.csv", "--target", "y", "--hidden", "64", "32"], "use commas: --hidden 64,32"),
    (["fit", "d.csv", "--target", "y", "--hidden=64", "32", "16"], "use commas: --hidden 64,32,16"),
    (["compare", "d.csv", "--target", "y", "--optimizers", "sgd", "adam"], "use commas: --optimizers sgd,adam"),
    (["compare", "d.csv", "--target", "y", "--lrs", "0.1", "0.01"], "use commas: --lrs 0.1,0.01"),
])
def test_space_separated_lists_get_the_comma_hint(argv, hint, capsys):
    assert hint in one_error_line(*run_cli(capsys, *argv))


def test_optimizer_names_ignore_case_and_unknown_ones_list_the_choices(capsys):
    args = build_parser().parse_args(["fit", "d.csv", "--target", "y", "--optimizer", "SGD", "--schedule", "Cosine"])
    assert args.optimizer == "sgd" and args.schedule == "cosine"
    line = one_error_line(*run_cli(capsys, "fit", "d.csv", "--target", "y", "--optimizer", "Lion"))
    assert "unknown optimizer 'Lion'; choose one of: sgd, adam, adamw, rmsprop" in line
    assert "callable" not in line and "torch.optim" not in line


@pytest.mark.parametrize("flag, value, words", [
    ("--seed", "-1", ("seed", "-1", ">= 0")),
    ("--seed", "x", ("seed", "'x'")),
    ("--threshold", "1.5", ("threshold", "between 0 and 1")),
    ("--threshold", "best", ("threshold", "best_f1, recall=R or precision=P")),
    ("--dropout", "1", ("--dropout", "[0, 1)")),
])
def test_seed_threshold_and_dropout_are_refused_while_parsing(flag, value, words, capsys, monkeypatch):
    import trainwise.cli.fit as fit

    monkeypatch.setattr(fit, "run", lambda args: pytest.fail("the command ran"))
    line = one_error_line(*run_cli(capsys, "fit", "d.csv", "--target", "y", flag, value))
    assert all(word in line for word in words), line


def test_parsed_values_are_the_policy_types():
    from trainwise.decision import ThresholdRule

    args = build_parser().parse_args(["fit", "d.csv", "--target", "y", "--threshold", "recall=0.8", "--seed", "7"])
    assert args.threshold == ThresholdRule("recall", 0.8) and args.seed == 7 and args.hidden == (64, 32)
    args = build_parser().parse_args(["evaluate", "p.csv", "--label", "y", "--score", "p", "--threshold", "0.3"])
    assert args.threshold == ThresholdRule("fixed", 0.3)


def test_evaluate_threshold_takes_a_number_only(capsys):
    line = one_error_line(*run_cli(capsys, "evaluate", "p.csv", "--label", "y", "--score", "p", "--threshold",
                                   "best_f1"))
    assert "'best_f1'" in line and "number in (0, 1)" in line


def test_diagnose_an_html_report_points_to_the_run_folder(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "report.html").write_text("<!DOCTYPE html>\n<html><head><title>trainwise report</title></head></html>")
    (run / "history.jsonl").write_text('{"epoch": 1, "train_loss": 0.5, "val_loss": 0.6}\n')
    line = one_error_line(*run_cli(capsys, "diagnose", run / "report.html"))
    assert "this is trainwise's HTML report; pass the run folder" in line and "history.jsonl" in line
    (tmp_path / "page.html").write_text("<html><body>hello</body></html>")
    line = one_error_line(*run_cli(capsys, "diagnose", tmp_path / "page.html"))
    assert "an HTML page, not a training log" in line
    code, out, _ = run_cli(capsys, "diagnose", run, "--json")
    assert code == 0 and json.loads(out)["history"][0]["epoch"] == 1


def test_report_json_is_the_runs_object(tmp_path, capsys):
    frame = pd.DataFrame({"x": range(40), "y": [i % 2 for i in range(40)]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert run_cli(capsys, "fit", tmp_path / "d.csv", "--target", "y", "--epochs", "1", "--quiet", "--out",
                   tmp_path / "run")[0] == 0
    code, out, _ = run_cli(capsys, "report", tmp_path / "run", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["report"] == str(tmp_path / "run" / "report.html")
    assert summary["verdict"] in ("good", "warning", "bad") and summary["history"][0]["epoch"] == 1


# ---------------------------------------------------------------------------------------------- no torch
@pytest.fixture(scope="module")
def quick_files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("quick")
    pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.9, 0.7, 0.6], "val_loss": [0.95, 0.8, 0.75]}).to_csv(
        d / "log.csv", index=False)
    pd.DataFrame({"y": [0, 1, 0, 1, 1, 0], "yhat": [0, 1, 1, 1, 0, 0], "p": [0.1, 0.9, 0.6, 0.8, 0.4, 0.2]}).to_csv(
        d / "preds.csv", index=False)
    return d


@pytest.mark.parametrize("argv", [
    ["--help"], ["--version"], ["fit", "--help"], ["diagnose", "{d}/log.csv"], ["diagnose", "{d}/log.csv", "--json"],
    ["evaluate", "{d}/preds.csv", "--label", "y", "--prediction", "yhat"],
    ["evaluate", "{d}/preds.csv", "--label", "y", "--score", "p", "--json"],
])
def test_quick_commands_do_not_import_torch(argv, quick_files):
    """A real process under ``python -X importtime``: torch (about 2-3 s to import) is never loaded."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "trainwise", *(a.format(d=quick_files)
                                                                                    for a in argv)],
                          capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(SRC), "PATH": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "trainwise.cli.main" in imported
    assert not {name for name in imported if name == "torch" or name.startswith("torch.")}


def test_evaluate_without_torch_gives_the_accumulators_numbers(quick_files):
    """The NumPy counts feed the accumulator's own derivations: the same numbers as a torch pass."""
    import numpy as np
    import torch

    from trainwise.metrics import MetricAccumulator
    from trainwise.metrics.arrays import measure

    rng = np.random.default_rng(3)
    target = (rng.random(5000) < 0.1).astype(np.int64)
    scores = np.clip(0.3 * target + rng.random(5000) * 0.7, 0, 1)
    for positive in (1, 0):
        probability = scores if positive == 1 else 1 - scores
        preds = np.where(probability >= 0.5, positive, 1 - positive)
        acc = MetricAccumulator(2, binary_scores=True)
        acc.update(torch.as_tensor(preds), torch.as_tensor(target), scores=torch.as_tensor(probability))
        expected = acc.compute(labels=["no", "yes"], positive=positive), acc.thresholds(target_recall=0.8)
        got = measure(target, preds, ["no", "yes"], positive, scores=probability)
        assert got[1] == expected[1]
        for key, value in expected[0].items():     # sums in another order: the last bit may differ
            assert got[0][key] == (pytest.approx(value, rel=1e-14, abs=0) if isinstance(value, float) else value), key
