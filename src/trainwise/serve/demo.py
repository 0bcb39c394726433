"""The demo's last lines: a few transactions the model never trained on, scored with the chosen threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trainwise.data.tabular import TabularData
from trainwise.run import Run
from trainwise.serve.load import load

SHOWN_COLUMNS = ("amount", "merchant_category", "country")


def scoring_story(run: Run, data: TabularData, table: pd.DataFrame, *, rows: int = 6) -> str:
    """Score ``rows`` validation rows of ``table`` (half of them positives, in file order) with ``run``'s
    network and the threshold the validation scores chose for the target recall (the one the threshold
    story names; the run's own when none was recorded), and say what each got."""
    predictor = load(run, preprocessor=data.preprocessor)
    recorded = run.thresholds or {}
    goal = next((key for key, value in recorded.items() if key.startswith("recall@") and value), None)
    threshold = recorded[goal]["threshold"] if goal else None
    codes = data.y_val.numpy()
    positives = np.flatnonzero(codes == data.positive)[: rows // 2]
    negatives = np.flatnonzero(codes != data.positive)[: rows - len(positives)]
    picked = np.sort(np.concatenate([positives, negatives]))
    file_rows = data.val_rows[picked] if data.val_rows is not None else picked
    new = table.iloc[file_rows].drop(columns=[data.target])
    result = predictor.predictions(new, threshold=threshold)
    shown = [c for c in SHOWN_COLUMNS if c in new.columns] or list(new.columns[:3])
    positive = predictor.positive
    how = (f"the threshold {result.summary['threshold']['value']:.3g} that reached {float(goal[7:]):.0%} recall on "
           "the validation rows" if goal else f"the threshold {predictor.threshold:.3g}")
    lines = [f"Scoring {len(new)} transactions the model never trained on (validation rows) with {how}:"]
    for i, row in enumerate(file_rows):
        values = ", ".join(_cell(new.iloc[i][c]) for c in shown)
        flagged = "flagged" if str(result.predicted[i]) == positive else "passed"
        truth = "is" if codes[picked[i]] == data.positive else "is not"
        lines.append(f"  row {int(row) + 1}: {values} -> score {result.proba[i]:.3f}, {flagged} "
                     f"(it {truth} class {positive})")
    lines.append("Your own table: `trainwise fit data.csv --target y --threshold recall=0.8 --out RUN`, then "
                 "`trainwise predict RUN new.csv --out preds.csv` (or trainwise.load(RUN).predict(df) in Python).")
    return "\n".join(lines)


def _cell(value: object) -> str:
    return f"{value:,.2f}" if isinstance(value, float) else str(value)
