"""Headless Chromium driven over the DevTools protocol: load a page, collect console errors,
measure its SVG charts, take a screenshot. Test support only."""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from websockets.sync.client import connect

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1280,2000"]
CHART_SIZES = ("JSON.stringify([...document.querySelectorAll('svg')].map(s => "
               "[s.getBoundingClientRect().width, s.getBoundingClientRect().height, s.childElementCount]))")


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    def __init__(self, ws):
        self.ws, self.next_id, self.events = ws, 0, []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self.next_id:
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str) -> None:
        while not any(e.get("method") == event for e in self.events):
            self.events.append(json.loads(self.ws.recv(timeout=60)))

    def errors(self) -> list[str]:
        found = []
        for e in self.events:
            params = e.get("params", {})
            if e.get("method") == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(str(params.get("args")))
            elif e.get("method") == "Runtime.exceptionThrown":
                found.append(str(params.get("exceptionDetails")))
            elif e.get("method") == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found


@contextmanager
def open_page(url: str):
    """A page that has loaded url, with console and log events recorded from before the load."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen([chromium(), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            port = next(line.split(":")[2].split("/")[0] for line in proc.stderr if "DevTools listening on" in line)
            targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30))
            page_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            with connect(page_url, max_size=None, open_timeout=30) as ws:
                page = Page(ws)
                for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
                    page.call(domain)
                page.call("Page.navigate", url=url)
                page.wait_for("Page.loadEventFired")
                yield page
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # chromium's helpers too
            proc.wait()


def chart_sizes(page: Page) -> list[list[float]]:
    return json.loads(page.call("Runtime.evaluate", expression=CHART_SIZES, returnByValue=True)["result"]["value"])


def screenshot(page: Page, target: Path) -> None:
    data = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(base64.b64decode(data))
