"""The LR range test: everything restored, deterministic, a sensible suggestion, the loss the loop uses."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler
from torch import nn

from trainwise.batching import make_batches
from trainwise.cli.lrfind import run as run_lr_find
from trainwise.cli.options import Parser, lr_find_flags
from trainwise.errors import InputError
from trainwise.lrfind import lr_find, steepest_index, suggest_lr, valley_index


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors gain nothing from intra-op threads; on a busy 2-core machine they cost 30x."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    return torch.from_numpy(X), torch.from_numpy(y)


def small_net(n_in: int = 30, n_out: int = 2, *, norm: bool = True, dropout: float = 0.2) -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(n_in, 16)]
    if norm:
        layers.append(nn.BatchNorm1d(16))        # buffers: running stats and num_batches_tracked
    layers += [nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, n_out)]
    return nn.Sequential(*layers)


def tensors_of(state: dict) -> dict:
    """Every tensor of a (nested) state dict, keyed by its path."""
    out = {}

    def walk(value, path):
        if isinstance(value, torch.Tensor):
            out[path] = value.detach().clone()
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}/{k}")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{path}/{i}")

    walk(state, "")
    return out


def test_model_optimizer_grads_mode_and_rng_are_restored_exactly(cancer):
    X, y = cancer
    model = small_net()
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    for _ in range(3):                            # an optimizer with real state: step counts and moments
        opt.zero_grad()
        F.cross_entropy(model(X[:64]), y[:64]).backward()
        opt.step()
    model.eval()                                  # a mode the sweep must not leave changed
    weights = tensors_of(model.state_dict())
    opt_state = opt.state_dict()
    opt_tensors = tensors_of(opt_state)
    groups = json.dumps([{k: v for k, v in g.items() if k != "params"} for g in opt_state["param_groups"]],
                        sort_keys=True, default=str)
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    params = [p for g in opt.param_groups for p in g["params"]]
    torch.manual_seed(1234)
    np.random.seed(5)
    random.seed(7)
    rng = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())

    result = lr_find(model, (X, y), optimizer=opt, num_steps=60, batch_size=32)

    assert len(result.lrs) > 10 and result.losses[0] != result.losses[-1]   # it really trained
    after = tensors_of(model.state_dict())
    assert after.keys() == weights.keys()
    for key, tensor in weights.items():
        assert torch.equal(after[key], tensor), key
    after_opt = opt.state_dict()
    after_tensors = tensors_of(after_opt)
    assert after_tensors.keys() == opt_tensors.keys()
    assert len(opt_tensors) == 3 * len(params)          # step, exp_avg, exp_avg_sq per parameter
    for key, tensor in opt_tensors.items():
        assert torch.equal(after_tensors[key], tensor), key
    assert json.dumps([{k: v for k, v in g.items() if k != "params"} for g in after_opt["param_groups"]],
                      sort_keys=True, default=str) == groups              # lr 3e-4, no initial_lr left behind
    assert [p for g in opt.param_groups for p in g["params"]] == params     # same Parameter objects
    assert all(a is b for a, b in zip(params, model.parameters(), strict=True))
    for name, p in model.named_parameters():
        assert torch.equal(p.grad, grads[name]), name
    assert not model.training and not any(m.training for m in model.modules())
    assert torch.equal(torch.get_rng_state(), rng[0])
    assert np.array_equal(np.random.get_state()[1], rng[1])
    assert random.getstate() == rng[2]


def test_an_optimizer_built_by_name_leaves_a_fresh_model_untouched(cancer):
    X, y = cancer
    model = small_net()
    before = tensors_of(model.state_dict())
    lr_find(model, (X, y), optimizer="sgd", optimizer_options={"momentum": 0.9}, num_steps=30, batch_size=64)
    for key, tensor in tensors_of(model.state_dict()).items():
        assert torch.equal(tensor, before[key]), key
    assert all(p.grad is None for p in model.parameters())
    assert model.training                              # a new module is in train mode, and stays so


def test_deterministic_under_a_seed(cancer):
    X, y = cancer
    first = lr_find(small_net(), (X, y), optimizer="adam", num_steps=50, batch_size=32, seed=3)
    again = lr_find(small_net(), (X, y), optimizer="adam", num_steps=50, batch_size=32, seed=3)
    other = lr_find(small_net(), (X, y), optimizer="adam", num_steps=50, batch_size=32, seed=4)
    assert first.to_dict() == again.to_dict()
    assert first.losses != other.losses             # another seed: another batch order and dropout


def test_suggestion_is_inside_the_sweep_and_in_a_sensible_decade(cancer):
    X, y = cancer
    sgd = lr_find(small_net(norm=False, dropout=0.0), (X, y), optimizer="sgd", batch_size=32)
    adam = lr_find(small_net(norm=False, dropout=0.0), (X, y), optimizer="adam", batch_size=32)
    for result in (sgd, adam):
        assert result.method == "steepest" and result.suggestion == result.alternatives["steepest"]
        for lr in result.alternatives.values():
            assert min(result.lrs) / 10 <= lr <= max(result.lrs)
        assert min(result.lrs) <= result.suggestion <= max(result.lrs)
        assert result.stopped_early and result.lrs[-1] < 10             # both blow up before lr 10
        assert result.smoothed[-1] > 4 * min(result.smoothed)
    # a 30-feature logistic-like problem: SGD with momentum trains well around 1e-2..1, Adam around 1e-3..1e-1
    assert 1e-2 <= sgd.suggestion <= 1.0
    assert 1e-3 <= adam.suggestion <= 1e-1
    assert adam.suggestion < sgd.suggestion


def test_the_sweep_uses_the_training_loop_loss_and_batch_order(cancer):
    X, y = cancer
    model = small_net(norm=False, dropout=0.0)
    expected_batch = next(iter(make_batches((X, y), 32, shuffle=True, seed=9, device=torch.device("cpu"),
                                            name="train").epoch(1)))
    with torch.no_grad():
        expected = F.cross_entropy(model(expected_batch[0]), expected_batch[1]).item()
    result = lr_find(model, (X, y), optimizer="sgd", num_steps=5, batch_size=32, seed=9)
    assert result.losses[0] == pytest.approx(expected, rel=1e-6)
    assert result.lrs[0] == pytest.approx(1e-7) and result.smoothed[0] == pytest.approx(result.losses[0])

    # one logit per row: BCE with logits, as in training
    single = small_net(n_out=1, norm=False, dropout=0.0)
    with torch.no_grad():
        bce = F.binary_cross_entropy_with_logits(single(expected_batch[0]).reshape(-1),
                                                 expected_batch[1].float()).item()
    result = lr_find(single, (X, y), optimizer="sgd", num_steps=5, batch_size=32, seed=9)
    assert result.losses[0] == pytest.approx(bce, rel=1e-6)


def test_suggestions_are_pure_functions_of_the_curve():
    lrs = list(np.logspace(-6, 1, 71))
    x = np.log10(lrs)
    # falls fastest at lr 1e-2 (the sigmoid's midpoint), bottoms out near 1, then rises
    loss = 1.0 - 0.8 / (1 + np.exp(-3 * (x + 2))) + np.where(x > 0, 2.0 * x ** 2, 0.0)
    curve = list(loss)
    assert lrs[steepest_index(lrs, curve)] == pytest.approx(1e-2)
    assert suggest_lr(lrs, curve) == pytest.approx(1e-2)
    valley = valley_index(curve)
    assert 0 < valley < int(np.argmin(loss))
    assert suggest_lr(lrs, curve, method="minimum/10") == pytest.approx(lrs[int(np.argmin(loss))] / 10)
    rising = list(np.linspace(1.0, 2.0, 20))
    assert suggest_lr(lrs[:20], rising) is None and suggest_lr(lrs[:20], rising, method="valley") is None
    with pytest.raises(InputError, match="unknown method 'fastest'"):
        suggest_lr(lrs, curve, method="fastest")


def test_bad_settings_are_named(cancer):
    X, y = cancer
    with pytest.raises(InputError, match="`end_lr` to be a number > start_lr"):
        lr_find(small_net(), (X, y), start_lr=1.0, end_lr=0.1)
    with pytest.raises(InputError, match="`smoothing` to be in"):
        lr_find(small_net(), (X, y), smoothing=0)
    with pytest.raises(InputError, match="unknown optimizer 'adm'"):
        lr_find(small_net(), (X, y), optimizer="adm")


def test_cli_lr_find_json_and_table(tmp_path, capsys):
    data = load_breast_cancer(as_frame=True)
    path = tmp_path / "cancer.csv"
    data.frame.to_csv(path, index=False)
    parser = Parser(prog="trainwise lr-find")
    lr_find_flags(parser)

    code = run_lr_find(parser.parse_args([str(path), "--target", "target", "--optimizer", "sgd",
                                          "--batch-size", "32", "--num-steps", "60", "--json"]))
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out)
    assert result["settings"]["optimizer"] == "sgd" and result["settings"]["optimizer_options"]["momentum"] == 0.9
    assert len(result["lrs"]) == len(result["losses"]) == len(result["smoothed"]) <= 60
    assert result["lrs"][0] <= result["suggestion"] <= result["lrs"][-1]

    code = run_lr_find(parser.parse_args([str(path), "--target", "target", "--batch-size", "32",
                                          "--num-steps", "40", "--method", "valley"]))
    out = capsys.readouterr().out
    assert code == 0 and "Suggested learning rate:" in out and "(valley; also steepest" in out
    assert "<- suggestion" in out
