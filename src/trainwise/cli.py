"""The `trainwise` command: subcommands, argument parsing, exit codes.

Exit codes: 0 done; 1 a finding at or above ``--fail-on``; 2 bad usage or bad input, with one line
that names the file, the column or the value and how to fix it — never a traceback (``--debug`` shows it).
With ``--json`` stdout holds one JSON object and nothing else; progress and messages go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from trainwise.commands_optim import add_compare_arguments, add_lrfind_arguments
from trainwise.commands_predict import add_export_arguments, add_predict_arguments
from trainwise.commands_stream import add_stream_arguments
from trainwise.errors import InputError

log = logging.getLogger("trainwise")

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}
MAX_LAYER = 65_536         # --hidden 100000000 asked the kernel for ~100 GB and got the OOM killer


class TrainingFailed(RuntimeError):
    """The run could not finish (e.g. the loss diverged under ``--on-nan raise``): exit code 1."""


class UsageError(InputError):
    """Bad command-line usage (argparse's complaints, in one line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text}")
    return value


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected layer sizes like 64,32, got {text!r}") from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be >= 1, got {text!r}")
    if any(size > MAX_LAYER for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be <= {MAX_LAYER}, got {text!r}; for a larger model, "
                                         "build it in Python and train it with trainwise.Trainer")
    return sizes


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout, nothing else")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _add_training(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="training table: .csv, .csv.gz or .parquet")
    p.add_argument("--target", required=True, help="the column holding the class label")
    val = p.add_mutually_exclusive_group()
    val.add_argument("--val", help="a validation table with the same columns")
    val.add_argument("--val-fraction", type=_fraction, default=0.2,
                     help="share of rows held out for validation, stratified (default 0.2)")
    p.add_argument("--optimizer", default="adam", help="sgd, adam, adamw or rmsprop (default adam)")
    p.add_argument("--lr", type=_positive_float, help="learning rate (default: the optimizer's own)")
    p.add_argument("--momentum", type=float, help="SGD/RMSprop momentum (SGD default 0.9)")
    p.add_argument("--nesterov", action="store_true", help="SGD with Nesterov momentum")
    p.add_argument("--weight-decay", type=float, help="weight decay (AdamW default 0.01, others 0)")
    p.add_argument("--schedule", default="none", help="none, step, cosine, onecycle or plateau")
    p.add_argument("--warmup-epochs", type=int, default=0, help="linear warmup before cosine")
    p.add_argument("--grad-clip", type=_positive_float, help="clip the global gradient norm to this")
    p.add_argument("--class-weights", choices=["balanced"], help="weight classes inversely to their frequency")
    p.add_argument("--epochs", type=_positive_int, default=20)
    p.add_argument("--batch-size", type=_positive_int, default=256)
    p.add_argument("--hidden", type=_hidden, default=(64, 32), help="MLP layer sizes (default 64,32)")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="bf16: autocast forward and loss (for GPUs and large models: slower on the CPU and for small models)")
    p.add_argument("--compile", action="store_true", help="run the model through torch.compile (pays off for large models: small ones train slower)")
    p.add_argument("--positive", help="the positive class label in a binary task")
    p.add_argument("--threshold", help="binary: decision threshold, a number like 0.37 or a rule chosen on "
                                       "validation: best_f1, recall=0.8, precision=0.9 (default 0.5)")
    p.add_argument("--target-recall", type=_fraction, default=0.8,
                   help="report the threshold reaching this recall (default 0.8)")
    p.add_argument("--target-precision", type=_fraction, help="report the threshold reaching this precision")
    p.add_argument("--out", help="write the run folder here (checkpoints after every epoch)")
    p.add_argument("--checkpoint-every", type=_positive_int, help="also checkpoint every N steps (needs --out)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--early-stopping", type=_positive_int, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without improvement; the best weights are kept")
    p.add_argument("--min-delta", type=float, default=0.0, help="the least change that counts as improvement")
    p.add_argument("--monitor", default="val_loss", help="history key to judge epochs by (default val_loss)")
    p.add_argument("--on-nan", choices=["stop", "raise"], default="stop",
                   help="a NaN/Inf loss stops the run (default) or fails it with exit code 1")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files to OUT/tensorboard")
    p.add_argument("--fail-on", choices=["warning", "error"], help="exit 1 when a finding is this severe")
    _add_common(p)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="trainwise", description="Train PyTorch classifiers and get a verdict you can trust.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    fit = sub.add_parser("fit", help="train an MLP on a table and judge the run")
    _add_training(fit)
    add_stream_arguments(fit)

    ev = sub.add_parser("evaluate", help="metrics and findings for predictions made by any model")
    ev.add_argument("file")
    ev.add_argument("--label", required=True, help="the column with the true class")
    how = ev.add_mutually_exclusive_group(required=True)
    how.add_argument("--prediction", help="the column with the predicted class")
    how.add_argument("--score", help="the column with the positive class's score (binary)")
    ev.add_argument("--positive", help="the positive class label in a binary task")
    ev.add_argument("--threshold", type=_fraction, help="decision threshold on --score (default 0.5)")
    ev.add_argument("--fail-on", choices=["warning", "error"])
    _add_common(ev)

    dg = sub.add_parser("diagnose", help="findings from the curves of any training log")
    dg.add_argument("path", help="a trainwise run folder, history.jsonl, Lightning or Keras CSV log")
    dg.add_argument("--fail-on", choices=["warning", "error"])
    _add_common(dg)

    add_compare_arguments(sub.add_parser("compare", help="one run per optimizer from the same start; a winner with reasons"))
    add_lrfind_arguments(sub.add_parser("lr-find", help="LR range test: sweep the learning rate and suggest one"))

    add_predict_arguments(sub)
    add_export_arguments(sub)

    rp = sub.add_parser("report", help="rebuild report.html from a run folder")
    rp.add_argument("run_dir", help="a run folder written with --out")
    rp.add_argument("--debug", action="store_true", help="show the traceback of an error")

    demo = sub.add_parser("demo", help="train on the built-in transactions table (no data, no network)")
    demo.add_argument("--epochs", type=_positive_int, default=15)
    demo.add_argument("--out", default="runs/demo", help="write the run folders and report here (default runs/demo)")
    _add_common(demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        from trainwise import commands
        return getattr(commands, args.command.replace("-", "_"))(args)
    except InputError as exc:
        if debug:
            raise
        print(f"trainwise: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except TrainingFailed as exc:
        if debug:
            raise
        print(f"trainwise: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("trainwise: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    """Exit code 2 promises one line: a line break inside a value (a path, a column name) must not break it."""
    return str(exc).replace("\r", "\\r").replace("\n", "\\n")


def exit_code(findings: list[dict], fail_on: str | None) -> int:
    if fail_on is None:
        return 0
    rank = SEVERITY_RANK[fail_on]
    return 1 if any(SEVERITY_RANK.get(f["severity"], 0) >= rank for f in findings) else 0


def out_dir(path: str | None) -> Path | None:
    """Create (or reuse) the run folder before training, so an unwritable one fails in a second."""
    if path is None:
        return None
    if not path.strip():                       # Path("") is the current folder: an empty $VAR, not a choice
        raise InputError("--out is empty; pass the run folder, e.g. --out runs/first.")
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".trainwise-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"{path}: cannot write the run folder here ({exc.strerror}); choose another --out.") from None
    return folder


def emit(args: Any, payload: dict) -> None:
    from trainwise.io import dumps
    if args.json:
        sys.stdout.write(dumps(payload) + "\n")
        sys.stdout.flush()
