"""trainwise: train PyTorch classifiers with a correct loop and a verdict you can trust."""

from trainwise import metrics
from trainwise.callbacks import Callback, TrainState
from trainwise.config import TrainConfig
from trainwise.diagnostics import Finding, diagnose
from trainwise.errors import InputError
from trainwise.loop import Run, Trainer

__version__ = "0.1.0"

__all__ = ["Callback", "Finding", "InputError", "Run", "TrainConfig", "TrainState", "Trainer", "diagnose",
           "metrics", "__version__"]
