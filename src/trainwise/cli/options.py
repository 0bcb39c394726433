"""Every flag of the `trainwise` command, defined once, with its help and its default shown.

A flag's value is checked by its argparse ``type`` here, with the rule of the module that owns it
(``trainwise.policy`` for the seed, ``trainwise.decision`` for the threshold), so a bad value is refused
before any data is read and no command re-checks it. Torch-free: ``trainwise --help`` and the quick
commands parse their arguments without importing torch.
"""

from __future__ import annotations

import argparse
import difflib
import math
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from trainwise.cli.output import UsageError
from trainwise.decision import ThresholdRule, parse_threshold
from trainwise.errors import InputError
from trainwise.policy import check_seed

# The closed sets, as trainwise.optim, trainwise.lrfind and trainwise.data.stream define them (those import
# torch; tests/test_cli_options.py checks the copies agree).
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("none", "step", "cosine", "onecycle", "plateau")
LR_FIND_METHODS = ("steepest", "valley", "minimum/10")
SHUFFLE_ROWS = 65_536
MAX_LAYER = 65_536         # --hidden 100000000 asked the kernel for ~100 GB and got the OOM killer
LIST_FLAGS = ("--hidden", "--optimizers", "--lrs")      # values joined by commas, never by spaces


# ---------------------------------------------------------------------------------------------- parser
class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``(default: X)`` after every flag that has a default worth showing (not None, not off)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """No abbreviations (``--epoch`` is not ``--epochs``), and errors as a UsageError: `main` prints it
    once, as one line, with the one prefix."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:
        """As argparse's, with a hint when values meant as one list were separated by spaces."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "command", None)
            parser = self._subcommand(command) or self
            hint = comma_hint(list(args or []), extras) or spelling_hint(parser, extras)
            raise UsageError(f"unrecognized arguments: {' '.join(extras)}{hint} (see `{parser.prog} --help`)")
        return parsed

    def _subcommand(self, name: str | None) -> argparse.ArgumentParser | None:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices.get(name)
        return None


def spelling_hint(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """``; did you mean --epochs?`` for ``--epoch`` (flags are never abbreviated)."""
    flags = [flag for action in parser._actions for flag in action.option_strings]
    for token in extras:
        if token.startswith("--"):
            close = difflib.get_close_matches(token.partition("=")[0], flags, n=1, cutoff=0.75)
            if close:
                return f"; did you mean {close[0]}? (flags are never abbreviated)"
    return ""


def comma_hint(argv: list[str], extras: list[str]) -> str:
    """``; use commas: --hidden 64,32`` when ``--hidden 64 32`` left ``32`` unrecognized."""
    for i, token in enumerate(argv):
        flag, equals, value = token.partition("=")
        if flag not in LIST_FLAGS:
            continue
        start = i + 1 if equals else i + 2
        values = [value] if equals else argv[i + 1:i + 2]
        following = []
        for item in argv[start:]:
            if item.startswith("-") or item not in extras:
                break
            following.append(item)
        if following:
            return f"; use commas: {flag} {','.join(values + following)}"
    return ""


# ---------------------------------------------------------------------------------------------- types
def _checked(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from a converter that may raise InputError (the owning module's rule): argparse
    shows an ArgumentTypeError's message, but replaces a ValueError's with "invalid value"."""
    def argument_type(text: str) -> Any:
        try:
            return convert(text)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    argument_type.__name__ = convert.__name__
    return argument_type


def _parsed(text: str, convert: Callable[[str], Any], expected: str) -> Any:
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def positive_int(text: str) -> int:
    value = _parsed(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    return _parsed(text, int, "a whole number >= 0") if text.strip() == "0" else positive_int(text)


def positive_float(text: str) -> float:
    value = _parsed(text, float, "a number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def fraction(text: str) -> float:
    value = positive_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text}")
    return value


def dropout(text: str) -> float:
    value = _parsed(text, float, "a number in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


def hidden(text: str) -> tuple[int, ...]:
    sizes = _parsed(text, lambda t: tuple(int(part) for part in t.split(",") if part.strip()),
                    "layer sizes like 64,32")
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be >= 1, got {text!r}")
    if any(size > MAX_LAYER for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be <= {MAX_LAYER}, got {text!r}; for a larger model, "
                                         "build it in Python and train it with trainwise.Trainer")
    return sizes


@_checked
def seed(text: str) -> int:
    try:
        value: object = int(text)
    except ValueError:
        value = text
    return check_seed(value)


threshold_rule = _checked(parse_threshold)


@_checked
def fixed_threshold(text: str) -> ThresholdRule:
    """``evaluate --threshold``: a number only (the rules choose a threshold on validation scores)."""
    rule = parse_threshold(text)
    if rule.fixed is None:
        raise InputError(f"evaluate applies a fixed threshold to --score; pass a number in (0, 1), not {text!r}.")
    return rule


def one_of(what: str, names: Sequence[str]) -> Callable[[str], str]:
    """A closed set, matched case-insensitively (``SGD`` is ``sgd``); an unknown name lists them all."""
    def choice(text: str) -> str:
        name = text.strip().lower()
        if name in names:
            return name
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; choose one of: {', '.join(names)}.{hint}")

    choice.__name__ = what
    return choice


# ---------------------------------------------------------------------------------------------- flag groups
def common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout, nothing else")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def fail_on(p: argparse.ArgumentParser, judged: str = "a finding") -> None:
    p.add_argument("--fail-on", choices=["warning", "error"],
                   help=f"exit with code 1 when {judged} is at least this severe (default: always exit 0)")


def out(p: argparse.ArgumentParser, what: str, default: str | None = None) -> None:
    p.add_argument("--out", default=default, metavar="DIR", help=f"write {what}")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run --out holds (its files are deleted first; files trainwise did not write stay)")


def epochs(p: argparse.ArgumentParser, default: int | None = 20) -> None:
    chosen = " (default: chosen from the number of training rows, see docs/defaults.md)" if default is None else ""
    p.add_argument("--epochs", type=positive_int, default=default, metavar="N",
                   help="passes over the training rows" + chosen)


def positive(p: argparse.ArgumentParser) -> None:
    p.add_argument("--positive", metavar="LABEL",
                   help="the positive class of a binary task (default: 1 or True, else the rarest class)")


def table(p: argparse.ArgumentParser, batch_size: int | None = 256) -> None:
    """The data and the model: `fit`, `compare` and `lr-find` (`fit` chooses the batch size from the data)."""
    p.add_argument("data", help="training table: .csv, .csv.gz or .parquet")
    p.add_argument("--target", required=True, metavar="COL", help="the column holding the class label")
    val = p.add_mutually_exclusive_group()
    val.add_argument("--val", metavar="FILE", help="a validation table with the same columns")
    val.add_argument("--val-fraction", type=fraction, default=0.2, metavar="F",
                     help="share of rows held out for validation, stratified")
    positive(p)
    p.add_argument("--class-weights", choices=["balanced"], help="weight classes inversely to their frequency")
    chosen = " (default: chosen from the number of training rows, see docs/defaults.md)" if batch_size is None else ""
    p.add_argument("--batch-size", type=positive_int, default=batch_size, metavar="N",
                   help="rows per training step" + chosen)
    p.add_argument("--hidden", type=hidden, default="64,32", metavar="SIZES",
                   help="the MLP's hidden layer sizes, joined by commas")
    p.add_argument("--dropout", type=dropout, default=0.1, metavar="P", help="dropout after each hidden layer, in [0, 1)")
    p.add_argument("--seed", type=seed, default=0, metavar="N",
                   help="fixes the split, the initial weights and the batch order")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")


def optimizer(p: argparse.ArgumentParser) -> None:
    """One optimizer and its settings: `fit` and `lr-find`."""
    p.add_argument("--optimizer", type=one_of("optimizer", OPTIMIZERS), choices=OPTIMIZERS, default="adam",
                   help="the optimizer (any case)")
    p.add_argument("--momentum", type=float, metavar="M", help="SGD/RMSprop momentum (SGD's default: 0.9)")
    p.add_argument("--nesterov", action="store_true", help="SGD with Nesterov momentum")
    p.add_argument("--weight-decay", type=float, metavar="WD", help="weight decay (AdamW's default: 0.01, the others' 0)")


def schedule(p: argparse.ArgumentParser) -> None:
    """The learning rate over the epochs: `fit` and `compare`."""
    p.add_argument("--schedule", type=one_of("schedule", SCHEDULES), choices=SCHEDULES, default="none",
                   help="how the learning rate changes over the epochs")
    p.add_argument("--warmup-epochs", type=int, default=0, metavar="N", help="epochs of linear warmup before cosine")
    p.add_argument("--grad-clip", type=positive_float, metavar="NORM", help="clip the global gradient norm to this")


# ---------------------------------------------------------------------------------------------- commands
def fit_flags(p: argparse.ArgumentParser) -> None:
    table(p, batch_size=None)
    optimizer(p)
    p.add_argument("--lr", type=positive_float, help="learning rate (default: the optimizer's own)")
    schedule(p)
    epochs(p, default=None)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: autocast forward and loss (for GPUs and large models: slower on the CPU and for "
                        "small models)")
    p.add_argument("--compile", action="store_true",
                   help="run the model through torch.compile (pays off for large models: small ones train slower)")
    p.add_argument("--threshold", type=threshold_rule, metavar="RULE",
                   help="binary: decision threshold, a number like 0.37 or a rule chosen on validation: best_f1, "
                        "recall=0.8, precision=0.9 (default: 0.5)")
    p.add_argument("--target-recall", type=fraction, default=0.8, metavar="R", help="report the threshold reaching this recall")
    p.add_argument("--target-precision", type=fraction, metavar="P", help="report the threshold reaching this precision")
    out(p, "the run folder here (checkpoints after every epoch)")
    p.add_argument("--checkpoint-every", type=positive_int, metavar="STEPS",
                   help="also checkpoint every this many steps (needs --out)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--early-stopping", type=non_negative_int, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without improvement; the best weights are kept; 0: off "
                        "(default: on, patience chosen from the epoch budget, see docs/defaults.md)")
    p.add_argument("--no-baseline", dest="baseline", action="store_false",
                   help="skip the logistic regression fitted on the same rows to compare the network with")
    p.add_argument("--calibrate", action="store_true",
                   help="fit a temperature on the validation logits; predict applies it")
    p.add_argument("--min-delta", type=float, default=0.0, metavar="D", help="the least change that counts as improvement")
    p.add_argument("--monitor", default="val_loss", metavar="KEY", help="history key to judge epochs by")
    p.add_argument("--on-nan", choices=["stop", "raise"], default="stop",
                   help="a NaN/Inf loss stops the run, or fails it with exit code 1")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files to OUT/tensorboard")
    p.add_argument("--stream", action="store_true",
                   help="read the Parquet file a row group at a time instead of loading it (tables larger than "
                        "memory); --val-fraction then holds out rows by a seeded hash, not stratified")
    p.add_argument("--shuffle-rows", type=positive_int, default=SHUFFLE_ROWS, metavar="ROWS",
                   help="with --stream: training rows shuffled together, held in memory as features")
    fail_on(p)
    common(p)


def compare_flags(p: argparse.ArgumentParser) -> None:
    table(p)
    p.add_argument("--optimizers", default="sgd,adam", metavar="SPEC",
                   help='optimizers and their settings: "sgd,adam" or "sgd:lr=0.1,momentum=0.9;adam:lr=1e-3" '
                        "(each at its own default LR unless given)")
    p.add_argument("--lrs", metavar="LRS", help="run every optimizer at each of these LRs, e.g. 0.001,0.01,0.1 "
                                               "(the honest way to compare SGD with Adam)")
    schedule(p)
    epochs(p)
    out(p, "comparison.json, the report and one run folder per run here")
    fail_on(p, "a finding of the winner (of every run, when none wins)")
    common(p)


def lr_find_flags(p: argparse.ArgumentParser) -> None:
    table(p)
    optimizer(p)
    p.add_argument("--start-lr", type=positive_float, default=1e-7, metavar="LR", help="first LR of the sweep")
    p.add_argument("--end-lr", type=positive_float, default=10.0, metavar="LR", help="last LR of the sweep")
    p.add_argument("--num-steps", type=positive_int, default=100, metavar="N", help="mini-batches in the sweep")
    p.add_argument("--method", choices=LR_FIND_METHODS, default="steepest",
                   help="steepest: fastest fall of the smoothed loss; valley: middle of the longest fall (safer "
                        "on noisy curves); minimum/10: a tenth of the LR at the lowest loss")
    common(p)


def evaluate_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a table of predictions: .csv, .csv.gz or .parquet, one row per sample")
    p.add_argument("--label", required=True, metavar="COL", help="the column with the true class")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--prediction", metavar="COL", help="the column with the predicted class")
    how.add_argument("--score", metavar="COL", help="the column with the positive class's probability (binary)")
    positive(p)
    p.add_argument("--threshold", type=fixed_threshold, metavar="T",
                   help="decision threshold on --score, in (0, 1) (default: 0.5)")
    fail_on(p)
    common(p)


def diagnose_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="a trainwise run folder or its history.jsonl, a Lightning or Keras CSV log, or "
                                "any per-epoch CSV/JSON-lines log")
    fail_on(p)
    common(p)


def report_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run folder written with --out")
    common(p)


def predict_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="a run folder written by `trainwise fit --out`")
    p.add_argument("data", help="the rows: .csv, .csv.gz or .parquet (Parquet is read in bounded chunks)")
    p.add_argument("--out", metavar="FILE", help="write DATA's rows with the predictions here: .csv, .csv.gz, "
                                                 ".parquet (default: CSV on stdout)")
    p.add_argument("--threshold", type=threshold_rule, metavar="RULE",
                   help="binary: the decision threshold, a number in (0, 1), or best_f1, recall=R, precision=P as "
                        "the run recorded it on its validation set (default: the run's own)")
    p.add_argument("--device", default="cpu", help="where the network runs: cpu, cuda or auto")
    fail_on(p)
    common(p)


def export_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="a run folder written by `trainwise fit --out`")
    p.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    common(p)


def demo_flags(p: argparse.ArgumentParser) -> None:
    epochs(p, default=15)
    out(p, "the run folders and the report here", default="runs/demo")
    common(p)
