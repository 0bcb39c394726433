"""Errors that are part of the interface."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user: a file, a column, a value or an option.

    The message is one line that names the thing and says how to fix it. The CLI prints it and exits
    with code 2; the Python API raises it as a ``ValueError``.
    """
