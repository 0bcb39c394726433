"""`Monitor`: the per-epoch bookkeeping of a run, as one public class.

The Trainer is a loop that feeds a Monitor; a hand-written loop feeds the same Monitor and gets the same
`Run` (history, metrics, best epoch, findings, verdict, thresholds)::

    mon = tw.Monitor(model=model)                    # the task is inferred from the first outputs
    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            opt.zero_grad()
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            mon.train_step(loss, out, y)             # no host sync
        model.eval()
        with torch.no_grad():
            for x, y in val_loader:
                mon.val_step(None, model(x), y)      # None: the task's own per-sample loss
        mon.end_epoch(lr=opt.param_groups[0]["lr"])  # one host read; returns the epoch's record
    run = mon.finish()

``outputs`` may be anything a model returns (a tensor, a tuple, a dict with ``logits``, a Hugging Face
output); targets ``[N]`` class indices (``[N, 1]`` is read as ``[N]``) or ``[N, L]`` 0/1 for multi-label.
Whether the outputs are logits or probabilities is read from the first training outputs' autograd graph
(see `trainwise.task`): pass ``out`` itself, not ``out.detach()``, or say it with ``probabilities=``.
A step hands over references only (see `EpochSums`); the epoch's sums are read once, in `end_epoch`.
Validation outputs are measured a fold at a time (up to ``EVAL_FOLD_ELEMENTS`` logits) rather than batch
by batch: the per-batch metric work would cost more than a small model's forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from trainwise import decision
from trainwise.diagnostics import diagnose, verdict
from trainwise.distributed import World
from trainwise.errors import InputError
from trainwise.metrics import MetricAccumulator, MultiLabelAccumulator
from trainwise.run import Run, data_facts
from trainwise.task import LossTerms, Task, infer_task, loss_input, loss_terms, model_output, predict
from trainwise.tracking import Best, EpochSums, step_grad

VAL_KEYS = ("loss", "accuracy", "precision", "recall", "f1", "balanced_accuracy")
EVAL_FOLD_ELEMENTS = 1 << 16     # validation logits measured together (256 kB in float32)


class Monitor:
    """Step sums, the metric accumulator, history records, best epoch, findings, verdict, thresholds.

    ``labels``: class names in index order (default ``"0"``..``"C-1"``; label names in a multi-label
    task). ``positive``: the positive class index of a binary task (default 1, see
    `trainwise.policy.positive_index`); scores are always that class's probability, so a flipped
    orientation is a choice made here, never a silent guess: with ``positive=0``, class 0's probability
    is the score, its recall the reported recall. ``probabilities``: whether the outputs are already
    probabilities (a final sigmoid or softmax); None reads it from the first outputs.
    ``model``: with it, the gradient norms of its parameters are recorded at each ``train_step`` (call it
    after ``backward``). ``threshold``: a fixed threshold or a rule (``best_f1``, ``recall=0.8``) resolved
    at ``finish``. ``monitor``/``min_delta``: how the best epoch is chosen.
    """

    def __init__(self, labels: Sequence[Any] | None = None, positive: int | None = None, *,
                 model: torch.nn.Module | None = None, loss_fn: Any = None,
                 threshold: float | str | decision.ThresholdRule | None = None,
                 target_recall: float | None = 0.8, target_precision: float | None = None,
                 monitor: str = "val_loss", min_delta: float = 0.0, probabilities: bool | None = None) -> None:
        self.labels = [str(label) for label in labels] if labels is not None else None
        if positive is not None and (isinstance(positive, bool) or positive not in (0, 1)):
            raise InputError(f"Expected `positive` to be the positive class index, 0 or 1, but got {positive!r}.")
        self.positive = positive
        self.probabilities = probabilities
        self.loss_input: str | None = None         # what the loss is computed on: "logits", "probabilities"
        self.rule = decision.parse_threshold(threshold) if threshold is not None else None
        self.target_recall, self.target_precision = target_recall, target_precision
        self.loss_fn = loss_fn
        self.task: Task | None = None
        self.history: list[dict] = []
        self.metrics: dict | None = None           # the last validation pass's metrics
        self.best = Best(monitor, min_delta)
        self.improved = False                      # whether the last epoch was the best so far
        self.keep_scores = True                    # keep score histograms in validation passes (binary)
        self.world = World()                       # under torchrun the Trainer hands its world over
        self.steps = 0
        self._named = [(n, p) for n, p in model.named_parameters() if p.requires_grad] if model is not None else []
        self._eager_norms = True                   # a hand-written loop may zero gradients in place
        self._sums: EpochSums | None = None
        self._terms: LossTerms | None = None
        self._accs: dict[bool, MetricAccumulator] = {}
        self._acc: MetricAccumulator | None = None     # the accumulator of the pass under way (or the last)
        self._scored = False                        # whether the last pass kept scores
        self._pending: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []
        self._held = 0
        self._grad_fields: tuple = (None, None, None)
        self._train_seen: int | None = None

    # ------------------------------------------------------------------ set-up (the Trainer's, or lazily)
    def start(self, task: Task, device: torch.device, *, named_params: Sequence[tuple[str, torch.Tensor]] | None = None,
              terms: LossTerms | None = None, eager_norms: bool = True, world: World | None = None) -> None:
        """Fix the task and where sums live; the Trainer calls this before its first step, a hand-written
        loop gets it from its first ``train_step``/``val_step``."""
        self.task = task
        self.device = device
        if named_params is not None:
            self._named = list(named_params)
        self._terms = terms if terms is not None else loss_terms(task, loss_fn=self.loss_fn, device=device)
        self._eager_norms = eager_norms
        if world is not None:
            self.world = world
        if task.multilabel:
            self._accs = {scored: MultiLabelAccumulator(task.num_classes, device=device, binary_scores=scored)
                          for scored in (True, False)}
        else:
            self._accs = {scored: MetricAccumulator(task.num_classes, device=device,
                                                    binary_scores=scored and task.binary) for scored in (True, False)}

    def _read(self, outputs: Any, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A step's output tensor (see `trainwise.task.model_output`) and targets (``[N, 1]`` read as ``[N]``);
        a hand-written loop's first step also fixes the task, from the outputs' graph when they have one."""
        if not isinstance(outputs, torch.Tensor):
            outputs = model_output(outputs)
        if targets.dim() == 2 and targets.shape[1] == 1:
            targets = targets.reshape(-1)
        if self.task is None:
            self.start(infer_task(outputs, targets, labels=self.labels, positive=self.positive, rule=self.rule,
                                  probabilities=self.probabilities), outputs.device)
        return outputs, targets

    @property
    def params(self) -> list[torch.Tensor]:
        return [p for _, p in self._named]

    def new_epoch_sums(self) -> EpochSums:
        """The running sums of a new training epoch (the Trainer restores them when resuming mid-epoch)."""
        task = self.task
        self._sums = EpochSums.for_params(self.device, self.params, may_change_grads=self._eager_norms,
                                          predict=lambda out: predict(out, task, with_scores=False)[0])
        return self._sums

    # ------------------------------------------------------------------ steps
    def train_step(self, loss: torch.Tensor, outputs: Any, targets: torch.Tensor,
                   grads: Sequence[torch.Tensor] | None = None) -> None:
        """One training step: its mean loss (the tensor ``backward`` ran on), outputs and targets. No host
        sync. ``grads``: the Trainer hands the step's gradients (or their norms); else the ``model``'s
        gradients are measured now, when one was given."""
        first = self.task is None
        outputs, targets = self._read(outputs, targets)
        if first and self.loss_fn is None:
            self.loss_input = loss_input(loss)
        if self._sums is None:
            self.new_epoch_sums()
        if grads is None:
            grads = torch._foreach_norm([step_grad(p) for p in self.params]) if self._named else []
        self._sums.add(loss.detach(), outputs.detach(), targets, grads)
        self.steps += 1

    def val_step(self, loss: torch.Tensor | None, outputs: Any, targets: torch.Tensor, *,
                 sample_weight: torch.Tensor | None = None) -> None:
        """One validation batch: ``loss`` its mean loss, or None for the task's per-sample loss (the same
        loss the Trainer measures; with ``sample_weight``, each sample's loss times its weight). No host
        sync."""
        outputs, targets = self._read(outputs, targets)
        if self._acc is None:
            self.begin_validation(self.keep_scores)
        if loss is not None:
            loss = loss.detach().reshape(()) * len(targets)
        elif sample_weight is not None:
            loss = (self._terms(outputs, targets) * sample_weight.reshape(-1).to(outputs.dtype)).sum().detach()
        self._pending.append((outputs.detach(), targets, loss))
        self._held += outputs.numel()
        limit = 0 if (loss is not None or self.loss_fn is not None) else EVAL_FOLD_ELEMENTS
        if self._held >= limit:
            self._fold()

    def begin_validation(self, scored: bool | None = None) -> None:
        """Start a validation pass (``val_step`` starts one by itself): its counts start from zero."""
        self._scored = self.keep_scores if scored is None else scored
        self._acc = self._accs[self._scored]
        self._acc.reset()
        self._pending.clear()
        self._held = 0

    def _fold(self) -> None:
        """Measure the held validation outputs together: one predict, loss and metric update."""
        if not self._pending:
            return
        outs = [o for o, _, _ in self._pending]
        ys = [y for _, y, _ in self._pending]
        given = [s for _, _, s in self._pending if s is not None]
        out, y = (outs[0], ys[0]) if len(outs) == 1 else (torch.cat(outs), torch.cat(ys))
        if y.is_floating_point():
            y = y.long()
        acc = self._acc
        preds, scores = predict(out, self.task, with_scores=acc.binary_scores)
        loss_sum = torch.stack(given).sum() if given else self._terms(out, y).sum()
        acc.update(preds, y, loss_sum=loss_sum, scores=scores if acc.binary_scores else None)
        self._pending.clear()
        self._held = 0

    def end_validation(self, *, diverged_ok: bool = False) -> dict | None:
        """The pass's metrics (one host read; one all-reduce under torchrun). Outputs that were NaN give
        None with ``diverged_ok``, else an InputError."""
        self._fold()
        acc = self._acc
        if acc is None:
            return None
        if self.world.distributed:
            self.world.all_reduce(acc.state())
        if acc.diverged():
            if diverged_ok:
                return None
            raise InputError("the model's outputs are NaN or Inf on this data: its weights have blown up "
                             "(train with a lower learning rate) or the inputs hold huge values.")
        self.metrics = acc.compute(labels=self.task.labels, positive=self.task.positive)
        return self.metrics

    # ------------------------------------------------------------------ the epoch
    def end_epoch(self, lr: float | None = None, **extra: Any) -> dict:
        """Close the epoch: one host read of the training sums, the validation metrics (when ``val_step``
        ran), the best epoch. Returns the epoch's record, also appended to ``history``; ``extra`` keys
        (``seconds``, ``steps``...) are added to it."""
        record = self.read_train()
        validated = self._acc is not None
        if validated:
            measured = self.end_validation(diverged_ok=True)
            self.add_validation(record, measured)
        record.update(self.closing_fields(lr, extra))
        return self.close_epoch(record)

    def read_train(self) -> dict[str, Any]:
        """The epoch's training part of the record (one host read; one all-reduce under torchrun)."""
        sums = (self._sums if self._sums is not None else self.new_epoch_sums()).summed(self.world)
        train_loss, train_accuracy, grad_mean, grad_max, top = sums.read()
        self._grad_fields = (grad_mean, grad_max, self._named[top][0]) if self._named else (None, None, None)
        self._train_seen = sums.seen
        epoch = self.history[-1]["epoch"] + 1 if self.history else 1
        return {"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_accuracy}

    @staticmethod
    def add_validation(record: dict, measured: dict | None) -> None:
        """The validation keys of a record; NaN loss when the outputs blew up."""
        if measured is None:
            record["val_loss"] = math.nan
        else:
            record.update({f"val_{key}": measured[key] for key in VAL_KEYS})

    def closing_fields(self, lr: float | None, extra: dict) -> dict:
        grad_mean, grad_max, top = self._grad_fields
        fields = {"lr": lr, "grad_norm_mean": grad_mean, "grad_norm_max": grad_max, "grad_top_layer": top}
        fields["steps"] = extra.pop("steps", self.steps)
        fields.update(extra)
        return fields

    def close_epoch(self, record: dict, *, model: torch.nn.Module | None = None, judge: bool = True) -> dict:
        """Append the record, update the best epoch (unless ``judge`` is False: a diverged epoch), and get
        ready for the next epoch."""
        self.history.append(record)
        self.improved = judge and self.best.update(record, model)
        self._sums = None
        self._acc = None
        return record

    # ------------------------------------------------------------------ the end
    def threshold_choices(self) -> dict | None:
        """Best-F1 and target-recall/precision thresholds on the last scored validation pass, and its PR
        curve; None unless the task is binary and that pass kept scores."""
        acc = self._accs.get(True)
        task = self.task
        if self.metrics is None or task is None or not self._scored or acc is None:
            return None
        if task.multilabel:            # each label's best-F1 threshold on its validation scores
            best = acc.thresholds()
            return {"per_label": {name: best[str(i)] for i, name in enumerate(task.labels)}}
        if not task.binary:
            return None
        choices = acc.thresholds(target_recall=self.target_recall, target_precision=self.target_precision)
        choices["curve"] = acc.pr_curve()
        return choices

    def resolve_threshold(self, choices: dict) -> dict | None:
        """The rule's ``applied`` entry (see `trainwise.decision.resolve`), added to ``choices``."""
        if self.rule is None:
            return None
        choices["applied"] = applied = decision.resolve(self.rule, choices, self._accs[True])
        return applied

    def finish(self, *, thresholds: dict | None = None, data: dict | None = None, config: dict | None = None,
               model: torch.nn.Module | None = None, stop_reason: str | None = None,
               restored_epoch: int | None = None, environment: dict | None = None) -> Run:
        """The Run: findings and verdict from the history, the last validation metrics and the data facts.
        Without ``thresholds`` they are read from the last scored pass and a rule is resolved there (its
        metrics stay those of the default threshold: the Trainer measures again at the chosen one)."""
        if thresholds is None:
            thresholds = self.threshold_choices()
            if thresholds is not None:
                self.resolve_threshold(thresholds)
        if data is None:
            data = self.seen_data()
        findings = diagnose(self.history, metrics=self.metrics, data=data, restored_epoch=restored_epoch,
                            thresholds=thresholds)
        return Run(history=self.history, metrics=self.metrics, findings=findings, verdict=verdict(findings),
                   best_epoch=self.best.epoch, thresholds=thresholds, config=config or {}, data=data,
                   model=model, stop_reason=stop_reason, restored_epoch=restored_epoch,
                   environment=environment or {})

    def seen_data(self) -> dict:
        """Data facts from what the steps showed: samples of the last epoch, classes of the last pass."""
        if self.task is None:
            return {}
        supports = None
        if self.metrics is not None and self.task.multilabel:
            supports = [entry["support"] for entry in self.metrics["per_label"].values()]
        elif self.metrics is not None:
            supports = [int(sum(row)) for row in self.metrics["confusion_matrix"]]
        n_train = self._train_seen
        n_val = self.metrics["num_samples"] if self.metrics is not None else 0
        return data_facts(self.task, n_train=n_train, n_val=n_val, class_counts=supports, loss=self.loss_input)

