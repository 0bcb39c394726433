"""The second round of bad input (issue #17): report's summary reader, a FIFO as the table, messages."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch
from torch import nn

import trainwise as tw
from trainwise.cli import main
from trainwise.errors import InputError

PREFIX = "trainwise: error: "


def one_line(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(PREFIX) and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


@pytest.mark.parametrize(("text", "named"), [
    ("[]", "not a run summary"),
    ('{"history": "abc"}', "`history` is a str"),
    ('{"findings": [1, 2]}', "`findings` item 1"),
    ('{"metrics": [1]}', "`metrics` is a list"),
])
def test_report_refuses_a_summary_that_is_not_a_runs(tmp_path, capsys, text, named):
    (tmp_path / "summary.json").write_text(text)
    one_line(capsys, main(["report", str(tmp_path)]), "summary.json", named)


def test_report_on_a_folder_it_cannot_write_does_not_suggest_out(tmp_path, capsys, monkeypatch):
    (tmp_path / "summary.json").write_text('{"verdict": "good", "findings": [], "metrics": {}, "history": []}')

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    err = one_line(capsys, main(["report", str(tmp_path)]), "Permission denied", "writable")
    assert "--out" not in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_fifo_is_not_read_as_an_empty_file(tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.csv")
    one_line(capsys, main(["fit", str(tmp_path / "pipe.csv"), "--target", "y"]), "not a regular file")


def test_labels_beyond_a_one_output_model_name_its_one_output():
    X, y = torch.randn(30, 4), torch.arange(30) % 3
    with pytest.raises(InputError, match=r"one output \(a binary task\)"):
        tw.Trainer(epochs=1).fit(nn.Linear(4, 1), (X, y))


def test_evaluate_names_the_data_it_measures_not_train():
    X, y = torch.randn(30, 4), torch.arange(30) % 2
    with pytest.raises(InputError, match=r"^data: the model cannot run"):
        tw.Trainer().evaluate(nn.Linear(5, 2), (X, y))
