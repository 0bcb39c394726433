"""What a person sees of a run: the HTML report and its figures, live progress, TensorBoard logs, and the
end-of-run summary in the terminal."""

from trainwise.report.html import write_report
from trainwise.report.progress import RichProgress
from trainwise.report.tensorboard import TensorBoardLogger
from trainwise.report.terminal import print_summary

__all__ = ["RichProgress", "TensorBoardLogger", "print_summary", "write_report"]
