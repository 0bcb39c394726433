"""torchrun with 2 gloo processes on CPU: exact metric sync, identical weights, odd row counts, resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import trainwise as tw
from trainwise import distributed

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
import dist_worker  # noqa: E402

WORKER = Path(__file__).parent / "helpers" / "dist_worker.py"


def torchrun(*args, timeout=240):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def no_time(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    torchrun(WORKER, out, 3, "multilabel")
    return out


def test_weights_stay_identical_across_ranks(two_ranks):
    w0, w1 = load_file(two_ranks / "weights-0.safetensors"), load_file(two_ranks / "weights-1.safetensors")
    for name in w0:
        assert torch.equal(w0[name], w1[name]), name


def synced_and_single(folder, prefix, make_model, data):
    """Each rank's saved run, and a single-process evaluation of rank 0's final weights on the same data."""
    runs = [json.loads((folder / f"{prefix}run-{r}.json").read_text()) for r in (0, 1)]
    model = make_model()
    model.load_state_dict(load_file(folder / f"{prefix}weights-0.safetensors"))
    _, val = data()
    return runs, tw.Trainer(batch_size=32).evaluate(model, val)


def test_synced_metrics_equal_a_single_process_evaluation_of_the_same_weights(two_ranks):
    """Every one of the 101 validation rows counted exactly once: no padding duplicates."""
    runs, single = synced_and_single(two_ranks, "", dist_worker.model, dist_worker.data)
    assert runs[0]["world"] == 2
    assert runs[0]["metrics"] == runs[1]["metrics"]
    synced = runs[0]["metrics"]
    assert synced["num_samples"] == single["num_samples"] == 101
    assert synced["confusion_matrix"] == single["confusion_matrix"]
    for key in ("accuracy", "precision", "recall", "f1", "balanced_accuracy"):
        assert synced[key] == single[key], key
    assert synced["loss"] == pytest.approx(single["loss"], rel=1e-6)
    assert [r["epoch"] for r in runs[0]["history"]] == [1, 2, 3]
    # the end-of-fit assessment: calibration bins summed over both ranks; no baseline under torchrun
    assert synced["calibration"]["samples"] == 101
    assert not synced["baseline"]["ran"] and "torchrun" in synced["baseline"]["reason"]


def test_multilabel_metrics_synced_exactly_equal_a_single_process_evaluation(two_ranks):
    runs, single = synced_and_single(two_ranks, "ml-", dist_worker.tag_model, dist_worker.tags)
    assert runs[0] == runs[1]
    synced = runs[0]["metrics"]
    assert synced["num_samples"] == single["num_samples"] == 101
    for key in ("confusion_matrices", "accuracy", "hamming_loss", "macro", "micro", "per_label"):
        assert synced[key] == single[key], key
    assert synced["loss"] == pytest.approx(single["loss"], rel=1e-6)
    assert set(runs[0]["thresholds"]["per_label"]) == {"0", "1", "2"}


def test_resume_under_torchrun(two_ranks, tmp_path):
    torchrun(WORKER, tmp_path, 2)
    assert (tmp_path / "run" / "last.ckpt").exists()          # written by rank 0
    torchrun(WORKER, tmp_path, 3, "resume")
    resumed = json.loads((tmp_path / "run-0.json").read_text())["history"]
    straight = json.loads((two_ranks / "run-0.json").read_text())["history"]
    assert no_time(resumed) == no_time(straight)
    w_straight, w_resumed = load_file(two_ranks / "weights-0.safetensors"), load_file(tmp_path / "weights-1.safetensors")
    for name in w_straight:
        assert torch.equal(w_straight[name], w_resumed[name]), name


def test_the_cli_under_torchrun_prints_once_and_writes_the_run_folder(tmp_path):
    from sklearn.datasets import load_breast_cancer
    load_breast_cancer(as_frame=True).frame.to_csv(tmp_path / "cancer.csv", index=False)
    proc = torchrun("-m", "trainwise", "fit", tmp_path / "cancer.csv", "--target", "target", "--epochs", "2", "--device", "cpu",
                    "--out", tmp_path / "run", "--json")
    summary = json.loads(proc.stdout)                          # one object: rank 1 printed nothing
    assert summary["metrics"]["num_samples"] == summary["data"]["n_val"]
    assert len(pd.read_csv(tmp_path / "run" / "history.csv")) == 2


def test_more_processes_than_gpus_is_bad_input_before_any_group_forms(monkeypatch):
    from trainwise.errors import InputError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(InputError, match=r"local process 1, but this machine has 1 GPU.*--nproc-per-node 1.*--device cpu"):
        distributed._uses_cuda("auto", 1)
    assert distributed._uses_cuda("cuda", 0)
    assert not distributed._uses_cuda("cpu", 1)            # gloo: any number of processes
