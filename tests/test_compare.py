"""compare(): the same start, the same batches, a table, a winner by a written rule, one sentence."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

from trainwise.callbacks import Callback
from trainwise.cli.compare import run as run_compare
from trainwise.cli.options import Parser, compare_flags
from trainwise.compare import (
    WINNER_RULE,
    choose_winner,
    compare,
    parse_lrs,
    parse_optimizers,
    sentence,
    stability_words,
    val_loss_bounce,
)
from trainwise.errors import InputError
from trainwise.io import dumps
from trainwise.loop import Trainer


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors gain nothing from intra-op threads; on a busy 2-core machine they cost 30x."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def split(loader):
    X, y = loader(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    return ((scaler.transform(X_train).astype(np.float32), y_train),
            (scaler.transform(X_val).astype(np.float32), y_val))


class Recorder(Callback):
    """The weights each run starts from, and a checksum of every training batch it sees."""

    def __init__(self) -> None:
        self.starts: list[dict] = []
        self.batches: list[list[float]] = []

    def on_fit_start(self, state) -> None:
        self.starts.append({k: v.detach().clone() for k, v in state.model.state_dict().items()})
        self.batches.append([])
        state.model.register_forward_pre_hook(self._record)

    def _record(self, module, inputs) -> None:
        if module.training:
            x = inputs[0]
            self.batches[-1].append(float((x * torch.arange(1, x.shape[1] + 1, device=x.device)).sum()))


def make_net(n_in: int = 30, n_out: int = 2):
    def build() -> nn.Module:
        return nn.Sequential(nn.Linear(n_in, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, n_out))
    return build


@pytest.fixture(scope="module")
def cancer_comparison():
    train, val = split(load_breast_cancer)
    recorder = Recorder()
    result = compare(make_net(), train, val, optimizers={"sgd": {"lr": 0.05}, "adam": {}}, epochs=6,
                     batch_size=64, seed=1, callbacks=[recorder])
    return result, recorder, train, val


def test_every_run_starts_from_the_same_weights_and_sees_the_same_batches(cancer_comparison):
    result, recorder, train, _ = cancer_comparison
    assert list(result.runs) == ["sgd", "adam"]
    first, second = recorder.starts
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    batches_per_epoch = -(-len(train[1]) // 64)
    assert recorder.batches[0] == recorder.batches[1] and len(recorder.batches[0]) == 6 * batches_per_epoch
    assert len(set(result.initial_weights.values())) == 1
    # the weights were copied from one template built under the seed
    torch.manual_seed(1)
    template = make_net()()
    for key, tensor in template.state_dict().items():
        assert torch.equal(first[key].cpu(), tensor), key


def test_initial_val_loss_is_equal_across_runs_and_is_the_untrained_models_loss(cancer_comparison):
    result, _, _, val = cancer_comparison
    losses = set(result.initial_val_loss.values())
    assert len(losses) == 1
    torch.manual_seed(1)
    untrained = Trainer(batch_size=64).evaluate(make_net()(), val)["loss"]
    assert losses.pop() == pytest.approx(untrained, rel=1e-6) and untrained > 0.5     # near ln 2 before training
    summary = result.summary()
    assert summary["runs"]["sgd"]["initial_val_loss"] == summary["runs"]["adam"]["initial_val_loss"]
    for run in result.runs.values():          # and training moved each run away from it
        assert min(r["val_loss"] for r in run.history) < 0.75 * result.initial_val_loss["sgd"]


def test_table_winner_and_sentence_agree(cancer_comparison):
    result, _, _, _ = cancer_comparison
    rows = {row["name"]: row for row in result.table}
    for name, run in result.runs.items():
        row = rows[name]
        val_losses = [r["val_loss"] for r in run.history]
        assert row["best_val_loss"] == min(val_losses)
        assert row["best_epoch"] == val_losses.index(min(val_losses)) + 1
        assert row["accuracy"] == run.metrics["accuracy"] and row["f1"] == run.metrics["f1"]
        assert row["val_losses"] == val_losses
    best = min(row["best_val_loss"] for row in result.table)
    assert result.target_val_loss == pytest.approx(1.05 * best)
    for row in result.table:
        reached = [i + 1 for i, loss in enumerate(row["val_losses"]) if loss <= result.target_val_loss]
        assert row["epochs_to_target"] == (reached[0] if reached else None)
    winner = rows[result.winner]
    assert winner["best_val_loss"] <= 1.01 * best
    assert result.rule == WINNER_RULE and result.winner == choose_winner(result.table)
    name = {"sgd": "SGD", "adam": "Adam"}
    loser = next(n for n in rows if n != result.winner)
    assert result.sentence.startswith(name[result.winner] + " ")
    assert name[loser] in result.sentence and result.sentence.endswith(".") and result.sentence.count(". ") == 0
    assert f"{rows[loser]['best_val_loss']:.4f}" in result.sentence


def test_summary_is_the_json_contract(cancer_comparison, tmp_path):
    result, _, _, _ = cancer_comparison
    summary = json.loads(dumps(result.summary()))           # strict JSON: no NaN
    assert set(summary) >= {"runs", "winner", "rule", "sentence", "table"}
    for name, run in summary["runs"].items():
        assert {"verdict", "findings", "metrics", "history", "initial_val_loss", "table_row"} <= run.keys()
        assert run["table_row"]["name"] == name
        assert run["config"]["optimizer"] == name
    assert summary["runs"]["sgd"]["config"]["optimizer_settings"]["lr"] == 0.05
    assert summary["runs"]["adam"]["config"]["optimizer_settings"]["lr"] == 1e-3      # Adam's own default


def test_several_learning_rates_per_optimizer_multiclass():
    train, val = split(load_wine)
    result = compare(make_net(13, 3), train, val, optimizers={"sgd": {"momentum": 0.9}, "adam": None},
                     lrs=[1e-3, 1e-1], epochs=4, batch_size=32)
    assert list(result.runs) == ["sgd@0.001", "sgd@0.1", "adam@0.001", "adam@0.1"]
    assert result.runs["sgd@0.1"].config["optimizer_settings"] == {"lr": 0.1, "momentum": 0.9, "nesterov": False,
                                                                    "weight_decay": 0.0}
    assert len(set(result.initial_val_loss.values())) == 1
    rows = {row["name"]: row for row in result.table}
    assert rows["sgd@0.1"]["best_val_loss"] < rows["sgd@0.001"]["best_val_loss"]   # 0.001 is far too low for SGD
    assert result.sentence.startswith("Of 4 runs, ")
    with pytest.raises(InputError, match="lr=0.1 is set and lrs are given too"):
        compare(make_net(13, 3), train, val, optimizers={"sgd": {"lr": 0.1}}, lrs=[0.01], epochs=1)
    with pytest.raises(InputError, match="through `optimizers=` and `lrs=`, not lr"):
        compare(make_net(13, 3), train, val, lr=0.1, epochs=1)


def test_a_model_instance_is_copied_and_the_same_optimizer_twice_under_two_names():
    train, val = split(load_breast_cancer)
    torch.manual_seed(0)
    model = make_net()()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = compare(model, train, val, optimizers={"plain": {"optimizer": "sgd", "momentum": 0.0, "lr": 0.1},
                                                    "nesterov": {"optimizer": "sgd", "nesterov": True, "lr": 0.1}},
                     epochs=2, batch_size=128)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())     # never trained itself
    assert result.runs["nesterov"].config["optimizer_settings"]["nesterov"] is True
    assert "plain" in result.sentence or "nesterov" in result.sentence
    with pytest.raises(InputError, match="an optimizer given as a callable takes no settings"):
        compare(model, train, val, optimizers={"mine": {"optimizer": lambda p: torch.optim.SGD(p, lr=0.1),
                                                        "lr": 0.1}}, epochs=1)
    custom = compare(model, train, val, optimizers={"mine": {"optimizer": lambda p: torch.optim.SGD(p, lr=0.1)},
                                                    "adam": {}}, epochs=1, batch_size=128)
    assert custom.runs["mine"].config["optimizer"] == "<lambda>" and custom.winner in ("mine", "adam")


def row(name, losses, *, findings=(), verdict="good"):
    """A table row as comparison_table makes it, from a list of validation losses."""
    best = min(losses)
    return {"name": name, "best_val_loss": best, "best_epoch": losses.index(best) + 1, "val_losses": losses,
            "epochs_to_target": None, "bounce": val_loss_bounce([{"val_loss": v} for v in losses]),
            "overfitting_from": losses.index(best) + 2 if "overfitting" in findings else None,
            "epochs": len(losses), "verdict": verdict, "findings": list(findings)}


def with_target(rows):
    target = 1.05 * min(r["best_val_loss"] for r in rows)
    for r in rows:
        r["epochs_to_target"] = next((i + 1 for i, v in enumerate(r["val_losses"]) if v <= target), None)
    return rows


def test_winner_rule_and_sentence_on_known_curves():
    sgd = [0.60, 0.40, 0.30, 0.25, 0.22, 0.20, 0.19, 0.18, 0.17, 0.17]
    adam = [0.30, 0.20, 0.17, 0.15, 0.14, 0.13, 0.12, 0.13, 0.15, 0.18]
    table = with_target([row("sgd", sgd), row("adam", adam, findings=["overfitting"], verdict="warning")])
    assert choose_winner(table) == "adam"
    assert sentence(table, "adam") == ("Adam reached SGD's best validation loss 3.0x sooner (0.1700, epoch 3 vs 9) "
                                       "and went lower, to 0.1200, but began overfitting at epoch 8.")
    # within 1%: a tie, won by the run that got within 5% of the best in fewer epochs
    slow = [0.5, 0.4, 0.3, 0.2, 0.15, 0.1200]
    fast = [0.3, 0.15, 0.1205, 0.1205, 0.1205, 0.1205]
    tied = with_target([row("sgd", slow), row("adam", fast)])
    assert choose_winner(tied) == "adam"
    assert sentence(tied, "adam").startswith("Adam and SGD tied on best validation loss within 1% (0.1205 vs 0.1200)")
    # a run that never had a finite loss cannot win, and the sentence says so
    broken = {**row("sgd@10", [1.0]), "best_val_loss": None, "best_epoch": None, "val_losses": [None]}
    table = with_target([row("adam@0.001", adam)]) + [broken]
    assert choose_winner(table) == "adam@0.001"
    assert sentence(table, "adam@0.001").endswith("; SGD at lr 10 never had a finite validation loss.")
    assert choose_winner([broken]) is None and "no winner" in sentence([broken], None)


def test_bounce_is_the_mean_relative_rise_per_epoch():
    history = [{"val_loss": v} for v in (1.0, 0.5, 0.6, 0.3, None, 0.3)]
    assert val_loss_bounce(history) == pytest.approx((0 + 0.2 + 0) / 3)      # pairs with a missing loss skipped
    assert val_loss_bounce([{"val_loss": 1.0}, {"val_loss": 0.9}]) == 0.0
    assert stability_words(0.0) == "steady" and stability_words(0.03) == "some bounce"
    assert stability_words(0.2) == "bouncy" and stability_words(None) is None


def test_parse_optimizers_forms():
    assert parse_optimizers("sgd,adam") == {"sgd": {}, "adam": {}}
    assert parse_optimizers("sgd:lr=0.1,momentum=0.9;adam:lr=1e-3") == {"sgd": {"lr": 0.1, "momentum": 0.9},
                                                                         "adam": {"lr": 1e-3}}
    assert parse_optimizers(" SGD : lr=0.1 , nesterov=true ; adamw:betas=0.9/0.99,weight_decay=0.05") == {
        "sgd": {"lr": 0.1, "nesterov": True}, "adamw": {"betas": (0.9, 0.99), "weight_decay": 0.05}}
    assert parse_lrs("0.001, 0.01,0.1") == [0.001, 0.01, 0.1]


@pytest.mark.parametrize("text, message", [
    ("sgd,adamm", "--optimizers 'sgd,adamm': unknown optimizer 'adamm'; choose from sgd, adam, adamw, rmsprop"),
    ("sgd:lr=fast", "--optimizers 'sgd:lr=fast': sgd: lr='fast' is not a number; write e.g. lr=0.01 or lr=1e-3."),
    ("sgd:lrate=0.1", "--optimizers 'sgd:lrate=0.1': optimizer 'sgd' has no setting 'lrate'; it takes: lr, momentum"),
    ("lr=0.1;sgd", "the setting 'lr=0.1' comes before any optimizer name; write name:key=value, e.g. sgd:lr=0.1."),
    ("sgd:lr", "sgd: expected key=value, but got 'lr' (e.g. lr=0.01)."),
    ("sgd:lr=0.1;sgd:lr=0.01", "'sgd' is listed twice; to try several learning rates use --lrs"),
    ("sgd:nesterov=maybe", "sgd: nesterov='maybe' is not true or false; write e.g. nesterov=true."),
    ("adam:betas=0.9", "adam: betas takes two numbers, e.g. betas=0.9/0.999."),
    ("sgd:lr=-1", "Expected `lr` to be a finite number > 0, but got -1.0."),
    (" ; ", "no optimizer given; write e.g. --optimizers sgd,adam."),
])
def test_bad_optimizer_strings_are_named(text, message):
    with pytest.raises(InputError) as info:
        parse_optimizers(text)
    assert message in str(info.value)


def test_bad_lrs_are_named():
    with pytest.raises(InputError, match=r"--lrs '0.1,x': 'x' is not a number; write e.g. --lrs 0.001,0.01,0.1."):
        parse_lrs("0.1,x")
    with pytest.raises(InputError, match="learning rates must be > 0, but got 0"):
        parse_lrs("0.1,0")


def parse(*argv):
    parser = Parser(prog="trainwise compare")
    compare_flags(parser)
    return parser.parse_args([str(a) for a in argv])


def test_cli_compare_json_and_run_folders(cancer_csv, tmp_path, capsys):
    out = tmp_path / "cmp"
    code = run_compare(parse(cancer_csv, "--target", "diagnosis", "--optimizers", "sgd:momentum=0.9;adam",
                             "--lrs", "0.01,0.1", "--epochs", "3", "--hidden", "16", "--out", out, "--json"))
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out)                          # stdout holds only the JSON object
    assert list(summary["runs"]) == ["sgd@0.01", "sgd@0.1", "adam@0.01", "adam@0.1"]
    assert summary["winner"] in summary["runs"] and summary["sentence"]
    assert len({run["initial_val_loss"] for run in summary["runs"].values()}) == 1
    assert summary["runs"]["sgd@0.1"]["metrics"]["positive_label"] == "malignant"
    assert "-- SGD at lr 0.01 (1 of 4)" in captured.err and "epoch 3/3" in captured.err
    assert json.loads((out / "comparison.json").read_text()) == summary
    for name in summary["runs"]:
        assert json.loads((out / name / "summary.json").read_text())["history"] == summary["runs"][name]["history"]


def test_cli_compare_prints_the_table_and_the_sentence(cancer_csv, capsys):
    code = run_compare(parse(cancer_csv, "--target", "diagnosis", "--epochs", "2", "--hidden", "16", "--quiet"))
    out = capsys.readouterr().out
    assert code == 0
    assert "Runs side by side" in out and "Winner:" in out and "lowest best validation loss wins" in out
    assert "SGD" in out and "Adam" in out


def test_cli_compare_bad_optimizers_fail_before_reading_data(capsys):
    with pytest.raises(InputError, match="unknown optimizer 'lion'"):
        run_compare(parse("no-such-file.csv", "--target", "y", "--optimizers", "sgd,lion"))


def test_initial_val_loss_uses_the_training_loss_with_class_weights():
    (X_train, y_train), (X_val, y_val) = split(load_wine)
    result = compare(make_net(13, 3), (X_train, y_train), (X_val, y_val), optimizers={"sgd": {}, "adam": {}},
                     epochs=1, batch_size=32, class_weights="balanced")
    torch.manual_seed(0)
    model = make_net(13, 3)().eval()
    counts = torch.bincount(torch.as_tensor(y_train), minlength=3).float()
    weights = counts.sum() / (3 * counts)
    with torch.no_grad():
        per_sample = torch.nn.functional.cross_entropy(model(torch.as_tensor(X_val)), torch.as_tensor(y_val),
                                                       weight=weights, reduction="none")
    assert result.initial_val_loss["sgd"] == result.initial_val_loss["adam"]
    assert result.initial_val_loss["sgd"] == pytest.approx(per_sample.mean().item(), rel=1e-5)


def test_sentence_when_the_winner_is_slower_and_runs_are_named_by_lr():
    table = with_target([row("sgd@0.1", [0.5, 0.3, 0.2, 0.2, 0.2]),
                         row("adam@0.001", [0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15])])
    assert choose_winner(table) == "adam@0.001"
    assert sentence(table, "adam@0.001") == (
        "Adam at lr 0.001 took 2.0x as many epochs to reach the best validation loss of SGD at lr 0.1 "
        "(0.2000, epoch 6 vs 3) and went lower, to 0.1500, and it was still improving at the last epoch.")
