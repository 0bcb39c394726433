"""The `trainwise` command (``trainwise = "trainwise.cli:main"``); see :mod:`trainwise.cli.main`."""

from trainwise.cli.main import main

__all__ = ["main"]
