"""Issue #17: a run folder belongs to one run (occupancy, the lock, own temp files, resume checks,
checksums); then the second round's other bad input (report's summary reader, a FIFO, messages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import trainwise as tw
from trainwise.checkpoint import LAST, PREVIOUS, load_checkpoint, save_checkpoint
from trainwise.claim import LOCK
from trainwise.cli import main
from trainwise.errors import InputError

PREFIX = "trainwise: error: "


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    n = 160
    frame = pd.DataFrame({"age": rng.normal(40, 10, n), "city": rng.choice(["a", "b", "c"], n),
                          "amount": rng.exponential(10, n)})
    frame["y"] = (frame["age"] + rng.normal(0, 5, n) > 42).astype(int)
    folder = tmp_path_factory.mktemp("data")
    frame.to_csv(folder / "good.csv", index=False)
    frame.assign(extra=rng.normal(size=n)).to_csv(folder / "wide.csv", index=False)
    frame.assign(age=frame["age"] + 1).to_csv(folder / "other.csv", index=False)
    return folder


def fit(data: Path, out: Path, *extra: str) -> list[str]:
    return ["fit", str(data / "good.csv"), "--target", "y", "--epochs", "2", "--batch-size", "32",
            "--checkpoint-every", "3", "--seed", "1", "--quiet", "--out", str(out), *extra]


def one_line(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(PREFIX) and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


def test_an_out_holding_another_run_is_refused_unless_resume_or_overwrite(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(fit(data, out)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    one_line(capsys, main(fit(data, out)), "holds another run", "--resume", "--overwrite")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    (out / "notes.txt").write_text("mine")
    (out / "lr_find.png").write_bytes(b"an earlier run's figure")
    assert main(fit(data, out, "--overwrite")) == 0
    assert (out / "notes.txt").read_text() == "mine"          # not trainwise's: kept
    assert not (out / "lr_find.png").exists()                  # the earlier run's: gone, never mixed in
    assert not (out / LOCK).exists()


def test_compare_refuses_an_out_holding_its_earlier_run_without_suggesting_resume(data, tmp_path, capsys):
    argv = ["compare", str(data / "good.csv"), "--target", "y", "--epochs", "1", "--quiet", "--out", str(tmp_path / "c")]
    assert main(argv) == 0
    capsys.readouterr()
    err = one_line(capsys, main(argv), "holds another run", "--overwrite")
    assert "--resume" not in err
    assert main([*argv, "--overwrite"]) == 0


def test_files_trainwise_did_not_write_are_named_and_never_overwritten(data, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text('{"mine": 1}')
    one_line(capsys, main(fit(data, out)), "did not write", "config.json", "--overwrite")
    assert (out / "config.json").read_text() == '{"mine": 1}'
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]


def test_a_failed_command_keeps_the_users_temp_files(data, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".draft.tmp").write_text("mine")
    (out / "x.tmp").write_text("mine too")
    code = main(["fit", str(data / "good.csv"), "--target", "nope", "--out", str(out), "--overwrite", "--quiet"])
    one_line(capsys, code, "nope")
    assert (out / ".draft.tmp").read_text() == "mine" and (out / "x.tmp").read_text() == "mine too"


def test_an_input_file_inside_out_is_refused(data, tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "history.csv").write_bytes((data / "good.csv").read_bytes())
    before = (out / "history.csv").read_bytes()
    code = main(["fit", str(out / "history.csv"), "--target", "y", "--out", str(out), "--overwrite", "--quiet"])
    one_line(capsys, code, "history.csv", "inside --out")
    assert (out / "history.csv").read_bytes() == before


def test_a_folder_in_use_is_refused_and_a_stale_lock_is_taken_over(data, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK).write_text(json.dumps({"pid": os.getppid()}))       # a live process holds it
    one_line(capsys, main(fit(data, out)), "in use", f"pid {os.getppid()}")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / LOCK).write_text(json.dumps({"pid": int(gone.stdout)}))   # its process is gone: stale
    assert main(fit(data, out)) == 0
    assert not (out / LOCK).exists()


@pytest.mark.parametrize(("change", "named"), [
    (["--hidden", "8"], "hidden: [64, 32] -> [8]"),
    (["--target", "city"], "target: 'y' -> 'city'"),
    (["--dropout", "0.3"], "dropout: 0.1 -> 0.3"),
    (["--val-fraction", "0.3"], "val_fraction: 0.2 -> 0.3"),
    (["--positive", "0"], "positive: None -> '0'"),
    (["--lr", "0.5"], "lr"),
    (["--epochs", "3", "--schedule", "onecycle"], "schedule: 'none' -> 'onecycle'"),
])
def test_resume_refuses_other_settings_in_one_line(data, tmp_path, capsys, change, named):
    out = tmp_path / "run"
    assert main(fit(data, out)) == 0
    capsys.readouterr()
    one_line(capsys, main(fit(data, out, "--resume", *change)), "other settings", named)


@pytest.mark.parametrize("other", ["wide.csv", "other.csv"])
def test_resume_refuses_other_data(data, tmp_path, capsys, other):
    out = tmp_path / "run"
    assert main(fit(data, out)) == 0
    argv = fit(data, out, "--resume")
    argv[1] = str(data / other)
    one_line(capsys, main(argv), "training data changed")


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "step"])
def test_resume_with_more_epochs_refuses_a_schedule_drawn_over_the_epochs(data, tmp_path, capsys, schedule):
    out = tmp_path / "run"
    assert main(fit(data, out, "--schedule", schedule)) == 0
    argv = fit(data, out, "--schedule", schedule, "--resume")
    argv[argv.index("--epochs") + 1] = "4"
    one_line(capsys, main(argv), f"--schedule {schedule}", "--epochs 2")


def test_resume_with_more_epochs_and_no_schedule_goes_on(data, tmp_path):
    out = tmp_path / "run"
    assert main(fit(data, out)) == 0
    argv = fit(data, out, "--resume")
    argv[argv.index("--epochs") + 1] = "3"
    assert main(argv) == 0
    assert len((out / "history.jsonl").read_text().splitlines()) == 3


def _flip_a_weight_byte(path: Path) -> None:
    payload = torch.load(path, weights_only=True)
    weight = max(payload["model"].values(), key=lambda t: t.numel())
    raw = path.read_bytes()
    at = raw.index(weight.numpy().tobytes()) + 5
    path.write_bytes(raw[:at] + bytes([raw[at] ^ 0x10]) + raw[at + 1:])


def test_a_flipped_byte_falls_back_to_the_previous_checkpoint_with_one_warning(tmp_path, caplog):
    save_checkpoint(tmp_path, {"format": "trainwise-checkpoint-1", "epoch": 1, "model": {"w": torch.randn(64)}})
    save_checkpoint(tmp_path, {"format": "trainwise-checkpoint-1", "epoch": 2, "model": {"w": torch.randn(64)}})
    _flip_a_weight_byte(tmp_path / LAST)
    payload, path = load_checkpoint(tmp_path)
    assert path.name == PREVIOUS and payload["epoch"] == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "checksum" in warnings[0] and "\n" not in warnings[0]
    _flip_a_weight_byte(tmp_path / PREVIOUS)
    with pytest.raises(InputError, match="do not match their checksum"):
        load_checkpoint(tmp_path)


def test_garbage_checkpoints_exit_2_in_one_line(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(fit(data, out)) == 0
    for name in (LAST, PREVIOUS):
        (out / name).write_bytes(b"PK\x03\x04 garbage" * 50)
    capsys.readouterr()
    err = one_line(capsys, main(fit(data, out, "--resume")), "no complete checkpoint", "last.ckpt is damaged")
    assert "weights_only" not in err


# ---------------------------------------------------------------------------------------------- other input
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
