"""Errors that are part of the interface."""

from __future__ import annotations

from collections.abc import Iterable


class InputError(ValueError):
    """Bad input from the user: a file, a column, a value or an option.

    The message is one line that names the thing and says how to fix it. The CLI prints it and exits
    with code 2; the Python API raises it as a ``ValueError``.
    """


def name_list(names: Iterable[object], *, limit: int = 20) -> str:
    """``a, b, c`` with at most ``limit`` names, then ``... (N more)``. A name holding a line break, a tab
    or another unprintable character is shown as its repr (``'a\\nb'``): a message stays one line."""
    names = [shown_name(n) for n in names]
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", ... ({len(names) - limit} more)"


def shown_name(name: object) -> str:
    """A column or label name as a message shows it: as it is, or its repr when it holds unprintables."""
    text = str(name)
    return text if text.isprintable() else repr(text)
