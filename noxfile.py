"""Nox sessions: tests, lint, typecheck, bench. `.ci/run` runs the README's test command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


def _install(session: nox.Session, *extras: str) -> str:
    """Install the project (unless nox runs with --no-venv); return the Python to run with."""
    if isinstance(session.virtualenv, nox.virtualenv.PassthroughEnv):
        return sys.executable
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)
    return "python"


def _ensure_chromium() -> None:
    """Best effort, as issue 20 asks: tests/web/test_web_browser.py drives Debian's headless
    Chromium, which clean CI machines lack. Install it when missing and we are root with apt-get;
    on failure print one line and go on (those tests then skip, with the reason)."""
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
    install += ["chromium", "chromium-driver"]

    def run(cmd: list[str]) -> bool:
        done = subprocess.run(cmd, env=env, capture_output=True, check=False)
        return done.returncode == 0

    if run(install) or (run(["apt-get", "update", "-q"]) and run(install)):
        return
    print("nox: could not apt-get install chromium; the browser tests will skip")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite: unit, end-to-end against the local hub, interop with huggingface_hub."""
    py = _install(session, "test")
    _ensure_chromium()
    # 4 workers on 2 cores (pytest-xdist): most tests wait on sockets, servers and subprocesses;
    # serial, the suite took 9.5 min on this machine, with 4 workers 4 min.
    args = session.posargs or ["-n", "4"]
    session.run(py, "-m", "pytest", "-q", *args)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check + ruff format --check."""
    py = _install(session, "dev")
    paths = ["hubcli", "tests", "benchmarks", "noxfile.py"]
    session.run(py, "-m", "ruff", "check", *paths)
    session.run(py, "-m", "ruff", "format", "--check", *paths)
    # The layering contracts in pyproject's [tool.importlinter] (lint-imports, this Python).
    lint_imports = "from importlinter.cli import lint_imports_command as c; c()"
    session.run(py, "-c", lint_imports, "--no-cache", "--no-logo")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    py = _install(session, "dev")
    session.run(py, "-m", "mypy", "hubcli")


@nox.session
def bench(session: nox.Session) -> None:
    """Issue 15's table: hubcli vs huggingface_hub (and curl) on two local servers (`hubcli serve`
    and the stdlib http.server hub), then benchmarks/report.py prints it. `nox -s bench -- --small`
    for a quick run; the other benchmarks/bench_*.py scripts run on their own."""
    py = _install(session, "test")
    for script in ("bench_download.py", "bench_cache.py", "bench_upload.py"):
        session.run(py, f"benchmarks/{script}", *session.posargs)
    session.run(py, "benchmarks/report.py")
