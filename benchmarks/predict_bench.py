"""`trainwise predict` / `trainwise.load(RUN).predict_proba` against the hand-written equivalent.

The table: the built-in transactions table (8 feature columns: 5 numeric, one with missing values, 2
text, 1 bool) resampled with replacement to ``rows`` rows (seed 0), written once as CSV and as Parquet
(row groups of 65,536 rows). The run: the MLP `trainwise fit` builds (64, 32), trained one epoch on the
20,000-row table, written as `fit --out` writes it (without the HTML report).

The hand-written equivalent is what a person writes from the run folder's files: read the table with
pandas (the same reader trainwise uses: ``read_csv(engine="pyarrow")``, ``read_parquet``), the saved
``TablePreprocessor.transform``, one forward pass in batches of 65,536 rows under ``inference_mode``,
``sigmoid(l_pos - l_neg)`` and the threshold. trainwise does that plus its checks: the columns, empty
cells, the drift and unseen-category tallies, the findings; Parquet is read a record batch at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

BATCH_ROWS = 65_536


def make_files(rows: int, folder: Path) -> dict[str, Path]:
    from trainwise.data import TRANSACTIONS_TARGET, load_transactions

    table = load_transactions()
    big = table.sample(rows, replace=True, random_state=0).reset_index(drop=True).drop(columns=[TRANSACTIONS_TARGET])
    paths = {"csv": folder / "new.csv", "parquet": folder / "new.parquet"}
    big.to_csv(paths["csv"], index=False)
    big.to_parquet(paths["parquet"], row_group_size=BATCH_ROWS, index=False)
    return paths


def make_run(folder: Path) -> Path:
    """A run folder as `trainwise fit --out` writes it (no report.html), one epoch on the transactions table."""
    from trainwise.config import TrainConfig
    from trainwise.data import TRANSACTIONS_TARGET, load_transactions, prepare_tabular
    from trainwise.runfolder import write_run
    from trainwise.tabular import fit_table

    data = prepare_tabular(load_transactions(), TRANSACTIONS_TARGET, seed=0)
    run = fit_table(data, TrainConfig(epochs=1, threshold="recall=0.8", checkpoint_dir=str(folder), device="cpu"))
    write_run(folder, run, report=False, settings={"target": TRANSACTIONS_TARGET, "hidden": [64, 32],
                                                   "dropout": 0.1, "preprocessor": data.preprocessor.to_dict()})
    return folder


def hand_written(run: Path, path: Path, out: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 12 lines of the issue: the run folder's files, by hand (with ``out``: the rows and the predictions
    written as Parquet, as `trainwise predict --out` writes them)."""
    import json

    from safetensors.torch import load_file

    from trainwise.data import TablePreprocessor
    from trainwise.models import mlp

    config = json.loads((run / "config.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    pre = TablePreprocessor.from_dict(config["preprocessor"])
    net = mlp(len(pre.feature_names), 2, hidden=config["hidden"], dropout=config["dropout"])
    net.load_state_dict(load_file(str(run / "model.safetensors")))
    net.eval()
    threshold = summary["thresholds"]["applied"]["threshold"]
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, engine="pyarrow")
    X = torch.from_numpy(pre.transform(df))
    scores = []
    with torch.inference_mode():
        for i in range(0, len(X), BATCH_ROWS):
            logits = net(X[i:i + BATCH_ROWS])
            scores.append(torch.sigmoid(logits[:, 1] - logits[:, 0]))
    score = torch.cat(scores).numpy()
    if out is not None:
        df.assign(prediction=(score >= threshold).astype(np.int64), score=score).to_parquet(out, index=False)
    return score, score >= threshold


def contenders(run: Path, paths: dict[str, Path], kind: str) -> dict[str, Callable[[], object]]:
    """``csv`` / ``parquet``: the API on that file; ``cli``: Parquet in, Parquet out, the command in process."""
    import trainwise as tw
    from trainwise.cli import main

    if kind == "cli":
        path, out = paths["parquet"], paths["parquet"].with_name("out.parquet")
        return {"hand-written, rows + predictions to Parquet": lambda: hand_written(run, path, out),
                "trainwise predict RUN new.parquet --out out.parquet": lambda: main(
                    ["predict", str(run), str(path), "--out", str(out), "--quiet"])}
    path = paths[kind]
    return {"hand-written (read, transform, forward)": lambda: hand_written(run, path),
            "trainwise.load(RUN).predict_proba(path)": lambda: tw.load(run).predict_proba(path)}


def agreement(run: Path, paths: dict[str, Path]) -> float:
    """The largest difference between the hand-written scores and trainwise's."""
    import trainwise as tw

    return float(np.abs(hand_written(run, paths["parquet"])[0] - tw.load(run).predict_proba(paths["parquet"])).max())
