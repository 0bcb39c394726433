"""A Lightning fit on 2 CPU processes (DDP, gloo) with trainwise's callback; each rank writes what its callback
holds to OUT/rank<R>.json, rank 0 the run folder OUT/run. Lightning launches rank 1 by running this script
again. Used by tests/test_integrations_lightning.py (opt-in: TRAINWISE_SLOW_TESTS=1)."""

import json
import logging
import sys
import warnings
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).parent))
from integration_data import noisy_cancer  # noqa: E402

from trainwise.integrations.lightning import TrainwiseCallback  # noqa: E402


class Module(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(30, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))

    def training_step(self, batch, batch_idx):
        x, y = batch
        out = self.net(x)
        return {"loss": F.cross_entropy(out, y), "logits": out}

    def validation_step(self, batch, batch_idx):
        return self.net(batch[0])

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=3e-3)


def main(out: Path) -> None:
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    torch.set_num_threads(1)
    (X, y), (Xv, yv) = noisy_cancer()
    callback = TrainwiseCallback(out=out / "run")
    trainer = L.Trainer(max_epochs=3, accelerator="cpu", devices=2, strategy="ddp", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, callbacks=[callback])
    trainer.fit(Module(), DataLoader(TensorDataset(torch.tensor(X), torch.tensor(y)), batch_size=16),
                DataLoader(TensorDataset(torch.tensor(Xv), torch.tensor(yv)), batch_size=64))
    run = callback.run
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(
        {"history": run.history, "metrics": run.metrics, "verdict": run.verdict}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
