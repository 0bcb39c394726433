"""Tables in, tensors out: reading, label encoding, stratified splits, preprocessing fitted on training
rows only, the leakage fingerprint, and the built-in demo table.

Names are imported on first use (``trainwise._lazy``): reading a table needs pandas, not torch.
"""

from typing import TYPE_CHECKING

from trainwise._lazy import lazy_exports

_EXPORTS = {
    "SUPPORTED_SUFFIXES": "trainwise.data.tables",
    "TRANSACTIONS_TARGET": "trainwise.data.builtin",
    "TablePreprocessor": "trainwise.data.preprocess",
    "TabularData": "trainwise.data.tabular",
    "duplicate_rows": "trainwise.data.fingerprint",
    "encode_labels": "trainwise.data.preprocess",
    "load_transactions": "trainwise.data.builtin",
    "positive_index": "trainwise.data.preprocess",
    "prepare_tabular": "trainwise.data.tabular",
    "read_table": "trainwise.data.tables",
    "stratified_split": "trainwise.data.split",
}
__all__ = ["SUPPORTED_SUFFIXES", "TRANSACTIONS_TARGET", "TablePreprocessor", "TabularData", "duplicate_rows",
           "encode_labels", "load_transactions", "positive_index", "prepare_tabular", "read_table",
           "stratified_split"]                                                                # _EXPORTS' keys
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from trainwise.data.builtin import TRANSACTIONS_TARGET, load_transactions
    from trainwise.data.fingerprint import duplicate_rows
    from trainwise.data.preprocess import TablePreprocessor, encode_labels, positive_index
    from trainwise.data.split import stratified_split
    from trainwise.data.tables import SUPPORTED_SUFFIXES, read_table
    from trainwise.data.tabular import TabularData, prepare_tabular
