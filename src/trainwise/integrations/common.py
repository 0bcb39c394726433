"""What the three framework callbacks share: a `Monitor` fed with the predictions the framework hands over,
the values it logged mapped to trainwise's keys, and the end of a run (Run, verdict, run folder).

An epoch's record is built from two sources:

* **measured** by trainwise: the training loss of each step (and training accuracy when the step's outputs
  are handed over), and validation loss, accuracy, precision, recall, F1 from the validation predictions;
* **logged** by the framework (Lightning's callback metrics, a Hugging Face log entry, a Keras ``logs``
  dict), mapped by `logged_record`.

Losses come from the log when it has them (they are the user's own loss, with its weights or smoothing);
accuracy, precision, recall and F1 come from trainwise's measurement when it saw predictions, so that the
history agrees with the confusion matrix. Either fills what the other lacks.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.text import Text

from trainwise.distributed import World
from trainwise.errors import InputError
from trainwise.history import canonical_key
from trainwise.monitor import Monitor
from trainwise.report.terminal import findings_text, verdict_text
from trainwise.run import Run, environment
from trainwise.runfolder import write_run

LOGGED_WINS = frozenset({"train_loss", "val_loss"})   # keys where the framework's logged value is preferred


def missing_framework(package: str, extra: str) -> ImportError:
    """The one-line error for a callback whose framework is not installed."""
    return ImportError(f"{package} is not installed: pip install 'trainwise[{extra}]'")


def logged_record(logged: Mapping[str, Any]) -> dict[str, float]:
    """The trainwise record keys in what a framework logged: ``val_acc`` -> ``val_accuracy``,
    ``eval_loss`` -> ``val_loss``, ``loss`` -> ``train_loss``, ``learning_rate``/``lr-Adam`` -> ``lr``...

    The one place the integrations map key names; it applies the rule `trainwise diagnose` reads log files
    with (`trainwise.history.canonical_key`). Of several names for one key, a per-epoch value (``*_epoch``,
    Lightning's ``on_epoch=True``) beats a plain one, which beats a per-step one (``*_step``). Values that are
    not numbers are left out; a tensor is read here (once per epoch). Test-set keys (``test_loss``) are left
    out too: inside a fit they come from a test run, not from validation (a log file without any validation
    column is read with them as its held-out signal, but a framework hands both apart).
    """
    chosen: dict[str, tuple[int, float]] = {}
    for name, value in logged.items():
        if str(name).lower().startswith(("test_", "test/", "test ")):
            continue
        key = canonical_key(str(name))
        if key is None or key == "epoch":
            continue
        number = _number(value)
        if number is None:
            continue
        lowered = str(name).lower()
        level = 0 if lowered.endswith("_epoch") else 2 if lowered.endswith("_step") else 1
        if key not in chosen or level < chosen[key][0]:
            chosen[key] = (level, number)
    return {key: number for key, (_, number) in chosen.items()}


def _number(value: Any) -> float | None:
    if isinstance(value, torch.Tensor):
        return float(value.detach().float()) if value.numel() == 1 else None
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class StepLosses:
    """Training losses of steps whose outputs were not handed over: references kept, summed at the epoch's end
    (no host sync per step). Each step's mean loss weighs the samples it held."""

    FOLD_EVERY = 1024          # steps held at most before they are folded into the device sum

    def __init__(self) -> None:
        self.total: torch.Tensor | None = None
        self.seen = 0
        self._held: dict[int, list[torch.Tensor]] = {}
        self._count = 0

    def add(self, loss: torch.Tensor, n: int) -> None:
        self._held.setdefault(n, []).append(loss.detach() if loss.requires_grad else loss)
        self.seen += n
        self._count += 1
        if self._count >= self.FOLD_EVERY:
            self._fold()

    def _fold(self) -> None:
        for n, losses in self._held.items():
            part = torch.stack([loss.reshape(()) for loss in losses]).to(torch.float64).sum() * n
            self.total = part if self.total is None else self.total + part
        self._held, self._count = {}, 0

    def read(self, world: World) -> float | None:
        """The epoch's mean training loss (one host read; one all-reduce under DDP), None when no step ran."""
        self._fold()
        if world.distributed:
            device = self.total.device if self.total is not None else torch.device("cpu")
            sums = torch.stack([self.total if self.total is not None else torch.zeros((), device=device,
                                                                                        dtype=torch.float64),
                                torch.tensor(float(self.seen), dtype=torch.float64, device=device)])
            world.all_reduce(sums)
            total, seen = sums.tolist()
        else:
            total, seen = (self.total.item() if self.total is not None else 0.0), self.seen
        return total / seen if seen else None


class Session:
    """One training run seen through a framework's callback hooks: steps, epochs, the end.

    The callbacks call ``train_step``/``val_step`` from their batch hooks (references only, no host sync),
    ``measure_epoch`` once per epoch (one host read), ``close_epoch`` with what the framework logged, and
    ``finish`` at the end. Only the main process (``main``) prints and writes.
    """

    def __init__(self, framework: str, out: str | Path | None, *, verbose: bool, labels: Any, positive: int | None,
                 threshold: Any, target_recall: float | None, target_precision: float | None, monitor: str,
                 title: str | None) -> None:
        if out is not None and not str(out).strip():
            raise InputError("out is empty; pass the run folder, e.g. out='runs/first', or None for no files.")
        self.framework = framework
        self.out = Path(out) if out is not None else None
        self.verbose = verbose
        self.title = title
        self._options = {"labels": labels, "positive": positive, "threshold": threshold,
                         "target_recall": target_recall, "target_precision": target_precision, "monitor": monitor}
        self.monitor = Monitor(**self._options)
        self.main = True
        self.run: Run | None = None
        self._losses = StepLosses()
        self._steps = 0
        self._with_outputs = False      # a training step of this epoch handed its outputs to the Monitor
        self._validated = False         # a validation batch of this epoch reached the Monitor
        self._started = time.perf_counter()

    # ------------------------------------------------------------------ the run's start
    def begin(self, *, main: bool = True, world: World | None = None, model: torch.nn.Module | None = None) -> None:
        """The run starts: who prints and writes, over how many processes sums add up, the model whose
        gradient norms the training steps measure (None: none); the run folder is created now, so an
        unwritable one fails before training rather than after it."""
        self.main = main
        if model is not None:
            self.monitor = Monitor(**self._options, model=model)
        if world is not None:
            self.monitor.world = world
        if self.out is not None and main:
            try:
                self.out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"{self.out}: cannot create the run folder ({exc.strerror}); choose another out.") from None
        self.start_epoch()

    def start_epoch(self) -> None:
        self._started = time.perf_counter()

    # ------------------------------------------------------------------ steps (no host sync)
    def train_step(self, loss: torch.Tensor, outputs: torch.Tensor | None, targets: torch.Tensor | None) -> None:
        """A training step's mean loss; with its outputs and targets the Monitor measures training accuracy
        (and gradient norms, when it was given the model) too."""
        self._steps += 1
        if outputs is not None and targets is not None:
            self.monitor.train_step(loss, outputs, targets)
            self._with_outputs = True
        else:
            self._losses.add(loss, len(targets) if targets is not None else 1)

    def val_step(self, loss: torch.Tensor | None, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """A validation batch's outputs and targets (and mean loss, or None for the task's own loss)."""
        self.monitor.val_step(loss, outputs, targets)
        self._validated = True

    def new_validation(self) -> None:
        """A validation pass starts: only the last pass of an epoch counts (several run per epoch with
        Lightning's ``val_check_interval`` < 1)."""
        if self.monitor.task is not None:
            self.monitor.begin_validation()

    # ------------------------------------------------------------------ the epoch
    def measure_epoch(self, *, lr: float | None = None, steps: int | None = None) -> dict[str, Any]:
        """The measured part of the epoch's record: one host read (one all-reduce of the sums under DDP)."""
        mon = self.monitor
        if self._with_outputs:
            record = mon.read_train()
            closing = mon.closing_fields(lr, {})
        else:
            record = {"epoch": len(mon.history) + 1, "train_loss": self._losses.read(mon.world),
                      "train_accuracy": None}
            closing = {"lr": lr, "grad_norm_mean": None, "grad_norm_max": None, "grad_top_layer": None}
        if self._validated:
            mon.add_validation(record, mon.end_validation(diverged_ok=True))
        record.update(closing)
        record["steps"] = steps if steps is not None else (self._steps or None)
        record["seconds"] = time.perf_counter() - self._started
        return record

    def close_epoch(self, record: dict[str, Any], logged: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Add what the framework logged to the measured record (see the module's docstring), append it to
        the history and update the best epoch."""
        for key, value in logged_record(logged or {}).items():
            if key in LOGGED_WINS or record.get(key) is None:
                record[key] = value
        mon = self.monitor
        value = record.get(mon.best.monitor)
        if value is None and mon.best.monitor == "val_loss":
            value = record.get("train_loss")
        mon.close_epoch(record, judge=value is not None)
        self._losses = StepLosses()
        self._with_outputs = self._validated = False
        self.start_epoch()
        return record

    # ------------------------------------------------------------------ the end
    def finish(self, *, config: dict[str, Any], device: torch.device | str = "cpu", model: Any = None,
               stop_reason: str | None = None) -> Run:
        """The Run (on every process); the verdict printed and the run folder written by the main one."""
        config = {"framework": self.framework, **config}
        self.run = run = self.monitor.finish(config=config, model=model, stop_reason=stop_reason,
                                             environment=environment(torch.device(device)))
        if not self.main:
            return run
        folder = None
        if self.out is not None:
            folder = write_run(self.out, run, title=self.title)
        if self.verbose:
            print_verdict(run, folder)
        return run


class SessionOwner:
    """What every ``TrainwiseCallback`` shows of its session: ``run`` and ``monitor``."""

    session: Session

    @property
    def run(self) -> Run | None:
        """The Run, once training ended (None before)."""
        return self.session.run

    @property
    def monitor(self) -> Monitor:
        """The `trainwise.Monitor` the framework's hooks feed (its ``history`` grows epoch by epoch)."""
        return self.session.monitor


def print_verdict(run: Run, folder: Path | None) -> None:
    """The verdict, its findings and the best epoch, in a few lines on stderr."""
    summary = run.summary()
    console = Console(stderr=True, highlight=False)
    findings = summary["findings"]
    head = Text("trainwise: ")
    head.append(verdict_text(summary["verdict"], findings))
    console.print(head)
    if findings:
        console.print(findings_text(findings), end="")
    facts = []
    if run.best_epoch is not None:
        facts.append(f"best epoch {run.best_epoch} of {len(run.history)}")
    if run.metrics is None:
        facts.append("no validation predictions seen: no confusion matrix")
    if folder is not None:
        facts.append(f"report: {folder / 'report.html'}")
    if facts:
        console.print("; ".join(facts), style="dim", soft_wrap=True)      # a path stays whole
