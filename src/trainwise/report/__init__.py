"""What a person sees of a run: the HTML report and its figures, live progress, TensorBoard logs, the
end-of-run summary in the terminal, and the answer of ``trainwise diagnose``.

The names are loaded when first used, so that ``trainwise.report.diagnosis`` (plain text, no torch)
can be imported without the HTML report or the TensorBoard writer.
"""

from importlib import import_module
from typing import Any

_WHERE = {"write_report": "trainwise.report.html", "RichProgress": "trainwise.report.progress",
          "TensorBoardLogger": "trainwise.report.tensorboard", "print_summary": "trainwise.report.terminal"}

__all__ = ["RichProgress", "TensorBoardLogger", "print_summary", "write_report"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'trainwise.report' has no attribute {name!r}")
