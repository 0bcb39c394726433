"""Optimizers side by side, under identical conditions, with a winner and the reason for it.

Identical conditions means, for every run:

- the same initial weights: the model is built once (under ``seed``), its ``state_dict`` is deep-copied
  and loaded into each run's model — copied, not re-created from the seed and hoped equal. Each run's
  summary holds ``initial_val_loss`` (the validation loss before the first step) and a SHA-256 of the
  initial weights; both are equal across runs, which is the evidence;
- the same batches in the same order each epoch (the order of epoch ``e`` depends only on ``(seed, e)``),
  the same dropout randomness (``Trainer.fit`` seeds it), the same epochs, loss and schedule.

Only the optimizer and its settings differ. SGD and Adam want very different learning rates, so one LR
each is not a fair comparison: pass ``lrs=[1e-3, 1e-2, 1e-1]`` (CLI ``--lrs``) to run every optimizer at
every LR (runs named ``sgd@0.1``, ``adam@0.001``, ...).

The comparison table, one row per run:

- ``best_val_loss`` and ``best_epoch`` (the first epoch reaching it);
- ``epochs_to_target`` / ``seconds_to_target``: the first epoch (and the wall time up to the end of it,
  validation included) at which the run's validation loss came within 5% of the best validation loss any
  run reached (``target_val_loss = 1.05 x that best``); ``None`` if it never did;
- final ``accuracy``, ``precision``, ``recall``, ``f1`` (the last epoch's validation metrics; binary: the
  positive class, multiclass: macro averages);
- ``bounce`` — the stability measure: the mean, over consecutive epochs, of the relative rise of the
  validation loss, ``mean_t max(0, (L_t - L_{t-1}) / L_{t-1})``. 0 means it never rose; 0.05 means it rose
  by 5% per epoch on average. ``stability`` puts it in words: ``steady`` (< 1%), ``some bounce`` (< 5%),
  ``bouncy`` (>= 5%). A steady rise from overfitting counts too; ``overfitting_from`` tells the two apart;
- ``overfitting_from``: the epoch after the best one, when the run's findings include ``overfitting``;
- ``verdict`` and ``findings`` (the codes; the full findings are in each run's summary);
- ``val_losses``: the validation loss of each epoch, epoch 1 first (``None`` where not finite).

The winner rule (``WINNER_RULE``): the lowest best validation loss wins; runs whose best is within 1% of
the lowest are tied, and the tie goes to the run that reached the 5% target in the fewest epochs (then
the lower best loss). Runs whose validation loss was never finite cannot win.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainwise.callbacks import Callback
from trainwise.config import TrainConfig
from trainwise.errors import InputError
from trainwise.loop import Trainer
from trainwise.optim import OPTIMIZERS, optimizer_settings
from trainwise.run import Run

log = logging.getLogger(__name__)

TARGET_MARGIN = 0.05     # "within 5% of the best validation loss any run reached"
TIE_MARGIN = 0.01        # best losses within 1% of each other are a tie
WINNER_RULE = ("lowest best validation loss wins; runs within 1% of it are tied and the tie goes to the run "
               "that came within 5% of the best loss of any run in the fewest epochs")
DISPLAY = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}
BOOLEAN_SETTINGS = ("nesterov", "amsgrad", "centered")
RESERVED = ("optimizer", "lr", "optimizer_options")


@dataclass
class Comparison:
    """The runs, their table, the winner and the one sentence that says what happened."""

    runs: dict[str, Run]
    initial_val_loss: dict[str, float]
    initial_weights: dict[str, str]
    table: list[dict]
    winner: str | None
    rule: str
    sentence: str
    target_val_loss: float | None
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The ``compare --json`` object: each run's ``--json`` object plus its start and table row."""
        rows = {row["name"]: row for row in self.table}
        runs = {name: {**run.summary(), "initial_val_loss": self.initial_val_loss[name],
                       "initial_weights_sha256": self.initial_weights[name], "table_row": rows[name]}
                for name, run in self.runs.items()}
        return {"runs": runs, "winner": self.winner, "rule": self.rule, "sentence": self.sentence,
                "table": self.table, "target_val_loss": self.target_val_loss, "settings": self.settings}


def compare(make_model: Callable[[], nn.Module] | nn.Module, train: Any, val: Any, *,
            optimizers: Mapping[str, Mapping[str, Any] | None] | None = None, epochs: int = 10,
            lrs: Sequence[float] | Mapping[str, Sequence[float]] | None = None, seed: int = 0,
            batch_size: int = 256, callbacks: Sequence[Callback] = (), labels: Sequence[str] | None = None,
            positive: int | None = None, data_info: dict | None = None, loss_fn: Any = None,
            progress: bool | None = None, **trainer_settings: Any) -> Comparison:
    """Train one run per optimizer (and per LR in ``lrs``) from the same start; see the module docstring.

    ``make_model`` builds a fresh model (it is called under ``torch.manual_seed(seed)`` for the template,
    then once per run, and the template's weights are loaded into each); a model may be passed instead and
    is deep-copied per run, never trained itself. ``optimizers`` maps a run name to its settings, e.g.
    ``{"sgd": {"lr": 0.1, "momentum": 0.9}, "adam": {"lr": 1e-3}}`` (default: ``sgd`` and ``adam`` at their
    defaults); a setting ``"optimizer"`` (a name or a callable ``params -> Optimizer``) lets two runs use
    the same optimizer, e.g. ``{"sgd": {}, "nesterov": {"optimizer": "sgd", "nesterov": True}}``. ``lrs`` is
    a list of LRs for every optimizer, or a mapping name -> list. Other keyword arguments go to
    :class:`TrainConfig` (``schedule``, ``class_weights``, ``grad_clip``, ``device``, ...); a
    ``checkpoint_dir`` gets one subfolder per run, named as the run.
    """
    bad = sorted(set(trainer_settings) & set(RESERVED))
    if bad:
        raise InputError(f"compare() takes the optimizer settings through `optimizers=` and `lrs=`, "
                         f"not {', '.join(bad)}; e.g. optimizers={{'sgd': {{'lr': 0.1}}}}.")
    if val is None:
        raise InputError("compare() needs validation data: the runs are compared on validation loss.")
    plan = plan_runs(optimizers, lrs)
    checkpoints = trainer_settings.pop("checkpoint_dir", None)
    if checkpoints is not None:
        check_folder_names(plan)
    configs = {name: TrainConfig(optimizer=opt, lr=settings.get("lr"),
                                 optimizer_options={k: v for k, v in settings.items() if k != "lr"},
                                 epochs=epochs, batch_size=batch_size, seed=seed, **trainer_settings,
                                 **({} if checkpoints is None else {"checkpoint_dir": str(Path(checkpoints) / name)}))
               for name, (opt, settings) in plan.items()}

    torch.manual_seed(seed)
    template = make_model if isinstance(make_model, nn.Module) else make_model()
    initial = copy.deepcopy(template.state_dict())

    runs: dict[str, Run] = {}
    start_loss: dict[str, float] = {}
    start_weights: dict[str, str] = {}
    for i, (name, config) in enumerate(configs.items(), start=1):
        log.info("compare: run %d of %d: %s", i, len(configs), name)
        model = copy.deepcopy(template) if isinstance(make_model, nn.Module) else make_model()
        model.load_state_dict(initial)
        start_weights[name] = weights_sha256(model)
        trainer = Trainer(config=config, callbacks=callbacks, labels=labels, positive=positive, loss_fn=loss_fn,
                          progress=progress)
        start_loss[name] = initial_val_loss(trainer, model, train, val)
        runs[name] = trainer.fit(model, train, val, data_info=data_info)

    table, target = comparison_table(runs)
    winner = choose_winner(table)
    return Comparison(runs=runs, initial_val_loss=start_loss, initial_weights=start_weights, table=table,
                      winner=winner, rule=WINNER_RULE, sentence=sentence(table, winner), target_val_loss=target,
                      settings={"epochs": epochs, "batch_size": batch_size, "seed": seed,
                                "optimizers": {name: configs[name].to_dict()["optimizer_settings"]
                                               for name in configs}})


def check_folder_names(names: Any) -> None:
    """Run names become folders under ``checkpoint_dir``: each must be a plain file name (no path
    separator, no leading dot, nothing unprintable), so no run writes outside it."""
    for name in names:
        text = str(name)
        if not text or text.startswith(".") or any(c in text for c in "/\\:") or not text.isprintable():
            raise InputError(f"run name {text!r} cannot be a folder under checkpoint_dir; name runs with letters, "
                             "digits, '-', '_' or '@' (e.g. 'sgd', 'adam@0.01').")


def plan_runs(optimizers: Mapping[str, Mapping[str, Any] | None] | None,
              lrs: Sequence[float] | Mapping[str, Sequence[float]] | None = None) -> dict[str, tuple[Any, dict]]:
    """Run name -> (optimizer name or callable, its settings), in the order the runs are trained."""
    if optimizers is None:
        optimizers = {"sgd": {}, "adam": {}}
    if not optimizers:
        raise InputError("no optimizers to compare; give at least one, e.g. optimizers={'sgd': {}, 'adam': {}}.")
    if lrs is not None and not isinstance(lrs, Mapping):
        lrs = {name: list(lrs) for name in optimizers}
    plan: dict[str, tuple[Any, dict]] = {}
    for name, given in optimizers.items():
        settings = dict(given or {})
        opt = settings.pop("optimizer", name)
        run_lrs = None if lrs is None else lrs.get(name)
        if isinstance(opt, str):
            optimizer_settings(opt, **settings)          # unknown names and settings fail here, clearly
        elif settings or run_lrs:
            raise InputError(f"{name}: an optimizer given as a callable takes no settings or lrs here; "
                             "set them inside the callable, e.g. lambda p: torch.optim.SGD(p, lr=0.1).")
        if not run_lrs:
            plan[name] = (opt, settings)
            continue
        if settings.get("lr") is not None:
            raise InputError(f"{name}: lr={settings['lr']} is set and lrs are given too; use one of the two.")
        for lr in run_lrs:
            if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
                raise InputError(f"{name}: learning rates must be numbers > 0, but got {lr!r}.")
            plan[f"{name}@{lr:g}"] = (opt, {**settings, "lr": float(lr)})
    return plan


# ---------------------------------------------------------------------- the start
def initial_val_loss(trainer: Trainer, model: nn.Module, train: Any, val: Any) -> float:
    """Validation loss before the first step, computed as `Trainer.fit` computes it each epoch
    (same batches, same per-sample loss with class weights, same precision, same averaging)."""
    return trainer.evaluate(model, val, train=train)["loss"]


def weights_sha256(model: nn.Module) -> str:
    """A fingerprint of every tensor of the state dict (names, dtypes, shapes and bytes)."""
    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{key}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


# ---------------------------------------------------------------------- the table (pure over histories)
def comparison_table(runs: Mapping[str, Run]) -> tuple[list[dict], float | None]:
    """One row per run, and the target loss (within 5% of the best validation loss of any run)."""
    bests = [b for b in (_best(run.history) for run in runs.values()) if b is not None]
    overall = min((loss for loss, _ in bests), default=None)
    target = None if overall is None else overall + TARGET_MARGIN * abs(overall)
    table = []
    for name, run in runs.items():
        history = run.history
        best = _best(history)
        reached = _first_epoch_at_or_below(history, target) if target is not None else None
        seconds = None
        if reached is not None:
            seconds = sum(r.get("seconds") or 0.0 for r in history if r["epoch"] <= reached)
        metrics = run.metrics or {}
        codes = [f.code for f in run.findings]
        bounce = val_loss_bounce(history)
        final = history[-1] if history else {}
        table.append({
            "name": name,
            "optimizer": run.config.get("optimizer"),
            "lr": (run.config.get("optimizer_settings") or {}).get("lr", run.config.get("lr")),
            "best_val_loss": None if best is None else best[0],
            "best_epoch": None if best is None else best[1],
            "final_val_loss": _finite(final.get("val_loss")),
            "epochs_to_target": reached,
            "seconds_to_target": seconds,
            "accuracy": metrics.get("accuracy"),
            "precision": metrics.get("precision"),
            "recall": metrics.get("recall"),
            "f1": metrics.get("f1"),
            "bounce": bounce,
            "stability": stability_words(bounce),
            "overfitting_from": (best[1] + 1) if best is not None and "overfitting" in codes else None,
            "epochs": len(history),
            "verdict": run.verdict,
            "findings": codes,
            "val_losses": [_finite(r.get("val_loss")) for r in history],
        })
    return table, target


def val_loss_bounce(history: Sequence[dict]) -> float | None:
    """Mean relative epoch-to-epoch rise of the validation loss: mean_t max(0, (L_t - L_{t-1}) / L_{t-1})."""
    losses = [_finite(r.get("val_loss")) for r in history]
    rises = [max(0.0, (b - a) / abs(a)) for a, b in itertools.pairwise(losses)
             if a is not None and b is not None and a != 0]
    return sum(rises) / len(rises) if rises else None


def stability_words(bounce: float | None) -> str | None:
    if bounce is None:
        return None
    return "steady" if bounce < 0.01 else "some bounce" if bounce < 0.05 else "bouncy"


def choose_winner(table: Sequence[dict]) -> str | None:
    """Apply ``WINNER_RULE`` to the table's rows."""
    ranked = _ranked(table)
    return ranked[0]["name"] if ranked else None


def _ranked(table: Sequence[dict]) -> list[dict]:
    """Rows in winner order: tied-best rows by speed, then the others by best loss."""
    rows = [r for r in table if r["best_val_loss"] is not None]
    if not rows:
        return []
    lowest = min(r["best_val_loss"] for r in rows)
    tied = [r for r in rows if r["best_val_loss"] <= lowest + TIE_MARGIN * abs(lowest)]
    rest = [r for r in rows if r not in tied]

    def speed(row: dict) -> tuple[float, float]:
        epochs = row["epochs_to_target"]
        return (math.inf if epochs is None else epochs, row["best_val_loss"])

    return sorted(tied, key=speed) + sorted(rest, key=lambda r: (r["best_val_loss"], r["name"]))


# ---------------------------------------------------------------------- the sentence (pure over the table)
def sentence(table: Sequence[dict], winner: str | None) -> str:
    """One sentence a person can read: the winner against the runner-up, and its one caveat."""
    ranked = _ranked(table)
    if winner is None or not ranked:
        return "No run reached a finite validation loss, so there is no winner; lower the learning rates."
    w = next(r for r in ranked if r["name"] == winner)
    W = display_name(w["name"])
    others = [r for r in ranked if r["name"] != winner]
    failed = [display_name(row["name"]) for row in table if row["best_val_loss"] is None]
    tail = f"; {', '.join(failed)} never had a finite validation loss" if failed else ""
    if not others:
        main = f"{W} reached its best validation loss {w['best_val_loss']:.4f} at epoch {w['best_epoch']}"
        return main + _caveat(w, None) + tail + "."
    r = others[0]
    R = display_name(r["name"])
    lead = f"Of {len(ranked)} runs, " if len(ranked) > 2 else ""
    w_at_r = _epoch_reaching(w, r["best_val_loss"])
    best_of_r = _best_loss_of(R)
    if w_at_r is not None and r["best_epoch"]:
        ratio = r["best_epoch"] / w_at_r
        where = f"({r['best_val_loss']:.4f}, epoch {w_at_r} vs {r['best_epoch']})"
        if ratio >= 1.1:
            main = f"{W} reached {best_of_r} {ratio:.1f}x sooner {where}"
        elif ratio <= 1 / 1.1:
            main = f"{W} took {1 / ratio:.1f}x as many epochs to reach {best_of_r} {where}"
        else:
            main = f"{W} reached {best_of_r} at about the same epoch {where}"
        if w["best_val_loss"] < r["best_val_loss"] - TIE_MARGIN * abs(r["best_val_loss"]):
            main += f" and went lower, to {w['best_val_loss']:.4f},"
    else:
        main = (f"{W} and {R} tied on best validation loss within 1% ({w['best_val_loss']:.4f} vs "
                f"{r['best_val_loss']:.4f}) and {W} came within 5% of it sooner "
                f"(epoch {w['epochs_to_target']} vs {_or_never(r['epochs_to_target'])})")
    caveat = _caveat(w, r)
    if main.endswith(",") and not caveat.startswith(" but"):
        main = main[:-1]
    return lead + main + caveat + tail + "."


def _caveat(w: dict, r: dict | None) -> str:
    """The one thing to know about the winner before trusting it."""
    if w.get("overfitting_from") is not None:
        return f" but began overfitting at epoch {w['overfitting_from']}"
    if w.get("bounce") is not None and w["bounce"] >= 0.02 and (r is None or r.get("bounce") is None
                                                                 or w["bounce"] > 2 * r["bounce"]):
        versus = "" if r is None or r.get("bounce") is None else f" vs {r['bounce']:.1%}"
        return f" but its validation loss bounced (a {w['bounce']:.1%} mean rise per epoch{versus})"
    if w.get("verdict") == "bad":
        return f" but its verdict is bad ({', '.join(w['findings'])})"
    if w.get("best_epoch") is not None and w.get("best_epoch") == w.get("epochs") and w.get("epochs", 0) > 1:
        return ", and it was still improving at the last epoch"
    return ""


def _epoch_reaching(row: dict, level: float) -> int | None:
    """The first epoch at which the row's validation loss was at or below ``level``."""
    return next((i + 1 for i, loss in enumerate(row.get("val_losses") or []) if loss is not None and loss <= level),
                None)


def display_name(name: str) -> str:
    """``sgd@0.1`` -> ``SGD at lr 0.1``; ``adam`` -> ``Adam``; other names as given."""
    base, _, lr = name.partition("@")
    pretty = DISPLAY.get(base, base)
    return f"{pretty} at lr {lr}" if lr else pretty


def _best_loss_of(display: str) -> str:
    """``SGD's best validation loss``, or ``the best validation loss of SGD at lr 0.1``."""
    return f"the best validation loss of {display}" if " " in display else f"{display}'s best validation loss"


def _or_never(value: int | None) -> str:
    return "never" if value is None else str(value)


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _best(history: Sequence[dict]) -> tuple[float, int] | None:
    scored = [(loss, r["epoch"]) for r in history if (loss := _finite(r.get("val_loss"))) is not None]
    return min(scored) if scored else None


def _first_epoch_at_or_below(history: Sequence[dict], level: float) -> int | None:
    return next((r["epoch"] for r in history if (loss := _finite(r.get("val_loss"))) is not None
                 and loss <= level), None)


# ---------------------------------------------------------------------- the CLI syntax
def parse_optimizers(text: str) -> dict[str, dict[str, Any]]:
    """Parse ``--optimizers``: ``"sgd,adam"`` or ``"sgd:lr=0.1,momentum=0.9;adam:lr=1e-3"``.

    Entries are separated by ``;`` or ``,``; an entry is ``name`` or ``name:key=value``, and a bare
    ``key=value`` adds a setting to the optimizer named before it. Numbers are written as Python
    writes them (``0.1``, ``1e-3``); ``nesterov``/``amsgrad``/``centered`` take ``true``/``false``;
    ``betas`` takes two numbers joined by ``/`` (``betas=0.9/0.99``).
    """
    where = f"--optimizers {text!r}"
    result: dict[str, dict[str, Any]] = {}
    current: str | None = None
    tokens = [t.strip() for part in text.split(";") for t in part.split(",")]
    for token in tokens:
        if not token:
            continue
        if ":" in token or "=" not in token:
            name, _, setting = (part.strip() for part in token.partition(":"))
            name = name.lower()
            if name not in OPTIMIZERS:
                raise InputError(f"{where}: unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)} "
                                 "(e.g. --optimizers \"sgd:lr=0.1,momentum=0.9;adam:lr=1e-3\").")
            if name in result:
                raise InputError(f"{where}: {name!r} is listed twice; to try several learning rates use "
                                 "--lrs, e.g. --lrs 0.001,0.01,0.1.")
            result[name] = {}
            current = name
            if not setting:
                continue
            token = setting
        if current is None:
            raise InputError(f"{where}: the setting {token!r} comes before any optimizer name; write "
                             "name:key=value, e.g. sgd:lr=0.1.")
        key, eq, value = (part.strip() for part in token.partition("="))
        if not eq or not key:
            raise InputError(f"{where}: {current}: expected key=value, but got {token!r} (e.g. lr=0.01).")
        if key in result[current]:
            raise InputError(f"{where}: {current}: {key} is set twice.")
        result[current][key] = _setting_value(where, current, key, value)
    if not result:
        raise InputError(f"{where}: no optimizer given; write e.g. --optimizers sgd,adam.")
    for name, settings in result.items():
        try:
            optimizer_settings(name, **settings)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    return result


def parse_lrs(text: str) -> list[float]:
    """Parse ``--lrs 0.001,0.01,0.1``."""
    lrs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            lr = float(part)
        except ValueError:
            raise InputError(f"--lrs {text!r}: {part!r} is not a number; write e.g. --lrs 0.001,0.01,0.1.") from None
        if not (math.isfinite(lr) and lr > 0):
            raise InputError(f"--lrs {text!r}: learning rates must be > 0, but got {part}.")
        if lr in lrs:
            raise InputError(f"--lrs {text!r}: {part} is listed twice.")
        lrs.append(lr)
    if not lrs:
        raise InputError(f"--lrs {text!r}: no learning rate given; write e.g. --lrs 0.001,0.01,0.1.")
    return lrs


def _setting_value(where: str, name: str, key: str, value: str) -> Any:
    if key in BOOLEAN_SETTINGS:
        words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
        if value.lower() not in words:
            raise InputError(f"{where}: {name}: {key}={value!r} is not true or false; write e.g. {key}=true.")
        return words[value.lower()]
    parts = value.split("/") if key == "betas" else [value]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        example = "betas=0.9/0.999" if key == "betas" else f"{key}=0.01 or {key}=1e-3"
        raise InputError(f"{where}: {name}: {key}={value!r} is not a number; write e.g. {example}.") from None
    if key == "betas":
        if len(numbers) != 2:
            raise InputError(f"{where}: {name}: betas takes two numbers, e.g. betas=0.9/0.999.")
        return tuple(numbers)
    if not all(math.isfinite(n) for n in numbers):
        raise InputError(f"{where}: {name}: {key}={value!r} must be a finite number.")
    return numbers[0]
