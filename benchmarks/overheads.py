"""Where trainwise's extra time goes, measured by ablation, and prototypes of cheaper per-step tracking.

``replica_epochs`` rebuilds trainwise's training step (``trainwise/loop.py``) from the same calls --
the real ``TensorBatches``, ``cross_entropy(reduction="none")`` then ``.mean().backward()``, per-parameter
gradient norms with ``torch._foreach_norm``, the train-accuracy argmax, ``EpochSums.add`` under
``torch.no_grad``, the counters and the (empty) callbacks loop -- with each extra switchable, so the
cost of each is the time it adds, measured against the hand-written step in the same process.

``proposed_epochs`` is the same step with the tracking rewritten as proposed for the loop (see
``benchmarks/README.md``): the same numbers per epoch, fewer tensor ops per step.
"""

from __future__ import annotations

import statistics
import time

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

try:
    from trainwise.batching import TensorBatches
except ImportError:                        # before batching.py moved out of trainwise.data
    from trainwise.data.batching import TensorBatches
from trainwise.metrics import MetricAccumulator
from trainwise.tracking import EpochSums

EXTRAS = ("train_accuracy", "grad_norms", "no_grad_add", "bookkeeping")


class HandStep:
    """The hand-written step: mean loss, backward, Adam step, loss summed on the device."""

    def __init__(self, features: int = FEATURES, seed: int = SEED, hidden: tuple[int, ...] = (64, 32)) -> None:
        self.model = make_model(features, seed, hidden)
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


class _State:
    step = 0
    batch = 0
    train_count = 0
    steps_per_epoch = 0


class TrainwiseStep(HandStep):
    """trainwise's step (``loop.py`` since cd5bd30: the fused mean cross-entropy, then the batch's loss sum,
    hits and gradient norms into ``EpochSums``), less the extras named in ``drop`` (see ``EXTRAS``).
    ``per_sample_loss=True`` is the step before cd5bd30 (``reduction="none"``, then ``.mean()``)."""

    callbacks: list = []

    def __init__(self, features: int = FEATURES, seed: int = SEED, hidden: tuple[int, ...] = (64, 32), *,
                 drop: frozenset[str] = frozenset(), per_sample_loss: bool = False) -> None:
        super().__init__(features, seed, hidden)
        self.params = [(name, p) for name, p in self.model.named_parameters() if p.requires_grad]
        self.sums = EpochSums(torch.device("cpu"), len(self.params))
        self.state = _State()
        unknown = set(drop) - set(EXTRAS)
        if unknown:
            raise ValueError(f"Expected extras among {EXTRAS}, but got {sorted(unknown)}")
        self.drop = drop
        self.per_sample_loss = per_sample_loss

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        drop, sums, state = self.drop, self.sums, self.state
        self.optimizer.zero_grad(set_to_none=True)
        out = self.model(xb)
        if self.per_sample_loss:
            per_sample = F.cross_entropy(out, yb, reduction="none")
            per_sample.mean().backward()
        else:
            loss = F.cross_entropy(out, yb)
            loss.backward()
        if "grad_norms" not in drop:
            norms = torch.stack(torch._foreach_norm([_grad(p) for _, p in self.params]))
        self.optimizer.step()
        loss_sum = per_sample.detach().sum() if self.per_sample_loss else loss.detach() * len(yb)
        with torch.no_grad() if "no_grad_add" not in drop else _NULL:      # EpochSums.add, inlined
            sums.loss += loss_sum
            if "train_accuracy" not in drop:
                preds = out.detach().argmax(dim=1)
                sums.correct += (preds == yb).sum()
            if "grad_norms" not in drop:
                total = torch.linalg.vector_norm(norms)
                sums.grad_sum += total
                torch.maximum(sums.grad_max, total, out=sums.grad_max)
                torch.maximum(sums.layer_max, norms, out=sums.layer_max)
            sums.seen += len(yb)
            sums.steps += 1
        if "bookkeeping" not in drop:
            state.step += 1
            state.batch += 1
            state.train_count = sums.seen
            self._call("on_batch_end", state)
            if state.step % 10**9 == 0 and state.batch < state.steps_per_epoch:   # the checkpoint test
                pass

    def _call(self, hook: str, state: object) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(state)

    def read(self) -> object:
        return self.sums.read()


class RealSumsStep(TrainwiseStep):
    """The full replica through the real ``EpochSums.add``: checks the replica costs what the loop does."""

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        state = self.state
        self.optimizer.zero_grad(set_to_none=True)
        out = self.model(xb)
        loss = F.cross_entropy(out, yb)
        loss.backward()
        norms = torch.stack(torch._foreach_norm([_grad(p) for _, p in self.params]))
        self.optimizer.step()
        preds = out.detach().argmax(dim=1)
        self.sums.add(loss.detach() * len(yb), preds == yb, norms)   # a 0-dim sum: fits add() before cd5bd30 too
        state.step += 1
        state.batch += 1
        state.train_count = self.sums.seen
        self._call("on_batch_end", state)


class LazySums(EpochSums):
    """Proposed replacement of ``EpochSums`` (same fields, same ``read``/``state_dict``/``summed``): a
    step only keeps references -- the batch's mean loss (the tensor ``backward`` already ran on), the
    per-sample hits, the per-parameter gradient norms -- and the tensor work is done once per
    ``flush_every`` steps, in a handful of ops over all of them (and before any read).

    A step then costs the loop three tensor ops beyond the hand-written step (``_foreach_norm``, the
    argmax, the comparison) instead of thirteen; nothing is read back to the host, as before.
    """

    def __init__(self, device: torch.device, num_params: int, flush_every: int = 64) -> None:
        super().__init__(device, num_params)
        self.flush_every = flush_every
        self._means: list[torch.Tensor] = []
        self._counts: list[int] = []
        self._hits: list[torch.Tensor] = []
        self._norms: list[torch.Tensor] = []

    def add(self, batch_mean_loss: torch.Tensor, hits: torch.Tensor, grad_norms: list[torch.Tensor]) -> None:
        """One step: the batch's mean loss (0-dim), per-sample correctness, per-parameter gradient norms."""
        self._means.append(batch_mean_loss)
        self._counts.append(len(hits))
        self._hits.append(hits)
        self._norms.extend(grad_norms)
        self.seen += len(hits)
        self.steps += 1
        if len(self._means) == self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Fold the pending steps into the device sums (no host sync)."""
        if not self._counts:
            return
        counts = torch.tensor(self._counts, dtype=torch.float64)
        self.loss += torch.stack(self._means).to(torch.float64).dot(counts.to(self.loss.device))
        self.correct += self._pending_hits().sum()
        norms = self._pending_norms()             # [steps, params]
        if norms is not None:
            totals = torch.linalg.vector_norm(norms, dim=1)
            self.grad_sum += totals.sum()
            torch.maximum(self.grad_max, totals.max(), out=self.grad_max)
            torch.maximum(self.layer_max, norms.amax(dim=0), out=self.layer_max)
        self._clear()

    def _pending_hits(self) -> torch.Tensor:
        return torch.cat(self._hits)

    def _pending_norms(self) -> torch.Tensor | None:
        return torch.stack(self._norms).view(len(self._counts), -1) if self._norms else None

    def _clear(self) -> None:
        self._means, self._counts, self._hits, self._norms = [], [], [], []

    def read(self) -> tuple[float, float, float, float, int]:
        self.flush()
        return super().read()

    def state_dict(self) -> dict:
        self.flush()
        return super().state_dict()

    def summed(self, world: object) -> EpochSums:
        self.flush()
        return super().summed(world)


class DeferredSums(LazySums):
    """``LazySums`` that also defers the train-accuracy argmax and the gradient norms to the flush.

    A step keeps references only: the detached logits and targets (the argmax and comparison run once
    over all pending steps) and the gradient tensors themselves (``zero_grad(set_to_none=True)`` gives
    every step fresh gradient tensors, so the ones kept are not overwritten); the per-parameter norms
    are then one stack and one norm per parameter over all pending steps. No tensor op is left in the
    step. Holding ``flush_every`` steps of gradients and logits costs memory, so the loop would pick
    ``flush_every`` from a budget (e.g. 16 MB / (gradient + logit bytes per step), at most 64, at least 1).

    Valid only where nothing changes a gradient in place after the step's norms are due: no gradient
    clipping (``clip_grad_norm_`` scales in place: measure before it, as today), trainwise's named
    optimizers (none modifies ``.grad`` in place with the options trainwise passes), a single process.
    """

    def __init__(self, device: torch.device, num_params: int, flush_every: int = 64) -> None:
        super().__init__(device, num_params, flush_every)
        self._outs: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []
        self._grads: list[list[torch.Tensor]] = []

    def add_deferred(self, batch_mean_loss: torch.Tensor, out: torch.Tensor, target: torch.Tensor,
                     grads: list[torch.Tensor]) -> None:
        self._means.append(batch_mean_loss)
        self._counts.append(len(target))
        self._outs.append(out)
        self._targets.append(target)
        self._grads.append(grads)
        self.seen += len(target)
        self.steps += 1
        if len(self._means) == self.flush_every:
            self.flush()

    def _pending_hits(self) -> torch.Tensor:
        return torch.cat(self._outs).argmax(dim=1) == torch.cat(self._targets)

    def _pending_norms(self) -> torch.Tensor | None:
        if not self._grads or not self._grads[0]:
            return None
        # one stack and one norm per parameter over all pending steps
        return torch.stack([torch.linalg.vector_norm(torch.stack(g).flatten(1), dim=1)
                            for g in zip(*self._grads, strict=True)], dim=1)

    def _clear(self) -> None:
        super()._clear()
        self._outs, self._targets, self._grads = [], [], []


DEFERRED_BUDGET = 1 << 20      # bytes of gradients a DeferredSums may hold between flushes


def deferred_flush_every(params: list[torch.Tensor], budget: int = DEFERRED_BUDGET) -> int:
    """Steps of gradients that fit the budget, at most 64; below 8 deferring does not pay (and holding
    large gradients costs fresh allocations every step), so the step should measure them eagerly."""
    grad_bytes = sum(p.numel() * p.element_size() for p in params)
    return min(64, budget // max(grad_bytes, 1))


class ProposedStep(TrainwiseStep):
    """The replica with ``LazySums``; with ``deferred`` a ``DeferredSums`` where the gradients of 8 steps or
    more fit ``DEFERRED_BUDGET`` (else ``LazySums``: a wide model's gradients are measured eagerly).
    ``mean_loss=False`` backpropagates ``reduction="none"`` then ``.mean()``, as before cd5bd30."""

    def __init__(self, features: int = FEATURES, seed: int = SEED, hidden: tuple[int, ...] = (64, 32), *,
                 mean_loss: bool = True, deferred: bool = False) -> None:
        super().__init__(features, seed, hidden)
        flush_every = deferred_flush_every([p for _, p in self.params])
        self.deferred = deferred and flush_every >= 8
        if self.deferred:
            self.sums = DeferredSums(torch.device("cpu"), len(self.params), flush_every=flush_every)
        else:
            self.sums = LazySums(torch.device("cpu"), len(self.params))
        self.mean_loss = mean_loss

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        state = self.state
        self.optimizer.zero_grad(set_to_none=True)
        out = self.model(xb)
        if self.mean_loss:
            loss = F.cross_entropy(out, yb)
        else:
            loss = F.cross_entropy(out, yb, reduction="none").mean()
        loss.backward()
        if self.deferred:
            grads = [_grad(p) for _, p in self.params]
            self.optimizer.step()
            self.sums.add_deferred(loss.detach(), out.detach(), yb, grads)
        else:
            norms = torch._foreach_norm([_grad(p) for _, p in self.params])
            self.optimizer.step()
            self.sums.add(loss.detach(), out.detach().argmax(dim=1) == yb, norms)
        state.step += 1
        state.batch += 1
        state.train_count = self.sums.seen
        self._call("on_batch_end", state)


def paired_steps(steppers: dict[str, HandStep], data: Data, *, blocks: int, block_steps: int = 20,
                 batch_size: int = BATCH_SIZE, baseline: str | None = None) -> dict:
    """Time several training steps against each other on the same batches, alternating in short blocks.

    Each block feeds ``block_steps`` batches to every stepper in turn (the order reversed every other
    block); a block takes tens of milliseconds, so a load change on a shared machine hits all steppers
    alike. Returns per stepper the microseconds per step (CPU time of this process, and wall time)
    and the median over blocks of the ratio to ``baseline`` (the first stepper by default).
    """
    baseline = baseline or next(iter(steppers))
    batches = TensorBatches(data.X_train, data.y_train, batch_size, shuffle=True, seed=SEED,
                            device=torch.device("cpu"))
    stream = _batch_stream(batches)
    for _ in range(3):                                  # warm-up: allocator, Adam state, first-call paths
        xb, yb = next(stream)
        for step in steppers.values():
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


def trainwise_validation(model: torch.nn.Module, data: Data, *, scores: str = "softmax",
                         full: bool = True) -> dict:
    """trainwise's validation pass through the public metrics API: per-sample loss, argmax, positive-class
    scores, the one-tensor accumulator (confusion matrix + score histograms), ``compute()``.

    Prototypes of a cheaper pass: ``scores="sigmoid"`` takes the positive class's probability as
    ``sigmoid(logit_1 - logit_0)`` (equal to ``softmax(...)[:, 1]``, two ops instead of four);
    ``scores="none"`` keeps no score histograms (an epoch whose metrics cannot be the run's last); ``full=False``
    derives only the history's keys from the confusion matrix instead of the whole metrics dict."""
    acc = MetricAccumulator(2, device=torch.device("cpu"), binary_scores=scores != "none")
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(data.X_val), VAL_BATCH_SIZE):
            xb, yb = data.X_val[i:i + VAL_BATCH_SIZE], data.y_val[i:i + VAL_BATCH_SIZE]
            out = model(xb)
            if scores == "softmax":
                p1 = torch.softmax(out.float(), dim=1)[:, 1]
            elif scores == "sigmoid":
                p1 = torch.sigmoid((out[:, 1] - out[:, 0]).float())
            else:
                p1 = None
            acc.update(out.argmax(dim=1), yb, loss_sum=F.cross_entropy(out, yb, reduction="none").sum(), scores=p1)
    if full:
        return acc.compute(positive=1)
    from trainwise.metrics import functional as MF

    state = acc.state().cpu()                    # the one read-back
    cm = state[2:6].view(2, 2)
    return {"loss": float(state[0] / state[1]), "accuracy": float(MF.accuracy(cm)),
            "balanced_accuracy": float(MF.balanced_accuracy(cm)), "precision": float(MF.precision(cm, "binary", 1)),
            "recall": float(MF.recall(cm, "binary", 1)), "f1": float(MF.f1(cm, "binary", 1))}


def hand_validation(model: torch.nn.Module, data: Data) -> dict:
    """The hand-written loop's validation: summed loss and one 4-bin ``bincount``, one read."""
    Xv, yv = data.X_val, data.y_val
    batches = ((Xv[i:i + VAL_BATCH_SIZE], yv[i:i + VAL_BATCH_SIZE]) for i in range(0, len(Xv), VAL_BATCH_SIZE))
    loss_sum, cm = validate(model, batches)
    return epoch_record(0, torch.zeros((), dtype=torch.float64), 1, loss_sum, cm, len(Xv))


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NULL = _Null()


def _grad(p: torch.Tensor) -> torch.Tensor:
    return p.grad if p.grad is not None else torch.zeros((), device=p.device)
