"""trainwise: train PyTorch classifiers with a correct loop and a verdict you can trust."""

from trainwise import metrics
from trainwise.callbacks import Callback, TrainState
from trainwise.compare import Comparison, compare
from trainwise.config import TrainConfig
from trainwise.diagnostics import Finding, diagnose
from trainwise.errors import InputError
from trainwise.loop import Trainer
from trainwise.lrfind import LRFindResult, lr_find
from trainwise.monitor import Monitor
from trainwise.run import Run

__version__ = "0.1.0"

__all__ = ["Callback", "Comparison", "Finding", "InputError", "LRFindResult", "Monitor", "Run", "TrainConfig", "TrainState",
           "Trainer", "compare", "diagnose", "lr_find", "metrics", "__version__"]
