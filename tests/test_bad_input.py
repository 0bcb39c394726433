"""Every bad input we know, one case per row of docs/errors.md.

Through the real CLI (``trainwise.cli.main`` in process, and ``python -m trainwise`` in a real
subprocess): exit code 2, exactly one line on stderr that names the file, column, value or option and
says how to fix it, nothing on stdout, no traceback, and nothing half-written in ``--out`` (a folder
that held files before holds the same files, byte for byte). Through the Python API: an ``InputError``
(a ``ValueError``) with the same one-line message. ``--debug`` re-raises, traceback and all.

A case may carry ``xfail`` (strict): a bug found here in code owned elsewhere, its reason naming the fix
proposed; when the fix lands the case passes, strict xfail turns that into a failure, and the mark comes
off. The 24 this file found first were fixed in 15b0df7.
"""

from __future__ import annotations

import gzip
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import trainwise as tw
from trainwise.claim import LOCK, MARKER
from trainwise.cli import main
from trainwise.data import prepare_tabular, read_table
from trainwise.errors import InputError
from trainwise.io import TEMP_PREFIX
from trainwise.metrics import average_precision, confusion_matrix, precision, roc_auc

PREFIX = "trainwise: error: "
USER_FILE = "notes.txt"          # what a user kept in --out before the failed command: must survive
USER_TEXT = "my notes about the previous run\n"


# ---------------------------------------------------------------------------------------------- files
@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    """Every bad file of the table, written for real."""
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    n = 60
    good = pd.DataFrame({"amount": rng.normal(100, 20, n).round(2), "city": rng.choice(["Oslo", "Lima"], n),
                         "y": np.arange(n) % 2})
    good.to_csv(d / "good.csv", index=False)
    good.to_parquet(d / "good.parquet")
    multi = good.assign(y=np.array(["cat", "dog", "eel"])[np.arange(n) % 3])
    multi.to_csv(d / "multi.csv", index=False)

    # unreadable files
    (d / "random.csv").write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    (d / "random.parquet").write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    whole = (d / "good.parquet").read_bytes()
    (d / "truncated.parquet").write_bytes(whole[: len(whole) // 2])
    zipped = gzip.compress(pd.DataFrame({"a": rng.normal(size=20_000)}).to_csv(index=False).encode())
    (d / "corrupt.csv.gz").write_bytes(zipped[: len(zipped) // 2])
    (d / "empty.csv").write_bytes(b"")
    (d / "header.csv").write_text("amount,city,y\n")
    (d / "blank.csv").write_text("\n\n\n")
    (d / "latin1.csv").write_bytes("city,y\nM\xfcnchen,1\nK\xf6ln,0\n".encode("latin-1"))
    (d / "semicolon.csv").write_text("amount;city;y\n1,5;Oslo;0\n3,0;Lima;1\n")
    (d / "ragged.csv").write_text("amount,y\n1,0\n3,1,5,6\n")
    pq.write_table(pa.table([pa.array([1, 2]), pa.array([3, 4]), pa.array([0, 1])], names=["a", "a", "y"]),
                   d / "dupcols.parquet")
    (d / "folder.csv").mkdir()
    (d / "table.xlsx").write_text("amount,y\n1,0\n")
    good.to_csv(d / "locked.csv", index=False)
    good.rename(columns={"city": "city\nname"}).to_csv(d / "newline_name.csv", index=False)

    # tables with a bad column
    pd.DataFrame({"y": [0, 1, 0, 1]}).to_csv(d / "only_target.csv", index=False)
    good.assign(y="yes").to_csv(d / "one_class.csv", index=False)
    good.assign(y=good.y.astype(float).where(~good.index.isin([2, 7]))).to_csv(d / "target_gaps.csv", index=False)
    pd.DataFrame({"size": rng.normal(size=30), "price": rng.normal(100, 10, 30)}).to_csv(d / "continuous.csv",
                                                                                          index=False)
    pd.DataFrame({"amount": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]}).to_csv(d / "tiny.csv", index=False)
    good.assign(note=np.nan).to_csv(d / "empty_col.csv", index=False)
    good.assign(amount=good.amount.where(good.index != 3, np.inf)).to_csv(d / "inf.csv", index=False)
    big = pd.DataFrame({"amount": rng.normal(100, 20, 120).round(3).astype(object), "y": np.arange(120) % 2})
    big.loc[9, "amount"] = "1.2.3"
    big.to_csv(d / "typos.csv", index=False)
    pq.write_table(pa.table({"tags": pa.array([["a", "b"]] * n), "y": pa.array(np.arange(n) % 2)}),
                   d / "nested.parquet")

    # validation files that do not fit the training file
    val = good.iloc[:20]
    val.drop(columns="city").to_csv(d / "val_other.csv", index=False)
    val.assign(y=np.where(val.index < 3, 2, val.y)).to_csv(d / "val_labels.csv", index=False)
    val.assign(amount=val.amount.astype(object).where(val.index != 4, "abc")).to_csv(d / "val_typos.csv",
                                                                                      index=False)
    val.assign(amount=val.amount.where(val.index != 4, 1e300)).to_csv(d / "val_huge.csv", index=False)

    # predictions for `evaluate`
    y = np.arange(40) % 2
    preds = pd.DataFrame({"y": y, "yhat": np.where(np.arange(40) % 5 == 0, 1 - y, y),
                          "p": np.linspace(0.01, 0.99, 40).round(3), "kind": np.array(["a", "b", "c", "a"] * 10)})
    preds["p_text"] = preds.p.astype(object).where(preds.index != 6, "high")
    preds["p_big"] = preds.p.where(preds.index != 6, 1.7)
    preds["y_gap"] = preds.y.astype(float).where(~preds.index.isin([1, 2]))
    preds.to_csv(d / "preds.csv", index=False)
    preds.assign(y=1).to_csv(d / "preds_one.csv", index=False)
    pq.write_table(pa.table({"y": pa.array([[0]] * 10), "yhat": pa.array([0, 1] * 5)}), d / "preds_nested.parquet")

    # training logs for `diagnose`, and a folder that is not a run
    pd.DataFrame({"epoch": [1, 2], "acc": [0.5, 0.6]}).to_csv(d / "log_noloss.csv", index=False)
    (d / "log_bad.jsonl").write_text('{"epoch": 1, "loss": 0.5}\nnot json\n')
    (d / "logs").mkdir()
    (d / "log_text.jsonl").write_text('{"epoch": 1, "loss": "abc"}\n{"epoch": 2, "loss": 0.4}\n')
    (d / "log_list.jsonl").write_text("[1, 2, 3]\n")

    # the second round (issue #17)
    body = "".join(f"{a},{c},{t},{1 - t}\n" for a, c, t in zip(good.amount, good.city, good.y, strict=True))
    (d / "target_twice.csv").write_text("y,amount,city,y\n" + body)
    good.assign(y=good.y.astype(float).where(good.index != 5, np.inf)).to_csv(d / "inf_target.csv", index=False)
    good.to_csv(d / "tabs.csv", sep="\t", index=False)
    pd.DataFrame({"size": rng.normal(size=200), "price": np.r_[rng.integers(0, 10_000, 194), [1] * 6]}).to_csv(
        d / "quantity.csv", index=False)
    pq.write_table(pa.table([pa.array(good.amount), pa.array(good.amount), pa.array(good.y)],
                            names=["amount", "amount", "y"]), d / "dupfield.parquet")
    (d / "run").mkdir()                                   # a run folder: its report is no log
    (d / "run" / "report.html").write_text("<!DOCTYPE html>\n<html><head><title>trainwise report</title></head></html>")
    (d / "run" / "history.jsonl").write_text('{"epoch": 1, "train_loss": 0.5, "val_loss": 0.6}\n')
    return d


# ---------------------------------------------------------------------------------------------- CLI
def _simulate_permission_denied(monkeypatch: pytest.MonkeyPatch, d: Path, out: Path) -> None:
    """The tests run as root here, for whom chmod 000 denies nothing: the OS refusal is simulated."""
    real = os.open

    def refusing(path, *args, **kwargs):
        if str(path).endswith("locked.csv"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)


def _disk_full_at_checkpoint(monkeypatch: pytest.MonkeyPatch, d: Path, out: Path) -> None:
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full)


def _disk_full_at_the_end(monkeypatch: pytest.MonkeyPatch, d: Path, out: Path) -> None:
    """Checkpoints and weights fit; the disk fills up as the run folder's files are written."""
    import tempfile
    real = tempfile.mkstemp

    def full(*args, prefix=None, **kwargs):
        if prefix and not prefix.startswith(tuple(f"{TEMP_PREFIX}{n}." for n in ("last", "best", "model"))):
            raise OSError(28, "No space left on device")
        return real(*args, prefix=prefix, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", full)


def _must_not_train(monkeypatch: pytest.MonkeyPatch, d: Path, out: Path) -> None:
    """A bad option must be refused before the first training step."""
    def trained(*args, **kwargs):
        raise AssertionError("a training step ran before the bad option was refused")

    monkeypatch.setattr(torch.Tensor, "backward", trained)


def _damaged_checkpoint(seed: int) -> Callable[[pytest.MonkeyPatch, Path, Path], None]:
    """64 random bytes as last.ckpt. torch's unpickler fails on them in several ways: seed 0 gives an
    UnpicklingError, seed 17 an IndexError, seed 62 a KeyError (of 300 seeds: 271, 18 and 5, 6 more a
    UnicodeDecodeError)."""
    def damage(monkeypatch: pytest.MonkeyPatch, d: Path, out: Path) -> None:
        (out / "last.ckpt").write_bytes(np.random.default_rng(seed).integers(0, 256, 64, dtype=np.uint8).tobytes())

    return damage


def _a_finished_run(monkeypatch: pytest.MonkeyPatch, d: Path, out: Path) -> None:
    assert main(["fit", str(d / "good.csv"), "--target", "y", "--epochs", "1", "--quiet", "--out", str(out),
                 "--overwrite"]) == 0    # --out holds the user's file: kept


@dataclass
class Case:
    """One row of docs/errors.md, run through the CLI.

    ``argv``: the command line; ``{d}`` is the folder of input files, ``{out}`` a run folder that already
    holds a user's file. ``names``: what the message must name; ``fix``: the words that say how to fix it.
    ``setup`` prepares the case (``monkeypatch, d, out``). ``leaves``: complete files the failed command may
    leave in ``{out}`` (never temp files). ``xfail``: a known bug and its proposed fix.
    """

    id: str
    argv: str
    names: tuple[str, ...]
    fix: tuple[str, ...]
    setup: Callable[[pytest.MonkeyPatch, Path, Path], None] | None = None
    leaves: tuple[str, ...] = ()
    xfail: str | None = None


FIT = "fit {d}/good.csv --target y --epochs 1"
EVAL = "evaluate {d}/preds.csv --label y"
COMPARE = "compare {d}/good.csv --target y --epochs 1"

CASES = [
    # -- the file
    Case("missing file", "fit {d}/nowhere.csv --target y --out {out}", ("nowhere.csv",), ("check the path",)),
    Case("a folder, not a file", "fit {d}/folder.csv --target y", ("folder.csv",), ("pass the table's file",)),
    Case("unsupported file type", "fit {d}/table.xlsx --target y", ("table.xlsx", "'.xlsx'"),
         (".csv, .csv.gz", ".parquet")),
    Case("unreadable file (permission denied)", "fit {d}/locked.csv --target y --out {out}", ("locked.csv",),
         ("make the file readable",), setup=_simulate_permission_denied),
    Case("random bytes as CSV", "fit {d}/random.csv --target y --out {out}", ("random.csv", "not UTF-8"),
         ("save it as UTF-8",)),
    Case("random bytes as Parquet", "fit {d}/random.parquet --target y", ("random.parquet", "Parquet"),
         ("export it again",)),
    Case("truncated Parquet", "fit {d}/truncated.parquet --target y --out {out}", ("truncated.parquet",),
         ("export it again",)),
    Case("corrupt gzip", "fit {d}/corrupt.csv.gz --target y", ("corrupt.csv.gz",), ("export it again",)),
    Case("empty file (0 bytes)", "fit {d}/empty.csv --target y --out {out}", ("empty.csv", "0 bytes"),
         ("export the table again",)),
    Case("header only", "fit {d}/header.csv --target y", ("header.csv", "0 rows"), ("add data rows",)),
    Case("blank lines only", "fit {d}/blank.csv --target y", ("blank.csv",), ("export the table again",)),
    Case("not UTF-8 text", "fit {d}/latin1.csv --target y", ("latin1.csv", "not UTF-8"), ("save it as UTF-8",)),
    Case("separated by semicolons", "fit {d}/semicolon.csv --target y", ("semicolon.csv", "';'"),
         ("comma-separated",)),
    Case("ragged rows", "fit {d}/ragged.csv --target y", ("ragged.csv", "line 3"), ("fix the file",)),
    Case("duplicate column names", "fit {d}/dupcols.parquet --target y", ("dupcols.parquet", "names a"),
         ("rename them",)),
    # -- the target column
    Case("target column missing", FIT.replace("--target y", "--target label") + " --out {out}",
         ("good.csv", "'label'", "columns: amount, city, y"), ("--target",)),
    Case("target column misspelt", FIT.replace("--target y", "--target Y"), ("'Y'",), ("Did you mean 'y'?",)),
    Case("target missing, a column name with a line break", "fit {d}/newline_name.csv --target label",
         ("newline_name.csv", "'label'", "columns: amount, 'city\\nname', y"), ("--target",)),
    Case("no feature columns", "fit {d}/only_target.csv --target y", ("only_target.csv", "'y'"), ("add some",)),
    Case("one class only", "fit {d}/one_class.csv --target y --out {out}", ("one_class.csv", "'y'", "'yes'"),
         ("needs at least two",)),
    Case("empty cells in the target", "fit {d}/target_gaps.csv --target y", ("target_gaps.csv", "rows 3, 8"),
         ("drop those rows or fill them",)),
    Case("numbers to predict, not classes", "fit {d}/continuous.csv --target price", ("continuous.csv", "'price'"),
         ("pass a column of class labels",)),
    Case("too few rows to split", "fit {d}/tiny.csv --target y", ("tiny.csv", "3 rows"), ("--val",)),
    Case("--positive not a label", FIT + " --positive 7", ("good.csv", "'7'", "(0, 1)"), ("--positive",)),
    Case("--positive in a multiclass task", "fit {d}/multi.csv --target y --positive cat",
         ("multi.csv", "3 classes"), ("Leave it out",)),
    Case("--threshold best_fBETA with a huge beta", FIT + " --threshold best_f1e200", ("'best_f1e200'",),
         ("beta up to 100",), setup=_must_not_train),
    Case("diagnose: a loss that is text", "diagnose {d}/log_text.jsonl", ("log_text.jsonl", "line 1", "'abc'"),
         ("must hold numbers",)),
    Case("diagnose: a JSONL line that is a list", "diagnose {d}/log_list.jsonl", ("log_list.jsonl",),
         ("not a training log",)),
    Case("the target named twice in the header", "fit {d}/target_twice.csv --target y",
         ("target_twice.csv", "duplicate column names y"), ("rename them",)),
    Case("inf in the target", "fit {d}/inf_target.csv --target y", ("inf_target.csv", "'y'", "inf", "row 6"),
         ("drop those rows",)),
    Case("a numeric target of mostly distinct values", "fit {d}/quantity.csv --target price",
         ("quantity.csv", "'price'", "regression target"), ("bin the numbers into classes",)),
    Case("a tab-separated .csv", "fit {d}/tabs.csv --target y", ("tabs.csv",), ("separated by tabs", ".tsv")),
    Case("--stream: a Parquet field named twice", "fit {d}/dupfield.parquet --target y --stream",
         ("dupfield.parquet", "amount"), ("rename them",)),
    Case("--stream: --val-fraction leaving no training rows", "fit {d}/good.parquet --target y --stream "
         "--val-fraction 0.999", ("good.parquet", "0.999", "no training rows"), ("lower --val-fraction",)),
    Case("--stream: --val-fraction leaving no validation rows", "fit {d}/good.parquet --target y --stream "
         "--val-fraction 0.001", ("good.parquet", "0.001", "no validation rows"), ("raise --val-fraction",)),
    # -- feature columns
    Case("feature empty in every row", "fit {d}/empty_col.csv --target y", ("empty_col.csv", "'note'"),
         ("drop it",)),
    Case("infinite feature values", "fit {d}/inf.csv --target y --out {out}", ("inf.csv", "'amount'", "row 4"),
         ("replace them with finite numbers",)),
    Case("text in a numeric column", "fit {d}/typos.csv --target y", ("typos.csv", "'amount'", "'1.2.3'", "row 10"),
         ("fix or empty those cells",)),
    Case("nested cells (Parquet lists)", "fit {d}/nested.parquet --target y --out {out}",
         ("nested.parquet", "'tags'"), ("flatten it",)),
    # -- the validation file
    Case("validation file with other columns", FIT + " --val {d}/val_other.csv",
         ("val_other.csv", "good.csv", ": city"), ("add them",)),
    Case("validation label unseen in training", FIT + " --val {d}/val_labels.csv", ("val_labels.csv", "'2' (3 rows)"),
         ("Drop those rows",)),
    Case("validation text in a numeric column", FIT + " --val {d}/val_typos.csv",
         ("val_typos.csv", "'amount'", "'abc'", "row 5"), ("fix or empty those cells",)),
    Case("validation values too large", FIT + " --val {d}/val_huge.csv", ("val_huge.csv", "'amount'"),
         ("rescale it",)),
    Case("validation file empty", FIT + " --val {d}/header.csv", ("header.csv", "0 rows"), ("add data rows",)),
    Case("--val with --val-fraction", FIT + " --val {d}/good.csv --val-fraction 0.3", ("--val-fraction", "--val"),
         ("--help",)),
    # -- training options
    Case("--lr 0", FIT + " --lr 0", ("--lr", "got 0"), ("> 0",)),
    Case("--lr negative", FIT + " --lr -0.1", ("--lr", "-0.1"), ("> 0",)),
    Case("--lr nan", FIT + " --lr nan", ("--lr", "nan"), ("> 0",)),
    Case("--lr inf", FIT + " --lr inf --out {out}", ("--lr", "inf"), ("finite",)),
    Case("--epochs 0", "fit {d}/good.csv --target y --epochs 0", ("--epochs", "got 0"), (">= 1",)),
    Case("--epochs not a number", "fit {d}/good.csv --target y --epochs ten", ("--epochs", "'ten'"),
         ("whole number",)),
    Case("--batch-size negative", FIT + " --batch-size -5", ("--batch-size", "-5"), (">= 1",)),
    Case("unknown optimizer", FIT + " --optimizer adamx --out {out}", ("'adamx'",), ("sgd, adam, adamw, rmsprop",)),
    Case("option the optimizer has not", FIT + " --optimizer adam --momentum 0.9", ("'adam'", "'momentum'"),
         ("it takes:",)),
    Case("--momentum negative", FIT + " --optimizer sgd --momentum -1", ("momentum", "-1"), (">= 0",)),
    Case("--momentum nan", FIT + " --optimizer sgd --momentum nan", ("momentum", "nan"), ("finite",)),
    Case("--weight-decay negative", FIT + " --weight-decay -1", ("weight_decay", "-1"), (">= 0",)),
    Case("unknown schedule", FIT + " --schedule cosin", ("'cosin'",), ("cosine",)),
    Case("--warmup-epochs negative", FIT + " --schedule cosine --warmup-epochs -1", ("warmup_epochs", "-1"),
         (">= 0",)),
    Case("--grad-clip inf", FIT + " --grad-clip inf", ("--grad-clip", "inf"), ("finite",)),
    Case("--dropout outside [0, 1)", FIT + " --dropout 1.5", ("--dropout", "1.5"), ("[0, 1)",)),
    Case("--seed negative", FIT + " --seed -1", ("seed", "-1"), (">= 0",)),
    Case("--seed too large", FIT + " --seed 99999999999999999999", ("seed", "99999999999999999999"), ("2**32",)),
    Case("--hidden with a zero", FIT + " --hidden 64,0", ("--hidden", "'64,0'"), (">= 1",)),
    Case("unknown device", FIT + " --device tpu", ("'tpu'",), ("auto, cpu or cuda",)),
    Case("unknown device with a line break", FIT + " --device 'y\nz'", ("'y\\nz'",), ("auto, cpu or cuda",)),
    Case("--monitor not a history key", FIT + " --monitor accuracy", ("'accuracy'",), ("'val_loss'",)),
    Case("--monitor a metric never recorded", FIT + " --monitor val_auc --early-stopping 2 --out {out}",
         ("'val_auc'",), ("available:",), setup=_must_not_train),
    Case("--min-delta negative", FIT + " --min-delta -1", ("min_delta", "-1"), (">= 0",)),
    Case("--checkpoint-every without --out", FIT + " --checkpoint-every 5", ("checkpoint_every",), ("--out",)),
    Case("--tensorboard without --out", FIT + " --tensorboard", ("--tensorboard",), ("--out",)),
    Case("--threshold outside (0, 1)", FIT + " --threshold 1.5", ("threshold", "'1.5'"), ("between 0 and 1",)),
    Case("--threshold an unknown rule", FIT + " --threshold best", ("threshold", "'best'"),
         ("best_f1, recall=R or precision=P",)),
    Case("--threshold best_finf", FIT + " --threshold best_finf", ("threshold", "'best_finf'"),
         ("best_f1, recall=R or precision=P",)),
    Case("--threshold in a multiclass task", "fit {d}/multi.csv --target y --epochs 1 --threshold 0.3",
         ("threshold",), ("binary tasks only",)),
    Case("--target-recall outside (0, 1)", FIT + " --target-recall 1.5", ("--target-recall", "1.5"),
         ("between 0 and 1",)),
    # -- the run folder, checkpoints, resume
    Case("--out below a file", FIT + " --out {d}/good.csv/run", ("good.csv/run", "Not a directory"),
         ("choose another --out",)),
    Case("--out is a file", FIT + " --out {d}/good.csv", ("good.csv", "File exists"), ("choose another --out",)),
    Case("disk full while checkpointing", FIT + " --out {out} --quiet", ("{out}", "No space left on device"),
         ("free disk space", "previous checkpoint is intact"), setup=_disk_full_at_checkpoint,
         leaves=("best.safetensors",)),
    Case("disk full while writing the run folder", FIT + " --out {out} --quiet", ("No space left on device",),
         ("free disk space",), setup=_disk_full_at_the_end,
         leaves=("best.safetensors", "last.ckpt", "model.safetensors")),
    Case("--resume without --out", FIT + " --resume", ("--resume",), ("--out",)),
    Case("--resume without a checkpoint", FIT + " --out {out} --resume", ("{out}", "no last.ckpt"),
         ("without --resume",)),
    Case("--resume from a damaged checkpoint", FIT + " --out {out} --resume", ("last.ckpt is damaged",),
         ("without --resume",), setup=_damaged_checkpoint(0)),
    *[Case(f"--resume from a checkpoint damaged otherwise ({error})", FIT + " --out {out} --resume",
           ("last.ckpt is damaged",), ("without --resume",), setup=_damaged_checkpoint(seed))
      for seed, error in ((17, "IndexError"), (62, "KeyError"))],
    Case("--resume with other settings", FIT + " --out {out} --resume --batch-size 7", ("batch_size",),
         ("resume with the same settings",), setup=_a_finished_run,
         leaves=("last.ckpt", "model.safetensors", "best.safetensors", "history.jsonl", "history.csv",
                 "config.json", "summary.json", "report.html", "figures/*.png")),
    # -- evaluate
    Case("evaluate: column missing", EVAL + " --prediction guess", ("preds.csv", "'guess'", "yhat"), ("columns:",)),
    Case("evaluate: empty label cells", "evaluate {d}/preds.csv --label y_gap --prediction yhat",
         ("preds.csv", "'y_gap'", "2 empty"), ("fill or drop those rows",)),
    Case("evaluate: non-numeric score", EVAL + " --score p_text", ("preds.csv", "'p_text'", "'high'"),
         ("scores must be numbers",)),
    Case("evaluate: score outside [0, 1]", EVAL + " --score p_big", ("preds.csv", "'p_big'", "the score 1.7;"),
         ("apply a sigmoid",)),
    Case("evaluate: --score with a multiclass label", "evaluate {d}/preds.csv --label kind --score p",
         ("preds.csv", "'kind'", "3 classes"), ("use --prediction",)),
    Case("evaluate: one class only", "evaluate {d}/preds_one.csv --label y --prediction y",
         ("preds_one.csv", "'y'", "one class"), ("need at least two",)),
    Case("evaluate: --threshold outside (0, 1)", EVAL + " --score p --threshold 2", ("--threshold", "2"),
         ("between 0 and 1",)),
    Case("evaluate: unreadable file", "evaluate {d}/random.csv --label y --prediction yhat", ("random.csv",),
         ("save it as UTF-8",)),
    Case("evaluate: nested label cells", "evaluate {d}/preds_nested.parquet --label y --prediction yhat",
         ("preds_nested.parquet", "'y'"), ("flatten it",)),
    Case("evaluate: --positive in a multiclass task", "evaluate {d}/preds.csv --label kind --prediction kind "
         "--positive a", ("--positive", "3 classes"), ("Leave it out",)),
    Case("evaluate: --threshold with --prediction", EVAL + " --prediction yhat --threshold 0.3",
         ("--threshold",), ("--score",)),
    # -- diagnose, report
    Case("diagnose: no loss column", "diagnose {d}/log_noloss.csv", ("log_noloss.csv", "epoch, acc"),
         ("rename the loss column",)),
    Case("diagnose: missing file", "diagnose {d}/nowhere.csv", ("nowhere.csv",), ("check the path",)),
    Case("diagnose: a line that is not JSON", "diagnose {d}/log_bad.jsonl", ("log_bad.jsonl", "line 2"),
         ("one object per line",)),
    Case("diagnose: a folder without logs", "diagnose {d}/logs", ("logs", "history.jsonl"),
         ("pass the log file itself",)),
    Case("diagnose: binary file", "diagnose {d}/random.parquet", ("random.parquet",), ("CSV or JSON-lines",)),
    Case("diagnose: trainwise's own report", "diagnose {d}/run/report.html", ("report.html", "trainwise's HTML report"),
         ("pass the run folder", "history.jsonl")),
    Case("report: not a run folder", "report {d}/logs", ("logs", "summary.json"), ("trainwise fit --out",)),
    # -- compare and lr-find
    Case("--optimizers unknown name", COMPARE + " --optimizers sgd,adamx --out {out}", ("'adamx'",),
         ("sgd, adam, adamw, rmsprop",)),
    Case("--optimizers name twice", COMPARE + " --optimizers sgd,sgd", ("'sgd'", "twice"), ("--lrs",)),
    Case("--optimizers setting before a name", COMPARE + " --optimizers lr=0.1", ("'lr=0.1'",),
         ("name:key=value",)),
    Case("--optimizers value not a number", COMPARE + " --optimizers sgd:lr=fast", ("lr='fast'",), ("lr=0.01",)),
    Case("--optimizers setting not taken", COMPARE + " --optimizers adam:momentum=0.9", ("'adam'", "'momentum'"),
         ("it takes:",)),
    Case("--optimizers empty", COMPARE + " --optimizers ;", ("--optimizers",), ("--optimizers sgd,adam",)),
    Case("--optimizers value out of range", COMPARE + " --optimizers adam:betas=2/3", ("betas",), ("[0, 1)",)),
    Case("--lrs not a number", COMPARE + " --lrs 0.1,fast", ("'fast'",), ("--lrs 0.001,0.01,0.1",)),
    Case("--lrs not positive", COMPARE + " --lrs 0,0.1", ("--lrs", "0"), ("> 0",)),
    Case("lr-find: --end-lr below --start-lr", "lr-find {d}/good.csv --target y --start-lr 1 --end-lr 0.1",
         ("end_lr", "0.1"), ("> start_lr",)),
    # -- usage
    Case("unknown subcommand", "frobnicate", ("frobnicate",), ("--help",)),
    Case("required option missing", "fit {d}/good.csv", ("--target",), ("--help",)),
    Case("an abbreviated flag", "fit {d}/good.csv --target y --epoch 3", ("--epoch",), ("did you mean --epochs?",)),
    Case("a list written with spaces", FIT + " --hidden 64 32", ("32",), ("use commas: --hidden 64,32",)),
]


def _argv(case: Case, d: Path, out: Path) -> list[str]:
    """The case's command; --out holds the user's file, so a command writing a run there needs --overwrite
    (which must still keep that file)."""
    argv = [a.format(d=d, out=out) for a in shlex.split(case.argv)]
    if "--out" in argv and "--resume" not in argv and "--overwrite" not in argv and argv[0] in ("fit", "compare"):
        argv.append("--overwrite")
    return argv


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_clean_line(code: int, out: str, err: str, names=(), fix=()) -> str:
    """Exit code 2, nothing on stdout, one line on stderr naming ``names`` and saying ``fix``."""
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err
    line = err.rstrip("\n")
    assert line.startswith(PREFIX)
    for word in (*names, *fix):
        assert word in line, f"{word!r} not in {line!r}"
    return line


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_cli_bad_input(case: Case, d: Path, tmp_path: Path, capsys, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    (out / USER_FILE).write_text(USER_TEXT)
    if case.setup is not None:
        case.setup(monkeypatch, d, out)
    before = _files(out)
    inputs = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    capsys.readouterr()
    code = main(_argv(case, d, out))
    stdout, stderr = capsys.readouterr()
    monkeypatch.undo()
    assert_one_clean_line(code, stdout, stderr, [n.format(out=out) for n in case.names], case.fix)
    # nothing half-written: no temp file; what was there is there, byte for byte; new files only when complete
    after = _files(out)
    assert not [name for name in after if name.endswith(".tmp")], after.keys()
    assert {k: v for k, v in after.items() if k in before} == before
    new = set(after) - set(before) - {MARKER}          # the marker says a trainwise run claimed the folder
    assert LOCK not in after                             # the lock went with the command
    assert all(any(Path(name).match(pattern) for pattern in case.leaves) for name in new), new
    for name in new:
        if name.endswith(".safetensors"):
            load_file(out / name)                        # complete, or it would not load
    assert {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()} == inputs   # inputs untouched


def test_every_case_has_its_own_id():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes whatever the modes say")
def test_unreadable_file_and_unwritable_out_for_real(d: Path, tmp_path: Path, capsys):
    locked = tmp_path / "locked.csv"
    locked.write_bytes((d / "good.csv").read_bytes())
    locked.chmod(0)
    code = main(["fit", str(locked), "--target", "y"])
    assert_one_clean_line(code, *capsys.readouterr(), names=("locked.csv",), fix=("make the file readable",))
    readonly = tmp_path / "readonly"
    readonly.mkdir(mode=0o500)
    code = main(["fit", str(d / "good.csv"), "--target", "y", "--out", str(readonly / "run")])
    assert_one_clean_line(code, *capsys.readouterr(), names=("Permission denied",), fix=("choose another --out",))


def test_unwritable_out_fails_before_training(d: Path, monkeypatch, capsys):
    """No data is read, no model is built: the run folder is probed first."""
    import trainwise.cli.fit as fit

    def never(*args, **kwargs):
        raise AssertionError("the data was read before --out was checked")

    monkeypatch.setattr(fit, "prepare_data", never)
    code = main(["fit", str(d / "good.csv"), "--target", "y", "--out", str(d / "good.csv" / "run")])
    assert_one_clean_line(code, *capsys.readouterr(), names=("good.csv/run",), fix=("choose another --out",))


def test_debug_shows_the_traceback(d: Path):
    with pytest.raises(InputError, match="no such file"):
        main(["fit", str(d / "nowhere.csv"), "--target", "y", "--debug"])


def _python_m(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "default"}     # a warning on stderr would break the one line
    return subprocess.run([sys.executable, "-m", "trainwise", *argv], capture_output=True, text=True,
                          timeout=120, env=env)


def test_a_real_process_prints_one_line_and_exits_2(d: Path, tmp_path: Path):
    for argv, names in ((["fit", str(d / "truncated.parquet"), "--target", "y", "--out", str(tmp_path / "run")],
                         ("truncated.parquet",)),
                        (["evaluate", str(d / "preds.csv"), "--label", "y", "--score", "p_text"], ("'p_text'",)),
                        (["fit", str(d / "good.csv"), "--target", "y", "--lr", "-1"], ("--lr",))):
        proc = _python_m(*argv)
        assert_one_clean_line(proc.returncode, proc.stdout, proc.stderr, names)
    assert list((tmp_path / "run").iterdir()) == []        # created by the probe, and left empty


def test_a_real_process_with_debug_shows_the_traceback(d: Path):
    proc = _python_m("fit", str(d / "nowhere.csv"), "--target", "y", "--debug")
    assert proc.returncode == 1                           # Python's own exit code for an uncaught exception
    assert proc.stdout == ""
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1].startswith("trainwise.errors.InputError:")


# ---------------------------------------------------------------------------------------------- Python API
def blobs(n=40, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    return X, (X[:, 0] > 0).long()


def model(d=4, out=2):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.Linear(8, out))


def fit(train, val=None, net=None, **settings):
    return tw.Trainer(**{"epochs": 1, "batch_size": 16, **settings}).fit(net or model(), train, val)


X, Y = blobs()


class ThreeD(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return x[:, :, None] * self.scale


class IntegerOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x).argmax(dim=1, keepdim=True)


def _nan_in(x, rows):
    x = x.clone()
    x[rows, 0] = float("nan")
    return x


API_CASES = [
    # (id, call, names, fix, xfail)
    ("labels out of range for the model", lambda: fit((X, Y + 5)), ("label 6", "2 outputs"), ("0..1",), None),
    ("negative label", lambda: fit((X, Y - 1)), ("negative label -1",), ("0..C-1",), None),
    ("non-integer labels", lambda: fit((X, Y + 0.5)), ("non-integer",), ("class indices",), None),
    ("one-hot labels", lambda: fit((X, nn.functional.one_hot(Y))), ("shape (40, 2)",), ("shape [N]",), None),
    ("X/y length mismatch", lambda: fit((X, Y[:-1])), ("X has 40 rows", "y has 39"), ("one label per row",), None),
    ("no rows", lambda: fit((X[:0], Y[:0])), ("no rows",), ("at least one sample",), None),
    ("NaN features", lambda: fit((_nan_in(X, [1, 5]), Y)), ("NaN or Inf in 2 row(s)",), ("impute or drop",), None),
    ("Inf features in validation", lambda: fit((X, Y), (X.masked_fill(X > 2, float("inf")), Y)),
     ("val:", "NaN or Inf"), ("impute or drop",), None),
    ("a DataFrame instead of (X, y)", lambda: fit(pd.DataFrame(X.numpy())), ("DataFrame",), ("(X, y) tensors",),
     None),
    ("model output of the wrong shape", lambda: fit((X, Y), net=ThreeD()), ("shape (2, 4, 1)",),
     ("[N, C] logits",), None),
    ("lr 0", lambda: tw.Trainer(lr=0.0), ("lr", "0.0"), ("> 0",), None),
    ("lr nan", lambda: tw.Trainer(lr=float("nan")), ("lr", "nan"), ("> 0",), None),
    ("epochs 0", lambda: tw.Trainer(epochs=0), ("`epochs`", "0"), ("int >= 1",), None),
    ("batch size 2.5", lambda: tw.Trainer(batch_size=2.5), ("`batch_size`", "2.5"), ("int >= 1",), None),
    ("unknown optimizer", lambda: tw.Trainer(optimizer="adamx"), ("'adamx'",), ("sgd, adam, adamw, rmsprop",), None),
    ("class weights of the wrong length", lambda: fit((X, Y), class_weights=[1.0]), ("1 values", "2 classes"),
     ("class_weights",), None),
    ("resume without a checkpoint", lambda: tw.Trainer(epochs=1).fit(model(), (X, Y), resume=Path("/nonexistent")),
     ("no last.ckpt",), ("without --resume",), None),
    ("compare without validation data", lambda: tw.compare(model, (X, Y), None), ("validation data",),
     ("compared on validation loss",), None),
    ("prepare_tabular: target missing", lambda: prepare_tabular(pd.DataFrame({"a": [1, 2], "y": [0, 1]}), "label"),
     ("'label'", "columns: a, y"), ("--target",), None),
    ("read_table: missing file", lambda: read_table("/nonexistent/data.csv"), ("/nonexistent/data.csv",),
     ("check the path",), None),
    ("metrics: float predictions", lambda: confusion_matrix(torch.rand(4), torch.tensor([0, 1, 0, 1])),
     ("`preds`", "torch.float32"), ("argmax",), None),
    ("metrics: label out of range", lambda: confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 7]), 3),
     ("`target`", "7"), ("[0, 3)",), None),
    ("metrics: a huge label", lambda: confusion_matrix(torch.tensor([0, 10**9]), torch.tensor([0, 1])),
     ("1000000000",), ("pass num_classes",), None),
    ("metrics: unknown average", lambda: precision(torch.eye(2), "samples"), ("'samples'",),
     ("'binary', 'macro', 'micro', 'weighted' or None",), None),
    ("metrics: NaN scores", lambda: roc_auc(torch.tensor([0.1, float("nan")]), torch.tensor([0, 1])),
     ("NaN",), ("without NaN",), None),
    ("metrics: targets not 0/1", lambda: average_precision(torch.tensor([0.1, 0.9]), torch.tensor([0, 2])),
     ("2",), ("0 or 1",), None),
    # found by this file, fixed in 15b0df7
    ("lr inf", lambda: tw.Trainer(lr=float("inf")), ("lr", "inf"), ("finite",), None),
    ("text features", lambda: fit((np.array([["a"] * 4] * 40), Y.numpy())), ("X", "text"), ("numbers",), None),
    ("text labels", lambda: fit((X.numpy(), np.array(["no", "yes"] * 20))), ("y", "text"),
     ("trainwise.data.encode_labels",), None),
    ("integer features for a float model", lambda: fit((torch.randint(0, 5, (40, 4)), Y)), ("torch.int64",),
     ("float",), None),
    ("validation features of another width", lambda: fit((X, Y), (X[:, :3], Y)), ("val:", "[N, 3]"),
     ("same columns",), None),
    ("checkpoint_dir below a file", lambda: fit((X, Y), checkpoint_dir=__file__ + "/run"), ("Not a directory",),
     ("choose another",), None),
    # issue 13: misuse that escaped as raw exceptions, or was accepted
    ("a model without parameters", lambda: fit((X, Y), net=nn.Sequential(nn.ReLU())), ("no parameters",),
     ("nn.Linear",), None),
    ("a model with every parameter frozen", lambda: fit((X, Y), net=model().requires_grad_(False)),
     ("all 4 parameter tensors", "frozen"), ("requires_grad_(True)",), None),
    ("integer outputs", lambda: fit((X, Y), net=IntegerOutputs()), ("torch.int64 outputs",), ("float scores",), None),
    ("a label of 2**40", lambda: fit((X, Y * 2**40)), ("label 1099511627776",), ("0..1",), None),
    ("a model on the meta device", lambda: fit((X, Y), net=model().to("meta")), ("meta device",),
     ("to_empty",), None),
    ("negative class weights", lambda: tw.Trainer(class_weights=[-1, 1]), ("-1.0",), (">= 0",), None),
    ("NaN class weights", lambda: tw.Trainer(class_weights=[float("nan"), 1]), ("nan",), ("finite",), None),
    ("compare: a run name that leaves checkpoint_dir",
     lambda: tw.compare(model, (X, Y), (X, Y), optimizers={"../../x": {"optimizer": "sgd"}},
                        checkpoint_dir="/tmp/tw-never-written"), ("'../../x'",), ("letters, digits",), None),
]


@pytest.mark.parametrize(
    "call, names, fix",
    [pytest.param(call, names, fix, id=id_,
                  marks=[pytest.mark.xfail(strict=True, reason=bug)] if bug else [])
     for id_, call, names, fix, bug in API_CASES])
def test_api_bad_input(call, names, fix):
    with pytest.raises(ValueError) as info:              # InputError is a ValueError
        call()
    message = str(info.value)
    assert "\n" not in message
    for word in (*names, *fix):
        assert word in message, f"{word!r} not in {message!r}"


def test_weights_that_blow_up_in_an_epochs_last_step_stop_the_run():
    """One step per epoch and an absurd LR: epoch 1's loss is finite, its model is not. The NaN guard stops
    the run (it used to be the accumulator's 'scores ... not probabilities' InputError, blaming the input)."""
    run = tw.Trainer(optimizer="sgd", lr=1e38, epochs=3, batch_size=64).fit(model(), (X, Y), (X, Y))
    assert run.stop_reason is not None and "epoch 1" in run.stop_reason
    assert any(f.code == "lr_too_high" for f in run.findings)
