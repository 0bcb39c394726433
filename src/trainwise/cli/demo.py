"""`trainwise demo`: the mission's story on the built-in transactions table (about 2% fraud), no data and
no network needed: SGD and Adam from the same start, the curves and findings, why 98% accuracy is not
good, and the threshold that catches most frauds."""

from __future__ import annotations

from argparse import Namespace

from trainwise.cli.compare import print_comparison
from trainwise.cli.output import console, emit, out_dir
from trainwise.cli.training import progress
from trainwise.compare import compare
from trainwise.data import TRANSACTIONS_TARGET, load_transactions, prepare_tabular
from trainwise.models import mlp
from trainwise.policy import DEFAULT_THRESHOLD
from trainwise.report import print_summary, write_report
from trainwise.runfolder import write_run
from trainwise.serve.demo import scoring_story

SOURCE = "transactions (built-in)"


def run(args: Namespace) -> int:
    table = load_transactions()
    data = prepare_tabular(table, TRANSACTIONS_TARGET, seed=0, source=SOURCE)
    folder = out_dir(args.out, overwrite=args.overwrite, replace_runs=True)
    out = console(args)
    counts = data.class_counts
    out.print(f"Built-in transactions table: {sum(counts)} rows, {counts[data.positive]} frauds "
              f"({counts[data.positive] / sum(counts):.1%}). Training the same MLP with SGD and with Adam "
              f"for {args.epochs} epochs, from the same initial weights.")
    result = compare(lambda: mlp(data.X_train.shape[1], len(data.labels)),
                     (data.X_train, data.y_train), (data.X_val, data.y_val),
                     optimizers={"sgd": {}, "adam": {}}, epochs=args.epochs, batch_size=256,
                     labels=data.labels, positive=data.positive, data_info=data.describe(),
                     callbacks=progress(args), progress=False)
    comparison = result.summary()
    winner = result.winner or "adam"
    summary = comparison["runs"][winner]
    if folder is not None:
        for name, trained in result.runs.items():
            write_run(folder / name, trained, settings={"data": SOURCE, "target": TRANSACTIONS_TARGET})
        write_report(folder, summary, comparison=comparison, title="trainwise demo: SGD vs Adam on transactions")
    if args.json:
        emit(args, comparison)
        return 0
    print_comparison(result, out)
    print_summary(summary, out, title=f"The {winner} run, judged")
    out.print(threshold_story(summary))
    out.print(scoring_story(result.runs[winner], data, table))      # the trained model used on rows
    if folder is not None:
        out.print(f"Report: {folder / 'report.html'} (open it in a browser)")
    return 0


def threshold_story(summary: dict) -> str:
    """What moving the decision threshold buys, in numbers from the validation scores."""
    metrics, thresholds = summary["metrics"], summary.get("thresholds") or {}
    at_recall = next((v for k, v in thresholds.items() if k.startswith("recall@") and v), None)
    best = thresholds.get("best_f1")
    lines = [f"At the default threshold {DEFAULT_THRESHOLD:g} the model finds {metrics['recall']:.0%} of class "
             f"{metrics['positive_label']} at {metrics['precision']:.0%} precision."]
    if at_recall:
        lines.append(f"Lowering the threshold to {at_recall['threshold']:.3g} finds {at_recall['recall']:.0%} of them "
                     f"at {at_recall['precision']:.0%} precision ({at_recall['fp']} false alarms).")
    if best:
        lines.append(f"The best F1 ({best['f1']:.2f}) is at threshold {best['threshold']:.3g}. Choose with "
                     "`trainwise fit ... --threshold recall=0.8` (or best_f1), and confirm on held-out data.")
    return " ".join(lines)
