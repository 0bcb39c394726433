"""The loop with and without the end-of-fit assessment (issue #18's calibration pass and logistic-regression
baseline), against the hand-written loop, in one process: CPU time, one torch thread, alternating rounds,
medians. `python benchmarks/assessment_ab.py [ROUNDS]` (default 5). bench_lib's workload: 50k rows x 20
features, 3 epochs, Adam, batch 256."""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch


def main() -> None:
    torch.set_num_threads(1)
    path = Path(__file__).with_name("bench_lib.py")
    spec = importlib.util.spec_from_file_location("bench_lib", path)
    bl = importlib.util.module_from_spec(spec)
    sys.modules["bench_lib"] = bl
    spec.loader.exec_module(bl)
    data = bl.make_data(50_000)
    contenders = {"hand-written": lambda: bl.hand_loop(data, 3),
                  "trainwise": lambda: bl.trainwise_fit(data, 3),
                  "trainwise baseline=False": lambda: bl.trainwise_fit(data, 3, baseline=False)}
    for fn in contenders.values():          # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
        for name, fn in contenders.items():
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    base = statistics.median(times["hand-written"])
    for name, values in times.items():
        print(f"{name:28s} cpu median {statistics.median(values):.3f} s  ratio {statistics.median(values) / base:.3f}")


if __name__ == "__main__":
    main()
