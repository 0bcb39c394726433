"""Run `trainwise demo`, build its report.html, and save a screenshot of it to docs/report-screenshot.png.

    .venv/bin/python scripts/report_screenshot.py [--out DIR] [--height 2200]

Uses headless Chromium (scripts/ensure-chromium installs it when missing). Prints the report's size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report-screenshot.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2200)
    args = parser.parse_args()

    chromium = subprocess.run([str(ROOT / "scripts" / "ensure-chromium")], check=True, capture_output=True,
                              text=True).stdout.strip().splitlines()[-1]
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "demo"
        subprocess.run([sys.executable, "-m", "trainwise", "demo", "--out", str(run), "--quiet"], check=True,
                       stdout=subprocess.DEVNULL)
        report = run / "report.html"
        if not report.exists():        # a CLI that does not write the report yet: build it here
            from trainwise.report import write_report

            summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
            write_report(run, summary)
        subprocess.run([chromium, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                        f"--window-size={args.width},{args.height}", f"--screenshot={args.out.resolve()}",
                        report.resolve().as_uri()], check=True, capture_output=True, cwd=tmp)
        print(f"report.html: {report.stat().st_size:,} bytes; figures: "
              + ", ".join(f"{p.name} {p.stat().st_size:,}" for p in sorted(run.glob("*.png"))))
    print(f"screenshot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
