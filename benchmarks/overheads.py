"""Where trainwise's extra time per training step and per validation pass goes, against hand-written code.

Training steps (``paired_steps`` times them on the same batches of the real ``TensorBatches``, alternating
in blocks). Every stepper trains the same model (``bench_lib.make_model``) with Adam, the fused mean
cross-entropy and ``zero_grad(set_to_none=True)``:

* ``HandStep``           the hand-written step: the loss summed on the device, nothing else.
* ``TrainwiseStep``      today's step of ``trainwise/loop.py``, call for call: the gradient tensors (or, with
                         ``eager_norms``, their ``torch._foreach_norm`` at the step, as with clipping, a custom
                         optimizer or torchrun) and references to the loss, outputs and targets into the real
                         ``EpochSums``, which folds them every 64 steps; the counters, the callbacks loop and the
                         checkpoint test. ``extras=False`` drops all of them: a check that the replica is faithful.
* ``StepBefore8781f81``  the loop's step before 8781f81: norms, argmax and a dozen small sum ops every step.

Today's extras cost about as much as two identical hand-written steppers differ by (1-2%), so
``extras_alone`` times each of them alone, on the tensors of a real step.

Validation (``validation_passes``): the hand-written pass against the real ``validation_pass`` (a Monitor) as the
loop calls it per epoch (no score histograms) and in the final pass (with them).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from benchmarks.bench_lib import (
    BATCH_SIZE,
    FEATURES,
    LR,
    SEED,
    VAL_BATCH_SIZE,
    Data,
    epoch_record,
    make_model,
    validate,
)
from trainwise.batching import TensorBatches, make_batches
from trainwise.callbacks import TrainState
from trainwise.loop import Trainer, _autocast, validation_pass
from trainwise.monitor import Monitor
from trainwise.task import Task, batch_mean, loss_terms, predict, probe_task
from trainwise.tracking import FLUSH_EVERY, EpochSums, step_grad

CPU = torch.device("cpu")
# what probe_task infers for bench_lib's model (two logits); the validation section probes it itself
TASK = Task(num_classes=2, single_logit=False, labels=["0", "1"], positive=1)


def make_trainer(**settings: object) -> Trainer:
    """A Trainer with bench_lib's settings (those of ``bench_lib.trainwise_fit``)."""
    return Trainer(optimizer="adam", lr=LR, batch_size=BATCH_SIZE, val_batch_size=VAL_BATCH_SIZE, seed=SEED,
                   device="cpu", **settings)


class HandStep:
    """The hand-written step: mean loss, backward, Adam step, loss summed on the device."""

    def __init__(self, hidden: tuple[int, ...] = (64, 32)) -> None:
        self.model = make_model(FEATURES, SEED, hidden)
        self.model.train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.loss_sum = torch.zeros((), dtype=torch.float64)

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(xb), yb)
        loss.backward()
        self.optimizer.step()
        self.loss_sum += loss.detach() * len(yb)

    def read(self) -> object:
        return float(self.loss_sum)


class _NoFlushSums(EpochSums):
    """``EpochSums`` whose flush drops the pending steps: the step's references, without the tensor work."""

    def flush(self) -> None:
        self._clear()


class TrainwiseStep(HandStep):
    """The step of ``Trainer.fit`` (loop.py since 8781f81) with the real ``EpochSums``, the real ``TrainState``
    and the trainer's (empty) callbacks loop.

    ``eager_norms`` takes the sums the loop picks with clipping, a custom optimizer or torchrun: gradient
    norms by ``torch._foreach_norm`` at each step. Otherwise ``EpochSums.for_params`` picks, as in the loop
    (a model with more than 128 kB of gradients gets eager norms too). ``extras=False`` hands the sums no
    gradients, drops the flush's tensor work and skips the counters, callbacks loop and checkpoint test."""

    def __init__(self, hidden: tuple[int, ...] = (64, 32), *, eager_norms: bool = False, extras: bool = True) -> None:
        super().__init__(hidden)
        self.extras = extras
        self.trainer = make_trainer()
        self.batch_mean = batch_mean(loss_terms(TASK, device=CPU))                 # F.cross_entropy: the fused mean
        self.autocast = _autocast(CPU, "fp32")
        self.schedule_every = "epoch"                             # schedule "none"
        self.folder = None                                        # no checkpoint_dir
        self.params = [(name, p) for name, p in self.model.named_parameters() if p.requires_grad]
        self.predict = lambda out: predict(out, TASK, with_scores=False)[0]
        self.sums = self.make_sums(EpochSums if extras else _NoFlushSums, eager_norms=eager_norms)
        self.state = TrainState(model=self.model, optimizer=self.optimizer, scheduler=None, epochs=3,
                                steps_per_epoch=157)
        self.state.train_loss_sum, self.state.train_sums = self.sums.loss, self.sums

    def make_sums(self, sums_class: type[EpochSums] = EpochSums, *, eager_norms: bool = False) -> EpochSums:
        """The epoch's sums as the loop makes them."""
        return sums_class.for_params(CPU, [p for _, p in self.params], may_change_grads=eager_norms,
                                     predict=self.predict)

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        sums, optimizer = self.sums, self.optimizer
        optimizer.zero_grad(set_to_none=True)
        with self.autocast:
            out = self.model(xb)
            loss = self.batch_mean(out, yb)
        loss.backward()
        grads = [step_grad(p) for _, p in self.params] if self.extras else []
        if not sums.defer_norms and grads:
            grads = torch._foreach_norm(grads)
        optimizer.step()
        if self.schedule_every == "batch":
            self.state.scheduler.step()
        sums.add(loss.detach(), out.detach(), yb, grads)
        if self.extras:
            self.count_step()

    def count_step(self) -> None:
        """The counters, the callbacks loop and the checkpoint test (no checkpoint_dir: its first term)."""
        state = self.state
        state.step += 1
        state.batch += 1
        state.train_count = self.sums.seen
        self.trainer._call("on_batch_end", state)
        if self.folder is not None and state.step % 1000 == 0 and state.batch < state.steps_per_epoch:
            pass

    def read(self) -> object:
        return self.sums.read()


class _SumsBefore8781f81(EpochSums):
    """``EpochSums.add`` before 8781f81: a step's loss sum, hits and norms added at once (a dozen small ops)."""

    @torch.no_grad()
    def add(self, loss_sum: torch.Tensor, hits: torch.Tensor, grad_norms: torch.Tensor) -> None:  # type: ignore[override]
        self.loss += loss_sum
        self.correct += hits.sum()
        total = torch.linalg.vector_norm(grad_norms)
        self.grad_sum += total
        torch.maximum(self.grad_max, total, out=self.grad_max)
        torch.maximum(self.layer_max, grad_norms, out=self.layer_max)
        self.seen += len(hits)
        self.steps += 1


class StepBefore8781f81(TrainwiseStep):
    """The loop's step before 8781f81: per step ``_foreach_norm`` + ``stack``, the argmax over two logits
    (``task.predict``'s cheap path then), and ``EpochSums.add`` under ``no_grad``."""

    def __init__(self, hidden: tuple[int, ...] = (64, 32)) -> None:
        super().__init__(hidden)
        self.sums = _SumsBefore8781f81(CPU, len(self.params))
        self.state.train_loss_sum, self.state.train_sums = self.sums.loss, None

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        optimizer = self.optimizer
        optimizer.zero_grad(set_to_none=True)
        with self.autocast:
            out = self.model(xb)
            loss = self.batch_mean(out, yb)
        loss.backward()
        norms = torch.stack(torch._foreach_norm([step_grad(p) for _, p in self.params]))
        optimizer.step()
        if self.schedule_every == "batch":
            self.state.scheduler.step()
        preds = out.detach().argmax(dim=1)
        self.sums.add(loss.detach() * len(yb), preds == yb, norms)
        self.count_step()


def extras_alone(data: Data, *, rounds: int = 11, calls: int = 8 * FLUSH_EVERY) -> dict[str, float]:
    """Microseconds per step of each piece trainwise adds to a step, timed alone (CPU time, the median of
    ``rounds`` of ``calls`` calls, pieces alternating) on the loss, outputs, targets and gradients of a real
    step. ``calls`` is a multiple of the flush period, so an ``add`` row carries its share of the flushes."""
    step = TrainwiseStep()
    xb, yb = data.X_train[:BATCH_SIZE], data.y_train[:BATCH_SIZE]
    step(xb, yb)
    out = step.model(xb).detach()
    loss = F.cross_entropy(out, yb).detach()
    params = step.params
    grads = [step_grad(p) for _, p in params]
    norms = torch._foreach_norm(grads)
    deferred, eager, references = step.make_sums(), step.make_sums(eager_norms=True), step.make_sums(_NoFlushSums)
    before = _SumsBefore8781f81(CPU, len(params))
    pieces = {
        "the gradient list [step_grad(p) for p in params]": lambda: [step_grad(p) for _, p in params],
        "sums.add, references only (no flush)": lambda: references.add(loss, out, yb, grads),
        "sums.add with its share of the flushes": lambda: deferred.add(loss, out, yb, grads),
        "counters, callbacks loop, checkpoint test": step.count_step,
        "eager norms: _foreach_norm": lambda: torch._foreach_norm(grads),
        "eager norms: sums.add with its share of the flushes": lambda: eager.add(loss, out, yb, norms),
        "before 8781f81: norms, argmax, ==, add (all per step)": lambda: before.add(
            loss * len(yb), out.argmax(dim=1) == yb, torch.stack(torch._foreach_norm(grads))),
    }
    times: dict[str, list[float]] = {name: [] for name in pieces}
    for r in range(rounds + 1):                     # round 0 warms up
        for name in (list(pieces) if r % 2 == 0 else list(reversed(pieces))):
            fn = pieces[name]
            started = time.process_time()
            for _ in range(calls):
                fn()
            if r:
                times[name].append(time.process_time() - started)
    return {name: 1e6 * statistics.median(ts) / calls for name, ts in times.items()}


def paired_steps(steppers: dict[str, HandStep], data: Data, *, blocks: int, block_steps: int = FLUSH_EVERY,
                 baseline: str | None = None) -> dict:
    """Time several training steps against each other on the same batches, alternating in blocks.

    Each block feeds ``block_steps`` batches to every stepper in turn (the order reversed every other
    block), so a load change on a shared machine hits all steppers alike. A block is as long as the sums'
    flush period: every block holds exactly one flush, so a median over blocks cannot leave the flushes
    out. Returns per stepper the microseconds per step (CPU time of this process, and wall time) and the
    median over blocks of the ratio to ``baseline`` (the first stepper by default).
    """
    baseline = baseline or next(iter(steppers))
    batches = TensorBatches(data.X_train, data.y_train, BATCH_SIZE, shuffle=True, seed=SEED, device=CPU)
    stream = _batch_stream(batches)
    warmup = [next(stream) for _ in range(block_steps)]   # allocator, Adam state, a first flush
    for step in steppers.values():
        for xb, yb in warmup:
            step(xb, yb)
    per_block: dict[str, dict[str, list[float]]] = {n: {"cpu": [], "wall": []} for n in steppers}
    for b in range(blocks):
        block = [next(stream) for _ in range(block_steps)]
        names = list(steppers) if b % 2 == 0 else list(reversed(steppers))
        for name in names:
            step = steppers[name]
            wall, cpu = time.perf_counter(), time.process_time()
            for xb, yb in block:
                step(xb, yb)
            per_block[name]["wall"].append(time.perf_counter() - wall)
            per_block[name]["cpu"].append(time.process_time() - cpu)
    for step in steppers.values():
        step.read()
    result = {}
    for name, clocks in per_block.items():
        result[name] = {}
        for clock, ts in clocks.items():
            ratios = [t / b for t, b in zip(ts, per_block[baseline][clock], strict=True) if b > 0]
            result[name][clock] = {"us_per_step": 1e6 * statistics.median(ts) / block_steps,
                                   "ratio": statistics.median(ratios)}
    return result


def _batch_stream(batches: TensorBatches):
    epoch = 1
    while True:
        yield from batches.epoch(epoch)
        epoch += 1


def validation_passes(data: Data) -> dict[str, Callable[[], object]]:
    """One validation pass over ``data.X_val`` each: hand-written, and the real ``validation_pass`` through a
    ``Monitor`` as ``fit`` builds it (batches, task, loss terms): per epoch without score histograms,
    and the final pass with them. ``batch by batch`` is the per-epoch pass before 80249c8 (no folds), which
    the Monitor still takes when it has a custom loss (here given the built-in loss terms)."""
    model = make_model()
    val = make_batches((data.X_val, data.y_val), VAL_BATCH_SIZE, shuffle=False, seed=SEED, device=CPU, name="val")
    task = probe_task(model, val)
    autocast = _autocast(CPU, "fp32")

    def monitor(loss_fn: object = None) -> Monitor:
        mon = Monitor(task.labels, task.positive, loss_fn=loss_fn)
        mon.start(task, CPU, terms=loss_terms(task, device=CPU))   # the built-in loss terms either way
        return mon

    folded, unfolded = monitor(), monitor(F.cross_entropy)   # a custom loss switches the folds off

    return {
        "hand-written": lambda: hand_validation(model, data),
        "trainwise per epoch (no score histograms)": lambda: validation_pass(
            model, val, folded, autocast, scored=False, diverged_ok=True),
        "  batch by batch (before 80249c8)": lambda: validation_pass(
            model, val, unfolded, autocast, scored=False, diverged_ok=True),
        "trainwise final pass (score histograms)": lambda: validation_pass(
            model, val, folded, autocast, scored=True, diverged_ok=True),
    }


def hand_validation(model: torch.nn.Module, data: Data) -> dict:
    """The hand-written loop's validation: summed loss and one 4-bin ``bincount``, one read."""
    Xv, yv = data.X_val, data.y_val
    batches = ((Xv[i:i + VAL_BATCH_SIZE], yv[i:i + VAL_BATCH_SIZE]) for i in range(0, len(Xv), VAL_BATCH_SIZE))
    loss_sum, cm = validate(model, batches)
    return epoch_record(0, torch.zeros((), dtype=torch.float64), 1, loss_sum, cm, len(Xv))
