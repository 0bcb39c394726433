"""EpochSums: per-step references folded every few dozen steps give the numbers a step-by-step
computation gives, whether the gradient norms are measured at the step or at the flush."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import trainwise as tw
from trainwise import tracking
from trainwise.tracking import EpochSums


def _steps(seed: int = 0, sizes: tuple[int, ...] = (32,) * 9 + (7,)):
    """Fake steps: a mean loss, outputs, targets and three parameters' gradients each."""
    g = torch.Generator().manual_seed(seed)
    steps = []
    for n in sizes:
        out = torch.randn(n, 3, generator=g)
        target = torch.randint(0, 3, (n,), generator=g)
        grads = [torch.randn(4, 5, generator=g), torch.randn(5, generator=g), torch.randn(2, generator=g) * 10]
        steps.append((torch.rand((), generator=g), out, target, grads))
    return steps


def _expected(steps):
    loss = sum(float(m) * len(t) for m, _, t, _ in steps)
    hits = sum(int((o.argmax(1) == t).sum()) for _, o, t, _ in steps)
    seen = sum(len(t) for _, _, t, _ in steps)
    per_param = [[float(g.norm()) for g in grads] for *_, grads in steps]
    totals = [math.sqrt(sum(n * n for n in norms)) for norms in per_param]
    top = max(range(3), key=lambda i: max(norms[i] for norms in per_param))
    return loss / seen, hits / seen, sum(totals) / len(steps), max(totals), top


@pytest.mark.parametrize("defer_norms", [True, False])
@pytest.mark.parametrize("flush_every", [1, 3, 64])
def test_folded_sums_equal_the_step_by_step_numbers(defer_norms, flush_every):
    steps = _steps()
    sums = EpochSums(torch.device("cpu"), 3, defer_norms=defer_norms, flush_every=flush_every)
    for mean, out, target, grads in steps:
        sums.add(mean, out, target, grads if defer_norms else torch._foreach_norm(grads))
    assert sums.seen == 9 * 32 + 7 and sums.steps == 10
    got = sums.read()
    for value, want in zip(got, _expected(steps), strict=True):
        assert value == pytest.approx(want, rel=1e-6)


def test_reads_fold_the_pending_steps_first():
    steps = _steps(1)
    sums = EpochSums(torch.device("cpu"), 3, defer_norms=True)
    for mean, out, target, grads in steps[:4]:
        sums.add(mean, out, target, grads)
    assert float(sums.loss) == 0.0                          # nothing folded yet: references only
    state = sums.state_dict()                               # a checkpoint must see every step
    assert float(state["loss"]) == pytest.approx(sum(float(m) * len(t) for m, _, t, _ in steps[:4]))
    assert sums.summed(tw.distributed.current()) is sums    # one process: itself, folded


def test_norms_are_deferred_only_where_gradients_stay_as_they_were():
    small = [torch.zeros(64, 32), torch.zeros(32)]
    assert EpochSums.for_params(torch.device("cpu"), small).defer_norms
    assert not EpochSums.for_params(torch.device("cpu"), small, may_change_grads=True).defer_norms
    wide = [torch.zeros(512, 256)]                          # 512 KB of gradients: 2 steps fit the budget
    assert not EpochSums.for_params(torch.device("cpu"), wide).defer_norms
    assert EpochSums.for_params(torch.device("cpu"), small).flush_every == tracking.FLUSH_EVERY


def _fit(**settings):
    g = torch.Generator().manual_seed(3)
    X = torch.randn(700, 6, generator=g)
    y = ((X[:, 0] + 0.5 * X[:, 1] + 0.3 * torch.randn(700, generator=g)) > 0).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))
    run = tw.Trainer(epochs=3, batch_size=24, seed=0, **settings).fit(model, (X[:560], y[:560]), (X[560:], y[560:]))
    return run.history


@pytest.mark.parametrize("settings", [{}, {"grad_clip": 0.5}, {"class_weights": "balanced"}])
def test_a_fit_records_what_eager_tracking_records(monkeypatch, settings):
    deferred = _fit(**settings)
    monkeypatch.setattr(tracking, "GRADIENT_BUDGET", 0)      # nothing fits: every norm measured at its step
    monkeypatch.setattr(tracking, "FLUSH_EVERY", 1)          # and every step folded at once
    eager = _fit(**settings)
    for a, b in zip(deferred, eager, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], float) and key != "seconds":
                assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-9), key
            elif key != "seconds":
                assert a[key] == b[key], key


def test_with_clipping_the_norms_are_those_before_clipping():
    history = _fit(grad_clip=1e-3, optimizer="sgd", lr=1e-3)
    assert history[0]["grad_norm_mean"] > 10 * 1e-3          # the clipped norm would be 1e-3 at most


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_steps_and_flushes_without_host_sync():
    device = torch.device("cuda")
    steps = [(m.to(device), o.to(device), t.to(device), [g.to(device) for g in gs]) for m, o, t, gs in _steps(2)]
    sums = EpochSums(device, 3, defer_norms=True, flush_every=3)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for mean, out, target, grads in steps:
            sums.add(mean, out, target, grads)
        sums.flush()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    for value, want in zip(sums.read(), _expected(_steps(2)), strict=True):
        assert value == pytest.approx(want, rel=1e-5)


def test_a_parameter_without_a_gradient_in_some_steps():
    """A branch the model takes only on some batches: its gradient is None in the others."""

    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 2), nn.Linear(4, 2)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return self.a(x) + (self.b(x) if self.training and self.calls % 3 == 0 else 0)

    g = torch.Generator().manual_seed(0)
    X = torch.randn(300, 4, generator=g)
    y = (X[:, 0] > 0).long()
    torch.manual_seed(0)
    run = tw.Trainer(epochs=2, batch_size=10, seed=0).fit(Branchy(), (X[:240], y[:240]), (X[240:], y[240:]))
    assert all(math.isfinite(r["grad_norm_mean"]) and r["grad_norm_max"] > 0 for r in run.history)
