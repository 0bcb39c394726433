"""The shipped transactions table: present in the package, ~2% fraud, reproducible from its script."""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from trainwise.data import TRANSACTIONS_TARGET, load_transactions, prepare_tabular

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_table_loads_with_about_two_percent_fraud():
    df = load_transactions()
    assert len(df) == 20_000
    assert list(df.columns) == [
        "amount", "hour", "merchant_category", "country", "card_present",
        "distance_from_home_km", "txn_last_24h", "account_age_days", TRANSACTIONS_TARGET,
    ]
    assert set(df[TRANSACTIONS_TARGET].unique()) == {0, 1}
    assert 0.015 <= df[TRANSACTIONS_TARGET].mean() <= 0.025
    assert pd.api.types.is_bool_dtype(df["card_present"])
    assert not pd.api.types.is_numeric_dtype(df["merchant_category"])
    assert not pd.api.types.is_numeric_dtype(df["country"])
    assert df.columns[df.isna().any()].tolist() == ["distance_from_home_km"]
    assert df["hour"].between(0, 23).all() and (df["amount"] > 0).all()


def test_shipped_file_is_small():
    ref = resources.files("trainwise.data") / "transactions.csv.gz"
    assert len(ref.read_bytes()) < 1_000_000


def test_demo_preparation_is_binary_with_fraud_positive():
    data = prepare_tabular(load_transactions(), TRANSACTIONS_TARGET, source="transactions.csv.gz")
    assert data.labels == ["0", "1"] and data.positive == 1
    assert data.leakage["count"] == 0
    assert "distance_from_home_km:missing" in data.feature_names
    majority = max(data.class_counts) / sum(data.class_counts)
    assert 0.975 <= majority <= 0.985  # the baseline the accuracy paradox is measured against


def test_generator_reproduces_the_shipped_file(tmp_path):
    spec = importlib.util.spec_from_file_location("make_transactions", ROOT / "scripts" / "make_transactions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table, p_fraud = module.make()
    assert np.all((p_fraud > 0) & (p_fraud < 1))
    out = tmp_path / "transactions.csv.gz"
    module.write(table, out)
    shipped = resources.files("trainwise.data") / "transactions.csv.gz"
    assert out.read_bytes() == shipped.read_bytes()
