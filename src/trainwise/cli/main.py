"""The `trainwise` command: the table of subcommands, argument parsing, and what an error becomes.

Each subcommand is a module of this package with ``run(args) -> exit code``, imported only when that
subcommand runs: ``trainwise --help``, ``--version``, ``diagnose`` and ``evaluate`` never import torch.
Flags are defined in :mod:`trainwise.cli.options`, output and exit codes in :mod:`trainwise.cli.output`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

from trainwise import __version__
from trainwise.cli import options
from trainwise.cli.output import BAD_INPUT, FAILED, INTERRUPTED, TrainingFailed, error_line
from trainwise.errors import InputError


class Command(NamedTuple):
    module: str                                        # trainwise.cli.<module>, with run(args) -> int
    help: str
    flags: Callable[[argparse.ArgumentParser], None]   # its flags, from trainwise.cli.options


COMMANDS = {
    "fit": Command("fit", "train an MLP on a table and judge the run", options.fit_flags),
    "evaluate": Command("evaluate", "metrics and findings for predictions made by any model", options.evaluate_flags),
    "diagnose": Command("diagnose", "findings from the curves of any training log", options.diagnose_flags),
    "compare": Command("compare", "one run per optimizer from the same start; a winner with reasons",
                       options.compare_flags),
    "lr-find": Command("lrfind", "LR range test: sweep the learning rate and suggest one", options.lr_find_flags),
    "predict": Command("predict", "predict new rows with a trained run; a held-out verdict when they hold the "
                       "target", options.predict_flags),
    "export": Command("export", "write a run's network as ONNX (with its preprocessing as metadata)",
                      options.export_flags),
    "report": Command("report", "rebuild report.html from a run folder", options.report_flags),
    "demo": Command("demo", "train on the built-in transactions table (no data, no network)", options.demo_flags),
}


def build_parser() -> argparse.ArgumentParser:
    parser = options.Parser(prog="trainwise", description="Train PyTorch classifiers and get a verdict you can trust.")
    parser.add_argument("--version", action="version", version=f"trainwise {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=options.Parser)
    for name, command in COMMANDS.items():
        command.flags(sub.add_parser(name, help=command.help, description=command.help[0].upper() + command.help[1:] + "."))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:                      # --help and --version: argparse printed them
            return int(exc.code or 0)
        module = importlib.import_module(f"trainwise.cli.{COMMANDS[args.command].module}")
        return module.run(args)
    except InputError as exc:
        if debug:
            raise
        print(error_line(exc), file=sys.stderr)
        return BAD_INPUT
    except TrainingFailed as exc:
        if debug:
            raise
        print(f"trainwise: {exc}", file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        print("trainwise: interrupted", file=sys.stderr)
        return INTERRUPTED
    finally:
        from trainwise.claim import release
        release()                                      # the run folder's lock, when this command took one
