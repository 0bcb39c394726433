"""Tables in, tensors out: reading, label encoding, stratified splits, preprocessing fitted on training
rows only, the leakage fingerprint, and the built-in demo table."""

from trainwise.data.builtin import TRANSACTIONS_TARGET, load_transactions
from trainwise.data.fingerprint import duplicate_rows
from trainwise.data.preprocess import TablePreprocessor, encode_labels, positive_index
from trainwise.data.split import stratified_split
from trainwise.data.tables import SUPPORTED_SUFFIXES, read_table
from trainwise.data.tabular import TabularData, prepare_tabular

__all__ = [
    "SUPPORTED_SUFFIXES",
    "TRANSACTIONS_TARGET",
    "TablePreprocessor",
    "TabularData",
    "duplicate_rows",
    "encode_labels",
    "load_transactions",
    "positive_index",
    "prepare_tabular",
    "read_table",
    "stratified_split",
]
