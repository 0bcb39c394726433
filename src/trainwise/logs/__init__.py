"""Reading the training logs other tools write (and trainwise's own): one reader per format, one dispatcher.

``read_log(path)`` returns a :class:`Reading`: the per-epoch (or per-evaluation) records in the Keras key
convention and how they were read (format, column mapping, ignored columns, granularity, best epoch).
Nothing here imports torch: diagnosing a log is a table operation.
"""

from trainwise.logs.columns import canonical_key
from trainwise.logs.dispatch import read_log
from trainwise.logs.reading import Reading, best_epoch
from trainwise.logs.records import RECORD_KEYS

__all__ = ["RECORD_KEYS", "Reading", "best_epoch", "canonical_key", "read_log"]
