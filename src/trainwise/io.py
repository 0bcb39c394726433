"""Files that are either complete or absent: atomic writes, and JSON that strict readers accept."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()

TEMP_PREFIX = ".trainwise-tmp-"     # trainwise's own temp files: the only ones it ever deletes


def jsonable(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps(allow_nan=False)`` accepts: NaN and Inf become None,
    tensors and NumPy scalars become Python numbers, tuples become lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):            # tensors, NumPy arrays and scalars
        return jsonable(value.tolist())
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return jsonable(value.to_dict())
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    return json.dumps(jsonable(value), allow_nan=False, **kwargs)


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], *, binary: bool = False,
                 keep_previous: str | os.PathLike | None = None, kind: str = "file",
                 fix: str = "free disk space or choose another --out") -> Path:
    """Write through a temp file in the same folder, flush + fsync, then ``os.replace``: readers see
    the old file or the new one, never half of one. With ``keep_previous`` the old file is first moved
    there, so a complete copy exists at every instant. Files get the user's usual mode (umask), not
    mkstemp's 0600. Any failure while writing (a full disk surfaces as OSError, torch's RuntimeError or
    safetensors' own error) is an InputError of one line ending with ``fix``; the old file is left as it was. An
    InputError raised by ``write`` itself (bad input found while the rows are made) passes through as it is."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except Exception as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        from trainwise.errors import InputError
        if isinstance(exc, InputError):        # bad input found while writing (rows made as they are written)
            raise
        reason = getattr(exc, "strerror", None) or first_line(exc)
        raise InputError(f"{path}: could not write the {kind} ({reason}); {fix}. The previous {kind} is "
                         "intact.") from None
    except BaseException:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read a MiB at a time (a run's data fingerprint)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def first_line(exc: BaseException) -> str:
    """An exception's message in one line (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path: str | os.PathLike, value: Any) -> Path:
    return atomic_write(path, lambda fh: fh.write(dumps(value, indent=2) + "\n"))


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file, or an InputError naming it when it is not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        from trainwise.errors import InputError
        raise InputError(f"{path}: cannot read it as JSON ({exc}).") from None
