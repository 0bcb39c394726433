"""Run under torchrun by tests/test_distributed.py: train, then each rank writes what it ended with."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

import trainwise as tw
from trainwise import distributed


def data():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (501,), generator=g)
    X = torch.randn(3, 6, generator=g)[y] + torch.randn(501, 6, generator=g)
    return (X[:400], y[:400]), (X[400:], y[400:])          # 101 validation rows: odd, not a multiple of 2


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def tags():
    """Multi-label data: 3 labels from 3 linear rules; 101 validation rows."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(501, 6, generator=g)
    Y = ((X @ torch.randn(6, 3, generator=g) + torch.tensor([0.0, -1.0, -2.0])) > 0).long()
    return (X[:400], Y[:400]), (X[400:], Y[400:])


def tag_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def multilabel(out: Path) -> None:
    """A multi-label fit: its per-label counts synced over the ranks by one all-reduce."""
    train, val = tags()
    net = tag_model()
    run = tw.Trainer(epochs=2, batch_size=32, seed=1, device="cpu").fit(net, train, val)
    rank = distributed.current().rank
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out / f"ml-weights-{rank}.safetensors"))
    (out / f"ml-run-{rank}.json").write_text(json.dumps({"metrics": run.metrics, "thresholds": run.thresholds}))


def main(out: Path, epochs: int, resume: bool) -> None:
    train, val = data()
    net = model()
    trainer = tw.Trainer(epochs=epochs, batch_size=32, seed=1, checkpoint_dir=str(out / "run"), device="cpu")
    run = trainer.fit(net, train, val, resume=resume)
    world = distributed.current()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out / f"weights-{world.rank}.safetensors"))
    (out / f"run-{world.rank}.json").write_text(json.dumps({"metrics": run.metrics, "history": run.history,
                                                            "world": world.size}))


if __name__ == "__main__":
    mode = sys.argv[3] if len(sys.argv) > 3 else ""
    main(Path(sys.argv[1]), int(sys.argv[2]), mode == "resume")
    if mode == "multilabel":
        multilabel(Path(sys.argv[1]))
