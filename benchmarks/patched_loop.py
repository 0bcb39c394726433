"""trainwise's loop with the proposed per-step tracking, to measure it on a whole ``Trainer.fit``.

The source of ``trainwise/loop.py`` is read when ``load()`` is called, the edits in ``PATCHES`` are applied
-- each must match the current text exactly once, else ``load()`` says which one no longer applies -- and
the result is run as the module ``trainwise_patched_loop``. Nothing in ``src/`` is changed.

The edit, "deferred tracking": a step hands ``StepSums`` references only -- the batch's mean loss (the
tensor ``backward`` ran on), the detached logits and targets, the gradient tensors (or, with gradient
clipping, a custom optimizer or torchrun, their norms measured before clipping as today) -- and
``StepSums`` does the tensor work once per up to 64 steps (see ``overheads.LazySums`` / ``DeferredSums``).
Same numbers per epoch, still no host sync.

(The first version of this prototype also switched the step to the fused mean cross-entropy and kept
score histograms for the last epoch's validation only; both are in ``loop.py`` since cd5bd30.)
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import torch

from benchmarks.overheads import DEFERRED_BUDGET, LazySums

# (name, old text or a pattern, new text): each must match exactly once
PATCHES: list[tuple[str, str | re.Pattern, str]] = [
    ("deferred tracking: the norms", """
                norms = torch.stack(torch._foreach_norm([_grad(p) for _, p in params]))
""", """
                grads = [_grad(p) for _, p in params]
                norms = None if sums.defers_norms else torch._foreach_norm(grads)
"""),
    ("deferred tracking: the sums", re.compile(
        r"\n( +)preds = self\._predict\(out\.detach\(\), task, with_scores=False\)\[0\]\n"
        r" +sums\.add\(loss\.detach\(\) \* len\(yb\), preds == yb, norms\)[^\n]*\n"),
     r"\n\1sums.add_step(loss.detach(), out.detach(), yb, grads if norms is None else norms)\n"),
    ("deferred tracking: one StepSums per epoch", """
            sums = EpochSums(device, len(params))
""", """
            sums = _step_sums(device, params, cfg, world, task, self._predict)
"""),
]


class StepSums(LazySums):
    """``EpochSums`` with the per-step work deferred: ``add_step`` keeps references, ``flush`` (every
    ``flush_every`` steps and before any read) predicts, compares and measures all pending steps at once."""

    def __init__(self, device: torch.device, num_params: int, *, predict, defers_norms: bool,
                 flush_every: int) -> None:
        super().__init__(device, num_params, flush_every)
        self.predict = predict
        self.defers_norms = defers_norms
        self._outs: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []
        self._grads: list[list[torch.Tensor]] = []

    def add_step(self, batch_mean_loss: torch.Tensor, out: torch.Tensor, target: torch.Tensor,
                 grads_or_norms) -> None:
        self._means.append(batch_mean_loss)
        self._counts.append(len(target))
        self._outs.append(out)
        self._targets.append(target)
        if self.defers_norms:
            self._grads.append(grads_or_norms)
        else:
            self._norms.extend(grads_or_norms)
        self.seen += len(target)
        self.steps += 1
        if len(self._means) == self.flush_every:
            self.flush()

    def _pending_hits(self) -> torch.Tensor:
        return self.predict(torch.cat(self._outs)) == torch.cat(self._targets)

    def _pending_norms(self) -> torch.Tensor | None:
        if not self.defers_norms:
            return super()._pending_norms()
        if not self._grads or not self._grads[0]:
            return None
        return torch.stack([torch.linalg.vector_norm(torch.stack(g).flatten(1), dim=1)
                            for g in zip(*self._grads, strict=True)], dim=1)

    def _clear(self) -> None:
        super()._clear()
        self._outs, self._targets, self._grads = [], [], []


def _step_sums(device, params, cfg, world, task, predict_fn) -> StepSums:
    """Defer the gradient norms only where nothing can change a gradient in place before the flush: no
    clipping, a named optimizer, one process; and where 8 steps of gradients fit the budget."""
    tensors = [p for _, p in params]
    grad_bytes = sum(p.numel() * p.element_size() for p in tensors)
    flush_every = int(min(64, max(1, DEFERRED_BUDGET // max(grad_bytes, 1))))
    defers = (cfg.grad_clip is None and isinstance(cfg.optimizer, str) and not world.distributed
              and flush_every >= 8)
    return StepSums(device, len(params), predict=lambda out: predict_fn(out, task, with_scores=False)[0],
                    defers_norms=defers, flush_every=flush_every if defers else 64)


def load() -> types.ModuleType | str:
    """The patched module, or a sentence saying which edit no longer matches ``trainwise/loop.py``."""
    import trainwise.loop

    source = Path(trainwise.loop.__file__).read_text()
    for name, old, new in PATCHES:
        count = len(old.findall(source)) if isinstance(old, re.Pattern) else source.count(old)
        if count != 1:
            return f"the edit {name!r} matches {count} places in trainwise/loop.py (it was written for 1)"
        source = old.sub(new, source) if isinstance(old, re.Pattern) else source.replace(old, new)
    name = "trainwise_patched_loop"
    module = types.ModuleType(name)
    module.__file__ = f"<patched {trainwise.loop.__file__}>"
    module.__dict__.update(_step_sums=_step_sums)
    sys.modules[name] = module                     # dataclasses look their module up
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def fit(module: types.ModuleType, data, epochs: int, *, device: str = "cpu", **settings):
    """``bench_lib.trainwise_fit`` through the patched ``Trainer``."""
    from benchmarks import bench_lib as bl

    model = bl.make_model(data.X_train.shape[1], bl.SEED)
    trainer = module.Trainer(optimizer="adam", lr=bl.LR, epochs=epochs, batch_size=bl.BATCH_SIZE,
                             val_batch_size=bl.VAL_BATCH_SIZE, seed=bl.SEED, device=device, **settings)
    return trainer.fit(model, (data.X_train, data.y_train), (data.X_val, data.y_val))
