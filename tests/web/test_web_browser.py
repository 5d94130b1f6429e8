"""The pages in a real browser: Debian's headless Chromium (``--dump-dom``, ``--screenshot``, its
console on stderr) against ``hubcli serve``. Skipped, with the reason, where Chromium is absent
(CI machines start clean and ``.ci/run`` does not install it: ``apt-get install chromium``).

Set ``HUBWEB_SCREENSHOTS=DIR`` to keep the screenshots (docs/web/ holds the ones in
docs/web.md); they are written under the test's tmp_path otherwise."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
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
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does not)")
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
