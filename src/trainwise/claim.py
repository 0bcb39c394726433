"""A run folder belongs to one run: the occupancy check, the lock, and what trainwise may delete.

`claim` is what a command that writes a run folder (`fit`, `compare`, `demo`) does first:

- an input file inside the folder is refused (the run's own files would overwrite it);
- one process at a time: `.trainwise.lock` holds the holder's pid; a lock whose process is gone (killed,
  crashed) is stale and taken over; `release` (called when the command ends) removes it;
- a folder that holds another run (its marker `.trainwise-run`) is refused unless ``resume`` (continue it)
  or ``overwrite`` (the earlier run's files are deleted first, so the folder never mixes two runs);
- a folder holding files trainwise did not write is refused, naming them, unless ``overwrite``; those
  files are never deleted.

trainwise deletes only files it wrote: the names in `RUN_FILES`, its temp files (`io.TEMP_PREFIX`), the
`tensorboard` folder, and run subfolders (`compare`) holding nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterable
from pathlib import Path

from trainwise.errors import InputError
from trainwise.io import TEMP_PREFIX

MARKER = ".trainwise-run"
LOCK = ".trainwise.lock"
RUN_FILES = frozenset({
    MARKER, "history.jsonl", "history.csv", "summary.json", "config.json", "report.html", "comparison.json",
    "last.ckpt", "previous.ckpt", "model.safetensors", "best.safetensors",
    "loss.png", "metrics.png", "confusion_matrix.png", "pr_curve.png", "comparison.png", "lr_find.png",
})
RUN_FOLDERS = frozenset({"tensorboard"})
_SHOWN = 5

_held: list[Path] = []       # the locks this process holds


def claim(folder: Path, *, resume: bool = False, overwrite: bool = False, inputs: Iterable[str | None] = (),
          replace_runs: bool = False, resumable: bool = True) -> Path:
    """Take ``folder`` (created, writable) for one run of this process; see the module's docstring.
    ``replace_runs`` (`demo`) replaces an earlier trainwise run as ``overwrite`` does; ``resumable``: whether
    the command has ``--resume`` to suggest."""
    _refuse_inputs_inside(folder, inputs)
    lock(folder)
    try:
        entries = [p for p in folder.iterdir() if p.name != LOCK and not p.name.startswith(TEMP_PREFIX)]
        if entries and not resume:
            holds_run = (folder / MARKER).exists()
            if holds_run and (overwrite or replace_runs):
                _remove_own(entries)
            elif holds_run:
                resume_it = "--resume to continue it, " if resumable else ""
                raise InputError(f"{folder}: --out holds another run ({_names(entries)}); pass {resume_it}--overwrite "
                                 "to replace it, or choose another --out.")
            elif not overwrite:
                raise InputError(f"{folder}: --out holds files trainwise did not write ({_names(entries)}); "
                                 "choose an empty folder, or pass --overwrite (they are kept, but files named like "
                                 "a run's are replaced).")
        try:
            (folder / MARKER).write_text(json.dumps({"written_by": "trainwise"}) + "\n", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{folder}: cannot write the run folder here ({exc.strerror}); free disk space or "
                             "choose another --out.") from None
    except BaseException:
        release(folder)
        raise
    return folder


def lock(folder: Path) -> None:
    """Hold `folder/.trainwise.lock` (the pid) or refuse: one process at a time; a stale lock is taken over."""
    path = folder / LOCK
    if folder in _held:
        return
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if holder is not None and _alive(holder):
                raise InputError(f"{folder}: --out is in use by another trainwise process (pid {holder['pid']}); "
                                 "wait for it to finish, or choose another --out.") from None
            if _holder(path) == holder:            # stale: its process is gone; take it over once
                path.unlink(missing_ok=True)
            continue
        except OSError as exc:
            raise InputError(f"{folder}: cannot lock the run folder ({exc.strerror}); choose another --out.") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n")
        except OSError as exc:                     # a full disk: no half-written lock left behind
            path.unlink(missing_ok=True)
            raise InputError(f"{folder}: cannot lock the run folder ({exc.strerror}); free disk space or choose "
                             "another --out.") from None
        _held.append(folder)
        return
    raise InputError(f"{folder}: could not lock the run folder (another process keeps taking it); try again.")


def release(folder: Path | None = None) -> None:
    """Remove this process's lock on ``folder`` (all of them when None)."""
    for held in [f for f in _held if folder is None or f == folder]:
        _held.remove(held)
        path = held / LOCK
        holder = _holder(path)
        if holder is not None and holder.get("pid") == os.getpid():
            path.unlink(missing_ok=True)
        try:
            if [p.name for p in held.iterdir()] == [MARKER]:
                (held / MARKER).unlink()      # a command that failed before writing anything leaves no run
        except OSError:
            pass


def _holder(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None                     # unreadable or half written: treated as stale
    return holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else None


def _alive(holder: dict) -> bool:
    """Whether the lock's process still runs (on another host: assumed so; a zombie is gone)."""
    if holder.get("host") not in (None, socket.gethostname()):
        return True
    pid = holder["pid"]
    if pid == os.getpid():
        return False                      # an earlier command of this process that did not release it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _refuse_inputs_inside(folder: Path, inputs: Iterable[str | None]) -> None:
    root = folder.resolve()
    for name in inputs:
        if name and Path(name).resolve().is_relative_to(root):
            raise InputError(f"{name}: the input file is inside --out {folder}, where the run writes its files; "
                             "move it, or choose another --out.")


def _own(path: Path) -> bool:
    """Whether trainwise wrote ``path``: a run file's name, the tensorboard folder, or a run subfolder."""
    if path.is_dir() and not path.is_symlink():
        return path.name in RUN_FOLDERS or all(_own(p) for p in path.iterdir())
    return path.name in RUN_FILES or path.name.startswith(TEMP_PREFIX)


def _remove_own(entries: list[Path]) -> None:
    """Delete the earlier run's files; anything else stays."""
    for path in entries:
        if not _own(path):
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _names(paths: list[Path]) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in paths if p.name != MARKER)
    more = f", and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more
