"""End-to-end: one cache shared by two unprivileged users of one group (issue 18).

CI runs as root, which ignores permission bits, so this test creates a throwaway group and two
users (``groupadd``/``useradd``; removed again in a finalizer) and runs the real CLI as each of
them (``setpriv --reuid --regid --clear-groups``, umask 002) against the local hub over HTTP.
User A downloads a repo into a setgid cache folder (2775, group G); user B downloads another
revision of it that shares a file with A's, waiting on a lock A holds; both then verify and
prune the cache without a permission error, and everything in it stays group G and
group-writable. Skipped when not root or without setpriv/useradd/groupadd.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

GUARD = Path(__file__).resolve().parents[1] / "socket_guard"
A_BIN = b"a" * 6000
B_BIN = b"b" * 7000


@dataclass
class User:
    name: str
    uid: int
    home: Path


@dataclass
class Group:
    name: str
    gid: int
    base: Path
    a: User
    b: User


def _tools() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (to create throwaway users)"
    for tool in ("setpriv", "useradd", "groupadd", "userdel", "groupdel"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


# Sets the umask, then runs ``-m MODULE ARGS`` or ``-c CODE ARGS`` (no shell in between: a shell
# of the unprivileged user may be unable to exec an interpreter that setpriv starts fine).
BOOT = """
import os, runpy, sys
os.umask(int(sys.argv.pop(1), 8))
if sys.argv[1] == "-m":
    sys.argv = [sys.argv[2], *sys.argv[3:]]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    code, sys.argv = sys.argv[2], ["-c", *sys.argv[3:]]
    exec(compile(code, "<code>", "exec"), {"__name__": "__main__"})
"""


def _cmd(g: Group, user: User, umask: str, *args: str) -> list[str]:
    return [
        "setpriv", f"--reuid={user.uid}", f"--regid={g.gid}", "--clear-groups",
        sys.executable, "-c", BOOT, umask, *args,
    ]  # fmt: skip


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


@pytest.fixture
def group() -> Iterator[Group]:
    why = _tools()
    if why:
        pytest.skip(why)
    tag = os.urandom(3).hex()
    gname, names = f"hcg{tag}", (f"hca{tag}", f"hcb{tag}")
    base = Path(tempfile.mkdtemp(prefix="hubcli-group-", dir="/tmp"))
    created: list[tuple[str, ...]] = []
    try:
        os.chmod(base, 0o755)
        _run("groupadd", gname)
        created.append(("groupdel", gname))
        gid = int(subprocess.run(["getent", "group", gname], capture_output=True, text=True,
                                 check=True).stdout.split(":")[2])  # fmt: skip
        users = []
        for name in names:
            home = base / name
            _run("useradd", "-M", "-N", "-g", gname, "-d", str(home), "-s", "/bin/sh", name)
            created.insert(0, ("userdel", name))
            uid = int(subprocess.run(["id", "-u", name], capture_output=True, text=True,
                                     check=True).stdout)  # fmt: skip
            home.mkdir()
            os.chown(home, uid, gid)
            os.chmod(home, 0o700)
            users.append(User(name, uid, home))
        g = Group(gname, gid, base, users[0], users[1])
        probe = _as(g, g.a, ["-c", "import hubcli"], {}, check=False)
        if probe.returncode != 0:
            pytest.skip(f"the venv is not usable by an unprivileged user: {probe.stderr[-300:]}")
        yield g
    finally:
        for cmd in created:
            subprocess.run(cmd, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _as(
    g: Group,
    user: User,
    cmd: list[str],
    env: dict[str, str],
    *,
    check: bool = True,
    timeout: float = 120,
    umask: str = "002",
) -> subprocess.CompletedProcess[str]:
    full = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(user.home),
        "USER": user.name,
        "LOGNAME": user.name,
        "HF_HOME": str(user.home / ".cache" / "huggingface"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": str(GUARD),
        "HUBCLI_TEST_SOCKET_GUARD": "1",
        **env,
    }
    proc = subprocess.run(
        _cmd(g, user, umask, *cmd),
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=g.base,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{user.name}: {cmd} rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def _cli(g: Group, user: User, env: dict[str, str], *args: str, **kw: Any) -> Any:
    return _as(g, user, ["-m", "hubcli", *args], env, **kw)


HOLD = """
import sys, time
from hubcli.cache.locks import FlockLock
with FlockLock(sys.argv[1], timeout=0):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_two_users_of_one_group_share_a_cache(hub_server: Any, group: Group) -> None:
    g = group
    hub_server.lfs_threshold = 1000
    first = hub_server.seed_repo("alice/m", {"a.bin": A_BIN, "c.json": '{"v": 1}'})
    cache = g.base / "cache"
    cache.mkdir()
    os.chown(cache, 0, g.gid)
    os.chmod(cache, 0o2775)
    env = {"HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(cache)}

    # user A fills the shared cache
    _cli(g, g.a, env, "download", "alice/m", "-q")
    second = hub_server.seed_repo("alice/m", {"b.bin": B_BIN, "c.json": '{"v": 2}'})

    # A holds the lock of the blob B is about to fetch; B waits for it, then finishes
    b_lock = cache / ".locks" / "models--alice--m" / f"{hashlib.sha256(B_BIN).hexdigest()}.lock"
    holder = subprocess.Popen(
        _cmd(g, g.a, "002", "-c", HOLD, str(b_lock), "3"),
        stdout=subprocess.PIPE, text=True, cwd=g.base,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(g.a.home)},
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert stat.S_IMODE(os.stat(b_lock).st_mode) == 0o664
        assert os.stat(b_lock).st_uid == g.a.uid
        started = time.monotonic()
        res = _cli(g, g.b, env, "download", "alice/m", "--json")
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert holder.returncode == 0
    doc = json.loads(res.stdout)
    status = {f["path"]: f["status"] for f in doc["files"]}
    assert doc["commit"] == second
    assert status["a.bin"] == "cached"  # the blob A downloaded
    assert status["b.bin"] == "downloaded"
    assert waited >= 2.0, f"B did not wait on A's lock ({waited:.1f}s)"

    # both users verify and prune (B removes what A created: the old revision, its blob)
    for user in (g.a, g.b):
        verify = _cli(g, user, env, "cache", "verify", "--json")
        assert json.loads(verify.stdout)["ok"] is True
    prune = _cli(g, g.b, env, "cache", "prune", "--yes", "--json")
    pruned = json.loads(prune.stdout)
    assert not pruned["skipped"], pruned
    assert not (cache / "models--alice--m" / "snapshots" / first).exists()
    _cli(g, g.a, env, "cache", "prune", "--yes")
    _cli(g, g.a, env, "download", "alice/m", "-q")  # A relinks B's revision: all cached
    _cli(g, g.a, env, "cache", "verify")

    # everything is group G and shared: folders 2775 (setgid kept), files group-readable,
    # lock files and access records group-writable
    for dirpath, _dirnames, filenames in os.walk(cache):
        st = os.stat(dirpath)
        assert st.st_gid == g.gid, dirpath
        assert st.st_mode & stat.S_ISGID, f"{dirpath} lost its setgid bit"
        assert stat.S_IMODE(st.st_mode) & 0o070 == 0o070, dirpath
        for name in filenames:
            p = os.path.join(dirpath, name)
            lst = os.lstat(p)
            if stat.S_ISLNK(lst.st_mode):
                continue
            assert lst.st_gid == g.gid, p
            want = 0o060 if ".locks" in p else 0o040
            assert lst.st_mode & want == want, f"{p}: {oct(lst.st_mode)}"


def test_a_lock_file_made_under_umask_022_still_makes_others_wait(
    hub_server: Any, group: Group
) -> None:
    g = group
    cache = g.base / "cache"
    cache.mkdir()
    os.chown(cache, 0, g.gid)
    os.chmod(cache, 0o2775)
    lock = cache / ".locks" / "x.lock"
    lock.parent.mkdir()
    os.chown(lock.parent, 0, g.gid)
    os.chmod(lock.parent, 0o2775)
    holder = subprocess.Popen(
        _cmd(g, g.a, "022", "-c", HOLD, str(lock), "2"),
        stdout=subprocess.PIPE, text=True, cwd=g.base,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(g.a.home)},
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert stat.S_IMODE(os.stat(lock).st_mode) == 0o644  # the umask is honoured
        code = (
            "import sys, time\n"
            "from hubcli.cache.locks import FlockLock\n"
            "t = time.monotonic()\n"
            "with FlockLock(sys.argv[1]):\n"
            "    print(round(time.monotonic() - t, 1))\n"
        )
        res = _as(g, g.b, ["-c", code, str(lock)], {})
    finally:
        holder.wait(timeout=30)
    assert float(res.stdout) >= 1.0  # B waited on A's read-only lock file, no EACCES
