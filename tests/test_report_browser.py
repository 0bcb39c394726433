"""report.html in a real browser: headless Chromium (Debian's package, installed by
scripts/ensure-chromium when missing) loads the file, every figure renders, nothing is fetched from
the network, the console stays clean, and hostile labels stay text.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON messages
separated by NUL bytes on fds 3 and 4), so no websocket client is needed. A missing or broken
Chromium fails these tests; it never skips them.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from test_report_samples import XSS, written_report

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _above_4(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Chromium:
    """A headless Chromium and one page, spoken to over the DevTools protocol pipe."""

    def __init__(self, binary: str, profile: Path, *, width: int = 1280, height: int = 900) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # above fd 4, so that "3<&r 4>&w" cannot overwrite one end with the other (bash: dash takes fds 0-9 only)
        to_browser_r, from_browser_w = (_above_4(fd) for fd in (to_browser_r, from_browser_w))
        flags = ["--headless", "--disable-gpu", "--no-sandbox", "--remote-debugging-pipe", "--no-first-run",
                 "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                 f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"]
        # the protocol wants its pipe on fds 3 (commands in) and 4 (replies out)
        command = " ".join([f"exec '{binary}'", *flags, f"3<&{to_browser_r}", f"4>&{from_browser_w}"])
        self.proc = subprocess.Popen(["bash", "-c", command], pass_fds=(to_browser_r, from_browser_w),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=True)

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited: {self.proc.stderr.read().decode(errors='replace')[-2000:]}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, *, session: bool = False, timeout: float = 20) -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self._on_event(reply)

    def _on_event(self, event: dict) -> None:
        self.events.append(event)
        if event.get("method") == "Page.javascriptDialogOpening":     # an alert() would block the page
            os.write(self._to_browser, json.dumps({"id": 0, "method": "Page.handleJavaScriptDialog",
                                                   "params": {"accept": True},
                                                   "sessionId": self.session}).encode() + b"\0")

    def load(self, path: Path, timeout: float = 20) -> None:
        """Open ``path`` and wait for its load event (every image decoded, layout done)."""
        self.events.clear()
        self.send("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self._on_event(self._read(deadline))
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.send("Page.captureScreenshot", params, session=True, timeout=60)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    # ------------------------------------------------------------------ what the page did
    def console_errors(self) -> list[str]:
        errors = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                errors.append(json.dumps(params.get("exceptionDetails"))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                errors.append(params["entry"].get("text", ""))
        return errors

    def dialogs(self) -> list[str]:
        return [e["params"].get("message", "") for e in self.events if e.get("method") == "Page.javascriptDialogOpening"]

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self.proc.stderr.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """Chromium, installed by scripts/ensure-chromium when missing. If that fails, the tests fail."""
    done = subprocess.run([str(ROOT / "scripts" / "ensure-chromium")], capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not done.stdout.strip():
        pytest.fail(f"scripts/ensure-chromium could not provide Chromium:\n{done.stderr}")
    chromium = Chromium(done.stdout.strip().splitlines()[-1], tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


FIGURES_JS = """JSON.stringify({
  svgs: [...document.querySelectorAll('svg.figure')].map(s => {
    const r = s.getBoundingClientRect(); return {label: s.getAttribute('aria-label'), w: r.width, h: r.height,
      texts: s.querySelectorAll('text').length, paths: s.querySelectorAll('path').length,
      images: [...s.querySelectorAll('image')].map(i => i.getBBox().width * i.getBBox().height)}; }),
  imgs: [...document.querySelectorAll('img')].map(i => ({src: i.src, w: i.naturalWidth, h: i.naturalHeight})),
  sections: [...document.querySelectorAll('section')].map(s => s.id),
  onerror: document.querySelectorAll('[onerror]').length,
  scripts: document.scripts.length,
  text: document.body.innerText})"""


def test_report_renders_in_chromium(browser: Chromium, tmp_path: Path) -> None:
    report = written_report("full")
    browser.load(report)
    page = json.loads(browser.evaluate(FIGURES_JS))
    shot = browser.screenshot(tmp_path / "report.png")

    assert page["sections"] == ["verdict", "loss", "metrics", "confusion", "threshold", "comparison", "lr-find",
                                "data", "config"]
    labels = [s["label"] for s in page["svgs"]]
    assert labels == ["Training and validation loss per epoch", "Validation metrics per epoch",
                      "Confusion matrix heatmap", "Precision-recall curve",
                      "Optimizer comparison: loss and score per epoch", "LR range test curve"]
    for svg in page["svgs"]:        # drawn: a real box, with axes text and lines inside
        assert svg["w"] > 200 and svg["h"] > 150 and svg["texts"] > 5 and svg["paths"] > 5, svg
        assert all(area > 0 for area in svg["images"]), svg
    assert all(img["w"] > 0 and img["h"] > 0 for img in page["imgs"]), page["imgs"]
    assert page["scripts"] == 0
    assert browser.console_errors() == []
    assert browser.dialogs() == []
    # the file itself and images inlined in it as data: URLs (the colour bar), nothing else
    assert [url for url in browser.requests() if not url.startswith("data:")] == [report.resolve().as_uri()]
    assert "NOT READY" in page["text"] and "overfitting" in page["text"]

    png = shot.read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 50_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width >= 1000 and height > 3000        # the whole page, not an empty viewport


def test_hostile_labels_stay_text_in_chromium(browser: Chromium, tmp_path: Path) -> None:
    report = written_report("hostile")
    browser.load(report)
    page = json.loads(browser.evaluate(FIGURES_JS))
    browser.screenshot(tmp_path / "hostile.png")

    assert page["imgs"] == [] and page["onerror"] == 0 and page["scripts"] == 0
    assert browser.dialogs() == []
    assert browser.console_errors() == []
    assert XSS in page["text"] and "$x$ & <b>bold</b>" in page["text"]
    assert browser.evaluate("document.title") == f"run {XSS}"
    assert browser.evaluate("document.querySelectorAll('main b').length") == browser.evaluate(
        "[...document.querySelectorAll('main b')].filter(b => b.textContent !== 'bold').length")
    assert len(page["svgs"]) == 3 and all(s["w"] > 200 for s in page["svgs"])


def test_the_harness_sees_broken_pages(browser: Chromium, tmp_path: Path) -> None:
    """The checks above can fail: a page with a broken image, a console error and an alert is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><img src="missing.png"><script>console.error("boom")</script>'
                   f"<div>{XSS}</div>", encoding="utf-8")
    browser.load(bad)
    page = json.loads(browser.evaluate(FIGURES_JS))
    assert [img["w"] for img in page["imgs"]] == [0, 0]
    assert page["onerror"] == 1
    assert any("boom" in e for e in browser.console_errors())
    assert browser.dialogs() == ["1"]
