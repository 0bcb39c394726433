"""Is the model as good as it could be? scikit-learn's own tables, before and after issue #18.

    python benchmarks/quality_tables.py [--before-src DIR] [--seed 0] [--out results.json]

For iris, wine, breast cancer and digits (written as CSV files with a ``target`` column), it runs:

* **before** (with ``--before-src``, a ``src`` folder of an earlier trainwise, e.g. from
  ``git archive f920264 src | tar -x -C /tmp/before``): ``trainwise fit T.csv --target target --seed S
  --json`` as that version's CLI ran it, with its fixed defaults (20 epochs, batch 256);
* **old settings, judged now**: the same 20 epochs at batch 256 through this version (``fit_table``,
  what ``trainwise fit`` calls), so the new checks (``not_converged`` as a warning,
  ``weaker_than_baseline``, ``miscalibrated``) meet the under-trained runs;
* **after**: this version with the settings ``trainwise.defaults.choose_defaults`` picks for the
  table's training rows (batch, epoch budget, early stopping with the best weights).

and prints one table: accuracy, the logistic-regression baseline on the same rows, the verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
from sklearn import datasets  # noqa: E402

from trainwise.config import TrainConfig  # noqa: E402
from trainwise.data import prepare_tabular  # noqa: E402
from trainwise.defaults import choose_defaults  # noqa: E402
from trainwise.tabular import fit_table  # noqa: E402

TABLES = {"iris": datasets.load_iris, "wine": datasets.load_wine, "breast cancer": datasets.load_breast_cancer,
          "digits": datasets.load_digits}


def before(csv: Path, src: Path, seed: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-m", "trainwise", "fit", str(csv), "--target", "target", "--seed",
                          str(seed), "--json", "--quiet"], capture_output=True, text=True, env=env, check=False)
    summary = json.loads(out.stdout)
    return {"accuracy": summary["metrics"]["accuracy"], "verdict": summary["verdict"],
            "findings": [f"{f['code']} ({f['severity']})" for f in summary["findings"]]}


def fit(data, seed: int, settings: dict) -> dict:
    started = time.perf_counter()
    run = fit_table(data, TrainConfig(seed=seed, **settings))
    b = run.baseline
    return {"accuracy": run.metrics["accuracy"], "verdict": run.verdict, "epochs_run": len(run.history),
            "baseline": b["baseline"], "baseline_outcome": b["outcome"], "p_value": b["p_value"],
            "ece": run.calibration["ece"], "seconds": time.perf_counter() - started,
            "findings": [f"{f.code} ({f.severity.value})" for f in run.findings]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before-src", type=Path, help="the src folder of the trainwise to compare with")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, load in TABLES.items():
            frame = load(as_frame=True).frame
            data = prepare_tabular(frame, "target", seed=args.seed)      # as `trainwise fit` splits it
            chosen = choose_defaults(len(data.X_train))
            row = {"rows": len(frame), "chosen": chosen.to_dict()}
            if args.before_src:
                csv = Path(tmp) / f"{name.replace(' ', '_')}.csv"
                frame.to_csv(csv, index=False)
                row["before"] = before(csv, args.before_src, args.seed)
            row["old_settings_now"] = fit(data, args.seed, {"epochs": 20, "batch_size": 256})
            row["after"] = fit(data, args.seed, chosen.settings())
            results[name] = row
            print(f"{name}: done", file=sys.stderr, flush=True)

    print("| table | rows | before: accuracy, verdict | old settings now: verdict (warnings) | after: batch, "
          "epochs run / budget | after: accuracy | baseline (same rows) | after: verdict (warnings) |")
    print("|---|---:|---|---|---|---:|---:|---|")
    for name, row in results.items():
        old, new, chosen = row["old_settings_now"], row["after"], row["chosen"]
        was = (f"{row['before']['accuracy']:.3f}, {row['before']['verdict'].upper()}" if "before" in row
               else "–")
        print(f"| {name} | {row['rows']:,} | {was} | {old['accuracy']:.3f}, {old['verdict'].upper()} "
              f"({_warnings(old)}) | {chosen['batch_size']}, {new['epochs_run']} / {chosen['epochs']} | "
              f"{new['accuracy']:.3f} | {new['baseline']:.3f} ({new['baseline_outcome']}) | "
              f"{new['verdict'].upper()} ({_warnings(new)}) |")
    if args.out:
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), "seed": args.seed, "tables": results},
                                       indent=1) + "\n")
    return 0


def _warnings(result: dict) -> str:
    codes = [f.split(" ")[0] for f in result["findings"] if not f.endswith("(info)")]
    return ", ".join(codes) or "none"


if __name__ == "__main__":
    raise SystemExit(main())
