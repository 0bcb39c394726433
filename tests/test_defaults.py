"""Defaults that fit the data: batch size, epochs and early stopping from the number of training rows."""

from __future__ import annotations

import pytest

from trainwise.defaults import MAX_EPOCHS, TARGET_STEPS, choose_defaults


@pytest.mark.parametrize(("n_train", "batch", "epochs", "patience"), [
    (20, 20, 500, 20),            # one batch: the whole table
    (120, 32, 500, 20),           # iris: 4 steps per epoch, 2,000 in all
    (142, 32, 400, 20),           # wine
    (455, 32, 134, 13),           # breast cancer: 15 steps per epoch
    (1_437, 32, 45, 5),           # digits
    (4_096, 64, 32, 5),
    (10_000, 128, 26, 5),
    (40_000, 256, 13, 5),         # the benchmark table
    (1_000_000, 256, 10, 5),      # 3,907 steps per epoch: the fewest epochs
])
def test_the_rule(n_train, batch, epochs, patience):
    d = choose_defaults(n_train)
    assert (d.batch_size, d.epochs, d.early_stopping) == (batch, epochs, patience)
    assert d.restore_best and d.chosen == ("batch_size", "epochs", "early_stopping")
    steps = -(-n_train // batch)
    assert d.epochs * steps >= TARGET_STEPS or d.epochs == MAX_EPOCHS


def test_every_choice_says_why():
    d = choose_defaults(120)
    assert d.reasons["batch_size"].startswith("batch 32") and "120 training rows" in d.reasons["batch_size"]
    assert "4 optimizer steps per epoch" in d.reasons["batch_size"]
    assert d.reasons["epochs"].startswith("500 epochs") and "2,000 optimizer steps" in d.reasons["epochs"]
    assert "20 epochs without a lower validation loss" in d.reasons["early_stopping"]
    assert d.to_dict() == {"batch_size": 32, "epochs": 500, "early_stopping": 20, "restore_best": True,
                           "chosen": ["batch_size", "epochs", "early_stopping"], "reasons": d.reasons}
    assert "1,000,000 training rows" in choose_defaults(1_000_000).reasons["batch_size"]


def test_explicit_settings_win():
    d = choose_defaults(120, batch_size=8, epochs=30, early_stopping=0)
    assert d.settings() == {"batch_size": 8, "epochs": 30, "early_stopping": None, "restore_best": False}
    assert d.chosen == () and d.reasons["batch_size"] == "batch 8 as given"
    assert d.reasons["early_stopping"] == "no early stopping, as asked"
    # a given batch size decides the epochs that are chosen: 120 rows at batch 120 is one step per epoch
    assert choose_defaults(120, batch_size=120).epochs == 500
    assert choose_defaults(40_000, batch_size=64).epochs == 10
    assert choose_defaults(455, early_stopping=3).early_stopping == 3
    assert choose_defaults(455, early_stopping=False).early_stopping is None


def test_no_early_stopping_without_validation_rows():
    d = choose_defaults(120, has_validation=False)
    assert d.early_stopping is None and not d.restore_best
    assert "no validation rows" in d.reasons["early_stopping"]


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, None])
def test_bad_row_counts(bad):
    with pytest.raises(ValueError, match="n_train"):
        choose_defaults(bad)


def test_the_summary_states_the_chosen_settings():
    from io import StringIO

    from rich.console import Console

    from trainwise.report import print_summary
    from trainwise.run import Run

    chosen = choose_defaults(120, epochs=50)
    run = Run(history=[], metrics=None, findings=[], verdict="good", best_epoch=None, thresholds=None, config={},
              data={}, defaults=chosen.to_dict())
    assert run.summary()["defaults"]["reasons"]["batch_size"].startswith("batch 32")
    assert "defaults" not in Run(history=[], metrics=None, findings=[], verdict="good", best_epoch=None,
                                 thresholds=None, config={}, data={}).summary()
    out = StringIO()
    print_summary(run.summary(), Console(file=out, width=200))
    text = out.getvalue()
    assert "Chosen from the data: batch 32" in text and "early stopping after 5 epochs" in text
    assert "as given" not in text                     # only what was chosen is stated
