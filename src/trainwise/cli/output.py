"""What the `trainwise` command writes: the JSON object on stdout, the terminal summary's console, the
run folder, exit codes, and the one error line.

Exit codes: 0 done; 1 a finding at or above ``--fail-on`` (or a run that could not finish); 2 bad usage
or bad input, with one line that names the file, the column or the value and how to fix it — never a
traceback (``--debug`` shows it). With ``--json`` stdout holds one JSON object and nothing else;
progress and messages go to stderr.
"""

from __future__ import annotations

import sys
from argparse import Namespace
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainwise.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

    from trainwise.diagnostics import Finding

PREFIX = "trainwise: error: "
DONE, FAILED, BAD_INPUT, INTERRUPTED = 0, 1, 2, 130


class UsageError(InputError):
    """Bad command-line usage (argparse's complaints, in one line)."""


class TrainingFailed(RuntimeError):
    """The run could not finish (e.g. the loss diverged under ``--on-nan raise``): exit code 1."""


def error_line(exc: BaseException) -> str:
    """The one line of exit code 2: the prefix, once, then the message with any line break inside a value
    (a path, a column name) escaped."""
    return PREFIX + str(exc).replace("\r", "\\r").replace("\n", "\\n")


def emit(args: Namespace, payload: dict) -> None:
    """With ``--json``: the one JSON object on stdout (strict JSON: NaN and Inf become null)."""
    from trainwise.io import dumps

    if args.json:
        sys.stdout.write(dumps(payload) + "\n")
        sys.stdout.flush()


def console(args: Namespace) -> Console:
    """The terminal summary goes to stdout, or to stderr when stdout is reserved for JSON."""
    from rich.console import Console

    return Console(file=sys.stderr if args.json else sys.stdout, highlight=False)


def exit_code(findings: Iterable[Finding | dict], fail_on: str | None) -> int:
    """1 when a finding is at least as severe as ``--fail-on``, else 0."""
    from trainwise.diagnostics import Finding, at_least

    if fail_on is None:
        return DONE
    judged = [f if isinstance(f, Finding) else Finding(**f) for f in findings]
    return FAILED if at_least(judged, fail_on) else DONE


def out_dir(path: str | None, *, resume: bool = False, overwrite: bool = False, inputs: Iterable[str | None] = (),
            replace_runs: bool = False, resumable: bool = False) -> Path | None:
    """Create the run folder and claim it (trainwise.claim: inputs inside it, another run or someone's
    files in it are refused; a lock for this process) before training, so a bad one fails in a second."""
    from trainwise.claim import claim

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
    return claim(folder, resume=resume, overwrite=overwrite, inputs=inputs, replace_runs=replace_runs,
                 resumable=resumable)


def summary_of(findings: list[Any], **more: Any) -> dict[str, Any]:
    """``verdict`` and ``findings`` (as JSON) of a list of Finding, then ``more``: the `evaluate` and
    `diagnose` objects."""
    from trainwise.diagnostics import verdict

    return {"verdict": verdict(findings), "findings": [f.to_dict() for f in findings], **more}
