"""Where the time of a fit goes: py-spy samples of trainwise and of the hand-written loop, by loop line.

``run.py --only profile`` starts each loop in a child process under ``py-spy record --format raw`` (sampled
Python stacks, ``--nonblocking`` so the target is never paused). The child warms up first and then runs the
measured fits inside ``measured_fits``; only samples under that frame count. Each sample is charged to the
line of the loop function it was executing (``Trainer.fit`` in ``trainwise/loop.py``, ``hand_loop`` in
``benchmarks/bench_lib.py``): the time of a call counts for the line that called it. Lines are grouped into
phases by their text, so the summary survives edits to the loop.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

# phase, pattern on the loop line's text (first match wins)
PHASES: list[tuple[str, str]] = [
    ("validation", r"_evaluate\(|validate\("),
    ("backward", r"\.backward\("),
    ("gradient norms (_foreach_norm)", r"_foreach_norm"),
    ("gradient clipping", r"clip_grad"),
    ("optimizer step", r"optimizer\.step\("),
    ("zero_grad", r"zero_grad"),
    ("forward + loss", r"loss_terms\(|batch_mean\(|cross_entropy|forward\(xb\)|model\(xb\)"),
    ("train accuracy (argmax)", r"_predict\("),
    ("running sums on the device", r"sums\.add\(|loss_sum \+="),
    ("callbacks", r"_call\("),
    ("batching", r"\.epoch\(|X\[idx\]|order\[|randperm|for i in range"),
    ("epoch read / record", r"\.read\(\)|summed\(|epoch_record|record"),
    ("per-step counters", r"state\.(step|batch|train_count)"),
]

TARGETS = {
    "trainwise": ("Trainer.fit", "trainwise/loop.py"),
    "hand": ("hand_loop", "bench_lib.py"),
}


def available() -> bool:
    return shutil.which("py-spy") is not None or (Path(sys.executable).parent / "py-spy").exists()


def py_spy() -> str:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else "py-spy"


def record(which: str, child_args: list[str], *, rate: int = 250) -> list[tuple[list[str], int]]:
    """Run ``run.py --child profile:<which>`` under py-spy; return the raw samples (stack, count)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{which}.raw"
        cmd = [py_spy(), "record", "--nonblocking", "-r", str(rate), "-f", "raw", "-o", str(out), "--",
               sys.executable, str(Path(__file__).with_name("run.py")), "--child", f"profile:{which}", *child_args]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples = []
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            samples.append((stack.split(";"), int(count)))
    return samples


def summarize(which: str, samples: list[tuple[list[str], int]], source: Path) -> dict:
    """Shares of the measured samples by phase and by loop line."""
    func, file_tail = TARGETS[which]
    lines = source.read_text().splitlines()
    by_line: Counter[int] = Counter()
    outside = 0
    total = 0
    for stack, count in samples:
        if not any("measured_fits (" in frame for frame in stack):
            continue
        total += count
        for frame in stack:
            m = re.match(r"(.+) \((.+):(\d+)\)$", frame)
            if m and m.group(1) == func and m.group(2).endswith(file_tail):
                by_line[int(m.group(3))] += count
                break
        else:
            outside += count
    phases: Counter[str] = Counter()
    top = []
    for number, count in by_line.most_common():
        text = lines[number - 1].strip() if 0 < number <= len(lines) else "?"
        phase = next((name for name, pattern in PHASES if re.search(pattern, text)), "other (setup, finish)")
        phases[phase] += count
        top.append({"line": number, "text": text[:100], "phase": phase, "share": count / max(total, 1)})
    if outside:
        phases["outside the loop function"] += outside
    return {"samples": total,
            "phases": {name: count / max(total, 1) for name, count in phases.most_common()},
            "lines": top[:25]}
