"""trainwise: train PyTorch classifiers with a correct loop and a verdict you can trust.

Every name below is imported on first use (``trainwise._lazy``): ``import trainwise`` does not import torch.
"""

from typing import TYPE_CHECKING

from trainwise._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "Callback": "trainwise.callbacks",
    "Comparison": "trainwise.compare",
    "Finding": "trainwise.diagnostics",
    "InputError": "trainwise.errors",
    "LRFindResult": "trainwise.lrfind",
    "Monitor": "trainwise.monitor",
    "Run": "trainwise.run",
    "TrainConfig": "trainwise.config",
    "TrainState": "trainwise.callbacks",
    "Trainer": "trainwise.loop",
    "compare": "trainwise.compare",
    "diagnose": "trainwise.diagnostics",
    "load": "trainwise.serve",
    "lr_find": "trainwise.lrfind",
    "metrics": "trainwise.metrics",
}
__all__ = ["Callback", "Comparison", "Finding", "InputError", "LRFindResult", "Monitor", "Run", "TrainConfig", "TrainState",
           "Trainer", "__version__", "compare", "diagnose", "load", "lr_find", "metrics"]    # _EXPORTS' keys, __version__
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, keep={"compare"})

if TYPE_CHECKING:
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
    from trainwise.serve import load
