"""The pages in a real browser: Debian's headless Chromium (``--dump-dom``, ``--screenshot``, its
console on stderr, and over the DevTools protocol to click a copy button) against ``hubcli
serve``. Skipped, with the reason, where Chromium is absent (noxfile's ``tests`` session installs it
when missing, best effort: root with apt-get; otherwise ``apt-get install chromium``).

Set ``HUBWEB_SCREENSHOTS=DIR`` to keep the screenshots (docs/web/ holds the ones in
docs/web.md); they are written under the test's tmp_path otherwise."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fixtures.hub import HubFixture

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--hide-scrollbars",
]
CSP_VIOLATION = "Content Security Policy"


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium chromium-driver)")
    return exe


class Browser:
    def __init__(self, tmp: Path) -> None:
        self.exe = _chromium()
        self.tmp = tmp
        self.runs = 0

    def run(self, url: str, *args: str) -> subprocess.CompletedProcess[str]:
        self.runs += 1
        profile = self.tmp / f"profile-{self.runs}"  # a fresh profile every time
        return subprocess.run(
            [self.exe, *FLAGS, f"--user-data-dir={profile}", *args, url],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def dom(self, url: str, *args: str) -> tuple[str, str]:
        out = self.run(url, "--dump-dom", *args)
        return out.stdout, out.stderr


@pytest.fixture
def browser(tmp_path: Path) -> Browser:
    return Browser(tmp_path)


def test_browser_catches_a_csp_violation(browser: Browser, tmp_path: Path) -> None:
    """The control: Chromium's log does name a CSP violation, and our grep finds it."""
    page = tmp_path / "v.html"
    page.write_text(
        '<html><head><meta http-equiv="Content-Security-Policy" content="script-src \'none\'">'
        '</head><body><p id=x>hi</p><script>document.getElementById("x").setAttribute("data-ran",'
        '"1")</script></body></html>'
    )
    dom, log = browser.dom(page.as_uri())
    assert '<p id="x">hi</p>' in dom and CSP_VIOLATION in log


def test_browser_card_runs_our_script_only(web_hub: HubFixture, browser: Browser) -> None:
    """The card and the hostile card: no CSP violation in the console (nothing inline tried to
    run, our script passed its nonce and integrity), our script ran (it marks the copy buttons),
    and nothing from the card ran (no alert, no console error from injected code)."""
    for path, needle in (("/alice/m", "Tiny model"), ("/alice/xss", "Evil")):
        dom, log = browser.dom(web_hub.url + path)
        assert needle in dom, (path, log[-2000:])
        assert CSP_VIOLATION not in log, (path, log[-2000:])
        assert 'data-copy="ready"' in dom, path
        assert re.search(r"alert|CONSOLE.*(Error|error)", log) is None, (path, log[-2000:])
    # through a non-loopback host name (a LAN host, not a secure context): same page and script
    port = urlsplit(web_hub.url).port
    dom, log = browser.dom(
        f"http://hub.lan:{port}/alice/m", "--host-resolver-rules=MAP hub.lan 127.0.0.1"
    )
    assert 'data-copy="ready"' in dom and CSP_VIOLATION not in log
    assert f"HF_ENDPOINT=http://hub.lan:{port} hubcli download alice/m" in dom


def test_browser_screenshots(web_hub: HubFixture, browser: Browser, tmp_path: Path) -> None:
    keep = os.environ.get("HUBWEB_SCREENSHOTS")
    out_dir = Path(keep) if keep else tmp_path / "screenshots"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, path, size in (
        ("card", "/alice/m", "1000,1000"),
        ("tree", "/alice/m/tree/main", "1000,520"),
    ):
        png = out_dir / f"{name}.png"
        r = browser.run(web_hub.url + path, f"--screenshot={png}", f"--window-size={size}")
        assert png.exists(), r.stderr[-2000:]
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < len(data) < 400_000, len(data)
        assert CSP_VIOLATION not in r.stderr


class DevTools:
    """Chromium driven over the DevTools protocol (one browser WebSocket, flat target sessions)."""

    def __init__(self, exe: str, profile: Path, *args: str) -> None:
        from websockets.sync.client import connect

        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 15
        while len(lines := _read_lines(port_file)) < 2:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise AssertionError("chromium wrote no DevToolsActivePort")
            time.sleep(0.05)
        url = f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        # entered, not `with`: websockets >= 17.1 warns about a connection used without it
        self.ws = connect(url, max_size=None, open_timeout=10).__enter__()
        self.ids = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.ids += 1
        msg: dict[str, Any] = {"id": self.ids, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv(timeout=10))
            if reply.get("id") == self.ids:
                assert "error" not in reply, (method, reply["error"])
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, method: str, session: str) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ev = json.loads(self.ws.recv(timeout=10))
            self.events.append(ev)
            if ev.get("method") == method and ev.get("sessionId") == session:
                return
        raise AssertionError(f"no {method}")

    def open(self, url: str) -> str:
        """A new tab at `url`, loaded, with the Page and Runtime events on; its session id."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        sid = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page.enable", "Runtime.enable"):
            self.send(domain, sid)
        self.send("Emulation.setFocusEmulationEnabled", sid, enabled=True)
        self.send("Page.navigate", sid, url=url)
        self.wait_for("Page.loadEventFired", sid)
        return sid

    def eval(self, sid: str, expr: str, gesture: bool = False) -> Any:
        r = self.send(
            "Runtime.evaluate",
            sid,
            expression=expr,
            awaitPromise=True,
            returnByValue=True,
            userGesture=gesture,
        )
        assert "exceptionDetails" not in r, (expr, r["exceptionDetails"])
        return r["result"].get("value")

    def close(self) -> None:
        if hasattr(self, "ws"):
            self.ws.close()
        self.proc.kill()
        self.proc.wait(timeout=10)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []


FIRST_CODE = "document.querySelector('button.copy').parentNode.querySelector('pre').innerText"


def test_browser_copy_button_copies(web_hub: HubFixture, tmp_path: Path) -> None:
    """Click the first copy button, then read the browser's clipboard: it holds the code block's
    text. On the loopback origin (a secure context: navigator.clipboard.writeText) and through a
    LAN host name over plain HTTP (not a secure context: the select + execCommand("copy")
    fallback). The hostile card loads with no dialog, no console error, no exception."""
    exe = _chromium()
    pytest.importorskip("websockets.sync.client", reason="websockets is not installed")
    port = urlsplit(web_hub.url).port
    lan = f"http://hub.lan:{port}"
    loop = f"http://127.0.0.1:{port}"
    dt = DevTools(exe, tmp_path / "profile", "--host-resolver-rules=MAP hub.lan 127.0.0.1")
    try:
        # only a secure context can be granted these (the LAN page needs none: execCommand)
        perms = ["clipboardReadWrite", "clipboardSanitizedWrite"]
        dt.send("Browser.grantPermissions", origin=loop, permissions=perms)
        # the reader: a loopback tab (secure context) may read the clipboard
        reader = dt.open(loop + "/alice/m")
        for origin, secure in ((loop, True), (lan, False)):
            dt.eval(reader, "navigator.clipboard.writeText('sentinel')")
            assert dt.eval(reader, "navigator.clipboard.readText()") == "sentinel"
            sid = dt.open(origin + "/alice/m")
            assert dt.eval(sid, "window.isSecureContext") is secure
            assert dt.eval(sid, "document.querySelector('button.copy').dataset.copy") == "ready"
            want = dt.eval(sid, FIRST_CODE)
            assert want.strip(), origin
            dt.eval(sid, "document.querySelector('button.copy').click()", gesture=True)
            deadline = time.monotonic() + 5
            while (got := dt.eval(reader, "navigator.clipboard.readText()")) == "sentinel":
                assert time.monotonic() < deadline, f"nothing copied on {origin}"
                time.sleep(0.05)
            assert got.strip() == want.strip(), origin
            assert dt.eval(sid, "document.querySelector('button.copy').textContent") == "Copied"
        # the hostile card: nothing runs, nothing complains
        dt.events.clear()
        for origin in (loop, lan):
            sid = dt.open(origin + "/alice/xss")
            assert "Evil" in dt.eval(sid, "document.body.innerText")
            assert dt.eval(sid, "document.querySelector('button.copy').dataset.copy") == "ready"
        bad = [
            e
            for e in dt.events
            if e.get("method") in ("Page.javascriptDialogOpening", "Runtime.exceptionThrown")
            or (
                e.get("method") == "Runtime.consoleAPICalled"
                and e["params"].get("type") in ("error", "assert")
            )
        ]
        assert bad == []
    finally:
        dt.close()
