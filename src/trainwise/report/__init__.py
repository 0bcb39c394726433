"""What a person sees of a run: the HTML report and its figures, live progress, TensorBoard logs, and the
end-of-run summary in the terminal, and the answer of ``trainwise diagnose`` (report.diagnosis: plain text).

Names are imported on first use (``trainwise._lazy``): the terminal summary needs rich, not torch.
"""

from typing import TYPE_CHECKING

from trainwise._lazy import lazy_exports

_EXPORTS = {
    "RichProgress": "trainwise.report.progress",
    "TensorBoardLogger": "trainwise.report.tensorboard",
    "print_summary": "trainwise.report.terminal",
    "write_report": "trainwise.report.html",
}
__all__ = ["RichProgress", "TensorBoardLogger", "print_summary", "write_report"]            # _EXPORTS' keys
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from trainwise.report.html import write_report
    from trainwise.report.progress import RichProgress
    from trainwise.report.tensorboard import TensorBoardLogger
    from trainwise.report.terminal import print_summary
