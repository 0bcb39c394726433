"""trainwise: train PyTorch classifiers with a correct loop and a verdict you can trust."""

from trainwise import metrics
from trainwise.callbacks import Callback, TrainState
from trainwise.compare import Comparison, compare
from trainwise.config import TrainConfig
from trainwise.diagnostics import Finding, diagnose
from trainwise.errors import InputError
from trainwise.loop import Run, Trainer
from trainwise.lrfind import LRFindResult, lr_find
from trainwise.serve import load

__version__ = "0.1.0"

__all__ = ["Callback", "Comparison", "Finding", "InputError", "LRFindResult", "Run", "TrainConfig", "TrainState",
           "Trainer", "compare", "diagnose", "load", "lr_find", "metrics", "__version__"]
