"""Load a local HTML file in headless Chromium (Debian's ``chromium``) and talk to it over
the DevTools protocol on a pipe (--remote-debugging-pipe: no port is opened). file:// only;
networking is fenced off (every host name resolves to nothing, a dead loopback proxy,
background services off), and every wait has a deadline.

Also a script: ``python tests/unit/headless_chromium.py report.html shot.png`` saves a
screenshot (docs/report-*.png are made this way)."""

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
    "--no-default-browser-check", "--disable-extensions", "--disable-sync", "--disable-default-apps",
    "--disable-background-networking", "--disable-component-update", "--disable-domain-reliability",
    "--disable-client-side-phishing-detection", "--disable-breakpad", "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication",
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
    "--hide-scrollbars", "--mute-audio",
]


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser(object):
    def __init__(self, timeout=60):
        self.deadline = time.time() + timeout
        self.profile = tempfile.mkdtemp(prefix="kvmops-chromium-")
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        def fds():
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen([chromium()] + FLAGS + ["--user-data-dir=" + self.profile, "about:blank"],
                                     preexec_fn=fds, pass_fds=(3, 4), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_child, json.dumps(message).encode() + b"\0")
        return self.wait(lambda msg, wanted=self.next_id: msg.get("id") == wanted)

    def wait(self, match):
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                message = json.loads(raw.decode())
                if "method" in message:
                    self.events.append(message)
                if match(message):
                    if "error" in message:
                        raise RuntimeError("DevTools: %s" % message["error"])
                    return message
            left = self.deadline - time.time()
            if left <= 0:
                raise RuntimeError("headless Chromium: deadline passed")
            ready, dummy, dummy = select.select([self.from_child], [], [], left)
            if ready:
                chunk = os.read(self.from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("headless Chromium exited")
                self.buffer += chunk

    def close(self):
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.to_child, self.from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


def load(path, expression, width=1280, height=900, screenshot=None, timeout=60):
    """Open ``path`` (a local file), wait for its load event, evaluate ``expression`` (its
    value returned as JSON), optionally save a full-page PNG; returns (value, errors):
    errors are console errors, uncaught exceptions and error log entries."""
    browser = Browser(timeout)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["result"]["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["result"]["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(domain + ".enable", session=session)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        browser.send("Page.navigate", {"url": "file://" + os.path.abspath(path)}, session=session)
        browser.wait(lambda msg: msg.get("method") == "Page.loadEventFired")
        result = browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                              session=session)["result"]
        if "exceptionDetails" in result:
            raise RuntimeError("evaluate: %s" % result["exceptionDetails"])
        value = result["result"].get("value")
        if screenshot:
            shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                                session=session)["result"]["data"]
            with open(screenshot, "wb") as handle:
                handle.write(base64.b64decode(shot))
        errors = []
        for event in browser.events:
            method, params = event.get("method"), event.get("params") or {}
            if method == "Runtime.exceptionThrown":
                errors.append(params["exceptionDetails"].get("text"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(json.dumps(params.get("args")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                errors.append(params["entry"].get("text"))
        return value, errors
    finally:
        browser.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: headless_chromium.py REPORT.html SHOT.png")
    dummy, problems = load(sys.argv[1], "document.title", screenshot=sys.argv[2])
    if problems:
        sys.exit("errors in the page: %s" % problems)
