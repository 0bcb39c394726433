"""trainwise speed benchmarks: one command, every figure a ratio to a baseline timed in the same run.

    python benchmarks/run.py [--quick] [--out results.json] [--only loops,overhead,...] [--device cpu]

Sections (all by default; ``--only`` picks some):

  loops      (a) hand-written loop, (b) trainwise ``Trainer.fit``, (c) Lightning + torchmetrics,
             (d) ``DataLoader(TensorDataset)`` loop -- same data, model, optimizer, 3 epochs -- alternating,
             several repeats; medians and ratios to (a).
  overhead   trainwise's extra cost, split: per training step (today's step, with eager norms, the step
             before 8781f81, against the hand-written one, alternating in blocks of 64 steps; each extra
             timed alone), per validation pass, per fit (``overheads.py``).
  integrations  Lightning's fit of the loops workload with and without trainwise's ``TrainwiseCallback``
             (validation logits handed over; then training logits too), alternating; ratios to Lightning alone.
  kernels    the small operations the loop chose between: argmax against one comparison over two logits,
             softmax against a sigmoid of their difference, the score binning, the readings of one pass.
  rss        peak RSS of (b) against (a), each in a fresh process.
  scaling    seconds per epoch at 10k, 100k, 1M rows: is it linear?
  ingest     a 1M-row x 20-column CSV and Parquet file to tensors: pandas (C, pyarrow engines), pyarrow,
             polars, and trainwise's ``read_table``.
  leakage    ``trainwise.data.fingerprint.duplicate_rows`` on 1M rows, against one training epoch.
  precision  ``precision="bf16"`` and ``compile=True`` against fp32 eager (on ``--device``).
  profile    py-spy samples of a trainwise fit and of the hand-written loop, by loop line and phase.
  predict    ``trainwise.load(RUN).predict_proba`` on a 1M-row CSV and Parquet file, and ``trainwise predict``
             Parquet to Parquet, against the hand-written read + saved preprocessing + forward (``predict_bench.py``).
  quality    the end-of-fit assessment (calibration pass and logistic-regression baseline, issue #18): the
             fit with it against the fit without it, and the baseline and the whole assessment timed alone,
             each as a ratio to the fit without it, alternating.

Timing. ``torch.set_num_threads(1)`` unless ``--threads`` says otherwise (on a shared 2-core machine
two intra-op threads spin against other processes and every figure gets 5-15x noisier). Each figure is
given on two clocks: this process's CPU time (what our code costs; least disturbed by other processes)
and wall time. Ratios are medians of per-round ratios between runs made seconds apart.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks import bench_lib as bl  # noqa: E402

SECTIONS = ("loops", "overhead", "integrations", "kernels", "rss", "scaling", "ingest", "leakage", "precision",
            "profile", "predict", "quality")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller tables (about 5 minutes)")
    parser.add_argument("--out", type=Path, default=None, help="write every figure to this JSON file")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per comparison (default 11, quick 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--device", default="cpu",
                        help="device of the loops, scaling, leakage (its epoch) and precision sections (cpu, cuda)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=50_000, help="rows of the loop benchmark's table")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        return child(args)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    repeats = args.repeats or (3 if args.quick else 11)
    given = sys.argv[1:] if argv is None else argv
    results = {"command": " ".join(["python", "benchmarks/run.py", *given]),
               "machine": machine(args), "settings": {"rows": args.rows, "epochs": args.epochs, "repeats": repeats,
                                                      "quick": args.quick, "batch_size": bl.BATCH_SIZE,
                                                      "val_batch_size": bl.VAL_BATCH_SIZE, "lr": bl.LR},
               "sections": {}}
    print(f"machine: {results['machine']['summary']}")
    runners = {"loops": run_loops, "overhead": run_overhead, "integrations": run_integrations, "kernels": run_kernels,
               "rss": run_rss, "scaling": run_scaling, "ingest": run_ingest, "leakage": run_leakage,
               "precision": run_precision, "profile": run_profile, "predict": run_predict, "quality": run_quality}
    for name in SECTIONS:
        if name not in only:
            continue
        print(f"\n== {name}", flush=True)
        started = time.perf_counter()
        results["sections"][name] = runners[name](args, repeats)
        results["sections"][name]["section_seconds"] = round(time.perf_counter() - started, 1)
        if args.threads:
            torch.set_num_threads(args.threads)     # a library may have changed it
    results["machine"]["loadavg_end"] = os.getloadavg()
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=float) + "\n")
        print(f"\nwrote {args.out}")
    return 0


def machine(args: argparse.Namespace) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    device = args.device
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        device = f"{device} ({torch.cuda.get_device_name()})"
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--", "src/trainwise"))
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "threads": torch.get_num_threads(), "device": device, "loadavg_start": os.getloadavg(),
            "trainwise_commit": commit + (" + uncommitted changes in src/trainwise" if dirty else "")}
    info["summary"] = (f"{cpu}, {info['cores']} cores, torch {info['torch']}, {info['threads']} thread(s), "
                       f"device {device}, load {info['loadavg_start'][0]:.1f}, trainwise {info['trainwise_commit']}")
    return info


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# --------------------------------------------------------------------------- loops
def run_loops(args: argparse.Namespace, repeats: int) -> dict:
    data = bl.make_data(args.rows)
    epochs, device = args.epochs, args.device
    outputs: dict[str, object] = {}

    def keep(name, fn):
        def call():
            outputs[name] = fn()
        return call

    contenders = {
        "(a) hand-written": keep("hand", lambda: bl.hand_loop(data, epochs, device=device)),
        "(b) trainwise": keep("trainwise", lambda: bl.trainwise_fit(data, epochs, device=device)),
    }
    if bl.lightning_available():
        bl.quiet_lightning()
        contenders["(c) Lightning+torchmetrics"] = keep("lightning", lambda: bl.lightning_fit(data, epochs, device=device))
    else:
        print("  (c) skipped: pip install lightning torchmetrics (the `bench` extra)")
    contenders["(d) DataLoader loop"] = keep("dataloader", lambda: bl.dataloader_loop(data, epochs, device=device))
    result = bl.alternate(contenders, repeats)
    print(bl.format_table(result, "(a) hand-written",
                          f"  {args.rows} rows x {bl.FEATURES} features, {epochs} epochs, Adam, batch {bl.BATCH_SIZE}, "
                          f"validation metrics per epoch; {repeats} alternating rounds"))
    focused = {name: fn for name, fn in contenders.items() if name.startswith(("(a)", "(b)"))}
    alone = bl.alternate(focused, repeats)
    print(bl.format_table(alone, "(a) hand-written", "  the same, (a) and (b) alone: no Lightning or DataLoader run "
                          "between them (their allocations can slow the next run)"))
    hand, run = outputs["hand"][-1], outputs["trainwise"].history[-1]
    same = {k: abs(hand[k] - run[k]) for k in ("train_loss", "val_loss", "val_accuracy", "val_f1")}
    print("  same numbers? |hand - trainwise| at the last epoch: "
          + ", ".join(f"{k} {v:.1e}" for k, v in same.items()))
    out = {"timings": result, "timings_alone": alone, "last_epoch_difference": same, "hand_last_epoch": hand, "trainwise_last_epoch": run}
    return out


# --------------------------------------------------------------------------- integrations
def run_integrations(args: argparse.Namespace, repeats: int) -> dict:
    """What ``trainwise.integrations.lightning.TrainwiseCallback`` adds to a Lightning fit (the loops' (c)).

    Two figures: the fit's time with the callback against the fit alone (a ratio per round, alternating;
    a row with an empty Lightning ``Callback`` shows how far rounds move for nothing), and the CPU time
    spent inside the callback's hooks as a share of the fit's, which the machine's load disturbs far less."""
    if not bl.lightning_available():
        print("  skipped: pip install lightning torchmetrics (the `bench` extra)")
        return {"skipped": "lightning not installed"}
    import lightning as L

    bl.quiet_lightning()
    data = bl.make_data(args.rows)
    epochs, device = args.epochs, args.device
    shares: dict[str, list[float]] = {"validation": [], "training": []}
    runs = {}
    TimedCallback = _timed_callback()

    def with_callback(name: str, train_logits: bool = False):
        def call():
            callback = TimedCallback(verbose=False)
            started = time.process_time()
            bl.lightning_fit(data, epochs, device=device, callbacks=[callback], train_logits=train_logits)
            shares[name].append(callback.spent / (time.process_time() - started))
            runs[name] = callback.run
        return call

    contenders = {
        "Lightning+torchmetrics": lambda: bl.lightning_fit(data, epochs, device=device),
        "  + an empty Lightning Callback (noise)": lambda: bl.lightning_fit(data, epochs, device=device,
                                                                           callbacks=[L.Callback()]),
        "  + TrainwiseCallback": with_callback("validation"),
        "  + TrainwiseCallback, training logits too": with_callback("training", train_logits=True),
    }
    result = bl.alternate(contenders, repeats)
    print(bl.format_table(result, "Lightning+torchmetrics",
                          f"  {args.rows} rows, {epochs} epochs, the loops' Lightning module; the callback reads the "
                          f"validation logits (and, last row, the training logits); {repeats} alternating rounds"))
    inside = {name: statistics.median(values) for name, values in shares.items()}
    print("  CPU time inside the callback's hooks, share of the fit's (median of the rounds): "
          + ", ".join(f"{name} logits {share:.2%}" for name, share in inside.items()))
    run = runs["training"]
    print(f"  the callback's run: {len(run.history)} epochs, {run.metrics['num_samples']} validation rows, "
          f"verdict {run.verdict}, train accuracy {run.history[-1]['train_accuracy']:.4f}")
    return {"timings": result, "hook_share": inside, "hook_shares": shares, "verdict": run.verdict}


def _timed_callback():
    """``TrainwiseCallback`` whose hooks add up the CPU time spent in them (``spent``)."""
    from trainwise.integrations.lightning import TrainwiseCallback

    hooks = ("on_train_start", "on_train_epoch_start", "on_train_batch_end", "on_validation_epoch_start",
             "on_validation_batch_end", "on_train_epoch_end", "on_train_end")

    def timed(hook):
        def call(self, *args, **kwargs):
            started = time.process_time()
            try:
                return hook(self, *args, **kwargs)
            finally:
                self.spent += time.process_time() - started
        return call

    return type("TimedCallback", (TrainwiseCallback,),
                {"spent": 0.0, **{name: timed(getattr(TrainwiseCallback, name)) for name in hooks}})


# --------------------------------------------------------------------------- overhead
def run_overhead(args: argparse.Namespace, repeats: int) -> dict:
    from benchmarks import overheads as oh

    data = bl.make_data(args.rows)
    blocks = 20 if args.quick else 60
    block = oh.FLUSH_EVERY                       # one flush of the sums per block
    steppers: dict[str, oh.HandStep] = {
        "hand-written step": oh.HandStep(),
        "  the same, a second copy (the noise between steppers)": oh.HandStep(),
        "trainwise step (deferred norms)": oh.TrainwiseStep(),
        "  without its extras (replica check)": oh.TrainwiseStep(extras=False),
        "trainwise step, eager norms (clip/optim/torchrun)": oh.TrainwiseStep(eager_norms=True),
        "trainwise step before 8781f81": oh.StepBefore8781f81(),
    }
    steps = oh.paired_steps(steppers, data, blocks=blocks, block_steps=block)
    base = steps["hand-written step"]["cpu"]["us_per_step"]
    print(f"  per training step ({blocks} alternating blocks of {block} steps, one flush each; batch "
          f"{bl.BATCH_SIZE}); extra us = (ratio - 1) x the hand-written step's median")
    print(f"  {'':<56}{'cpu us/step':>12}{'ratio':>7}{'extra us':>10}{'wall ratio':>12}")
    for name, r in steps.items():
        print(f"  {name:<56}{r['cpu']['us_per_step']:>12.1f}{r['cpu']['ratio']:>7.3f}"
              f"{(r['cpu']['ratio'] - 1) * base:>10.1f}{r['wall']['ratio']:>12.3f}")
    alone = oh.extras_alone(data, rounds=repeats)
    print(f"  each extra timed alone on a real step's tensors (cpu us per step, median of {repeats} rounds):")
    for name, us in alone.items():
        print(f"    {name:<54}{us:>12.1f}")

    wide = (512, 256)
    wide_today = oh.TrainwiseStep(hidden=wide)
    mode = "deferred" if wide_today.sums.defer_norms else "eager"
    wide_steps = oh.paired_steps({"hand-written step": oh.HandStep(hidden=wide),
                                  f"trainwise step ({mode} norms: for_params)": wide_today},
                                 data, blocks=max(blocks // 3, 5), block_steps=block)
    wide_base = wide_steps["hand-written step"]["cpu"]["us_per_step"]
    print(f"  the same with a wider MLP (hidden {wide})")
    for name, r in wide_steps.items():
        print(f"  {name:<56}{r['cpu']['us_per_step']:>12.1f}{r['cpu']['ratio']:>7.3f}"
              f"{(r['cpu']['ratio'] - 1) * wide_base:>10.1f}{r['wall']['ratio']:>12.3f}")

    val = bl.alternate(oh.validation_passes(data), repeats * 5)
    print(f"  one validation pass ({len(data.X_val)} rows, batch {bl.VAL_BATCH_SIZE}; median of {repeats * 5} "
          "alternating rounds)")
    print(f"  {'':<56}{'cpu ms':>12}{'ratio':>7}{'(quartiles)':>13}{'wall ratio':>12}")
    for name, r in val.items():
        cpu = r["cpu"]
        print(f"  {name:<56}{1000 * cpu['median_s']:>12.2f}{cpu['ratio']:>7.3f}"
              f"{cpu['ratio_p25']:>7.2f}-{cpu['ratio_p75']:<5.2f}{r['wall']['ratio']:>12.3f}")

    # per-fit costs outside the epochs: checks of the input, task inference, findings, thresholds
    outside = []
    for _ in range(repeats):
        started = time.perf_counter()
        run = bl.trainwise_fit(data, args.epochs)
        outside.append(time.perf_counter() - started - sum(h["seconds"] for h in run.history))
    fixed = statistics.median(outside)
    print(f"  per fit, outside the epochs (wall, median of {repeats}): {1000 * fixed:.1f} ms")

    # the whole fit's ratio, rebuilt from the parts (histograms in the last epoch's pass only)
    epochs = args.epochs
    n_steps = -(-len(data.X_train) // bl.BATCH_SIZE) * epochs
    val_s = {name: r["cpu"]["median_s"] for name, r in val.items()}
    val_total = (epochs - 1) * val_s["trainwise per epoch (no score histograms)"] \
        + val_s["trainwise final pass (score histograms)"]
    hand_total = n_steps * base * 1e-6 + epochs * val_s["hand-written"]
    estimate = {name: (n_steps * steps[step]["cpu"]["ratio"] * base * 1e-6 + val_total + fixed) / hand_total
                for name, step in (("today's loop", "trainwise step (deferred norms)"),
                                   ("today's loop with eager norms", "trainwise step, eager norms (clip/optim/torchrun)"),
                                   ("steps before 8781f81, today's validation", "trainwise step before 8781f81"))}
    print(f"  the fit's ratio to the hand-written loop, rebuilt from the parts ({n_steps} steps x step cost + "
          f"{epochs} validation passes + per-fit cost):")
    for name, value in estimate.items():
        print(f"    {name:<54}{value:>12.3f}")
    return {"steps": steps, "block_steps": block, "blocks": blocks, "extras_alone_us": alone,
            "wide_model_steps": {"hidden": wide, "norms": mode, **wide_steps}, "validation": val,
            "per_fit_outside_epochs_s": fixed, "outside_samples_s": outside,
            "fit_ratio_estimates": estimate, "steps_per_fit": n_steps}


# --------------------------------------------------------------------------- quality
def run_quality(args: argparse.Namespace, repeats: int) -> dict:
    """What the end-of-fit assessment costs on the benchmark table, as ratios to the same fit without it."""
    from trainwise.assessment import assess
    from trainwise.baseline import run_baseline
    from trainwise.batching import make_batches
    from trainwise.task import predict, probe_task

    data = bl.make_data(args.rows)
    epochs, device = args.epochs, torch.device(args.device)
    fitted = bl.trainwise_fit(data, epochs, device=args.device, baseline=False).model
    train = make_batches((data.X_train, data.y_train), bl.BATCH_SIZE, shuffle=True, seed=bl.SEED, device=device,
                         name="train")
    val = make_batches((data.X_val, data.y_val), bl.VAL_BATCH_SIZE, shuffle=False, seed=bl.SEED, device=device,
                       name="val")
    task = probe_task(fitted, train, val)
    with torch.inference_mode():
        preds, scores = predict(fitted(val.X), task)
    correct = preds == val.y

    def baseline_alone():
        return run_baseline(train.X, train.y, val.X, val.y, labels=task.labels, positive=task.positive,
                            network_correct=correct, network_scores=scores)

    contenders = {
        "fit, baseline=False": lambda: bl.trainwise_fit(data, epochs, device=args.device, baseline=False),
        "fit (baseline on, the default)": lambda: bl.trainwise_fit(data, epochs, device=args.device),
        "the baseline alone (fit, score, paired test)": baseline_alone,
        "the whole assessment alone (pass + baseline)": lambda: assess(fitted, task, train, val),
    }
    result = bl.alternate(contenders, repeats)
    print(bl.format_table(result, "fit, baseline=False",
                          f"  {args.rows} rows x {bl.FEATURES} features, {epochs} epochs (the loops' fit); "
                          f"{repeats} alternating rounds; ratios to the fit without the baseline"))
    b = baseline_alone()
    print(f"  the baseline: {b['iterations']} L-BFGS iterations, accuracy {b['baseline']:.4f} against the "
          f"network's {b['network']:.4f} ({b['outcome']})")
    return {"timings": result, "baseline": {k: v for k, v in b.items() if k != "metrics"}}


# --------------------------------------------------------------------------- rss
def run_rss(args: argparse.Namespace, repeats: int) -> dict:
    kinds = ("hand", "hand+import-trainwise", "trainwise")
    out = {}
    for rows, epochs in ((args.rows, args.epochs), (200_000 if args.quick else 1_000_000, 1)):
        runs: dict[str, list[dict]] = {k: [] for k in kinds}
        for r in range(3):
            for kind in (kinds if r % 2 == 0 else kinds[::-1]):
                cmd = [sys.executable, __file__, "--child", f"rss:{kind}", "--rows", str(rows),
                       "--epochs", str(epochs), "--threads", str(args.threads)]
                result = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                runs[kind].append(json.loads(result.strip().splitlines()[-1]))
        med = {k: {key: statistics.median(run[key] for run in v) for key in ("after_import_mb", "peak_mb")}
               for k, v in runs.items()}
        base = med["hand"]["peak_mb"]
        print(f"  {'fresh process, ' + format(rows, ',') + ' rows, ' + str(epochs) + ' epoch(s)':<48}"
              f"{'after imports MB':>17}{'peak MB':>10}{'ratio':>8}")
        for k, v in med.items():
            print(f"  {k:<48}{v['after_import_mb']:>17.0f}{v['peak_mb']:>10.0f}{v['peak_mb'] / base:>8.3f}")
        growth = {k: v["peak_mb"] - v["after_import_mb"] for k, v in med.items()}
        print("  growth while training (peak - after imports): "
              + ", ".join(f"{k} {v:.0f} MB" for k, v in growth.items()))
        pandas = {k: any(run["pandas_loaded"] for run in v) for k, v in runs.items()}
        print("  pandas imported: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in pandas.items()))
        out[rows] = {"runs": runs, "median": med, "peak_ratio": med["trainwise"]["peak_mb"] / base,
                     "pandas_loaded": pandas,
                     "peak_ratio_same_imports": med["trainwise"]["peak_mb"] / med["hand+import-trainwise"]["peak_mb"],
                     "growth_mb": growth}
    return out


# --------------------------------------------------------------------------- kernels
def run_kernels(args: argparse.Namespace, repeats: int) -> dict:
    """Each pair times the same result two ways, alternating; a contender repeats its operation 50 times."""
    from trainwise.metrics import MetricAccumulator, curves
    from trainwise.task import argmax as _argmax

    g = torch.Generator().manual_seed(bl.SEED)
    flush_outs = torch.randn(64 * bl.BATCH_SIZE, 2, generator=g)       # one flush's training outputs
    val_outs = torch.randn(10_000, 2, generator=g)                      # one validation pass's outputs
    target = (torch.rand(10_000, generator=g) < 0.36).long()
    scores = torch.sigmoid(val_outs[:, 1] - val_outs[:, 0])
    edges = curves.default_edges()
    assert torch.equal(_argmax(flush_outs), flush_outs.argmax(dim=1))
    acc = MetricAccumulator(2)
    acc.update(_argmax(val_outs), target, loss_sum=torch.tensor(1.0), scores=scores)

    def readings(rebuild: bool):
        for _ in range(5):
            for read in (lambda: acc.compute(), lambda: acc.thresholds(target_recall=0.8), acc.pr_curve):
                if rebuild:
                    acc._memo = None             # the score histogram built again for every reading
                read()

    def times(fn, n=50):
        return lambda: [fn() for _ in range(n)]

    pairs = {
        "prediction of two logits, one flush (16,384 rows)": {
            "argmax(dim=1)": times(lambda: flush_outs.argmax(dim=1)),
            "one comparison (_argmax)": times(lambda: _argmax(flush_outs))},
        "positive-class score of two logits (10,000 rows)": {
            "softmax(dim=1)[:, 1]": times(lambda: torch.softmax(val_outs, dim=1)[:, 1]),
            "sigmoid(l1 - l0)": times(lambda: torch.sigmoid(val_outs[:, 1] - val_outs[:, 0]))},
        "binning 10,000 scores over the 14,375 default edges": {
            "bucketize (float64)": times(lambda: torch.bucketize(scores.double(), edges, right=True), 10),
            "the histogram update (bucketize + bincount)": times(
                lambda: curves.histogram_counts(scores, target == 1, edges), 10)},
        "compute + thresholds + pr_curve after a scored pass (x5)": {
            "histogram rebuilt for each reading": lambda: readings(True),
            "histogram built once per state (today)": lambda: readings(False)},
    }
    out = {}
    for title, contenders in pairs.items():
        result = bl.alternate(contenders, repeats)
        print(bl.format_table(result, next(iter(contenders)), f"  {title}"))
        out[title] = result
    return out


# --------------------------------------------------------------------------- scaling
def run_scaling(args: argparse.Namespace, repeats: int) -> dict:
    sizes = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)
    rounds = 2 if args.quick else 3
    out = {}
    print(f"  {'rows':>10}{'hand s/epoch':>14}{'trainwise s/epoch':>19}{'ratio':>7}{'trainwise us/row':>18}")
    for rows in sizes:
        data = bl.make_data(rows)
        times: dict[str, list[float]] = {"hand": [], "trainwise": []}
        ratios = []
        bl.hand_loop(bl.make_data(2_000), 1, device=args.device)
        for r in range(rounds):
            order = ("hand", "trainwise") if r % 2 == 0 else ("trainwise", "hand")
            epoch = {}
            for name in order:                      # the second epoch's seconds: warm, train + validation
                if name == "hand":
                    epoch[name] = bl.hand_loop(data, 2, device=args.device)[-1]["seconds"]
                else:
                    epoch[name] = bl.trainwise_fit(data, 2, device=args.device).history[-1]["seconds"]
                times[name].append(epoch[name])
            ratios.append(epoch["trainwise"] / epoch["hand"])
        med = {k: statistics.median(v) for k, v in times.items()}
        out[rows] = {"seconds": times, "median_s": med, "ratio": statistics.median(ratios),
                     "trainwise_us_per_row": 1e6 * med["trainwise"] / rows, "hand_us_per_row": 1e6 * med["hand"] / rows}
        print(f"  {rows:>10,}{med['hand']:>14.3f}{med['trainwise']:>19.3f}{out[rows]['ratio']:>7.2f}"
              f"{out[rows]['trainwise_us_per_row']:>18.2f}")
    linear = {}
    for name in ("trainwise", "hand"):
        ref = out[100_000][f"{name}_us_per_row"]
        linear[name] = {rows: v[f"{name}_us_per_row"] / ref for rows, v in out.items()}
        print(f"  {name}: time per row relative to 100k rows (1.00 = linear): "
              + ", ".join(f"{rows:,}: {v:.2f}" for rows, v in linear[name].items()))
    return {"sizes": out, "per_row_vs_100k": linear, "note": "wall seconds of the second epoch (train + validation)"}


# --------------------------------------------------------------------------- ingestion
def run_ingest(args: argparse.Namespace, repeats: int) -> dict:
    from benchmarks import tables_bench as tb

    rows = 200_000 if args.quick else 1_000_000
    rounds = repeats
    result: dict[str, object] = {"rows": rows, "columns": len(tb.FEATURES) + 1}
    with tempfile.TemporaryDirectory() as tmp:
        paths = tb.write_files(tb.make_table(rows), Path(tmp))
        result["file_mb"] = {k: p.stat().st_size / 2**20 for k, p in paths.items()}
        for kind, readers in (("csv", tb.csv_readers(paths["csv"])), ("parquet", tb.parquet_readers(paths["parquet"]))):
            agree = tb.agreement(readers)
            timings = bl.alternate(readers, rounds, warmup=0)
            title = (f"  {rows:,} rows x {result['columns']} columns, {kind} ({result['file_mb'][kind]:.0f} MB) "
                     "to float32/int64 tensors; ratio to trainwise read_table (CPU time counts every reader thread)")
            print(bl.format_table(timings, "trainwise read_table", title))
            print("  max |difference| from read_table's values: " + ", ".join(f"{k} {v:.1e}" for k, v in agree.items()))
            fastest = min(timings, key=lambda k: timings[k]["wall"]["median_s"])
            result[kind] = {"timings": timings, "max_abs_difference": agree, "fastest_wall": fastest}
    return result


# --------------------------------------------------------------------------- leakage
def run_leakage(args: argparse.Namespace, repeats: int) -> dict:
    from benchmarks import tables_bench as tb
    from trainwise.data.fingerprint import duplicate_rows

    rows = 100_000 if args.quick else 1_000_000
    rounds = 2 if args.quick else 3
    frames = {"numeric (19 float)": tb.leakage_frames(rows, mixed=False),
              "mixed (16 float, 2 int, 2 text)": tb.leakage_frames(rows, mixed=True)}
    data = bl.make_data(rows)
    epoch_s, hashing = [], {name: [] for name in frames}
    found = {}
    for _ in range(rounds):
        epoch_s.append(bl.trainwise_fit(data, 1, device=args.device).history[-1]["seconds"])
        for name, (train, val, columns) in frames.items():
            started = time.perf_counter()
            found[name] = duplicate_rows(train, val, columns)["count"]
            hashing[name].append(time.perf_counter() - started)
    epoch = statistics.median(epoch_s)
    out = {"rows": rows, "epoch_s": epoch, "epoch_samples_s": epoch_s, "tables": {}}
    print(f"  {rows:,} rows split 80/20; one trainwise epoch on {rows:,} rows x {bl.FEATURES} features: {epoch:.2f} s")
    for name, ts in hashing.items():
        med = statistics.median(ts)
        out["tables"][name] = {"seconds": ts, "median_s": med, "share_of_epoch": med / epoch, "duplicates_found": found[name]}
        print(f"  duplicate_rows, {name:<32} {med:6.3f} s = {100 * med / epoch:5.1f}% of an epoch "
              f"({found[name]:,} duplicates found)")
    return out


# --------------------------------------------------------------------------- predict
def run_predict(args: argparse.Namespace, repeats: int) -> dict:
    from benchmarks import predict_bench as pb

    rows = 200_000 if args.quick else 1_000_000
    rounds = min(repeats, 5)
    result: dict[str, object] = {"rows": rows}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        run = pb.make_run(folder / "run")
        paths = pb.make_files(rows, folder)
        result["max_abs_difference"] = pb.agreement(run, paths)
        print(f"  max |trainwise - hand-written| score: {result['max_abs_difference']:.1e}")
        for kind in ("csv", "parquet", "cli"):
            timings = bl.alternate(pb.contenders(run, paths, kind), rounds, warmup=1)
            baseline = next(iter(timings))
            print(bl.format_table(timings, baseline, f"  {rows:,} rows, {kind}; ratio to the hand-written equivalent"))
            result[kind] = timings
    return result


# --------------------------------------------------------------------------- precision / compile
def run_precision(args: argparse.Namespace, repeats: int) -> dict:
    data = bl.make_data(args.rows)
    epochs, device = args.epochs, args.device
    # a cold compile: a fresh inductor cache, so the figure does not depend on earlier runs
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        started = time.perf_counter()
        run = bl.trainwise_fit(data, epochs, device=device, compile=True)
        first = time.perf_counter() - started
        first_epoch = run.history[0]["seconds"]
        print(f"  first fit with compile=True (cold cache): {first:.1f} s, of which its first epoch {first_epoch:.1f} s")
        contenders = {
            "trainwise fp32": lambda: bl.trainwise_fit(data, epochs, device=device),
            "trainwise bf16": lambda: bl.trainwise_fit(data, epochs, device=device, precision="bf16"),
            "trainwise compile": lambda: bl.trainwise_fit(data, epochs, device=device, compile=True),
            "trainwise compile + bf16": lambda: bl.trainwise_fit(data, epochs, device=device, compile=True,
                                                                 precision="bf16"),
            "hand-written": lambda: bl.hand_loop(data, epochs, device=device),
        }
        result = bl.alternate(contenders, repeats)
    print(bl.format_table(result, "trainwise fp32", f"  {args.rows} rows, {epochs} epochs on {device}; "
                          "compiled runs after their first compile (later fits reuse the compiled graphs)"))
    return {"timings": result, "first_compile_fit_s": first, "first_compile_epoch_s": first_epoch}


# --------------------------------------------------------------------------- profile
def run_profile(args: argparse.Namespace, repeats: int) -> dict:
    from benchmarks import profiling

    if not profiling.available():
        print("  skipped: pip install py-spy (the `bench` extra)")
        return {"skipped": "py-spy not installed"}
    fits = 4 if args.quick else 16
    import trainwise.loop

    sources = {"trainwise": Path(trainwise.loop.__file__), "hand": Path(bl.__file__)}
    out = {}
    for which in ("trainwise", "hand"):
        snapshot = sources[which].read_text()      # the loop may be edited while we sample: read it now
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(snapshot)
        samples = profiling.record(which, ["--rows", str(args.rows), "--epochs", str(args.epochs),
                                           "--threads", str(args.threads), "--repeats", str(fits)])
        out[which] = profiling.summarize(which, samples, Path(f.name))
        os.unlink(f.name)
    names = list(dict.fromkeys([*out["trainwise"]["phases"], *out["hand"]["phases"]]))
    print(f"  share of sampled time ({fits} fits each, after a warm-up fit; py-spy, 250 Hz)")
    print(f"  {'phase':<36}{'trainwise':>10}{'hand':>8}")
    for name in names:
        print(f"  {name:<36}{100 * out['trainwise']['phases'].get(name, 0):>9.1f}%"
              f"{100 * out['hand']['phases'].get(name, 0):>7.1f}%")
    print(f"  samples: trainwise {out['trainwise']['samples']}, hand {out['hand']['samples']}")
    return out


# --------------------------------------------------------------------------- child processes
def peak_rss_mb() -> float:
    """This process's peak resident set size, in MiB.

    ``/proc/self/status`` ``VmHWM`` where there is one: ``getrusage(RUSAGE_SELF).ru_maxrss`` would carry
    over the parent's peak through fork and exec (Linux keeps it in the signal struct), so a small child
    of a big benchmark process would report the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # KiB on Linux



def child(args: argparse.Namespace) -> int:
    kind, _, which = args.child.partition(":")
    if kind == "rss":
        if which != "hand":
            import trainwise  # noqa: F401
        after_import = peak_rss_mb()
        data = bl.make_data(args.rows)
        if which != "hand" and which != "hand+import-trainwise":
            bl.trainwise_fit(data, args.epochs)
        else:
            bl.hand_loop(data, args.epochs)
        peak = peak_rss_mb()
        print(json.dumps({"after_import_mb": after_import, "peak_mb": peak, "pandas_loaded": "pandas" in sys.modules}))
        return 0
    if kind == "profile":
        data = bl.make_data(args.rows)
        fit = (lambda: bl.trainwise_fit(data, args.epochs)) if which == "trainwise" else \
            (lambda: bl.hand_loop(data, args.epochs))
        fit()                                          # warm-up: imports, first-call paths

        def measured_fits() -> None:                   # the profile counts samples under this frame only
            for _ in range(args.repeats or 5):
                fit()

        measured_fits()
        return 0
    raise SystemExit(f"unknown child {args.child!r}")


if __name__ == "__main__":
    raise SystemExit(main())
