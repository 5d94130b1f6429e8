"""Running the real CLI against a hostile hub and checking what it left behind.

* :func:`start_cli` / :func:`finish_cli`: ``python -m hubcli ...`` in a subprocess (stdout/stderr to
  files, so several can run at once), killed after a hard timeout; the exit code, wall time and the
  child's own peak RSS (``os.wait4``) are returned. An address-space limit protects the machine.
* :func:`snapshot` / :func:`changed_outside`: the whole tmp tree before and after a run.
* :func:`check_cache` / :func:`check_local_dir`: nothing partial or unverified is visible.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Liveness settings scaled down so every hostile mode ends fast (hubcli/config.py reads them).
FAST_LIVENESS = {
    "HUBCLI_STALL_WINDOW": "0.5",
    "HUBCLI_STALL_MIN_RATE": "1024",
    "HUBCLI_METADATA_TIMEOUT": "5",
    "HUBCLI_MAX_RETRY_WAIT": "60",
    "HUBCLI_MAX_ATTEMPTS": "3",
}
HARD_TIMEOUT = 40.0  # the child is killed after this (a hang), well above any bound asserted
ADDRESS_SPACE_LIMIT = 6 * 1024**3  # a safety net for a shared machine, not the memory bound
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class CliRun:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    max_rss_mb: float
    hung: bool

    def describe(self) -> str:
        tail = self.stderr.strip().splitlines()[-3:]
        what = "hung (killed)" if self.hung else f"exit {self.returncode}"
        return f"{what} after {self.elapsed:.1f}s, rss {self.max_rss_mb:.0f} MB, stderr tail {tail}"


@dataclass
class _Started:
    proc: subprocess.Popen[bytes]
    args: tuple[str, ...]
    out: Path
    err: Path
    t0: float


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def start_cli(args: list[str], *, env: dict[str, str], cwd: Path, logs: Path) -> _Started:
    logs.mkdir(parents=True, exist_ok=True)
    n = len(list(logs.iterdir()))
    out, err = logs / f"{n}.out", logs / f"{n}.err"
    full_env = dict(os.environ)
    full_env.update(env)
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hubcli", *args],
            env=full_env,
            cwd=str(cwd),
            stdin=subprocess.DEVNULL,
            stdout=fo,
            stderr=fe,
            preexec_fn=_limit_memory,
        )
    return _Started(proc, tuple(args), out, err, time.monotonic())


def finish_cli(started: _Started, timeout: float = HARD_TIMEOUT) -> CliRun:
    proc = started.proc
    deadline = started.t0 + timeout
    hung = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            hung = True
            os.kill(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    elapsed = time.monotonic() - started.t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return CliRun(
        args=started.args,
        returncode=proc.returncode,
        stdout=started.out.read_text(errors="replace"),
        stderr=started.err.read_text(errors="replace"),
        elapsed=elapsed,
        max_rss_mb=usage.ru_maxrss / 1024,
        hung=hung,
    )


def run_cli_measured(
    args: list[str], *, env: dict[str, str], cwd: Path, logs: Path, timeout: float = HARD_TIMEOUT
) -> CliRun:
    return finish_cli(start_cli(args, env=env, cwd=cwd, logs=logs), timeout)


# -- the tree before and after ----------------------------------------------------------------
def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every path under ``root``: kind, and size/mtime for files, target for links."""
    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            rel = os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", st.st_size, st.st_mtime_ns)
    return out


def changed_outside(
    before: dict[str, tuple[Any, ...]], after: dict[str, tuple[Any, ...]], allowed: list[str]
) -> list[str]:
    """Paths created, removed or modified that are not inside one of ``allowed`` (relative)."""

    def inside(rel: str) -> bool:
        return any(rel == a or rel.startswith(a + os.sep) for a in allowed)

    out = []
    for rel in sorted(set(before) | set(after)):
        if before.get(rel) != after.get(rel) and not inside(rel):
            out.append(rel)
    return out


# -- nothing partial visible ------------------------------------------------------------------
def _content_hash_ok(path: Path, name: str) -> bool:
    data = path.read_bytes()
    if _HEX64.match(name):
        return hashlib.sha256(data).hexdigest() == name
    if _HEX40.match(name):
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == name
    return False


def check_cache(cache: Path, honest: dict[str, bytes]) -> list[str]:
    """Problems in a cache: unverified blobs, snapshot entries that are not complete and right.

    ``honest`` maps every repo path that may legitimately appear to its true bytes.
    """
    problems: list[str] = []
    if not cache.exists():
        return problems
    for p in sorted(cache.rglob("*")):
        rel = p.relative_to(cache).as_posix()
        parts = rel.split("/")
        if p.name.endswith(".incomplete") and not (len(parts) == 3 and parts[1] == "blobs"):
            problems.append(f"partial file outside blobs/: {rel}")
    for repo in sorted(cache.glob("*--*")):
        blobs = repo / "blobs"
        for b in sorted(blobs.iterdir()) if blobs.is_dir() else []:
            if b.name.endswith(".incomplete"):
                continue
            if b.is_symlink() or not b.is_file():
                problems.append(f"blobs/ entry that is not a file: {b.relative_to(cache)}")
            elif not _content_hash_ok(b, b.name):
                problems.append(f"blob whose name is not its content hash: {b.relative_to(cache)}")
        for sub in ("snapshots", "trees", "refs"):
            d = repo / sub
            if d.is_symlink():
                problems.append(f"{sub}/ is a symlink: {d.relative_to(cache)}")
        snaps = repo / "snapshots"
        for snap in sorted(snaps.iterdir()) if snaps.is_dir() else []:
            if not _HEX40.match(snap.name):
                problems.append(f"snapshot folder not named by a commit: {snap.relative_to(cache)}")
            for f in sorted(snap.rglob("*")):
                if f.is_dir() and not f.is_symlink():
                    continue
                frel = f.relative_to(snap).as_posix()
                where = f.relative_to(cache)
                if f.is_symlink():
                    target = Path(os.path.realpath(f))
                    if blobs.resolve() not in target.parents:
                        problems.append(f"snapshot link leaving the repo's blobs/: {where}")
                        continue
                if not f.is_file():
                    problems.append(f"dangling snapshot entry: {where}")
                elif frel not in honest:
                    problems.append(f"snapshot has a file the listing may not create: {where}")
                elif f.read_bytes() != honest[frel]:
                    problems.append(f"snapshot file with wrong or partial content: {where}")
        trees = repo / "trees"
        for t in sorted(trees.iterdir()) if trees.is_dir() else []:
            if not re.match(r"^[0-9a-f]{40}\.json$", t.name):
                problems.append(f"trees/ entry not named by a commit: {t.relative_to(cache)}")
        refs = repo / "refs"
        for r in sorted(refs.rglob("*")) if refs.is_dir() else []:
            if r.is_file() and not _HEX40.match(r.read_text(errors="replace")):
                problems.append(f"ref that is not a commit sha: {r.relative_to(cache)}")
    return problems


def check_local_dir(local: Path, honest: dict[str, bytes]) -> list[str]:
    """Problems in a --local-dir: files that are not complete and right, stray partial files."""
    problems: list[str] = []
    if not local.exists():
        return problems
    meta = local / ".cache" / "huggingface"
    for p in sorted(local.rglob("*")):
        rel = p.relative_to(local).as_posix()
        if p.is_dir() and not p.is_symlink():
            continue
        if meta in p.parents:
            mrel = p.relative_to(meta).as_posix()
            top = mrel.split("/")[0]
            if p.name.endswith(".incomplete") and top != "download":
                problems.append(f"partial file outside .cache/huggingface/download/: {rel}")
            elif top not in ("download", "trees", ".gitignore", "CACHEDIR.TAG"):
                problems.append(f"unexpected bookkeeping file: {rel}")
            elif top == "trees" and not re.match(r"^trees/[0-9a-f]{40}\.json$", mrel):
                problems.append(f"trees/ entry not named by a commit: {rel}")
            continue
        if p.is_symlink():
            problems.append(f"symlink in the local dir: {rel}")
        elif rel not in honest:
            problems.append(f"file the listing may not create (or a partial): {rel}")
        elif p.read_bytes() != honest[rel]:
            problems.append(f"file with wrong or partial content: {rel}")
    return problems


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]
