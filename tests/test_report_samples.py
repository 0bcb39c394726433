"""Sample summaries in the documented shapes (docs/architecture.md), shared by the report tests,
and a check that they keep matching what a real `Trainer.fit` produces."""

from __future__ import annotations

import atexit
import functools
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from trainwise.report import write_report

XSS = "<img src=x onerror=alert(1)>"


def _scores(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic validation scores: 3920 legit rows, 80 frauds."""
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.beta(2, 8, 3920), rng.beta(4, 4, 80)])
    return scores, np.concatenate([np.zeros(3920, int), np.ones(80, int)])


def _pr_curve(seed: int = 0) -> tuple[dict, dict]:
    """A PR curve in scikit-learn's order (recall falling, then the (recall 0, precision 1) end),
    thinned to about 200 points, and its best-F1 point."""
    scores, target = _scores(seed)
    order = np.argsort(-scores)
    tps = np.cumsum(target[order])
    fps = np.cumsum(1 - target[order])
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    thresholds = scores[order]
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-300)
    i = int(f1.argmax())
    best = {"threshold": float(thresholds[i]), "precision": float(precision[i]), "recall": float(recall[i]),
            "f1": float(f1[i]), "tp": int(tps[i]), "fp": int(fps[i]), "tn": int(3920 - fps[i]), "fn": int(80 - tps[i])}
    step = max(1, len(precision) // 200)
    curve = {"precision": [*precision[::-step].tolist(), 1.0], "recall": [*recall[::-step].tolist(), 0.0],
             "thresholds": thresholds[::-step].tolist()}
    return curve, best


def binary_history(epochs: int = 12, *, onset: int = 7) -> list[dict]:
    history = []
    for e in range(1, epochs + 1):
        train = 0.45 * math.exp(-0.25 * e) + 0.03
        val = 0.2 * math.exp(-0.35 * e) + 0.07 + (0.012 * (e - onset + 1) ** 1.3 if e >= onset else 0)
        history.append({"epoch": e, "train_loss": train, "train_accuracy": 0.96 + 0.003 * e, "val_loss": val,
                        "val_accuracy": 0.975 + 0.001 * min(e, 6), "val_precision": 0.35 + 0.04 * min(e, 8),
                        "val_recall": 0.12 + 0.03 * min(e, 9), "val_f1": 0.2 + 0.035 * min(e, 8),
                        "val_balanced_accuracy": 0.55 + 0.015 * min(e, 9), "lr": 1e-3, "grad_norm_mean": 0.8 / e,
                        "grad_norm_max": 2.0 / e, "grad_top_layer": "net.0.weight", "steps": 13 * e,
                        "seconds": 0.21})
    return history


def binary_summary(*, positive: str = "fraud", negative: str = "legit", source: str = "transactions.csv",
                   target: str = "is_fraud", optimizer: str = "adam", history: list[dict] | None = None) -> dict:
    curve, best = _pr_curve()
    history = history if history is not None else binary_history()
    scores, truth = _scores()
    predicted = scores >= 0.5
    tp, fp = int((predicted & (truth == 1)).sum()), int((predicted & (truth == 0)).sum())
    fn, tn = 80 - tp, 3920 - fp
    metrics = {
        "loss": history[-1]["val_loss"], "num_samples": 4000, "accuracy": (tp + tn) / 4000,
        "balanced_accuracy": 0.5 * (tp / (tp + fn) + tn / (tn + fp)), "precision": tp / (tp + fp),
        "recall": tp / (tp + fn), "f1": 2 * tp / (2 * tp + fp + fn), "average": "binary",
        "labels": [negative, positive], "positive_label": positive, "confusion_matrix": [[tn, fp], [fn, tp]],
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "per_class": {negative: {"precision": tn / (tn + fn), "recall": tn / (tn + fp), "f1": 0.99, "support": tn + fp},
                      positive: {"precision": tp / (tp + fp), "recall": tp / (tp + fn), "f1": 0.45, "support": tp + fn}},
        "macro": {"precision": 0.79, "recall": 0.67, "f1": 0.72}, "micro": {"precision": 0.98, "recall": 0.98, "f1": 0.98},
        "weighted": {"precision": 0.98, "recall": 0.98, "f1": 0.98}, "average_precision": 0.61, "roc_auc": 0.93,
    }
    findings = [
        {"code": "low_recall", "severity": "error", "epoch": None,
         "message": f"recall on class {positive} is {tp / (tp + fn):.0%}: the model misses {fn / (tp + fn):.0%} of them.",
         "advice": "Lower the decision threshold (0.5 -> 0.18 reaches 80% recall at 41% precision) or use class weights.",
         "evidence": {"recall": tp / (tp + fn), "label": positive, "support": tp + fn}},
        {"code": "overfitting", "severity": "warning", "epoch": 7,
         "message": "validation loss rose 31% above its minimum (epoch 6) while training loss kept falling.",
         "advice": "Stop at the best epoch (early stopping), add dropout or weight decay, or get more data.",
         "evidence": {"best_epoch": 6, "best_val_loss": 0.095, "last_val_loss": 0.124, "onset_epoch": 7}},
        {"code": "class_imbalance", "severity": "info", "epoch": None,
         "message": f"class {positive} is 2.0% of the rows.", "advice": "Judge the model by recall and precision.",
         "evidence": {"label": positive, "share": 0.02, "shares": {negative: 0.98, positive: 0.02}}},
    ]
    data = {
        "labels": [negative, positive], "num_classes": 2, "positive": 1, "n_train": 16000, "n_val": 4000,
        "class_counts": [19600, 400], "source": source, "target": target,
        "validation": {"kind": "split", "stratified": True, "fraction": 0.2, "seed": 0},
        "rows": {"train": 16000, "val": 4000, "total": 20000}, "columns": 8, "features": 11,
        "classes": [{"label": negative, "count": 19600, "share": 0.98, "train": 15680, "val": 3920},
                    {"label": positive, "count": 400, "share": 0.02, "train": 320, "val": 80}],
        "positive_label": positive, "leakage": {"count": 0, "share": 0.0, "examples": []},
    }
    config = {"optimizer": optimizer, "lr": None, "epochs": len(history), "batch_size": 256, "val_batch_size": None,
              "seed": 0, "device": "auto", "optimizer_options": {}, "schedule": "none", "warmup_epochs": 0,
              "grad_clip": None, "class_weights": None, "no_decay_on_bias_and_norm": False, "threshold": None,
              "optimizer_settings": {"lr": 0.001, "betas": [0.9, 0.999]}}
    return {"verdict": "bad", "findings": findings, "metrics": metrics, "best_epoch": 6, "history": history,
            "thresholds": {"best_f1": best, "curve": curve}, "stop_reason": None, "data": data, "config": config}


def comparison_sample() -> dict:
    sgd_history = [{**r, "val_loss": r["val_loss"] * 1.6 + 0.05, "train_loss": r["train_loss"] * 1.5,
                    "val_f1": r["val_f1"] * 0.7} for r in binary_history(onset=99)]
    sgd = binary_summary(optimizer="sgd", history=sgd_history)
    sgd["verdict"] = "warning"
    return {"runs": {"sgd": sgd, "adam": binary_summary()}, "winner": "adam",
            "sentence": "Adam reached SGD's best validation loss 3.1x sooner but began overfitting at epoch 7.",
            "rule": "lowest best validation loss wins",
            "table": [{"name": "sgd", "lr": 0.01, "best_val_loss": 0.2, "best_epoch": 12, "epochs_to_target": None,
                       "seconds_to_target": None, "stability": "smooth"},
                      {"name": "adam", "lr": 0.001, "best_val_loss": 0.09, "best_epoch": 6, "epochs_to_target": 5,
                       "seconds_to_target": 1.05, "stability": "smooth"}],
            "target_val_loss": 0.0992}


def lr_find_sample() -> dict:
    lrs = np.logspace(-6, 0, 60)
    losses = 0.7 - 0.5 / (1 + np.exp(-(np.log10(lrs) + 3.5) * 2)) + np.where(lrs > 0.1, (lrs - 0.1) * 30, 0)
    noisy = losses + np.random.default_rng(0).normal(0, 0.02, len(losses))
    return {"lrs": lrs.tolist(), "losses": noisy.tolist(), "smoothed": losses.tolist(), "suggestion": 3e-3,
            "method": "steepest"}


def multiclass_summary(labels: list[str]) -> dict:
    """Three or more classes with user-chosen (possibly hostile) labels; no thresholds, no PR curve."""
    n = len(labels)
    cm = [[50 if i == j else 3 + i + j for j in range(n)] for i in range(n)]
    history = [{"epoch": e, "train_loss": 1.1 / e, "val_loss": 1.2 / e + 0.05, "val_accuracy": 0.5 + 0.05 * e,
                "val_precision": 0.45 + 0.05 * e, "val_recall": 0.5 + 0.04 * e, "val_f1": 0.47 + 0.045 * e,
                "lr": 0.1, "seconds": 0.1} for e in range(1, 6)]
    metrics = {"loss": history[-1]["val_loss"], "num_samples": sum(map(sum, cm)), "accuracy": 0.8,
               "balanced_accuracy": 0.8, "precision": 0.78, "recall": 0.8, "f1": 0.79, "average": "macro",
               "labels": labels, "confusion_matrix": cm,
               "per_class": {label: {"precision": 0.8, "recall": 0.8, "f1": 0.8, "support": sum(cm[i])}
                             for i, label in enumerate(labels)},
               "macro": {"precision": 0.78, "recall": 0.8, "f1": 0.79}}
    findings = [{"code": "not_converged", "severity": "warning", "epoch": 5,
                 "message": f"validation loss still falling at the last epoch; column {labels[0]} matters most.",
                 "advice": f"Train longer. {labels[-1]}", "evidence": {labels[0]: labels[1], "labels": labels}}]
    data = {"labels": labels, "num_classes": n, "positive": None, "n_train": 800, "n_val": 200,
            "source": f"{labels[0]}.csv", "target": labels[1],
            "classes": [{"label": label, "count": 100, "share": 1 / n} for label in labels],
            "leakage": {"count": 3, "share": 0.015, "examples": [{"val_row": 1, "train_row": 7}]}}
    config = {"optimizer": "sgd", "lr": 0.1, "epochs": 5, "seed": 7, "device": "cpu", "note": labels[2]}
    return {"verdict": "warning", "findings": findings, "metrics": metrics, "best_epoch": 5, "history": history,
            "thresholds": None, "stop_reason": None, "data": data, "config": config}


HOSTILE_LABELS = [XSS, "$x$ & <b>bold</b>", "café \"quoted\" 'single'", "plain"]


@functools.cache
def written_report(kind: str) -> Path:
    """A report written once per test session and shared by the modules that read it (drawing six
    figures takes seconds): ``full`` has every section, ``hostile`` has hostile labels everywhere."""
    folder = Path(tempfile.mkdtemp(prefix=f"trainwise-report-{kind}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    if kind == "full":
        return write_report(folder, binary_summary(), comparison=comparison_sample(), lr_find=lr_find_sample())
    if kind == "hostile":
        return write_report(folder, multiclass_summary(HOSTILE_LABELS), title=f"run {XSS}")
    raise ValueError(f"Expected `kind` to be 'full' or 'hostile', but got {kind!r}")


def test_a_real_run_has_the_keys_the_samples_give_the_report():
    """The report tests are built on these samples; a real run's summary must hold every key they use
    (except the PR curve, which the metrics package may or may not record)."""
    from trainwise.config import TrainConfig
    from trainwise.data import prepare_tabular
    from trainwise.tabular import fit_table

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"amount": rng.normal(size=300), "kind": rng.choice(["a", "b"], 300)})
    table["fraud"] = (table["amount"] > 1.0).astype(int)
    data = prepare_tabular(table, "fraud", seed=0, source="t.csv")
    summary = fit_table(data, TrainConfig(epochs=2, batch_size=64, seed=0)).summary()
    sample = binary_summary()
    assert set(sample) <= set(summary)
    assert set(sample["metrics"]) <= set(summary["metrics"])
    assert set(sample["history"][0]) <= set(summary["history"][0])
    assert set(sample["data"]) <= set(summary["data"])
    assert set(sample["data"]["classes"][0]) <= set(summary["data"]["classes"][0])
    assert set(sample["data"]["leakage"]) <= set(summary["data"]["leakage"])
    assert set(sample["thresholds"]["best_f1"]) <= set(summary["thresholds"]["best_f1"])
    assert set(sample["config"]) <= set(summary["config"])


def test_real_comparison_and_lr_find_have_the_keys_the_samples_use():
    from trainwise.compare import compare
    from trainwise.lrfind import lr_find

    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 4, generator=g)
    y = (X[:, 0] > 0.5).long()

    def make_model() -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))

    real = compare(make_model, (X[:150], y[:150]), (X[150:], y[150:]), optimizers={"sgd": None, "adam": None},
                   epochs=2, batch_size=50).summary()
    sample = comparison_sample()
    assert set(sample) <= set(real)
    assert set(sample["table"][0]) <= set(real["table"][0])
    assert isinstance(real["winner"], str) and real["winner"] in real["runs"]
    found = lr_find(make_model(), (X, y), num_steps=15, batch_size=20).to_dict()
    assert set(lr_find_sample()) <= set(found)
