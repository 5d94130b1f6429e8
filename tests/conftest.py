"""Hermetic tests: each test gets its own HOME, HF_HOME and cache; no HF_* variable leaks in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.hub", "tests.fixtures.hostile"]

_GUARD_DIR = Path(__file__).parent / "socket_guard"
_ALLOW_HOSTS = os.environ.get("HUBCLI_TEST_ALLOW_HOSTS", "")


def pytest_configure(config: pytest.Config) -> None:
    """No test reaches beyond loopback: this process and every Python process it starts
    (through ``sitecustomize`` on PYTHONPATH) refuse other addresses."""
    import sys

    sys.path.insert(0, str(_GUARD_DIR))
    import sitecustomize  # type: ignore[import-not-found]

    sitecustomize.install()


_SCRUB_PREFIXES = ("HF_", "HUGGINGFACE_", "HUBCLI_", "TRANSFORMERS_")
_SCRUB_EXACT = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NO_COLOR",
    "XDG_CACHE_HOME",
)


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point HOME, HF_HOME and the cache at tmp dirs and scrub the ecosystem's variables."""
    for key in list(os.environ):
        if key.startswith(_SCRUB_PREFIXES) or key in _SCRUB_EXACT:
            monkeypatch.delenv(key, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / ".cache" / "huggingface"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("HUBCLI_TEST_SOCKET_GUARD", "1")
    monkeypatch.setenv("HUBCLI_TEST_ALLOW_HOSTS", _ALLOW_HOSTS)
    pythonpath = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(_GUARD_DIR), pythonpath) if p))
    yield home


class CLIResult:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        return f"CLIResult(rc={self.returncode}, stdout={self.stdout!r}, stderr={self.stderr!r})"


@pytest.fixture
def run_cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run the real CLI (`python -m hubcli ...`) in a subprocess with the hermetic environment.

    Usage: ``run_cli("download", "alice/m", env={"HF_ENDPOINT": url}, input="...", timeout=60)``.
    """
    import subprocess
    import sys

    def _run(
        *args: str,
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 120,
        cwd: Path | None = None,
    ) -> CLIResult:
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        proc = subprocess.run(
            [sys.executable, "-m", "hubcli", *args],
            capture_output=True,
            text=True,
            env=full_env,
            input=input,
            timeout=timeout,
            cwd=str(cwd or tmp_path),
        )
        return CLIResult(proc.returncode, proc.stdout, proc.stderr)

    return _run
